"""Parquet encoding of stored events (writer only: the one module that imports pyarrow).

The Arrow schema is generated from `layout.COLUMNS`, the same list the Glue table
is built from. Lines from the queue are parsed by Arrow's JSON reader against
that schema, so a wrong type, an unknown field or a missing required field
fails in C++ at full speed, message by message.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import pyarrow.parquet as pq

from mlaudit.events import EventType
from mlaudit.layout import COLUMNS

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

# A queue line holds the leaf record: every column but leaf_hash, plus event_type.
LINE_SCHEMA = SCHEMA.remove(SCHEMA.get_field_index("leaf_hash")).append(
    pa.field("event_type", pa.string(), nullable=False)
)
_PARSE = pj.ParseOptions(explicit_schema=LINE_SCHEMA, unexpected_field_behavior="error")
_READ = pj.ReadOptions(use_threads=False, block_size=1 << 22)
_EVENT_TYPES = pa.array([t.value for t in EventType])

# Low-cardinality columns get dictionaries; unique ones (ids, hashes) would only
# waste a dictionary page. Timestamps delta-encode; floats split by byte stream.
_DICTIONARY_COLUMNS = [
    c.name for c in COLUMNS
    if c.kind in ("string", "array<string>") and c.name not in (
        "event_id", "prediction_id", "label_for_prediction_id", "leaf_hash", "features", "explanation",
        "metrics", "details", "personal_data", "subject_pseudonym",
    )
]
_ENCODINGS = {
    **{c.name: "DELTA_BINARY_PACKED" for c in COLUMNS if c.kind in ("timestamp", "int")},
    **{c.name: "BYTE_STREAM_SPLIT" for c in COLUMNS if c.kind == "double"},
    "event_id": "DELTA_BYTE_ARRAY",
    "prediction_id": "DELTA_BYTE_ARRAY",
    "label_for_prediction_id": "DELTA_BYTE_ARRAY",
}
COMPRESSION_LEVEL = 9


class BadLines(ValueError):
    """Lines that do not fit the v1 schema."""


def parse_lines(body: bytes, expected_rows: int) -> pa.Table:
    """Queue message body (JSON lines) -> Arrow table in LINE_SCHEMA, or BadLines."""
    try:
        table = pj.read_json(io.BytesIO(body), read_options=_READ, parse_options=_PARSE)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise BadLines(str(error).split("\n", 1)[0]) from None
    if table.num_rows != expected_rows:
        raise BadLines("line count differs from the parsed row count")
    if not pc.all(pc.is_in(table.column("event_type"), value_set=_EVENT_TYPES)).as_py():
        raise BadLines("unknown event_type")
    return table


def event_dates(table: pa.Table) -> pa.ChunkedArray:
    """The partition date of each row: received_at's UTC date, as YYYY-MM-DD."""
    return pc.strftime(table.column("received_at"), format="%Y-%m-%d")


def file_table(parts: list[pa.Table], leaf_hashes: list[str]) -> pa.Table:
    """Rows of one partition file, in leaf order, in the file schema."""
    table = pa.concat_tables(parts).drop_columns(["event_type"])
    table = table.append_column("leaf_hash", pa.array(leaf_hashes, pa.string()))
    return table.select(SCHEMA.names).cast(SCHEMA)


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
        table, sink, compression="zstd", compression_level=COMPRESSION_LEVEL,
        use_dictionary=_DICTIONARY_COLUMNS, column_encoding=_ENCODINGS, write_statistics=True,
    )
    return sink.getvalue().to_pybytes()


def read_parquet_bytes(data: bytes) -> pa.Table:
    return pq.read_table(pa.BufferReader(data))
