"""Queue packs: how the ingest function hands events to the writer (pack format 2).

One SQS message body carries events of one request, as lines of ASCII JSON:

    {"common":{<leaf fields with the same value in every event>},"format":2}
    {<each event's other leaf fields>,"leaf_hash":"<64 hex>"}
    ...

Ingest hashes each event's whole canonical leaf record (`mlaudit.leaf`): the bytes
it validated. The writer stores those hashes and parses only what differs between
events; the rest (sender, time of arrival, model, most nulls) comes once per pack.
That keeps the writer's parse to under half of the full records. Values are written
as in the leaf record (timestamps as text, JSON columns as their canonical text).

Trust: the writer re-derives the first event's leaf from the pack (`check_first_leaf`),
so a producer that does not speak this leaf encoding fails whole; the verifier
re-derives every leaf from the stored row, so a value that changed on the way is a
leaf mismatch there. Nothing but pyarrow-free code here: ingest imports it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from mlaudit.events import canonical_bytes_fast, canonical_json
from mlaudit.layout import COLUMNS
from mlaudit.leaf import LEAF_ORDER, LeafError, encode_leaf, floats_plain, leaf_hash_bytes

PACK_FORMAT = 2
PACK_ID_ATTRIBUTE = "pack_id"  # SQS message attribute: the writer's ledger key
LEAF_HASH = "leaf_hash"
_KINDS = {c.name: c for c in COLUMNS}
# Doubles are never shared: 0.0 == -0.0 but they encode apart, so "equal" is not "same text".
_NEVER_SHARED = frozenset(c.name for c in COLUMNS if c.kind == "double")
_LEAF_FIELD_SET = frozenset(LEAF_ORDER)


@dataclass(frozen=True)
class Pack:
    pack_id: str
    body: str  # pack format 2, ASCII
    count: int  # events


class PackError(LeafError):
    """A message body that is not a format-2 pack of leaf records."""


def shared_fields(records: list[dict[str, Any]]) -> tuple[str, ...]:
    """The leaf fields with one value in every record, in leaf order."""
    count = len(records)
    shared = []
    for name in LEAF_ORDER:
        value = records[0][name]
        if name in _NEVER_SHARED and value is not None:
            continue
        if list(map(itemgetter(name), records)).count(value) == count:
            shared.append(name)
    return tuple(shared)


def pack_records(records: list[dict[str, Any]], key: str, max_message_bytes: int) -> list[Pack]:
    """Leaf records (in LEAF_ORDER, floats finite) -> packs of at most max_message_bytes.
    Greedy and deterministic: pack ids come from the request key and position, and a
    resent request (same records) yields the same bytes."""
    if not records:
        return []
    shared = shared_fields(records)
    header = canonical_json({"common": {name: records[0][name] for name in shared}, "format": PACK_FORMAT})
    own = [name for name in LEAF_ORDER if name not in shared]
    packs: list[Pack] = []
    current: list[str] = [header]
    size = len(header)
    for record in records:
        line = _event_line(record, own)
        if len(header) + 1 + len(line) > max_message_bytes:
            raise PackTooLarge
        if len(current) > 1 and size + 1 + len(line) > max_message_bytes:
            packs.append(_pack(key, len(packs), current))
            current, size = [header], len(header)
        current.append(line)
        size += 1 + len(line)
    packs.append(_pack(key, len(packs), current))
    return packs


class PackTooLarge(ValueError):
    """One event does not fit in a queue message."""


def _event_line(record: dict[str, Any], own: list[str]) -> str:
    line = {name: record[name] for name in own}
    line[LEAF_HASH] = leaf_hash_bytes(encode_leaf(record)).hex()
    # Key order does not matter here (the line is parsed, not hashed); ASCII it must be.
    return canonical_bytes_fast(line, floats_plain(record), sort_keys=False).decode("ascii")


def _pack(key: str, index: int, lines: list[str]) -> Pack:
    pack_id = hashlib.sha256(f"{key}:{index}".encode()).hexdigest()[:40]
    return Pack(pack_id=pack_id, body="\n".join(lines), count=len(lines) - 1)


# ---------------------------------------------------------------- reading (writer)


def read_header(line: bytes) -> dict[str, Any]:
    """The shared values of a pack, type-checked against the layout (else PackError)."""
    try:
        header = json.loads(line)
    except ValueError:
        raise PackError("first line is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != PACK_FORMAT or header.keys() != {"common", "format"}:
        raise PackError(f"first line is not a format-{PACK_FORMAT} pack header")
    common = header["common"]
    if not isinstance(common, dict) or not common.keys() <= _LEAF_FIELD_SET:
        raise PackError("pack header shares fields that are not leaf fields")
    for name, value in common.items():
        if not _fits(name, value):
            raise PackError(f"pack header: {name} has the wrong type")
    return common


def _fits(name: str, value: Any) -> bool:
    if name == "event_type":
        return type(value) is str
    column = _KINDS[name]
    if value is None:
        return column.nullable
    if column.kind in ("string", "timestamp"):
        return type(value) is str
    if column.kind == "int":
        return type(value) is int
    if column.kind == "double":
        return type(value) is float
    return type(value) is list and all(type(v) is str for v in value)  # array<string>


def check_first_leaf(common: dict[str, Any], first_line: bytes) -> None:
    """Re-derive the first event's leaf from the pack and compare it with the hash the
    producer sent: a producer with another leaf encoding fails here, whole."""
    try:
        line = json.loads(first_line)
    except ValueError:
        raise PackError("an event line is not JSON") from None
    if not isinstance(line, dict):
        raise PackError("an event line is not a JSON object")
    claimed = line.pop(LEAF_HASH, None)
    record = {**common, **line}
    if record.keys() != _LEAF_FIELD_SET or len(common) + len(line) != len(_LEAF_FIELD_SET):
        raise PackError("the pack's fields differ from the leaf fields")
    try:
        canonical = canonical_json(record).encode("ascii")
    except ValueError:  # NaN or Infinity
        raise PackError("an event has a number that is not finite") from None
    if claimed != leaf_hash_bytes(canonical).hex():
        raise PackError("leaf hash does not match the leaf encoding of the event")


def unpack(body: str | bytes) -> list[dict[str, Any]]:
    """Every event of a pack as its whole leaf record plus "leaf_hash", in order.
    For tools and tests; the writer parses packs with Arrow (`parquet.parse_pack`)."""
    raw = body.encode("ascii") if isinstance(body, str) else body
    header, *lines = raw.split(b"\n")
    common = read_header(header)
    return [{**common, **json.loads(line)} for line in lines]
