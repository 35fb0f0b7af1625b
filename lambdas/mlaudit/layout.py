"""Where and how events sit in the lake: columns, types, partitions, object keys.

Generated from `contract.StoredEvent` so the Parquet schema, the Glue table and the
canonical leaf form cannot drift apart. No pyarrow here (the ingest function
imports this module); `parquet.py` turns `COLUMNS` into an Arrow schema.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from datetime import datetime

from mlaudit.contract import StoredEvent

EVENTS_PREFIX = "events/"
INTEGRITY_PREFIX = "integrity/"
INDEX_PREFIX = "index/"  # derived lookup aids (the subject index): pseudonym hashes and file names
# Compacted days (docs/compaction.md): a closed day's files merged, same partitions; readers
# use them for the days marked under COMPACTED_DAYS_PREFIX and the events/ files otherwise.
COMPACTED_PREFIX = "compacted/"
COMPACTED_DAYS_PREFIX = f"{COMPACTED_PREFIX}_days/"

# Hive-style partitions, in path order. Their values live in the object key, not the file.
PARTITION_KEYS: tuple[tuple[str, str], ...] = (("event_date", "string"), ("event_type", "string"))


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # string | int | double | timestamp | array<string>
    nullable: bool

    @property
    def glue_type(self) -> str:
        return self.kind


def _kind(annotation: object) -> tuple[str, bool]:
    nullable = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        (annotation,) = args
    if typing.get_origin(annotation) is typing.Literal:
        annotation = type(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) is list:
        return "array<string>", nullable
    return {str: "string", int: "int", float: "double", datetime: "timestamp"}[annotation], nullable


_STORED_FIELDS = tuple(f.name for f in dataclasses.fields(StoredEvent))


def _columns() -> tuple[Column, ...]:
    hints = typing.get_type_hints(StoredEvent)
    partition_names = {name for name, _ in PARTITION_KEYS}
    return tuple(
        Column(name, *_kind(hints[name]))
        for name in _STORED_FIELDS
        if name not in partition_names
    )


# The columns of every Parquet file, in order (partition columns excluded).
COLUMNS: tuple[Column, ...] = _columns()
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
TIMESTAMP_COLUMNS = tuple(c.name for c in COLUMNS if c.kind == "timestamp")
# The fields hashed into a leaf: every stored field but the hash itself.
LEAF_FIELDS: tuple[str, ...] = tuple(n for n in _STORED_FIELDS if n != "leaf_hash")
# A leaf record's canonical key order: the sorted field names (mlaudit.leaf's encoders
# and mlaudit.leaf_columns' kernels both write keys in it).
LEAF_ORDER: tuple[str, ...] = tuple(sorted(LEAF_FIELDS))


def glue_columns() -> list[dict[str, str]]:
    """Columns for the Glue table, in file order."""
    return [{"name": c.name, "type": c.glue_type} for c in COLUMNS]


def partition_prefix(event_date: str, event_type: str, root: str = EVENTS_PREFIX) -> str:
    return f"{root}event_date={event_date}/event_type={event_type}/"


def parse_partition(key: str) -> tuple[str, str]:
    """(event_date, event_type) from an object key under events/."""
    parts = dict(
        segment.split("=", 1) for segment in key.split("/")[1:-1] if "=" in segment
    )
    return parts["event_date"], parts["event_type"]
