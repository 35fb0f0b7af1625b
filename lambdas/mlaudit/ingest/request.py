"""Request parsing: a POST /v1/events body -> events under the contract, or a domain
error naming each bad field (never its value).

A valid body takes the fast path (`ingest.decode`, msgspec, no pydantic); one it does
not accept goes to the full path (`ingest.validation`, pydantic), which lists every
problem or, where the fast path was only unsure, accepts it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mlaudit.contract import EVENT_FIELDS, Event
from mlaudit.env import Env
from mlaudit.errors import Invalid, TooLarge, UnsupportedMediaType
from mlaudit.ingest.decode import decode_events

MAX_REPORTED_ERRORS = 100


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


def parse_events(body: bytes, limits: IngestLimits) -> list[Event]:
    """One event object or {"events": [...]}; a 4xx naming each bad field otherwise."""
    if len(body) > limits.max_body_bytes:
        raise TooLarge("payload_too_large", f"Request body is larger than {limits.max_body_bytes} bytes.")
    events = decode_events(body)  # the fast path: a valid body, in one pass
    if events is None:
        from mlaudit.ingest import validation  # noqa: PLC0415 - pydantic: only when the fast path refuses

        events = validation.validate(body)  # every problem listed, or the events
    if len(events) > limits.max_batch_events:
        raise TooLarge(
            "batch_too_large",
            f"A request carries at most {limits.max_batch_events} events; this one has {len(events)}.",
            [{"path": "events", "rule": "max_items", "message": f"at most {limits.max_batch_events} events"}],
        )
    return events


def masked_name(name: Any) -> str:
    """A caller-chosen name (a field or key) in an error: never echoed, which could be
    personal data, but named by the first 8 hex digits of its UTF-8 SHA-256, which the
    caller can compute to find it."""
    digest = hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"<name sha256:{digest}>"


class DuplicateKey(ValueError):
    """A JSON object with the same key twice (`unique_keys`, a json.loads object_pairs_hook)."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise DuplicateKey
    return value


# Keys shown as they are in an error's path: short identifiers (facets, outputs, the
# contract's fields); any other key is masked (`masked_name`).
_READABLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")


def shown_key(key: str) -> str:
    return key if _READABLE_KEY.fullmatch(key) else masked_name(key)


def invalid_utf8(body: bytes) -> tuple[int, list[str | int] | None] | None:
    """None for valid UTF-8; else the byte offset of the first invalid sequence, and the
    path (keys and indexes) to the key or string that holds it (None if the rest of the
    body is not JSON either). Only refused bodies pay for the search."""
    try:
        body.decode("utf-8")
        return None
    except UnicodeDecodeError as error:
        offset = error.start
    text = body.decode("utf-8", "surrogateescape")  # each invalid byte -> one lone surrogate
    at = len(body[:offset].decode("utf-8"))
    # The first invalid byte becomes a character the body does not hold, so the parsed
    # string that holds it is found by looking for it.
    marker = next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in text)
    try:
        parsed = json.loads(text[:at] + marker + text[at + 1:], object_pairs_hook=list)
    except (ValueError, RecursionError):
        return offset, None
    return offset, _path_to(parsed, marker, [])


def _path_to(value: Any, marker: str, path: list[str | int]) -> list[str | int] | None:
    if isinstance(value, str):
        return path if marker in value else None
    if isinstance(value, list) and value and all(type(v) is tuple for v in value):  # an object's pairs
        for key, item in value:
            if marker in key:  # (a key holding it is masked: the marker is not a readable character)
                return [*path, key]
            if (found := _path_to(item, marker, [*path, key])) is not None:
                return found
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _path_to(item, marker, [*path, index])) is not None:
                return found
    return None


def _field_or_key(part: str, depth: int) -> str:
    return (part if part in EVENT_FIELDS else masked_name(part)) if depth == 0 else shown_key(part)


def check_utf8(body: bytes) -> None:
    """A request body must be UTF-8 (RFC 8259): else 400 naming the field (or key, masked)
    that holds the first invalid byte."""
    found = invalid_utf8(body)
    if found is None:
        return
    offset, path = found
    problem: dict[str, Any] = {"path": "$", "rule": "utf8",
                               "message": f"not valid UTF-8 (the byte at offset {offset} of the body)"}
    if path:
        parts = path[2:] if len(path) >= 2 and path[0] == "events" and type(path[1]) is int else path
        index = path[1] if parts is not path else 0
        problem = {"index": index, **problem, "path": f"events[{index}]" + "".join(
            f"[{part}]" if type(part) is int else f".{_field_or_key(part, depth)}" for depth, part in enumerate(parts))}
    raise Invalid("invalid_utf8", "Request body is not valid UTF-8; nothing was stored.", [problem])
