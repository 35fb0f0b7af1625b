"""The full path: a body the fast path (`ingest.decode`) did not accept, validated by
the contract's pydantic models, which list every problem: each bad event's index, the
field's path and the rule broken (never a value). Imported only then.

A body it accepts (the fast path was unsure, as with a \\\\u003a escape it cannot count)
becomes the same `Event`s the fast path makes (`decode.events_of`)."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import TypeAdapter, ValidationError

from mlaudit.contract import Event
from mlaudit.errors import MAX_REPORTED_ERRORS, Invalid, InvalidEvents, masked_name
from mlaudit.events import JSON_FIELDS, SERVER_OWNED_FIELDS, EventBatchIn, EventIn, JsonBoundsError
from mlaudit.ingest.decode import events_of

_BATCH = TypeAdapter(EventBatchIn)
_SINGLE = TypeAdapter(EventIn)


def validate(body: bytes) -> list[Event]:
    """The events of a body that meets the contract; else InvalidEvents (or Invalid for
    a body that is not JSON, or has a key twice)."""
    _validate(body)
    check_unique_keys(body)
    return events_of(body)


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
