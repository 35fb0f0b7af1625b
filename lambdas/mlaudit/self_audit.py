"""Self-audit: the stack's own audit events (query runs, configuration reads, subject
access and erasure).

They are events like any client's: the same contract, data-quality rules, queue and
writer, recorded as the principal whose request caused them. Whoever records one
decides what a failure means (a query does not run unaudited; an erasure says the key
is gone but the event is pending).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from mlaudit.codec import canonical_json
from mlaudit.ingest.identity import RequestMeta
from mlaudit.ingest.request import IngestLimits, parse_events
from mlaudit.ingest.service import EventRecorder, Queue, Sealer
from mlaudit.principal import Principal
from mlaudit.rules import RuleSet, load_rules


class SelfAudit(Protocol):
    def record(
        self, principal: Principal, events: list[dict[str, Any]], subject_pseudonym: str | None = None,
    ) -> list[str]:
        """Record `events` (EventIn fields) as `principal`'s; their ids, or an exception.
        With `subject_pseudonym`, each event carries it (never a subject_ref)."""


class QueueSelfAudit:
    """Self-audit on the events queue, through the ingest's EventRecorder. Each call is
    a new request: it is never answered from the idempotency store."""

    def __init__(
        self, queue: Queue, *, limits: IngestLimits | None = None, rules: RuleSet | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC), sealer: Sealer | None = None,
    ) -> None:
        self.queue = queue
        self.sealer = sealer
        self.limits = limits or IngestLimits()
        self.rules = rules or load_rules()
        self.clock = clock

    def record(
        self, principal: Principal, events: list[dict[str, Any]], subject_pseudonym: str | None = None,
    ) -> list[str]:
        protector = None
        if subject_pseudonym is not None:
            protector = _FixedPseudonym(subject_pseudonym)
            # The recorder pseudonymizes only events with a subject_ref; the value is
            # never stored (the protector ignores it), the pseudonym is.
            events = [{**event, "subject_ref": subject_pseudonym} for event in events]
        parsed = parse_events(canonical_json({"events": events}).encode(), self.limits)
        event_ids = [e.event_id or str(uuid.uuid4()) for e in parsed]
        recorder = EventRecorder(
            queue=self.queue, limits=self.limits, rules=self.rules, protector=protector, clock=self.clock,
            sealer=self.sealer,
        )
        recorder.enqueue(parsed, event_ids, uuid.uuid4().hex, principal, RequestMeta(None, None), self.clock())
        return event_ids


class _FixedPseudonym:
    """A `Protector` that stamps a pseudonym already computed, so the event carries no
    subject_ref and creates no key."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def prepare(self, subject_refs: Any) -> None:
        pass  # no keys to load: the pseudonym is already known

    def protect(self, subject_ref: str, personal_data: dict[str, Any] | None) -> tuple[str, str | None]:
        return self.alias, None
