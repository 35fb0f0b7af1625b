"""Records: a validated event -> its leaf record, the bytes `mlaudit.leaf` hashes, and
the fingerprints of what a request asks to store."""

from __future__ import annotations

import hashlib
from typing import Any

from mlaudit.contract import EVENT_FIELDS, LIST_FIELDS, Event
from mlaudit.leaf import EMPTY_LEAF, LEAF_ORDER, LeafRecord


def request_fingerprint(events: list[Event]) -> str:
    """What the request asks to store, as parsed: a resend with other whitespace, key
    order or null fields is the same request; one with any other value is not (409).
    The hash of the events' contents (`Event.content`) as one JSON array."""
    return hashlib.sha256(b"[" + b",".join(event.content for event in events) + b"]").hexdigest()


# A leaf record starts as every leaf field, null, in canonical key order; merging the
# event's values into it keeps that order. The event's fields the leaf does not hold:
_NOT_IN_LEAF = tuple(name for name in EVENT_FIELDS if name not in LEAF_ORDER)  # subject_ref


def leaf_record(
    event: Event, event_id: str, server: dict[str, Any], dq_status: str, dq_violations: tuple[str, ...],
) -> dict[str, Any]:
    """The stored fields of one event, in leaf form and canonical key order (see mlaudit.leaf).
    `server` comes from `server_fields`; its values are shared, never modified. Personal
    data is left null: the protector sets its ciphertext."""
    record = LeafRecord(EMPTY_LEAF)  # every leaf field in order: the updates keep it
    record.update(event.__dict__)
    record.update(event.stored)  # occurred_at, event_type, JSON fields: as stored
    record.update(server)
    for name in _NOT_IN_LEAF:
        del record[name]
    for name in LIST_FIELDS:
        if record[name] is None:
            record[name] = []
    record["personal_data"] = None
    record["event_id"] = event_id
    record["dq_status"] = dq_status
    record["dq_violations"] = list(dq_violations)
    return record
