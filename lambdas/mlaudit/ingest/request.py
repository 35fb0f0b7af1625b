"""Request parsing: a POST /v1/events body -> events under the contract, or a domain
error naming each bad field (never its value)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from mlaudit.errors import Invalid, InvalidEvents, TooLarge, UnsupportedMediaType
from mlaudit.events import JSON_FIELDS, SERVER_OWNED_FIELDS, EventBatchIn, EventIn
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


def parse_events(body: bytes, limits: IngestLimits) -> list[EventIn]:
    """One event object or {"events": [...]}; a 4xx naming each bad field otherwise."""
    if len(body) > limits.max_body_bytes:
        raise TooLarge("payload_too_large", f"Request body is larger than {limits.max_body_bytes} bytes.")
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
    if len(events) > limits.max_batch_events:
        raise TooLarge(
            "batch_too_large",
            f"A request carries at most {limits.max_batch_events} events; this one has {len(events)}.",
            [{"path": "events", "rule": "max_items", "message": f"at most {limits.max_batch_events} events"}],
        )
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
        path = _path(loc)
        field_name = loc[2] if index is not None and len(loc) > 2 else None
        rule = _RULE_NAMES.get(e["type"], e["type"])
        message = e["msg"]
        if e["type"] == "extra_forbidden" and field_name in SERVER_OWNED_FIELDS:
            rule = "server_owned_field"
            message = "set by the server from the verified token and request; remove it from the body"
        elif e["type"] == "extra_forbidden":
            message = "not a field of the v1 event contract"
        elif e["type"] == "value_error":
            message = message.removeprefix("Value error, ")
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


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "$"
