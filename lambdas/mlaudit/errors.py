"""What the domain refuses or cannot do, said without HTTP: `mlaudit.http` maps each
kind to its status in one table (`ERROR_STATUS`).

Every error carries a stable `code` for clients, a `message` that never echoes a
submitted value (it may hold personal data), and `errors`, the field problems as
``{"index", "path", "rule", "message"}``.
"""

from __future__ import annotations

from typing import Any


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
