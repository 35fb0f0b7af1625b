"""DMS Parquet files in the landing bucket -> contract events through `tables.json`.

A DMS task with an S3 target writes each table under `<folder>/<schema>/<table>/`: the full
load as `LOAD00000001.parquet`, ..., then the ongoing changes (CDC) as timestamped files
whose first column, `Op`, says I (insert), U (update) or D (delete). With the landing
bucket as the target and `dms` as the folder, the import function reads each file like
any other import (docs/capture.md, "Relational databases": the recipe). A full-load row has
no `Op` (or the task's `includeOpForFullLoad` writes I): it is an insert.

A row's event id is made from the table, its key columns, the operation and when it
happened (`occurred_at`'s column): the same change in another file (a reloaded table, a
task restarted) is the same event, stored once within the idempotency window.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from mlaudit.capture.common import Refused, event_id
from mlaudit.capture.tables import TableMapping
from mlaudit.imports.readers import Unreadable, read_parquet

KEY_PREFIX = "dms/"
OP_COLUMN = "Op"
_OPERATIONS = {"I": "insert", "U": "modify", "D": "remove"}


def table_of(key: str) -> str | None:
    """dms/<schema>/<table>/<file>.parquet -> <table>; None for another layout."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] + "/" != KEY_PREFIX or not parts[3].lower().endswith(".parquet"):
        return None
    return parts[2]


def map_row(row: dict[str, Any], mapping: TableMapping, schema_table: str) -> dict[str, Any] | None:
    op = row.pop(OP_COLUMN, None)
    operation = "insert" if op is None else _OPERATIONS.get(op)
    if operation is None:
        raise Refused(OP_COLUMN, "allowed", "I, U or D")
    key = mapping.key_of(row)
    when = row.get(mapping.occurred_at) if mapping.occurred_at else None
    if when is None:
        raise Refused(mapping.occurred_at or OP_COLUMN, "required", "when the change happened (the mapping's "
                      "occurred_at column)")
    identity = event_id("dms", schema_table, operation, *key, str(when))
    event = mapping.event(operation, row if operation != "remove" else None, row if operation == "remove" else None,
                          None, identity)
    if event is not None:
        event["details"] = {**event.get("details", {}),
                            "captured_from": {"source": "aws.dms", "table": schema_table, "operation": operation}}
    return event


def read_dms(stream: IO[bytes], mapping: TableMapping, schema_table: str,
             batch_rows: int = 1_000) -> Iterator[tuple[int, bytes | Unreadable | None]]:
    """(row number, the mapped event as JSON, or Unreadable, or None: nothing to record)."""
    for number, line in read_parquet(stream, batch_rows):
        if isinstance(line, Unreadable):
            yield number, line
            continue
        try:
            event = map_row(json.loads(line), mapping, schema_table)
        except Refused as refused:
            yield number, Unreadable(refused.rule, refused.message, refused.path)
            continue
        yield number, None if event is None else json.dumps(event, ensure_ascii=False).encode()
