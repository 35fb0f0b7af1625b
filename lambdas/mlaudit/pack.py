"""Queue packs: how the ingest function hands events to the writer (pack format 2).

One SQS message body carries events of one request, as lines of ASCII JSON:

    {"common":{<leaf fields with the same value in every event>},"format":2,"key":"<the request's>"}
    {<each event's other leaf fields>,"leaf_hash":"<64 hex>"}
    ...

On the queue the body travels deflated (`queue_body`, attribute `pack_encoding`), and the
writer inflates it (`from_queue`) before anything else reads it.

A pack's id (the message attribute `pack_id`, the writer's ledger key) is the SHA-256 of
its body (`pack_id_of`, of the pack's own bytes, not the transport's): the writer checks
it, so a message carrying another pack's id cannot pass for a copy of it and displace it.
The header's `key` (what the request's packs are named after) keeps the packs of two
requests apart even when their events are alike: a request that takes over events never
sends the very pack another one superseded.

Ingest hashes each event's whole canonical leaf record (`mlaudit.leaf`): the bytes
it validated. The writer stores those hashes and parses only what differs between
events; the rest (sender, time of arrival, model, most nulls) comes once per pack.
That keeps the writer's parse to under half of the full records. Values are written
as in the leaf record (timestamps as text, JSON columns as their canonical text).

Trust: the writer re-derives the first event's leaf from the pack (`check_first_leaf`),
so a producer that does not speak this leaf encoding fails whole; the verifier
re-derives every leaf from the stored row, so a value that changed on the way is a
leaf mismatch there.

Both halves live here: writing (ingest) and reading (the writer, `parse_pack`, with
Arrow's JSON reader). Ingest imports this module, so pyarrow is imported only inside
the reading functions.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import io
import json
import zlib
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import msgspec

from mlaudit.codec import canonical_json
from mlaudit.contract import EventType
from mlaudit.layout import COLUMNS
from mlaudit.leaf import LEAF_ORDER, encode_leaves, leaf_hash_bytes

if TYPE_CHECKING:
    import pyarrow as pa

PACK_FORMAT = 2
PACK_ID_ATTRIBUTE = "pack_id"  # SQS message attribute: the writer's ledger key
SEAL_ATTRIBUTE = "pack_seal"  # SQS message attribute: ingest's seal over the pack (integrity.services.seals)
# SQS message attribute: how the message body carries the pack. "deflate": base64 of the
# body deflated (zlib), what ingest sends; none: the body itself (messages sent before, and
# capture's). Only the transport changes: the pack id and the seal are of the pack's own
# bytes, so a resend is recognised whatever its encoding.
ENCODING_ATTRIBUTE = "pack_encoding"
DEFLATE = "deflate"
LEAF_HASH = "leaf_hash"
_KINDS = {c.name: c for c in COLUMNS}
# Doubles are never shared: 0.0 == -0.0 but they encode apart, so "equal" is not "same text".
_NEVER_SHARED = frozenset(c.name for c in COLUMNS if c.kind == "double")
_LEAF_FIELD_SET = frozenset(LEAF_ORDER)
_ENCODE_LINE = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class Pack:
    pack_id: str
    body: str  # pack format 2, ASCII
    count: int  # events
    event_ids: tuple[str, ...]  # the events' ids, in order
    leaves: tuple[bytes, ...] = ()  # the events' leaf hashes, in order (what a seal covers)
    seal: str | None = None  # ingest's seal (`integrity.services.seals`), sent as a message attribute


class PackError(ValueError):
    """A message body that is not a format-2 pack of leaf records: it can never be
    written (the writer fails that message alone; in time it reaches the DLQ)."""


def shared_fields(records: list[dict[str, Any]]) -> tuple[str, ...]:
    """The leaf fields with one value in every record, in leaf order."""
    first, last = records[0], records[-1]
    # Candidates: equal in the first and last record (doubles only when null).
    candidates = [name for name in LEAF_ORDER
                  if first[name] == last[name] and (first[name] is None or name not in _NEVER_SHARED)]
    if len(records) < 3 or not candidates:
        return tuple(candidates)
    # Their values record by record, then column by column (the transposition in C);
    # one name twice, so that the getter always gives a tuple.
    columns = zip(*map(itemgetter(*candidates, candidates[0]), records), strict=True)
    return tuple(name for name, column in zip(candidates, columns, strict=False)
                 if column.count(column[0]) == len(column))


def pack_records(records: list[dict[str, Any]], key: str, max_message_bytes: int) -> list[Pack]:
    """Leaf records (in LEAF_ORDER, floats finite) -> packs of at most max_message_bytes.
    Greedy and deterministic: a resent request (same key, same records) yields the same
    bytes, so the same pack ids (`pack_id_of`)."""
    if not records:
        return []
    shared = shared_fields(records)
    header = canonical_json({"common": {name: records[0][name] for name in shared}, "format": PACK_FORMAT,
                             "key": key})
    own = [name for name in LEAF_ORDER if name not in shared]
    packs: list[Pack] = []
    current: list[str] = [header]
    ids: list[str] = []
    size = len(header)
    leaves = [leaf_hash_bytes(leaf) for leaf in encode_leaves(records)]
    first = 0
    for number, (record, line) in enumerate(zip(records, _event_lines(records, own, leaves), strict=True)):
        if len(header) + 1 + len(line) > max_message_bytes:
            raise PackTooLarge
        if len(current) > 1 and size + 1 + len(line) > max_message_bytes:
            packs.append(_pack(current, ids, leaves[first:number]))
            current, ids, size, first = [header], [], len(header), number
        current.append(line)
        ids.append(record["event_id"])
        size += 1 + len(line)
    packs.append(_pack(current, ids, leaves[first:]))
    return packs


class PackTooLarge(ValueError):
    """One event does not fit in a queue message."""


def _event_lines(records: list[dict[str, Any]], own: list[str], leaves: list[bytes]) -> list[str]:
    """Each record's line: its own fields and its leaf hash."""
    line_type = _line_type(tuple(own))
    values = itemgetter(*own, own[0]) if own else lambda _: ()  # (a name twice: always a tuple)
    lines = [line_type(*values(record)[:len(own)], leaf.hex()) for record, leaf in zip(records, leaves, strict=True)]
    # A line is parsed, not hashed: any spelling that reads back the same values will do
    # (msgspec's floats round-trip exactly); ASCII it must be.
    texts = list(map(_ENCODE_LINE, lines))
    if b"".join(texts).isascii():
        return [text.decode("ascii") for text in texts]
    return [text.decode("ascii") if text.isascii() else canonical_json(msgspec.structs.asdict(line))
            for text, line in zip(texts, lines, strict=True)]


@functools.lru_cache(maxsize=64)
def _line_type(own: tuple[str, ...]) -> type:
    """A line's fields as a msgspec Struct (built and encoded faster than a dict)."""
    return msgspec.defstruct("PackLine", [*own, LEAF_HASH])


def _pack(lines: list[str], event_ids: list[str], leaves: list[bytes]) -> Pack:
    body = "\n".join(lines)
    return Pack(pack_id=pack_id_of(body), body=body, count=len(lines) - 1, event_ids=tuple(event_ids),
                leaves=tuple(leaves))


def queue_body(body: str) -> str:
    """The SQS message body of a pack (`ENCODING_ATTRIBUTE` "deflate"): a pack's lines repeat
    their field names and share most values, so deflated they are a fifth of their size or
    less (SQS bills every 64 KB of a message, and Lambda hands the writer at most 6 MB of
    messages a run: the pack count a run holds, so the files a day, follow the bytes)."""
    return base64.b64encode(zlib.compress(body.encode("ascii"), 6)).decode("ascii")


def from_queue(text: str, encoding: str | None) -> str:
    """A message body back as the pack it carries; ValueError if it does not decode."""
    if not encoding:
        return text
    if encoding != DEFLATE:
        raise ValueError(f"unknown pack encoding {encoding[:40]!r}")
    try:
        return zlib.decompress(base64.b64decode(text, validate=True)).decode("ascii")
    except (zlib.error, binascii.Error, UnicodeDecodeError) as error:
        raise ValueError(f"a {DEFLATE} body that does not decode: {type(error).__name__}") from None


def pack_id_of(body: str) -> str:
    """A pack's id: the SHA-256 of its body (ASCII; any text a message may hold, as UTF-8), in hex."""
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


MAX_KEY_LENGTH = 1024  # a header's key (request keys are 64 hex and a digest; an import's a little more)


# ---------------------------------------------------------------- reading (writer)


def read_header(line: bytes) -> dict[str, Any]:
    """The shared values of a pack, type-checked against the layout (else PackError)."""
    try:
        header = json.loads(line)
    except ValueError:
        raise PackError("first line is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != PACK_FORMAT or header.keys() != {
            "common", "format", "key"}:
        raise PackError(f"first line is not a format-{PACK_FORMAT} pack header")
    if type(header["key"]) is not str or not 0 < len(header["key"]) <= MAX_KEY_LENGTH:
        raise PackError("the pack header's key is not a string of 1 to 1024 characters")
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
    For tools and tests; the writer parses packs with Arrow (`parse_pack`)."""
    raw = body.encode("ascii") if isinstance(body, str) else body
    header, *lines = raw.split(b"\n")
    common = read_header(header)
    return [{**common, **json.loads(line)} for line in lines]


@functools.cache
def line_schema() -> pa.Schema:
    """What a pack's events carry, as Arrow types: every column of the file (leaf_hash
    included) plus event_type, which becomes the partition."""
    import pyarrow as pa  # noqa: PLC0415 - the writer's half only

    from mlaudit.parquet import SCHEMA  # noqa: PLC0415

    return SCHEMA.append(pa.field("event_type", pa.string(), nullable=False))


@functools.cache
def _event_types() -> pa.Array:
    import pyarrow as pa  # noqa: PLC0415

    return pa.array([t.value for t in EventType])


def parse_pack(body: bytes) -> pa.Table:
    """Queue message body -> Arrow table in `line_schema()`, or PackError. The event
    lines are parsed by Arrow's JSON reader against that schema (the fields the pack
    does not share), so a wrong type, an unknown field or a missing required field
    fails in C++ at full speed, message by message."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415
    import pyarrow.json as pj  # noqa: PLC0415

    header, _, lines = body.partition(b"\n")
    common = read_header(header)
    if not lines:
        raise PackError("a pack without events")
    check_first_leaf(common, lines.partition(b"\n")[0])
    schema = line_schema()
    own = pa.schema([f for f in schema if f.name not in common])
    try:
        table = pj.read_json(
            io.BytesIO(lines), read_options=pj.ReadOptions(use_threads=False, block_size=1 << 22),
            parse_options=pj.ParseOptions(explicit_schema=own, unexpected_field_behavior="error"),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise PackError(str(error).split("\n", 1)[0]) from None
    rows = table.num_rows
    if rows != lines.count(b"\n") + 1:
        raise PackError("line count differs from the parsed row count")
    columns = [
        table.column(f.name) if f.name not in common else _constant(common[f.name], f.type, rows)
        for f in schema
    ]
    table = pa.Table.from_arrays(columns, schema=schema)
    if not pc.all(pc.is_in(table.column("event_type"), value_set=_event_types())).as_py():
        raise PackError("unknown event_type")
    return table


_CONSTANTS: dict[tuple[object, ...], pa.Array] = {}


def _constant(value: object, kind: pa.DataType, rows: int) -> pa.Array:
    """A column with one value. Packs repeat the same shared values (and mostly the same
    size), so built arrays are kept: Arrow arrays are immutable."""
    key = (str(kind), tuple(value) if isinstance(value, list) else value, rows)
    column = _CONSTANTS.get(key)
    if column is None:
        if len(_CONSTANTS) >= 4096:
            _CONSTANTS.clear()
        column = _CONSTANTS[key] = _new_constant(value, kind, rows)
    return column


def _new_constant(value: object, kind: pa.DataType, rows: int) -> pa.Array:
    import pyarrow as pa  # noqa: PLC0415

    if value is None:
        return pa.nulls(rows, kind)
    if pa.types.is_list(kind):
        return pa.array([value] * rows, kind)
    if pa.types.is_timestamp(kind):
        return pa.repeat(pa.array([value], pa.string()).cast(kind)[0], rows)
    return pa.repeat(pa.scalar(value, kind), rows)


def leaf_digests(table: pa.Table) -> list[bytes]:
    """A parsed pack's leaf_hash column as 32-byte digests, or PackError unless each is
    64 lower-case hex."""
    import pyarrow.compute as pc  # noqa: PLC0415

    column = table.column(LEAF_HASH)
    if pc.min_max(pc.binary_length(column)).as_py() != {"min": 64, "max": 64}:
        raise PackError("a leaf_hash is not 64 hex digits")
    text = "".join(column.to_pylist())
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if raw.hex() != text:
        raise PackError("a leaf_hash is not lower-case hex")
    return [raw[i:i + 32] for i in range(0, len(raw), 32)]
