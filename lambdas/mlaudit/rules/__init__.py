"""Data-quality rules: a declarative file (dq_rules.json) evaluated per event at ingest.

Rules record what is wrong; they never reject. Only contract violations are
rejected (by the event models). The rule file is validated when loaded: an
unknown check, field or event type fails at start-up, not at the first event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from mlaudit.events import EventIn, EventType

RULES_FILE = Path(__file__).with_name("dq_rules.json")

Severity = Literal["warn", "fail"]


@dataclass(frozen=True)
class Verdict:
    status: Literal["pass", "warn", "fail"]
    violations: tuple[str, ...]


PASS = Verdict("pass", ())


@dataclass(frozen=True)
class Rule:
    id: str
    check: str
    severity: Severity
    event_types: frozenset[str] | None  # None: every type
    fields: tuple[str, ...]
    minimum: float | None = None
    maximum: float | None = None
    values: frozenset[Any] = frozenset()

    def violated(self, event: EventIn, not_after: datetime) -> bool:
        values = event.__dict__
        if self.check == "required":
            return any(values[name] is None for name in self.fields)
        value = values[self.fields[0]]
        if value is None:
            return False  # absence is the 'required' rule's business
        if self.check == "range":
            return (self.minimum is not None and value < self.minimum) or (
                self.maximum is not None and value > self.maximum
            )
        if self.check == "allowed":
            return value not in self.values
        return value > not_after  # not_future (load_rules admits no other check)


class RuleSet:
    def __init__(self, rules: list[Rule]) -> None:
        self.rules = tuple(rules)
        self._by_type = {
            event_type.value: tuple(r for r in rules if r.event_types is None or event_type.value in r.event_types)
            for event_type in EventType
        }

    def evaluate(self, event: EventIn, received_at: datetime, clock_skew: timedelta) -> Verdict:
        not_after = received_at + clock_skew
        broken = [r for r in self._by_type[event.event_type.value] if r.violated(event, not_after)]
        if not broken:
            return PASS
        status = "fail" if any(r.severity == "fail" for r in broken) else "warn"
        return Verdict(status, tuple(r.id for r in broken))


_CHECKS = {"range", "required", "allowed", "not_future"}


def load_rules(path: Path = RULES_FILE) -> RuleSet:
    document = json.loads(path.read_text())
    known_types = {t.value for t in EventType}
    rules, seen = [], set()
    for raw in document["rules"]:
        rule_id = raw["id"]
        where = f"{path.name}: rule {rule_id!r}"
        if rule_id in seen:
            raise ValueError(f"{where}: duplicate id")
        seen.add(rule_id)
        if raw["check"] not in _CHECKS:
            raise ValueError(f"{where}: unknown check {raw['check']!r}; known: {sorted(_CHECKS)}")
        if raw.get("severity") not in ("warn", "fail"):
            raise ValueError(f"{where}: severity must be 'warn' or 'fail'")
        fields = tuple(raw["fields"]) if "fields" in raw else (raw["field"],)
        for name in fields:
            if name not in EventIn.model_fields:
                raise ValueError(f"{where}: {name!r} is not a field of the event contract")
        types = raw.get("event_types")
        if types is not None and not set(types) <= known_types:
            raise ValueError(f"{where}: unknown event types {sorted(set(types) - known_types)}")
        rules.append(
            Rule(
                id=rule_id,
                check=raw["check"],
                severity=raw["severity"],
                event_types=frozenset(types) if types is not None else None,
                fields=fields,
                minimum=raw.get("min"),
                maximum=raw.get("max"),
                values=frozenset(raw.get("values", ())),
            )
        )
    return RuleSet(rules)
