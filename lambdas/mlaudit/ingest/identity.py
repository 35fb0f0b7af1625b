"""Caller identity: what the token and the connection decide about a request's events."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from mlaudit.contract import Event, EventType
from mlaudit.errors import MAX_REPORTED_ERRORS, Forbidden, InvalidEvents
from mlaudit.principal import Principal

# Derived event ids: uuid5 in this namespace over the sender and the event's content.
_EVENT_ID_NAMESPACE = uuid.UUID("6f1d8a52-3c1e-4c4b-9a57-2f0b1f6f3a10")


@dataclass(frozen=True)
class RequestMeta:
    source_ip: str | None
    user_agent: str | None


# What a workload holding only `lineage.write` may send (pipelines and orchestrators).
LINEAGE_EVENT_TYPES = frozenset({
    EventType.LINEAGE, EventType.DATASET_REGISTERED, EventType.DATA_INGESTED,
})


def check_scope_allows(principal: Principal, events: list[Event]) -> None:
    if principal.kind != "workload" or "events.write" in principal.scopes:
        return
    problems = [
        {"index": i, "path": f"events[{i}].event_type", "rule": "scope",
         "message": "the lineage.write scope sends lineage, dataset_registered and data_ingested events only"}
        for i, e in enumerate(events) if e.event_type not in LINEAGE_EVENT_TYPES
    ]
    if problems:
        raise Forbidden("forbidden", "The token's scopes do not cover these event types; nothing was stored.",
                        problems[:MAX_REPORTED_ERRORS])


def event_id_of(event: Event, principal: Principal) -> str:
    if event.event_id is not None:
        return event.event_id
    # The content as the contract's model writes it (pydantic, imported only for events
    # sent without an id): the ids derived so far stay the ids.
    from mlaudit.events import EventIn  # noqa: PLC0415 - pydantic, ~1 s: only for events sent without an id

    content = EventIn.model_construct(**event.__dict__).model_dump_json(exclude_none=True)
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"{principal.actor_id}\n{content}"))


def assign_event_ids(events: list[Event], principal: Principal) -> list[str]:
    ids = [event_id_of(e, principal) for e in events]
    if len(set(ids)) == len(ids):
        return ids
    first_seen: dict[str, int] = {}
    problems = []
    for index, event_id in enumerate(ids):
        if event_id in first_seen:
            problems.append({
                "index": index, "path": f"events[{index}].event_id", "rule": "duplicate_in_request",
                "message": f"same event_id as events[{first_seen[event_id]}] (identical events need "
                "distinct client-supplied event_id values)",
            })
        first_seen.setdefault(event_id, index)
    if problems:
        raise InvalidEvents("validation_failed", "Duplicate event ids in the request; nothing was stored.",
                            problems[:MAX_REPORTED_ERRORS])
    return ids


def request_key(principal: Principal, event_ids: list[str]) -> str:
    """Idempotency key: the sender and the ordered event ids (ids are scoped per sender)."""
    return hashlib.sha256("\n".join([principal.actor_id, *event_ids]).encode()).hexdigest()


def server_fields(principal: Principal, meta: RequestMeta, received_at: str) -> dict[str, Any]:
    """The stored fields a request's events take from its token and connection."""
    return {
        "received_at": received_at,
        "actor_id": principal.actor_id,
        "actor_type": principal.actor_type,
        "actor_roles": list(principal.roles),
        "client_id": principal.client_id,
        "source_ip": meta.source_ip,
        "user_agent": meta.user_agent,
    }
