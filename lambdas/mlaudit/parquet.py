"""Parquet encoding of stored events (writer only: the one module that imports pyarrow).

The Arrow schema is generated from `layout.COLUMNS`, the same list the Glue table
is built from. A queue pack's event lines are parsed by Arrow's JSON reader against
that schema (the fields the pack does not share), so a wrong type, an unknown field
or a missing required field fails in C++ at full speed, message by message.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

from mlaudit.events import EventType
from mlaudit.layout import COLUMNS
from mlaudit.pack import LEAF_HASH, check_first_leaf, read_header

_ARROW_TYPES = {
    "string": pa.string(),
    "int": pa.int32(),
    "double": pa.float64(),
    "timestamp": pa.timestamp("ms", tz="UTC"),
    "array<string>": pa.list_(pa.string()),
}

SCHEMA = pa.schema(
    [pa.field(c.name, _ARROW_TYPES[c.kind], nullable=c.nullable) for c in COLUMNS],
    metadata={b"mlaudit.schema_version": b"1", b"mlaudit.leaf_encoding": b"1"},
)

# What a pack's events carry: every column (leaf_hash included) plus event_type.
LINE_SCHEMA = SCHEMA.append(pa.field("event_type", pa.string(), nullable=False))
_READ = pj.ReadOptions(use_threads=False, block_size=1 << 22)
_EVENT_TYPES = pa.array([t.value for t in EventType])

# Free-form JSON text: the one kind of column where a stronger zstd level pays off.
_JSON_TEXT = ("features", "explanation", "metrics", "details", "personal_data")
# Low-cardinality columns get dictionaries; unique ones (ids, hashes, JSON text) would
# only waste a dictionary page. latency_ms too: durations at ms or µs resolution repeat
# (Parquet falls back to plain if a file's dictionary outgrows its page).
_DICTIONARY_COLUMNS = [
    c.name for c in COLUMNS
    if c.kind in ("string", "array<string>") and c.name not in (
        "event_id", "prediction_id", "label_for_prediction_id", "leaf_hash", "subject_pseudonym", *_JSON_TEXT,
    )
] + ["latency_ms"]
# Timestamps and ints delta-encode; ids share prefixes; model scores are continuous
# doubles, which byte-stream splitting suits; the hex leaf hashes are all 64 long.
_ENCODINGS = {
    **{c.name: "DELTA_BINARY_PACKED" for c in COLUMNS if c.kind in ("timestamp", "int")},
    "prediction_score": "BYTE_STREAM_SPLIT",
    "event_id": "DELTA_BYTE_ARRAY",
    "prediction_id": "DELTA_BYTE_ARRAY",
    "label_for_prediction_id": "DELTA_BYTE_ARRAY",
    "leaf_hash": "DELTA_LENGTH_BYTE_ARRAY",
}
# zstd level per column: the encodings above leave little for zstd to find in most
# columns, so level 1 (fast); JSON text is where a higher level still shrinks files.
COMPRESSION_LEVELS = {c.name: 9 if c.name in _JSON_TEXT else 1 for c in COLUMNS}
# Min/max statistics where queries filter (time, model, actor, subject...); on JSON
# text, ciphertext and hashes they would prune nothing and cost time and footer bytes.
_STATISTICS_COLUMNS = [c.name for c in COLUMNS if c.name not in (*_JSON_TEXT, "leaf_hash")]


class BadLines(ValueError):
    """Lines that do not fit the v1 schema."""


def parse_pack(body: bytes) -> pa.Table:
    """Queue message body (pack format 2, see mlaudit.pack) -> Arrow table in LINE_SCHEMA,
    or BadLines / PackError."""
    header, _, lines = body.partition(b"\n")
    common = read_header(header)
    if not lines:
        raise BadLines("a pack without events")
    check_first_leaf(common, lines.partition(b"\n")[0])
    own = pa.schema([f for f in LINE_SCHEMA if f.name not in common])
    try:
        table = pj.read_json(
            io.BytesIO(lines), read_options=_READ,
            parse_options=pj.ParseOptions(explicit_schema=own, unexpected_field_behavior="error"),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise BadLines(str(error).split("\n", 1)[0]) from None
    rows = table.num_rows
    if rows != lines.count(b"\n") + 1:
        raise BadLines("line count differs from the parsed row count")
    columns = [
        table.column(f.name) if f.name not in common else _constant(common[f.name], f.type, rows)
        for f in LINE_SCHEMA
    ]
    table = pa.Table.from_arrays(columns, schema=LINE_SCHEMA)
    if not pc.all(pc.is_in(table.column("event_type"), value_set=_EVENT_TYPES)).as_py():
        raise BadLines("unknown event_type")
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
    if value is None:
        return pa.nulls(rows, kind)
    if pa.types.is_list(kind):
        return pa.array([value] * rows, kind)
    if pa.types.is_timestamp(kind):
        return pa.repeat(pa.array([value], pa.string()).cast(kind)[0], rows)
    return pa.repeat(pa.scalar(value, kind), rows)


def leaf_hash_bytes(table: pa.Table) -> list[bytes]:
    """The leaf_hash column as 32-byte digests, or BadLines unless each is 64 lower-case hex."""
    column = table.column(LEAF_HASH)
    if pc.min_max(pc.binary_length(column)).as_py() != {"min": 64, "max": 64}:
        raise BadLines("a leaf_hash is not 64 hex digits")
    text = "".join(column.to_pylist())
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if raw.hex() != text:
        raise BadLines("a leaf_hash is not lower-case hex")
    return [raw[i:i + 32] for i in range(0, len(raw), 32)]


def event_dates(table: pa.Table) -> pa.ChunkedArray:
    """The partition date of each row: received_at's UTC date, as YYYY-MM-DD."""
    return pc.cast(pc.cast(table.column("received_at"), pa.date32()), pa.string())


def file_table(parts: list[pa.Table]) -> pa.Table:
    """Rows of one partition file, in leaf order, in the file schema."""
    return pa.concat_tables(parts).drop_columns(["event_type"])


def to_table(records: list[dict]) -> pa.Table:
    """Stored records (leaf form plus leaf_hash) -> a file table. For tools and tests;
    the writer parses queue lines with `parse_lines` instead."""
    arrays = []
    for field in SCHEMA:
        values = [r[field.name] for r in records]
        if pa.types.is_timestamp(field.type):
            arrays.append(pa.array(values, pa.string()).cast(field.type))
        else:
            arrays.append(pa.array(values, field.type))
        if not field.nullable and arrays[-1].null_count:
            raise ValueError(f"column {field.name} must not be null")
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def to_parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(
        table, sink, compression="zstd", compression_level=COMPRESSION_LEVELS,
        use_dictionary=_DICTIONARY_COLUMNS, column_encoding=_ENCODINGS, write_statistics=_STATISTICS_COLUMNS,
    )
    return sink.getvalue().to_pybytes()


def read_parquet_bytes(data: bytes) -> pa.Table:
    return pq.read_table(pa.BufferReader(data))
