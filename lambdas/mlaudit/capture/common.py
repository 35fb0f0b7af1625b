"""What every mapper shares: the refusal it raises, timestamps as AWS services write
them, and a mapped event checked by the contract exactly as POST /v1/events checks one."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from mlaudit.errors import DomainError

# Event ids derived from a source's own record ids: uuid5 in this namespace.
CAPTURE_NAMESPACE = uuid.UUID("5b0c2f0e-6d1a-4f7b-9c53-0e7d4a1b8c26")
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")


class Refused(ValueError):
    """An input a mapper cannot take: `path` (in the input), `rule` and a message that
    never echoes a value (it may hold personal data)."""

    def __init__(self, path: str, rule: str, message: str) -> None:
        super().__init__(f"{path}: {rule}: {message}")
        self.path = path
        self.rule = rule
        self.message = message

    def problem(self) -> dict[str, str]:
        return {"path": self.path, "rule": self.rule, "message": self.message}


def event_id(*parts: str) -> str:
    """A stable event id from a source's own identity of a record."""
    return str(uuid.uuid5(CAPTURE_NAMESPACE, "\n".join(parts)))


def as_event_id(value: Any, path: str) -> str:
    """A source's record id used as the event id itself when the contract takes it."""
    if not isinstance(value, str) or not value:
        raise Refused(path, "required", "a non-empty string")
    return value if _IDENTIFIER.match(value) else event_id(path, value)


def need(mapping: Any, key: str, path: str, kind: type | tuple[type, ...] = str) -> Any:
    if not isinstance(mapping, dict):
        raise Refused(path.rsplit(".", 1)[0] if "." in path else "$", "type", "an object")
    value = mapping.get(key)
    if value is None or value == "":
        raise Refused(path, "required", "missing")
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise Refused(path, "type", f"a {kind.__name__ if isinstance(kind, type) else 'value'} of another type")
    return value


def timestamp(value: Any, path: str) -> str:
    """RFC 3339 (UTC, milliseconds) from what AWS services write: RFC 3339 text, or epoch
    milliseconds or seconds as a number or a string of digits (SageMaker writes all three)."""
    if isinstance(value, bool) or value is None:
        raise Refused(path, "timestamp", "a time (RFC 3339 or epoch)")
    if isinstance(value, int | float) or isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value):
        number = float(value)
        seconds = number / 1000 if number > 1e11 else number
        try:
            moment = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise Refused(path, "timestamp", "an epoch time out of range") from None
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise Refused(path, "timestamp", "not RFC 3339 or epoch") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    else:
        raise Refused(path, "timestamp", "a time (RFC 3339 or epoch)")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def compact(values: dict[str, Any]) -> dict[str, Any]:
    """Without the None values and empty containers (absent fields)."""
    return {k: v for k, v in values.items() if v is not None and v != {} and v != []}


def contract_problems(event: dict[str, Any], limits: Any) -> list[dict[str, str]]:
    """The contract's verdict on one mapped event, as POST /v1/events gives it for a body of
    one event: [] when it passes, else each problem's path (inside the event) and rule."""
    from mlaudit.ingest.request import parse_events  # noqa: PLC0415 - the ingest path's parser

    body = json.dumps({"events": [event]}, ensure_ascii=False, allow_nan=True).encode()
    try:
        parse_events(body, limits)
    except DomainError as error:
        if not error.errors:
            return [{"path": "$", "rule": error.code, "message": error.message}]
        return [{"path": p["path"].removeprefix("events[0]").removeprefix(".") or "$", "rule": p["rule"],
                 "message": p["message"]} for p in error.errors[:20]]
    return []
