"""Exactly once per (sender, event_id): per-event claims within the idempotency window.

The one claim path of every door: POST /v1/events, POST /v1/lineage (mapped to a contract
event first) and each batch of a file import go through `settle_claims`, by way of
`IngestService.store_events`. Each event of a request is claimed in the idempotency store under its sender and id,
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
- owned by another request still in flight (younger than that request's own in-flight
  time: the timeout of the function that runs it): 409 request_in_progress (retry shortly);
- the same id with other content: 409 idempotency_conflict naming each index (a file
  import rejects those lines alone and stores the rest).

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
    # How long the request may still be running after claimed_at (its function's timeout:
    # an import batch's is an import's); None: as long as the caller's own requests.
    in_flight: timedelta | None = None


@dataclass(frozen=True)
class Settled:
    """What a request's claims came to, by index: the events it sends (`owned`), those the
    same id holds with other content (`conflicts`); the others are stored already, or on
    their way through another request: acknowledged again, sent nothing."""

    owned: list[int]
    conflicts: list[int]

    def acknowledged(self, count: int) -> list[int]:
        taken = set(self.owned) | set(self.conflicts)
        return [index for index in range(count) if index not in taken]


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


def idempotency_conflict(indexes: list[int]) -> Conflict:
    return Conflict(
        "idempotency_conflict", "These event ids were already sent with different content; use new event ids.",
        [{"index": i, "path": f"events[{i}].event_id", "rule": "idempotency_conflict", "message": CONFLICT_MESSAGE}
         for i in sorted(indexes)[:MAX_REPORTED_ERRORS]],
    )


CONFLICT_MESSAGE = "this event_id was stored with other content within the idempotency window"


def settle_claims(
    store: EventClaimStore, actor_id: str, events: list[Event], event_ids: list[str], key: str,
    now: datetime, window: timedelta, in_flight: timedelta, *, partial: bool,
) -> Settled:
    """Claim each event (see the module). `partial`: settle the other events whatever the
    conflicts (a file import stores the rest of its lines); else stop at the first round
    that finds one (the request is refused whole). Conflict request_in_progress either way."""
    claims = [
        EventClaim(event_key(actor_id, event_id), event_fingerprint(event), key)
        for event, event_id in zip(events, event_ids, strict=True)
    ]
    owned: list[int] = []
    conflicts: list[int] = []
    pending = list(range(len(claims)))
    for _ in range(8):  # each round settles every claim but those raced by another request
        held = store.insert_event_claims([claims[i] for i in pending], now, window)
        owned += [index for position, index in enumerate(pending) if position not in held]
        found = [pending[position] for position, claim in held.items()
                 if claim.fingerprint != claims[pending[position]].fingerprint]
        conflicts += found
        if found and not partial:
            return Settled(sorted(owned), sorted(conflicts))
        owners: dict[str, RequestState | None] = {}
        raced = []
        for position, claim in held.items():
            index = pending[position]
            if index in found:
                continue
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
            if state is not None and state.state == "IN_PROGRESS" and (
                    now - state.claimed_at < (state.in_flight or in_flight)):
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
            return Settled(sorted(owned), sorted(conflicts))
    raise Conflict("request_in_progress", "Some of these events are being stored by another request; retry shortly.",
                   retry_after_seconds=1)
