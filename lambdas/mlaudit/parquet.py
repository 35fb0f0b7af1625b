"""Parquet encoding of stored events: the file schema, how files are written, and read.

The Arrow schema is generated from `layout.COLUMNS`, the same list the Glue table
is built from. Queue packs are parsed into it by `mlaudit.pack`.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from mlaudit.contract import JSON_FIELDS
from mlaudit.layout import COLUMNS
from mlaudit.leaf import LEAF_ENCODING_VERSION

_ARROW_TYPES = {
    "string": pa.string(),
    "int": pa.int32(),
    "double": pa.float64(),
    "timestamp": pa.timestamp("ms", tz="UTC"),
    "array<string>": pa.list_(pa.string()),
}

SCHEMA = pa.schema(
    [pa.field(c.name, _ARROW_TYPES[c.kind], nullable=c.nullable) for c in COLUMNS],
    metadata={b"mlaudit.schema_version": b"1", b"mlaudit.leaf_encoding": str(LEAF_ENCODING_VERSION).encode()},
)

# Free-form JSON text: the one kind of column where a stronger zstd level pays off.
_JSON_TEXT = (*JSON_FIELDS, "personal_data")
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


def to_table(records: list[dict]) -> pa.Table:
    """Stored records (leaf form plus leaf_hash) -> a file table. For tools and tests;
    the writer parses queue packs with `pack.parse_pack` instead."""
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


def read_for_hashing(data: bytes) -> pa.Table:
    """Read a Parquet object for hashing: dictionary-encoded columns stay dictionaries
    (each distinct value is encoded once), and no thread pool (callers run processes)."""
    metadata = pq.ParquetFile(pa.BufferReader(data)).metadata
    dictionary_columns = None
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        names = {
            row_group.column(i).path_in_schema
            for i in range(row_group.num_columns)
            if "RLE_DICTIONARY" in row_group.column(i).encodings or "PLAIN_DICTIONARY" in row_group.column(i).encodings
        }
        dictionary_columns = names if dictionary_columns is None else dictionary_columns & names
    flat = sorted(name for name in dictionary_columns or () if "." not in name)
    return pq.ParquetFile(pa.BufferReader(data), read_dictionary=flat).read(use_threads=False)
