"""Request parsing: a POST /v1/events body -> events under the contract, or a domain
error naming each bad field (never its value)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from mlaudit.errors import Invalid, InvalidEvents, TooLarge, UnsupportedMediaType
from mlaudit.events import JSON_FIELDS, SERVER_OWNED_FIELDS, EventBatchIn, EventIn, JsonBoundsError
from mlaudit.settings import Env

MAX_REPORTED_ERRORS = 100

_BATCH = TypeAdapter(EventBatchIn)
_SINGLE = TypeAdapter(EventIn)


@dataclass(frozen=True)
class IngestLimits:
    max_batch_events: int = 500
    max_body_bytes: int = 1_000_000
    max_message_bytes: int = 240_000
    clock_skew: timedelta = timedelta(seconds=300)
    idempotency_ttl: timedelta = timedelta(days=1)
    # A claim younger than this may still be in flight (the function's timeout).
    in_flight: timedelta = timedelta(seconds=15)

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str] = os.environ) -> IngestLimits:
        return cls(
            max_batch_events=int(env[Env.MAX_BATCH_EVENTS]),
            max_body_bytes=int(env[Env.MAX_BODY_BYTES]),
            max_message_bytes=int(env[Env.MAX_MESSAGE_BYTES]),
            clock_skew=timedelta(seconds=int(env[Env.CLOCK_SKEW_SECONDS])),
            idempotency_ttl=timedelta(seconds=int(env[Env.IDEMPOTENCY_TTL_SECONDS])),
            in_flight=timedelta(seconds=int(env[Env.INGEST_TIMEOUT_SECONDS])),
        )


def check_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("unsupported_media_type", "Content-Type must be application/json.")


def decode_body(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The body as sent (no Content-Encoding, or `identity`) or gunzipped (`gzip`), at most
    `max_bytes` either way (else 413); any other encoding is 415, a body that is not the
    gzip it claims 400."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise UnsupportedMediaType("unsupported_media_type", "Content-Encoding must be gzip, identity or absent.")
    if len(body) > max_bytes:
        raise TooLarge("payload_too_large", f"Request body is larger than {max_bytes} bytes.")
    if encoding == "identity":
        return body
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error:
        raise Invalid("malformed_body", "Request body is not valid gzip.") from None
    if len(out) > max_bytes:
        raise TooLarge("payload_too_large", f"Request body is larger than {max_bytes} bytes once inflated.")
    if not inflater.eof or inflater.unused_data:
        raise Invalid("malformed_body", "Request body is not one complete gzip member.")
    return out


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise _DuplicateKey
    return value


def check_unique_keys(body: bytes) -> None:
    """JSON with a key twice in one object is refused (a parser would keep one of them
    silently: what was validated need not be what the sender meant)."""
    try:
        json.loads(body, object_pairs_hook=_unique_keys)
    except _DuplicateKey:
        raise Invalid("duplicate_key", "Request body has an object with the same key twice.") from None
    except (ValueError, RecursionError):  # the contract's parser has already said what is wrong
        pass


def parse_events(body: bytes, limits: IngestLimits) -> list[EventIn]:
    """One event object or {"events": [...]}; a 4xx naming each bad field otherwise."""
    if len(body) > limits.max_body_bytes:
        raise TooLarge("payload_too_large", f"Request body is larger than {limits.max_body_bytes} bytes.")
    events = _validate(body)
    check_unique_keys(body)
    if len(events) > limits.max_batch_events:
        raise TooLarge(
            "batch_too_large",
            f"A request carries at most {limits.max_batch_events} events; this one has {len(events)}.",
            [{"path": "events", "rule": "max_items", "message": f"at most {limits.max_batch_events} events"}],
        )
    return events


def _validate(body: bytes) -> list[EventIn]:
    try:
        events = list(_BATCH.validate_json(body).events)
    except ValidationError as batch_error:
        errors = batch_error.errors(include_url=False, include_input=False)
        if not _is_single_event(errors):
            raise _validation_error(errors) from None
        try:
            events = [_SINGLE.validate_json(body)]
        except ValidationError as single_error:
            errors = single_error.errors(include_url=False, include_input=False)
            raise _validation_error([{**e, "loc": ("events", 0, *e["loc"])} for e in errors]) from None
    return events


def _is_single_event(errors: list[dict[str, Any]]) -> bool:
    # A body without "events" is read as one event object (the batch model then
    # reports "events" missing and the event's own fields as unknown).
    return any(e["type"] == "missing" and e["loc"] == ("events",) for e in errors) and all(
        len(e["loc"]) == 1 for e in errors
    )


_RULE_NAMES = {"extra_forbidden": "unknown_field", "enum": "unknown_value", "literal_error": "unknown_value"}


def _validation_error(errors: list[dict[str, Any]]) -> InvalidEvents:
    if any(e["type"] in ("json_invalid", "json_type") and len(e["loc"]) == 0 for e in errors):
        detail = next(e["msg"] for e in errors)
        raise Invalid("malformed_json", f"Request body is not valid JSON: {detail}.")
    problems = []
    for e in errors[:MAX_REPORTED_ERRORS]:
        loc = e["loc"]
        index = loc[1] if len(loc) > 1 and loc[0] == "events" and isinstance(loc[1], int) else None
        path = _path(loc[:-1]) + "." + masked_name(loc[-1]) if e["type"] == "extra_forbidden" else _path(loc)
        field_name = loc[2] if index is not None and len(loc) > 2 else None
        rule = _RULE_NAMES.get(e["type"], e["type"])
        message = e["msg"]
        if e["type"] == "extra_forbidden" and field_name in SERVER_OWNED_FIELDS:
            path = _path(loc)  # our own name
            rule = "server_owned_field"
            message = "set by the server from the verified token and request; remove it from the body"
        elif e["type"] == "extra_forbidden":
            message = "not a field of the v1 event contract"
        elif e["type"] == "value_error":
            bound = (e.get("ctx") or {}).get("error")
            message = _bounds_message(bound) if isinstance(bound, JsonBoundsError) else message.removeprefix(
                "Value error, ")
            rule = "bounded_json" if field_name in JSON_FIELDS + ("personal_data",) else "invalid_value"
        elif e["type"] in ("finite_number",):
            rule = "finite_number"
        problem: dict[str, Any] = {"path": path, "rule": rule, "message": message}
        if index is not None:
            problem = {"index": index, **problem}
        problems.append(problem)
    more = f" (first {MAX_REPORTED_ERRORS} shown)" if len(errors) > MAX_REPORTED_ERRORS else ""
    return InvalidEvents(
        "validation_failed", f"{len(errors)} problem(s) in the request; nothing was stored{more}.", problems,
    )


def masked_name(name: Any) -> str:
    """A caller-chosen name (a field or key) in an error: never echoed, which could be
    personal data, but named by the first 8 hex digits of its UTF-8 SHA-256, which the
    caller can compute to find it."""
    digest = hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"<name sha256:{digest}>"


# Keys on the way to a broken bound shown as they are: short identifiers (facets,
# outputs); the key at the end and any other key are masked (`masked_name`).
_READABLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")


def _bounds_message(error: JsonBoundsError) -> str:
    """A JSON bound broken, with the keys on the way masked (array indexes kept)."""
    where = "$" + "".join(
        f"[{part}]" if type(part) is int else f".{part}" if _READABLE_KEY.match(part) else f".{masked_name(part)}"
        for part in error.path[:-1]
    ) + "".join(f"[{part}]" if type(part) is int else f".{masked_name(part)}" for part in error.path[-1:])
    detail = error.detail.split(" (largest member", 1)[0]
    return f"{error.bound} bound broken at {where}: {detail}"


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "$"
