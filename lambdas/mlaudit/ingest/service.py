"""The ingest services over their ports: EventRecorder (validated events -> packs on
the queue) and IngestService (POST /v1/events, idempotent per request)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mlaudit.codec import format_timestamp
from mlaudit.contract import Event
from mlaudit.errors import MAX_REPORTED_ERRORS, InvalidEvents, TooLarge
from mlaudit.ingest.claims import EventClaimStore, Settled, idempotency_conflict, settle_claims
from mlaudit.ingest.identity import RequestMeta, assign_event_ids, check_scope_allows, request_key, server_fields
from mlaudit.ingest.lanes import Lane, LaneStore, advance
from mlaudit.ingest.records import leaf_record, request_fingerprint
from mlaudit.ingest.request import (
    IngestLimits,
    check_content_type,
    decode_body,
    parse_events,
)
from mlaudit.pack import Pack, PackTooLarge, pack_records
from mlaudit.principal import Principal
from mlaudit.rules import PASS, RuleSet, load_rules


@dataclass
class Claim:
    """What the idempotency store knows about a request key."""

    state: str  # "new" (go ahead), "replay" (answer `response`)
    received_at: datetime
    response: dict[str, Any] | None = None
    sent_packs: frozenset[str] = frozenset()  # packs an earlier attempt had confirmed by the queue
    sent_events: frozenset[str] = frozenset()  # the event ids in them
    uncertain: dict[str, str] = field(default_factory=dict)  # event id -> its pack, sent without an answer


class IdempotencyStore(EventClaimStore, Protocol):
    """Requests (a retried one answers its first answer) and each event's claim."""

    def claim(self, key: str, fingerprint: str, now: datetime, limits: IngestLimits,
              received_at: datetime | None = None) -> Claim:
        """Claim a request key at `now`; a new request arrives at `received_at` (default: now),
        a request claimed before keeps the time of arrival of its first attempt."""
    def complete(self, key: str, response: dict[str, Any], now: datetime, limits: IngestLimits) -> None: ...
    def release(
        self, key: str, sent_packs: Iterable[str] = (), sent_events: Iterable[str] = (),
        uncertain: dict[str, list[str]] | None = None,
    ) -> None:
        """The attempt failed; the queue had confirmed `sent_packs`, holding `sent_events`;
        `uncertain` (pack id -> its event ids) were sent without an answer."""

    def intend(self, key: str, packs: dict[str, list[str]]) -> None:
        """Before sending: the packs (id -> event ids) this attempt is about to send. Until
        the queue confirms them they count as sent without an answer: whoever takes over
        their events after this attempt dies supersedes them first."""


class Queue(Protocol):
    def send_packs(self, packs: list[Pack]) -> None:
        """Send every pack or raise; a pack sent twice is harmless (same pack id)."""


@dataclass
class IngestResult:
    event_ids: list[str]
    dq_counts: dict[str, int] = field(default_factory=lambda: {"pass": 0, "warn": 0, "fail": 0})
    dq_violations: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "accepted": len(self.event_ids),
            "event_ids": self.event_ids,
            "dq": self.dq_counts,
            "dq_violations": self.dq_violations,
        }


class Protector(Protocol):
    """Turns subject_ref / personal_data into a pseudonym and ciphertext (privacy module)."""

    def prepare(self, subject_refs: Iterable[str]) -> None:
        """Load or create every subject's key of a batch at once (before `protect`)."""

    def protect(self, subject_ref: str, personal_data: dict[str, Any] | None) -> tuple[str, str | None]: ...


class Sealer(Protocol):
    """Ingest's seal over a pack's leaf hashes (`integrity.services.seals.PackSealer`): the writer
    stores only sealed events, and cannot seal any itself."""

    reserve_bytes: int  # what a seal adds to a queue message, at most

    def seal(self, pack_id: str, leaves: Sequence[bytes]) -> str: ...


class EventRecorder:
    """Validated events -> leaf records (with their data-quality verdict) -> sealed packs on
    the queue.

    The one way onto the queue: clients' events (IngestService), imported files
    (mlaudit.imports) and the stack's own events (mlaudit.self_audit) all go through it.
    """

    def __init__(
        self, *, queue: Queue, limits: IngestLimits, rules: RuleSet | None = None,
        protector: Protector | None = None, clock: Any = lambda: datetime.now(UTC),
        sealer: Sealer | None = None,
    ) -> None:
        self.queue = queue
        self.limits = limits
        self.rules = rules or load_rules()
        self.protector = protector
        self.clock = clock
        self.sealer = sealer  # deployments always seal (mlaudit.bootstrap)


    def enqueue(
        self, events: list[Event], event_ids: list[str], key: str, principal: Principal,
        meta: RequestMeta, received_at: datetime,
    ) -> IngestResult:
        result, records = self.evaluate(events, event_ids, principal, meta, received_at)
        self.queue.send_packs(self.pack(records, key))
        return result

    def pack(self, records: list[dict[str, Any]], key: str) -> list[Pack]:
        room = self.limits.max_message_bytes - (self.sealer.reserve_bytes if self.sealer is not None else 0)
        try:
            packs = pack_records(records, key, room)
        except PackTooLarge:
            raise TooLarge("event_too_large", "An event is larger than one queue message.") from None
        if self.sealer is None:
            return packs
        return [replace(p, seal=self.sealer.seal(p.pack_id, p.leaves)) for p in packs]

    def evaluate(
        self, events: list[Event], event_ids: list[str], principal: Principal,
        meta: RequestMeta, received_at: datetime,
    ) -> tuple[IngestResult, list[dict[str, Any]]]:
        """Each event's data-quality verdict (the answer) and leaf record."""
        server = server_fields(principal, meta, format_timestamp(received_at))
        result = IngestResult(event_ids)
        if self.protector is not None:
            self.protector.prepare(e.subject_ref for e in events if e.subject_ref is not None)
        verdicts = self.rules.evaluate_all(events, received_at, self.limits.clock_skew)
        records = [leaf_record(event, event_id, server, verdict.status, verdict.violations)
                   for event, event_id, verdict in zip(events, event_ids, verdicts, strict=True)]
        for index, verdict in enumerate(verdicts):
            if verdict is not PASS:
                result.dq_counts[verdict.status] += 1
                result.dq_violations.append(
                    {"index": index, "event_id": event_ids[index], "rules": list(verdict.violations)})
        result.dq_counts["pass"] = len(events) - result.dq_counts["warn"] - result.dq_counts["fail"]
        if self.protector is not None:
            for event, record in zip(events, records, strict=True):
                if event.subject_ref is not None:
                    record["subject_pseudonym"], record["personal_data"] = self.protector.protect(
                        event.subject_ref, event.personal_data
                    )
        return result, records


class IngestService:
    """POST /v1/events: parse, check, then `store_events` (every door's one claim path)."""

    def __init__(
        self, *, store: IdempotencyStore, queue: Queue, limits: IngestLimits,
        rules: RuleSet | None = None, protector: Protector | None = None,
        clock: Any = lambda: datetime.now(UTC), lanes: LaneStore | None = None, sealer: Sealer | None = None,
    ) -> None:
        self.store = store
        self.lanes = lanes  # None: every request is claimed event by event
        self.queue = queue
        self.limits = limits
        self.protector = protector
        self.clock = clock
        self.recorder = EventRecorder(queue=queue, limits=limits, rules=rules, protector=protector, clock=clock,
                                      sealer=sealer)

    def ingest(
        self, body: bytes, content_type: str | None, principal: Principal, meta: RequestMeta,
        content_encoding: str | None = None, lane: Lane | None = None,
    ) -> dict[str, Any]:
        """The answer's body: the events accepted (stored, or already stored by an earlier
        identical request: its answer again). The route says the status. A request in a
        lane (mlaudit.ingest.lanes) moves its lane's watermark instead of claiming each event."""
        check_content_type(content_type)
        events = parse_events(decode_body(body, content_encoding, self.limits.max_body_bytes), self.limits)
        check_scope_allows(principal, events)
        self._check_personal_fields(events)
        event_ids = assign_event_ids(events, principal)
        return self.store_events(events, event_ids, principal, meta, request_key(principal, event_ids), lane=lane)

    def store_events(
        self, events: list[Event], event_ids: list[str], principal: Principal, meta: RequestMeta, key: str, *,
        partial: bool = False, in_flight: timedelta | None = None, received_at: datetime | None = None,
        unclaimed: frozenset[int] = frozenset(), lane: Lane | None = None,
    ) -> dict[str, Any]:
        """The one way validated events are stored, whichever door they came through (the
        events and lineage routes, file imports): the request `key` claimed (a request
        completed before is answered with its first answer), each event claimed per
        (sender, event_id) within the window (`claims.settle_claims`), the events this
        request owns recorded and sent, the answer kept. All or nothing (a conflicting id
        is a 409), or with `partial` (an import's batch) the conflicting events are left out
        and named in the answer (`partial_answer`). `in_flight`: how long the request may
        run (its function's timeout) if longer than ingest's; `received_at`: the time of
        arrival its events get (an import's, for every batch of the file), if not now;
        `unclaimed`: events whose ids only this request can ever hold (an import line's id
        derived from its file and line number), owned without a claim of their own; `lane`:
        the SDK's lane and batch position (`mlaudit.ingest.lanes`), whose watermark moves
        instead of a claim per event."""
        limits = self.limits if in_flight is None else replace(self.limits, in_flight=in_flight)
        claim = self.store.claim(key, request_fingerprint(events), self.clock(), limits, received_at)
        if claim.state == "replay":
            assert claim.response is not None
            return claim.response
        sent: list[Pack] = []
        uncertain: list[Pack] = []
        now = self.clock()
        try:
            in_lane = lane is not None and self.lanes is not None
            if in_lane:
                assert lane is not None and self.lanes is not None
                # After the request's own record: a resend of a stored request is answered above.
                advance(self.lanes, principal.actor_id, lane, key, now, self.limits.idempotency_ttl)
                settled = Settled(list(range(len(events))), [])
            else:
                settled = self._settle(events, event_ids, principal, key, partial, unclaimed)
            if settled.conflicts and not partial:
                raise idempotency_conflict(settled.conflicts)
            refused = set(settled.conflicts)
            keep = [i for i in range(len(events)) if i not in refused]
            result, records = self.recorder.evaluate(
                [events[i] for i in keep], [event_ids[i] for i in keep], principal, meta, claim.received_at)
            owned = set(settled.owned)
            packs = self._packs([record for i, record in zip(keep, records, strict=True) if i in owned], key,
                                claim, now)
            # Intentions are for whoever takes over an event's claim; a lane's events have none,
            # and its resend sends the same packs (the ledger drops those stored).
            if packs and not in_lane:
                self.store.intend(key, {p.pack_id: list(p.event_ids) for p in packs})
            self._send(packs, sent, uncertain)
            response = partial_answer(settled, records, keep, len(events)) if partial else result.body()
            self.store.complete(key, response, self.clock(), limits)
        except BaseException:
            # Released with what the queue confirmed: a retry (or another request) sends the rest.
            self.store.release(key, [p.pack_id for p in sent],
                               [event_id for p in sent for event_id in p.event_ids],
                               {p.pack_id: list(p.event_ids) for p in uncertain})
            raise
        return response

    def _settle(
        self, events: list[Event], event_ids: list[str], principal: Principal, key: str, partial: bool,
        unclaimed: frozenset[int],
    ) -> Settled:
        claimed = [i for i in range(len(events)) if i not in unclaimed]
        settled = settle_claims(self.store, principal.actor_id, [events[i] for i in claimed],
                                [event_ids[i] for i in claimed], key, self.clock(), self.limits.idempotency_ttl,
                                self.limits.in_flight, partial=partial)
        if not unclaimed:
            return settled
        return Settled(sorted([claimed[i] for i in settled.owned] + list(unclaimed)),
                       [claimed[i] for i in settled.conflicts])

    def _packs(self, records: list[dict[str, Any]], key: str, claim: Claim, now: datetime) -> list[Pack]:
        """The packs of the events this request owns, named after the request and those
        events: an attempt that owns the same events as the one before sends the same
        packs (the writer's ledger drops a pack it stored), minus those the queue
        confirmed. If it owns others (another request took some over), the packs differ:
        then what the queue confirmed is left out, a pack sent without an answer is
        superseded first (or left out if the writer has it), and the rest packed anew."""
        packs = self._pack(records, key)
        before = claim.sent_events | claim.uncertain.keys()
        if all(p.pack_id in claim.sent_packs or p.pack_id in claim.uncertain.values()
               or before.isdisjoint(p.event_ids) for p in packs):
            return [p for p in packs if p.pack_id not in claim.sent_packs]
        held = {pack for pack in set(claim.uncertain.values()) if not self.store.supersede_pack(pack, now)}
        done = claim.sent_events | {e for e, pack in claim.uncertain.items() if pack in held}
        return self._pack([r for r in records if r["event_id"] not in done], key)

    def _pack(self, records: list[dict[str, Any]], key: str) -> list[Pack]:
        return self.recorder.pack(records, pack_key(key, [r["event_id"] for r in records]))

    def _send(self, packs: list[Pack], sent: list[Pack], uncertain: list[Pack]) -> None:
        try:
            self.queue.send_packs(packs)
        except Exception as error:
            confirmed = set(getattr(error, "sent_pack_ids", ()))
            unknown = set(getattr(error, "uncertain_pack_ids", ()))
            sent += [p for p in packs if p.pack_id in confirmed]
            uncertain += [p for p in packs if p.pack_id in unknown]
            raise
        sent += packs

    def _check_personal_fields(self, events: list[Event]) -> None:
        if all(e.subject_ref is None and e.personal_data is None for e in events):
            return  # (most requests: one pass)
        # Personal data is encrypted under its subject's key: without a subject it has none.
        orphans = [
            {"index": i, "path": f"events[{i}].personal_data", "rule": "requires_subject_ref",
             "message": "personal_data needs the subject_ref it is about"}
            for i, e in enumerate(events) if e.personal_data is not None and e.subject_ref is None
        ]
        if orphans:
            raise InvalidEvents("validation_failed", "Personal data without a subject; nothing was stored.",
                                orphans[:MAX_REPORTED_ERRORS])
        if self.protector is not None:
            return
        problems = [
            {"index": i, "path": f"events[{i}].{name}", "rule": "privacy_not_configured",
             "message": "this deployment has no subject key store; personal fields are refused"}
            for i, e in enumerate(events) for name in ("subject_ref", "personal_data")
            if getattr(e, name) is not None
        ]
        if problems:
            raise InvalidEvents("validation_failed", "Personal fields cannot be stored here; nothing was stored.",
                                problems[:MAX_REPORTED_ERRORS])


def partial_answer(settled: Settled, records: list[dict[str, Any]], kept: list[int], count: int) -> dict[str, Any]:
    """What a partial request (an import's batch) came to, by index in the request:
    `stored` (sent by this request), `already_stored` (by another request within the
    window: acknowledged, not sent) and `conflicts` (the id holds other content: left out);
    `dq` counts the events this request stored."""
    owned = set(settled.owned)
    dq = {"pass": 0, "warn": 0, "fail": 0}
    for index, record in zip(kept, records, strict=True):
        if index in owned:
            dq[record["dq_status"]] += 1
    return {"stored": len(owned), "already_stored": settled.acknowledged(count), "conflicts": settled.conflicts,
            "dq": dq}


def pack_key(key: str, event_ids: list[str]) -> str:
    """What a request's packs are named after (`pack.pack_records`): the request and the
    events it sends, in order."""
    digest = hashlib.sha256("\n".join(event_ids).encode()).hexdigest()
    return f"{key}:{digest}"
