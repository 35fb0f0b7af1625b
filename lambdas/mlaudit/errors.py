"""What the domain refuses or cannot do, said without HTTP: `mlaudit.http` maps each
kind to its status in one table (`ERROR_STATUS`).

Every error carries a stable `code` for clients, a `message` that never echoes a
submitted value (it may hold personal data), and `errors`, the field problems as
``{"index", "path", "rule", "message"}``.
"""

from __future__ import annotations

import hashlib
from typing import Any

# How many field problems one answer lists (the message says when there were more).
MAX_REPORTED_ERRORS = 100


def masked_name(name: Any) -> str:
    """A caller-chosen name (a field or key) in an error: never echoed, which could be
    personal data, but named by the first 8 hex digits of its UTF-8 SHA-256, which the
    caller can compute to find it."""
    return f"<name sha256:{name_digest(name)}>"


def name_digest(name: Any) -> str:
    """What `masked_name` shows of a name (the CLI computes it to show the user's own)."""
    return hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:8]


class DomainError(Exception):
    def __init__(
        self, code: str, message: str, errors: list[dict[str, Any]] | None = None, *,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors or []
        self.retry_after_seconds = retry_after_seconds  # when trying again later may succeed


class Invalid(DomainError):
    """The request cannot be read as asked: not JSON, a bad parameter or path value."""


class InvalidEvents(Invalid):
    """The request reads, but its events break the contract; nothing was stored."""


class Unauthenticated(DomainError):
    """No verified caller behind the request."""


class Forbidden(DomainError):
    """The caller may not do this."""


class NotFound(DomainError):
    """No such thing, or not one this caller may know about."""


class Conflict(DomainError):
    """The request clashes with what was already asked or is being done."""


class TooLarge(DomainError):
    """The request, or one event in it, is larger than the limits allow."""


class UnsupportedMediaType(DomainError):
    """The body is not in a form the API reads."""


class Incomplete(DomainError):
    """The action took effect, but a step that had to follow it failed: the caller
    must hand the details on rather than retry."""


class Unavailable(DomainError):
    """A dependency failed; the same request may succeed later."""
