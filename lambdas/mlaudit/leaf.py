"""Leaf encoding v1: the canonical bytes of one stored event, and its leaf hash.

A leaf record holds every `layout.LEAF_FIELDS` field (all stored fields but
`leaf_hash`), with timestamps as `codec.format_timestamp` strings, JSON columns
as canonical JSON text, list columns as lists of strings (never null) and absent
values as null. Its canonical bytes are `codec.canonical_json(record)` (sorted
keys, no spaces, ASCII with \\u escapes, shortest round-trip floats). The leaf
hash is RFC 6962's leaf hash, SHA-256(0x00 || bytes), in lower-case hex.

The ingest function hashes exactly these bytes, the record it validated, and sends
the hash with the event (`mlaudit.pack`); a verifier rebuilds the bytes from a
Parquet row and its path. This module is the one door to leaf bytes and hashes:
row by row here, a whole Arrow table at once through `table_leaf_hashes` (its
kernels are in `mlaudit.leaf_columns`, imported only then: no pyarrow at ingest).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlaudit.codec import (
    PLAIN_FLOAT_HIGH,
    PLAIN_FLOAT_LOW,
    canonical_bytes_fast,
    canonical_json,
    fast_canonical_texts,
    format_timestamp,
)
from mlaudit.integrity.primitives import merkle
from mlaudit.layout import COLUMNS, LEAF_FIELDS, LEAF_ORDER, TIMESTAMP_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa

LEAF_ENCODING_VERSION = 1
_DOUBLES = tuple(c.name for c in COLUMNS if c.kind == "double")


class LeafRecord(dict):  # type: ignore[type-arg]
    """A leaf record made from EMPTY_LEAF (`ingest.leaf_record`), so with every leaf
    field in LEAF_ORDER: encoded without sorting. Values may change; keys are never
    added or removed."""


EMPTY_LEAF = dict.fromkeys(LEAF_ORDER)


def floats_plain(record: dict[str, Any]) -> bool:
    """Whether the fast encoder may write this leaf record (or any part of it): its
    only floats are its doubles (JSON columns hold text); see codec.plain_float."""
    for name in _DOUBLES:
        value = record[name]  # (codec.plain_float, inline: once per event at ingest)
        if value is not None and not (value == 0.0 or PLAIN_FLOAT_LOW <= abs(value) < PLAIN_FLOAT_HIGH):
            return False
    return True


def encode_leaf(record: dict[str, Any]) -> bytes:
    """canonical_json(record) as ASCII bytes, the fast way when it can. A LeafRecord's
    keys are in order already; any other record's are sorted."""
    return canonical_bytes_fast(record, floats_plain(record), sort_keys=type(record) is not LeafRecord)


def encode_leaves(records: list[dict[str, Any]]) -> list[bytes]:
    """`encode_leaf` of each record, checked once for them all where it can: LeafRecords
    whose floats are plain (codec.fast_canonical_texts)."""
    if all(type(record) is LeafRecord for record in records) and all(map(floats_plain, records)):
        texts = fast_canonical_texts(records, sort_keys=False)
        if texts is not None:
            return texts
    return list(map(encode_leaf, records))


def leaf_hash_bytes(canonical: bytes) -> bytes:
    """RFC 6962's leaf hash of a leaf record's canonical bytes."""
    return merkle.leaf_hash(canonical)


def canonical_leaf(record: dict[str, Any]) -> bytes:
    """The leaf record's canonical bytes, by the definition (any key order)."""
    return canonical_json(record).encode("ascii")


def leaf_hash(record: dict[str, Any]) -> str:
    return leaf_hash_bytes(canonical_leaf(record)).hex()


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


def table_canonical_leaves(table: pa.Table, event_type: str) -> list[bytes]:
    """`canonical_leaf` of every row of a Parquet table of one partition, in row order."""
    from mlaudit.leaf_columns import canonical_records  # noqa: PLC0415 - pyarrow only here

    return canonical_records(table, event_type)


def table_leaf_hashes(table: pa.Table, event_type: str) -> list[bytes]:
    """`leaf_hash_bytes` of every row of a Parquet table of one partition (the verifier's
    hot path: Arrow kernels, a million rows in a few seconds)."""
    from mlaudit.leaf_columns import leaf_hashes  # noqa: PLC0415 - pyarrow only here

    return leaf_hashes(table, event_type)
