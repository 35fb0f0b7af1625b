"""Exactly once per (sender, event_id): per-event claims within the idempotency window.

Each event of a request is claimed in the idempotency store under its sender and id,
with the fingerprint of its content and the request that owns it (the request key,
`identity.request_key`). A request sends only the events it owns:

- a new id: claimed now, owned by this request, sent;
- owned by this request already (an earlier attempt of the same request): sent again,
  in the same packs as before (the writer's pack ledger drops those already stored);
- owned by another request that completed, or that failed after a confirmed send of
  this event: acknowledged again, sent nothing;
- owned by another request that failed before sending it, or whose attempt died
  (older than the function's timeout): taken over, sent;
- owned by another request whose send of its pack failed without an answer, or that
  died (timed out) while sending (each attempt records its packs before it sends them,
  `intend`), so the queue may or may not hold it: that pack is superseded in the writer's ledger
  first (`supersede_pack`; the writer then drops it), then taken over and sent; if the
  writer had already claimed that pack, the event is acknowledged again;
- owned by another request still in flight: 409 request_in_progress (retry shortly);
- the same id with other content: 409 idempotency_conflict naming each index.

After the window (`idempotency_ttl`) a claim expires: the same id is then a new event
and is stored again (docs/benchmarks.md, "Exactly once").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

from mlaudit.contract import Event
from mlaudit.errors import MAX_REPORTED_ERRORS, Conflict


class EventClaim(NamedTuple):  # a tuple: one is made per event, on the hot path
    event_key: str  # sender and event id, hashed
    fingerprint: str  # the event's content, as parsed
    owner: str  # the request key that sends it


@dataclass(frozen=True)
class HeldClaim:
    """A claim found in the store (not expired)."""

    fingerprint: str
    owner: str


@dataclass(frozen=True)
class RequestState:
    state: str  # IN_PROGRESS, COMPLETED, FAILED
    claimed_at: datetime
    sent_events: frozenset[str]  # event ids in packs the queue confirmed (a FAILED request)
    uncertain: dict[str, str] = field(default_factory=dict)  # event id -> pack sent without an answer


class EventClaimStore(Protocol):
    def insert_event_claims(
        self, claims: list[EventClaim], now: datetime, window: timedelta,
    ) -> dict[int, HeldClaim]:
        """Claim each event that has no live claim (atomically per claim); answer the live
        claims found instead, by position."""

    def request_state(self, key: str, now: datetime) -> RequestState | None: ...

    def take_over_event(self, claim: EventClaim, previous_owner: str, now: datetime, window: timedelta) -> bool:
        """Set the owner, if it is still `previous_owner`."""

    def supersede_pack(self, pack_id: str, now: datetime) -> bool:
        """Mark a pack superseded in the writer's ledger unless the writer claimed it
        first (False): from then on the writer drops it."""


def event_key(actor_id: str, event_id: str) -> str:
    return "event#" + hashlib.sha256(f"{actor_id}\n{event_id}".encode()).hexdigest()


def event_fingerprint(event: Event) -> str:
    """The event's content as parsed (`Event.content`), hashed."""
    return hashlib.sha256(event.content).hexdigest()[:32]


def claim_events(
    store: EventClaimStore, actor_id: str, events: list[Event], event_ids: list[str], key: str,
    now: datetime, window: timedelta, in_flight: timedelta,
) -> list[int]:
    """The indexes of the events this request must send (see the module); else Conflict."""
    claims = [
        EventClaim(event_key(actor_id, event_id), event_fingerprint(event), key)
        for event, event_id in zip(events, event_ids, strict=True)
    ]
    owned: list[int] = []
    pending = list(range(len(claims)))
    for _ in range(8):  # each round settles every claim but those raced by another request
        held = store.insert_event_claims([claims[i] for i in pending], now, window)
        owned += [index for position, index in enumerate(pending) if position not in held]
        conflicts = [
            pending[position] for position, claim in held.items()
            if claim.fingerprint != claims[pending[position]].fingerprint
        ]
        if conflicts:
            raise Conflict(
                "idempotency_conflict",
                "These event ids were already sent with different content; use new event ids.",
                [{"index": i, "path": f"events[{i}].event_id", "rule": "idempotency_conflict",
                  "message": "this event_id was stored with other content within the idempotency window"}
                 for i in sorted(conflicts)[:MAX_REPORTED_ERRORS]],
            )
        owners: dict[str, RequestState | None] = {}
        raced = []
        for position, claim in held.items():
            index = pending[position]
            if claim.owner == key:
                owned.append(index)
                continue
            if claim.owner not in owners:
                owners[claim.owner] = store.request_state(claim.owner, now)
            state = owners[claim.owner]
            if state is not None and (
                state.state == "COMPLETED" or (state.state == "FAILED" and event_ids[index] in state.sent_events)
            ):
                continue  # stored, or on its way: acknowledged again
            if state is not None and state.state == "IN_PROGRESS" and now - state.claimed_at < in_flight:
                raise Conflict(
                    "request_in_progress", "Some of these events are being stored by another request; retry shortly.",
                    retry_after_seconds=int(in_flight.total_seconds()),
                )
            pack = state.uncertain.get(event_ids[index]) if state is not None else None
            if pack is not None and not store.supersede_pack(pack, now):
                continue  # the writer has that pack: stored, or on its way
            if store.take_over_event(claims[index], claim.owner, now, window):
                owned.append(index)
            else:
                raced.append(index)
        pending = raced
        if not pending:
            return sorted(owned)
    raise Conflict("request_in_progress", "Some of these events are being stored by another request; retry shortly.",
                   retry_after_seconds=1)
