"""Leaf encoding v1: the canonical bytes of one stored event, and its leaf hash.

A leaf record holds every `layout.LEAF_FIELDS` field (all stored fields but
`leaf_hash`), with timestamps as `events.format_timestamp` strings, JSON columns
as canonical JSON text, list columns as lists of strings (never null) and absent
values as null. Its canonical bytes are `events.canonical_json(record)` (sorted
keys, no spaces, ASCII with \\u escapes, shortest round-trip floats). The leaf
hash is RFC 6962's leaf hash, SHA-256(0x00 || bytes), in lower-case hex.

The ingest function sends exactly these bytes through SQS, so the writer hashes
what was validated, and a verifier rebuilds them from a Parquet row and its path.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from mlaudit.events import canonical_json, format_timestamp
from mlaudit.layout import LEAF_FIELDS, TIMESTAMP_COLUMNS

LEAF_ENCODING_VERSION = 1
_LEAF_FIELD_SET = frozenset(LEAF_FIELDS)
# Canonical key order. A record built in this order encodes without sorting.
LEAF_ORDER: tuple[str, ...] = tuple(sorted(LEAF_FIELDS))
_IN_ORDER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def encode_leaf(record: dict[str, Any]) -> str:
    """canonical_json(record) for a record whose keys are already in LEAF_ORDER."""
    return _IN_ORDER.encode(record)


class LeafError(ValueError):
    """A line is not a canonical v1 leaf record."""


def leaf_hash_bytes(canonical: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + canonical).digest()


def leaf_hash(record: dict[str, Any]) -> str:
    return leaf_hash_bytes(canonical_json(record).encode("ascii")).hex()


def parse_leaf_line(line: bytes) -> dict[str, Any]:
    """Parse one SQS line and prove it is a canonical leaf record (else LeafError)."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise LeafError(f"not JSON: {exc.msg}") from None
    if not isinstance(record, dict) or record.keys() != _LEAF_FIELD_SET:
        raise LeafError("fields differ from the v1 leaf fields")
    if canonical_json(record).encode("ascii") != line:
        raise LeafError("not in canonical form")
    return record


def leaf_record_from_row(row: dict[str, Any], event_type: str) -> dict[str, Any]:
    """Rebuild the leaf record from a Parquet row (as pyarrow's to_pylist gives it)
    and the event_type taken from the object key."""
    record = {name: row.get(name) for name in LEAF_FIELDS}
    record["event_type"] = event_type
    for name in TIMESTAMP_COLUMNS:
        value = record[name]
        if isinstance(value, datetime):
            record[name] = format_timestamp(value)
    return record
