"""Data-quality rules: a declarative file (dq_rules.json) evaluated per event at ingest.

Rules record what is wrong; they never reject. Only contract violations are
rejected (by the event models). The rule file is validated when loaded: an
unknown check, field or event type fails at start-up, not at the first event.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal

from mlaudit.contract import EVENT_FIELDS, Event, EventType

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
    any_of: tuple[str, ...] = ()  # 'required': besides `fields`, at least one of these

    # The check, built once from the fields above: ingest runs it for every event.
    test: Callable[[dict[str, Any], datetime], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "test", _compile(self))


def _compile(rule: Rule) -> Callable[[dict[str, Any], datetime], bool]:
    """A rule as one small function of (event values, not_after). Absence is only the
    'required' check's business: the others pass a missing value."""
    name = rule.fields[0] if rule.fields else ""
    if rule.check == "required":
        missing = _missing(rule.fields)
        if not rule.any_of:
            return missing
        alternatives = rule.any_of  # an empty list names nothing either
        return lambda values, now: missing(values, now) or not any(values[a] for a in alternatives)
    if rule.check == "range":
        low = float("-inf") if rule.minimum is None else rule.minimum
        high = float("inf") if rule.maximum is None else rule.maximum
        return lambda values, _: (value := values[name]) is not None and not low <= value <= high
    if rule.check == "allowed":
        allowed = rule.values
        return lambda values, _: (value := values[name]) is not None and value not in allowed
    return lambda values, not_after: (value := values[name]) is not None and value > not_after  # not_future


def _missing(fields: tuple[str, ...]) -> Callable[[dict[str, Any], datetime], bool]:
    if not fields:
        return lambda values, _: False
    if len(fields) == 1:
        name = fields[0]
        return lambda values, _: values[name] is None
    present = itemgetter(*fields)
    return lambda values, _: None in present(values)


class RuleSet:
    def __init__(self, rules: list[Rule]) -> None:
        self.rules = tuple(rules)
        self._by_type = {
            event_type.value: tuple(r for r in rules if r.event_types is None or event_type.value in r.event_types)
            for event_type in EventType
        }

    def evaluate(self, event: Event, received_at: datetime, clock_skew: timedelta) -> Verdict:
        return self.evaluate_all([event], received_at, clock_skew)[0]

    def evaluate_all(self, events: list[Event], received_at: datetime, clock_skew: timedelta) -> list[Verdict]:
        """Each event's verdict, in order: the rules of its type it breaks."""
        not_after = received_at + clock_skew
        by_type = self._by_type
        verdicts = []
        for event in events:
            values = event.__dict__
            broken = [r for r in by_type[values["event_type"]] if r.test(values, not_after)]
            verdicts.append(PASS if not broken else Verdict(
                "fail" if any(r.severity == "fail" for r in broken) else "warn", tuple(r.id for r in broken)))
        return verdicts


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
        any_of = tuple(raw.get("any_of", ()))
        if any_of and raw["check"] != "required":
            raise ValueError(f"{where}: any_of goes with the 'required' check only")
        if not fields and len(any_of) < 2:
            raise ValueError(f"{where}: name the required fields, or two or more in any_of")
        for name in (*fields, *any_of):
            if name not in EVENT_FIELDS:
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
                any_of=any_of,
            )
        )
    return RuleSet(rules)
