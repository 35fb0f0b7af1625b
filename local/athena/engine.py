"""DuckDbEngine: the local stand-in for Athena behind the same QueryEngine protocol.

Each execution opens a fresh in-memory DuckDB, defines ``events`` over only the
Parquet files of the partitions the bound date range (and the query's declared event
types) can touch, runs the catalog SQL transpiled from the Athena dialect with the
values bound as prepared parameters, and keeps the rendered rows for paging.
Partition columns are typed as in Glue: event_date and event_type are strings.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pyarrow as pa
from mlaudit.layout import COLUMNS, PARTITION_KEYS
from mlaudit.queries.catalog import Catalog, QuerySpec
from mlaudit.queries.engine import MAX_PAGE_SIZE, ExecutionNotFound, ExecutionStatus, ResultPage
from mlaudit.queries.params import to_engine_value
from mlaudit.queries.portability import load_checked_catalog

from local.athena.lake import Lake, LakeFile
from local.athena.transpile import to_duckdb

_DUCK_TYPES = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "double": "DOUBLE",
    "timestamp": "TIMESTAMPTZ",
    "array<string>": "VARCHAR[]",
}
_HIVE_TYPES = "{" + ", ".join(f"'{name}': VARCHAR" for name, _ in PARTITION_KEYS) + "}"


def render(value: Any) -> str | None:
    """A value as Athena's GetQueryResults shows it (text, timestamps in UTC, ms)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        value = value.astimezone(UTC) if value.tzinfo else value
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def events_relation(files: list[LakeFile]) -> str:
    """SQL for the events table over these files (paths are ours, not callers')."""
    if not files:
        columns = [f"CAST(NULL AS {_DUCK_TYPES[c.kind]}) AS {c.name}" for c in COLUMNS]
        columns += [f"CAST(NULL AS VARCHAR) AS {name}" for name, _ in PARTITION_KEYS]
        return f"SELECT {', '.join(columns)} WHERE false"
    paths = ", ".join("'" + f.path.replace("'", "''") + "'" for f in files)
    # The paths are the lake's own files, quoted; no caller value reaches this text.
    options = f"hive_partitioning = true, hive_types = {_HIVE_TYPES}, union_by_name = true"
    return f"SELECT * FROM read_parquet([{paths}], {options})"  # noqa: S608


class _Execution:
    """A finished run. Results stay columnar (Arrow) and are rendered a page at a time,
    so a month of events in memory costs bytes per value, not Python objects."""

    def __init__(self, status: ExecutionStatus, table: pa.Table | None = None):
        self.status = status
        self.table = table if table is not None else pa.table({})

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.table.column_names)

    def rows(self, start: int = 0, size: int | None = None) -> list[list[str | None]]:
        part = self.table.slice(start, size)
        return [[render(v) for v in row.values()] for row in part.to_pylist()]


class DuckDbEngine:
    """Runs catalog queries synchronously at start(); keeps the last `keep` results."""

    def __init__(
        self,
        lake: Lake,
        catalog: Catalog | None = None,
        *,
        bytes_scanned_cutoff: int | None = None,
        threads: int = 2,
        keep: int = 50,
    ) -> None:
        self.lake = lake
        # The portability check runs here, at load: the local engine refuses SQL that
        # would answer differently on Athena.
        self.catalog = catalog or load_checked_catalog()
        self.cutoff = bytes_scanned_cutoff
        self.threads = threads
        self.keep = keep
        self._executions: OrderedDict[str, _Execution] = OrderedDict()
        self._lock = threading.Lock()

    # --- QueryEngine -------------------------------------------------------------
    def start(self, query_name: str, params: dict[str, Any], *, owner: str = "", request_id: str = "") -> str:
        spec = self.catalog.get(query_name)
        execution_id = str(uuid.uuid4())
        self._store(execution_id, self._run(execution_id, spec, params, owner))
        return execution_id

    def status(self, execution_id: str) -> ExecutionStatus:
        return self._get(execution_id).status

    def results(self, execution_id: str, page_token: str | None, page_size: int) -> ResultPage:
        execution = self._get(execution_id)
        if execution.status.state != "SUCCEEDED":
            raise ExecutionNotFound(execution_id)
        size = max(1, min(page_size, MAX_PAGE_SIZE))
        start = int(page_token) if page_token and page_token.isdigit() else 0
        end = start + size
        next_token = str(end) if end < execution.table.num_rows else None
        return ResultPage(execution.columns, execution.rows(start, size), next_token)

    # --- for tests and the benchmark ----------------------------------------------
    def run(self, query_name: str, params: dict[str, Any]) -> tuple[ExecutionStatus, list[list[str | None]]]:
        """Check `params` raw JSON values, run, and return the status and every row."""
        spec = self.catalog.get(query_name)
        execution_id = self.start(query_name, spec.check(params))
        execution = self._get(execution_id)
        return execution.status, execution.rows()

    def row_count(self, execution_id: str) -> int:
        return self._get(execution_id).table.num_rows

    def run_view(self, view_name: str) -> tuple[tuple[str, ...], list[list[str | None]]]:
        """A QuickSight view over the whole lake (views have no parameters)."""
        spec = self.catalog.views[view_name]
        con = self._connect(self.lake.files(None, spec.event_types))
        cursor = con.execute(to_duckdb(spec.sql))
        columns = tuple(d[0] for d in cursor.description)
        return columns, [[render(v) for v in row] for row in cursor.fetchall()]

    # --- internals -------------------------------------------------------------------
    def _connect(self, files: list[LakeFile]) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(":memory:", config={"threads": self.threads})
        # Athena works in UTC; DuckDB would use the machine's zone for TIMESTAMPTZ.
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE TEMP VIEW events AS {events_relation(files)}")
        return con

    def _run(self, execution_id: str, spec: QuerySpec, params: dict[str, Any], owner: str) -> _Execution:
        began = time.monotonic()
        files = self.lake.files(spec.partition_dates(params), spec.event_types)
        scanned = sum(f.size for f in files)

        def status(state: str, reason: str | None = None) -> ExecutionStatus:
            return ExecutionStatus(
                execution_id,
                state,
                spec.name,
                owner,
                reason,
                scanned,  # type: ignore[arg-type]
                int((time.monotonic() - began) * 1000),
            )

        if self.cutoff is not None and scanned > self.cutoff:
            # Athena's workgroup cutoff cancels the query; say so the same way.
            return _Execution(
                status("CANCELLED", "Query exhausted the bytes-scanned limit of the workgroup.")
            )
        # Named ($name) rather than positional: sqlglot may repeat an expression when it
        # rewrites a function (greatest, least), which would shift positional ?s.
        values = {name: to_engine_value(spec.param(name), params[name]) for name in set(spec.bind_order)}
        con = self._connect(files)
        try:
            table = con.sql(to_duckdb(spec.sql), params=values).to_arrow_table()
        except duckdb.Error as exc:
            return _Execution(status("FAILED", f"query failed: {type(exc).__name__}"))
        finally:
            con.close()
        return _Execution(status("SUCCEEDED"), table)

    def _store(self, execution_id: str, execution: _Execution) -> None:
        with self._lock:
            self._executions[execution_id] = execution
            while len(self._executions) > self.keep:
                self._executions.popitem(last=False)

    def _get(self, execution_id: str) -> _Execution:
        with self._lock:
            if execution_id not in self._executions:
                raise ExecutionNotFound(execution_id)
            return self._executions[execution_id]
