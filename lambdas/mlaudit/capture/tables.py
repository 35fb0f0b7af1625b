"""A declared mapping of a table's changed rows to contract events (`tables.json`): one
file for every database source, a DynamoDB stream through Pipes (`capture.dynamodb`) and
DMS Parquet files (`capture.dms`). The file is checked when it is loaded: at synthesis,
when the local stack starts and at a function's cold start, an invalid one stops each
with the path and the rule it breaks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from mlaudit.capture.common import Refused, compact, timestamp
from mlaudit.contract import EVENT_FIELDS, SERVER_OWNED_FIELDS, EventType

TABLES_FILE = Path(__file__).with_name("tables.json")
OPERATIONS = ("insert", "modify", "remove")
_FLOATS = ("prediction_score", "latency_ms")
_MAPPED = frozenset(EVENT_FIELDS) - {"event_id", "event_type", "schema_version", "occurred_at", "features"}


class MappingError(ValueError):
    """tables.json breaks a rule: the path in the file and the rule."""


@dataclass(frozen=True)
class OnChange:
    event_type: str
    fields: dict[str, str]  # contract field -> column
    features: tuple[str, ...] = ()
    when: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableMapping:
    name: str
    key: tuple[str, ...]
    occurred_at: str | None
    constants: dict[str, str] = field(default_factory=dict)
    on: dict[str, OnChange] = field(default_factory=dict)

    def event(self, operation: str, new: dict[str, Any] | None, old: dict[str, Any] | None,
              changed_at: Any, event_id: str) -> dict[str, Any] | None:
        """The contract event a change stands for (before the contract checks it), or None
        when the mapping records nothing for it; Refused naming a column it cannot read."""
        spec = self.on.get(operation)
        if spec is None:
            return None
        row = new if new is not None else old
        if row is None:
            raise Refused("row", "required", f"a {operation} without its row")
        for column in spec.when:
            if row.get(column) in (None, "") or old is not None and new is not None and old.get(column) == row[column]:
                return None
        when = row.get(self.occurred_at) if self.occurred_at else None
        source = self.occurred_at if when is not None else "change time"
        if when is None:
            when = changed_at
        if when is None:
            raise Refused(self.occurred_at or "change time", "required", "when the change happened")
        event: dict[str, Any] = {"event_id": event_id, "event_type": spec.event_type,
                                 "occurred_at": timestamp(_plain(when), source), **self.constants}
        for target, column in spec.fields.items():
            value = _plain(row.get(column))
            if value is None:
                continue
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if number:  # a float field takes the number; a text field its digits (a version of 7)
                value = float(value) if target in _FLOATS else str(value)
            event[target] = value
        event["features"] = {c: _plain(row[c]) for c in spec.features if row.get(c) is not None} or None
        return compact(event)

    def key_of(self, row: dict[str, Any]) -> list[str]:
        missing = [c for c in self.key if row.get(c) in (None, "")]
        if missing:
            raise Refused(missing[0], "required", "a key column of the table's mapping")
        return [json.dumps(_plain(row[c]), sort_keys=True, default=str) for c in self.key]


def _plain(value: Any) -> Any:
    """JSON-ready: DynamoDB's Decimals as int or float, dates as RFC 3339 text, sets as lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, bytes | bytearray):
        return None  # binary columns have no place in an event
    return value


def load(path: Path = TABLES_FILE) -> dict[str, TableMapping]:
    try:
        raw = json.loads(path.read_text())
    except ValueError as error:
        raise MappingError(f"{path.name}: not JSON ({error})") from None
    _expect(isinstance(raw, dict) and raw.get("version") == 1, "$.version", "must be 1")
    tables = raw.get("tables")
    _expect(isinstance(tables, dict), "$.tables", "an object of table name -> mapping")
    return {name: _table(name, spec) for name, spec in tables.items()}


def _table(name: str, spec: Any) -> TableMapping:
    at = f"$.tables.{name}"
    _expect(isinstance(spec, dict), at, "an object")
    unknown = set(spec) - {"key", "occurred_at", "constants", *OPERATIONS}
    _expect(not unknown, at, f"unknown keys {sorted(unknown)}")
    key = spec.get("key", [])
    _expect(isinstance(key, list) and all(isinstance(k, str) for k in key), f"{at}.key", "a list of columns")
    constants = spec.get("constants", {})
    _expect(isinstance(constants, dict) and all(k in _MAPPED and isinstance(v, str) for k, v in constants.items()),
            f"{at}.constants", "contract fields -> text")
    on = {op: _on(f"{at}.{op}", spec[op]) for op in OPERATIONS if op in spec}
    _expect(bool(on), at, f"at least one of {', '.join(OPERATIONS)}")
    occurred = spec.get("occurred_at")
    _expect(occurred is None or isinstance(occurred, str), f"{at}.occurred_at", "a column")
    return TableMapping(name, tuple(key), occurred, dict(constants), on)


def _on(at: str, spec: Any) -> OnChange:
    _expect(isinstance(spec, dict), at, "an object")
    unknown = set(spec) - {"event_type", "fields", "features", "when"}
    _expect(not unknown, at, f"unknown keys {sorted(unknown)}")
    _expect(spec.get("event_type") in {t.value for t in EventType}, f"{at}.event_type", "a contract event type")
    fields = spec.get("fields", {})
    _expect(isinstance(fields, dict), f"{at}.fields", "contract field -> column")
    for target, column in fields.items():
        _expect(target in _MAPPED and target not in SERVER_OWNED_FIELDS, f"{at}.fields.{target}",
                "a contract field a client may send (not event_id, event_type, occurred_at or features)")
        _expect(isinstance(column, str), f"{at}.fields.{target}", "a column name")
    for name in ("features", "when"):
        value = spec.get(name, [])
        _expect(isinstance(value, list) and all(isinstance(c, str) for c in value), f"{at}.{name}", "columns")
    return OnChange(spec["event_type"], dict(fields), tuple(spec.get("features", [])), tuple(spec.get("when", [])))


def _expect(condition: bool, path: str, rule: str) -> None:
    if not condition:
        raise MappingError(f"tables.json {path}: {rule}")
