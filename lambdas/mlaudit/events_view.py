"""What Athena reads: the `events` view over two Glue tables (docs/compaction.md, "Athena").

- `events_written`: the writer's files under `events/` (partition projection);
- `events_compacted`: the compacted files under `compacted/` (the same columns and projection);
- `events`: a Presto view, the one name every named query reads, that takes the days up to
  its *compacted-through* date from `events_compacted` and every later day from
  `events_written`.

The compacted-through date is the last day D such that every day up to D that has events
has its compaction marker (`compacted/_days/<d>.json`): each of those days is then read from
its compacted files, every other day from its written files, so each event is read once.
Markers are never removed, so a date once right stays right: a run that writes an older
date (two overlapping runs; a deploy that puts back the template's view) is still correct,
only slower, and the next run moves it on again. The compaction function advances it with
one `glue:UpdateTable` of the view, only when it changes (each update is a table version).

The view's SQL cannot be read back by the local engine (moto stores Glue tables and runs no
query): the date is also a table parameter, `CUTOFF_PARAMETER`, which the local engine reads
to take the same days from the same place (local/athena/lake.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import date
from typing import Any

from mlaudit.layout import COMPACTED_PREFIX, EVENTS_PREFIX, PARTITION_KEYS, glue_columns

VIEW = "events"  # what the named queries read (queries/*.sql: FROM events)
WRITTEN_TABLE = "events_written"
COMPACTED_TABLE = "events_compacted"
TABLE_ROOTS = {WRITTEN_TABLE: EVENTS_PREFIX, COMPACTED_TABLE: COMPACTED_PREFIX}
CUTOFF_PARAMETER = "mlaudit.compacted_through"
NOTHING_COMPACTED = "1970-01-01"  # before any day with events: every day from events/
# Hive types (the tables') as Presto/Trino's (a view's columns in its original text).
PRESTO_TYPES = {"string": "varchar", "int": "integer", "bigint": "bigint", "double": "double",
                "boolean": "boolean", "timestamp": "timestamp(3)", "array<string>": "array(varchar)"}


def columns() -> list[dict[str, str]]:
    """The view's columns: the tables' columns, then the partition keys."""
    return [*glue_columns(), *({"name": name, "type": kind} for name, kind in PARTITION_KEYS)]


def _checked(cutoff: str) -> str:
    return date.fromisoformat(cutoff).isoformat()  # a date, nothing else, reaches the SQL


def view_sql(database: str, cutoff: str) -> str:
    cutoff = _checked(cutoff)
    names = ", ".join(c["name"] for c in columns())
    date_key = PARTITION_KEYS[0][0]
    return (f'SELECT {names} FROM "{database}"."{COMPACTED_TABLE}" WHERE {date_key} <= \'{cutoff}\'\n'  # noqa: S608
            f'UNION ALL\nSELECT {names} FROM "{database}"."{WRITTEN_TABLE}" WHERE {date_key} > \'{cutoff}\'')


def original_text(database: str, cutoff: str) -> str:
    """The view as Athena stores one it created: `/* Presto View: <base64 JSON> */`."""
    definition = {"originalSql": view_sql(database, cutoff), "catalog": "awsdatacatalog", "schema": database,
                  "columns": [{"name": c["name"], "type": PRESTO_TYPES[c["type"]]} for c in columns()]}
    return f"/* Presto View: {base64.b64encode(json.dumps(definition).encode()).decode()} */"


def decoded_sql(text: str) -> str:
    """A view's original text back to its SQL (tests, and a reader checking the date)."""
    inner = text.removeprefix("/* Presto View: ").removesuffix(" */")
    return json.loads(base64.b64decode(inner))["originalSql"]


def view_parameters(cutoff: str) -> dict[str, str]:
    return {"presto_view": "true", "comment": "Presto View", CUTOFF_PARAMETER: _checked(cutoff)}


def view_input(database: str, cutoff: str) -> dict[str, Any]:
    """The view's Glue TableInput (the API's shape; stacks/analytics.py declares the same)."""
    return {
        "Name": VIEW,
        "Description": "One row per audit event, each read once: compacted days from events_compacted, "
                       "the others from events_written (docs/compaction.md)",
        "TableType": "VIRTUAL_VIEW",
        "Parameters": view_parameters(cutoff),
        "ViewOriginalText": original_text(database, cutoff),
        "ViewExpandedText": "/* Presto View */",
        "StorageDescriptor": {"Columns": [{"Name": c["name"], "Type": c["type"]} for c in columns()],
                              "SerdeInfo": {}},
    }


def compacted_through(event_days: Iterable[str], marked: Iterable[str]) -> str:
    """The last day up to which every day with events has its marker."""
    done, cutoff = set(marked), NOTHING_COMPACTED
    for day in sorted(event_days):
        if day not in done:
            break
        cutoff = day
    return cutoff


class GlueView:
    """The `events` view in the Glue catalog, with a Glue client."""

    def __init__(self, glue: Any, database: str) -> None:
        self.glue = glue
        self.database = database

    def cutoff(self) -> str:
        table = self.glue.get_table(DatabaseName=self.database, Name=VIEW)["Table"]
        return table.get("Parameters", {}).get(CUTOFF_PARAMETER, NOTHING_COMPACTED)

    def advance(self, cutoff: str) -> bool:
        """Point the view at `cutoff` unless it already is (one GetTable; an UpdateTable
        only on a change). True: updated."""
        if self.cutoff() == _checked(cutoff):
            return False
        self.glue.update_table(DatabaseName=self.database, TableInput=view_input(self.database, cutoff))
        return True
