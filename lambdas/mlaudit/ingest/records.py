"""Records: a validated event -> its leaf record, the bytes `mlaudit.leaf` hashes, and
the fingerprint of what a request asks to store."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from mlaudit.codec import format_timestamp
from mlaudit.events import JSON_FIELDS, LIST_FIELDS, EventIn
from mlaudit.leaf import LEAF_ORDER

_FINGERPRINT = msgspec.json.Encoder(order="sorted")


def request_fingerprint(events: list[EventIn]) -> str:
    """What the request asks to store, as parsed: a resend with other whitespace or key
    order is the same request; one with any other value is not (409)."""
    return hashlib.sha256(_FINGERPRINT.encode([event.__dict__ for event in events])).hexdigest()


# Fields copied as they are from the client's event into the leaf record.
_COPIED = tuple(
    name for name in LEAF_ORDER
    if name in EventIn.model_fields and name not in (*JSON_FIELDS, *LIST_FIELDS, "event_id", "event_type",
                                                     "occurred_at", "subject_ref", "personal_data")
)


def leaf_record(
    event: EventIn, event_id: str, server: dict[str, Any], dq_status: str, dq_violations: tuple[str, ...],
) -> dict[str, Any]:
    """The stored fields of one event, in leaf form and canonical key order (see mlaudit.leaf).
    `server` comes from `server_fields`; its values are shared, never modified."""
    values = event.__dict__
    record = dict.fromkeys(LEAF_ORDER)  # the key order; the assignments below keep it
    for name in _COPIED:
        record[name] = values[name]
    for name in JSON_FIELDS:
        value = values[name]
        record[name] = None if value is None else value.text  # CanonicalJson, encoded at validation
    for name in LIST_FIELDS:
        record[name] = list(values[name] or ())
    record.update(server)
    record["event_id"] = event_id
    record["event_type"] = event.event_type.value
    record["occurred_at"] = format_timestamp(event.occurred_at)
    record["dq_status"] = dq_status
    record["dq_violations"] = list(dq_violations)
    return record
