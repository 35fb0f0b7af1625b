"""The seam between the query service and an SQL engine (Athena on AWS, DuckDB locally).

An engine runs catalog queries by name with checked parameter values and answers in
Athena's shape: a state, then pages of rows whose values are text (or None), which
`decode_row` turns into JSON values using the catalog's declared column types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from mlaudit.queries.catalog import ColumnSpec

State = Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]
MAX_PAGE_SIZE = 1000  # Athena's GetQueryResults maximum
DEFAULT_PAGE_SIZE = 100


class ExecutionNotFound(LookupError):
    """No execution with this id (or not one of ours)."""


@dataclass(frozen=True)
class ExecutionStatus:
    execution_id: str
    state: State
    query_name: str | None = None
    owner: str | None = None  # opaque digest of the principal who started it
    reason: str | None = None  # why it failed, safe to show
    bytes_scanned: int | None = None
    elapsed_ms: int | None = None


@dataclass(frozen=True)
class ResultPage:
    columns: tuple[str, ...]
    rows: list[list[str | None]]  # values as Athena renders them
    next_token: str | None


class QueryEngine(Protocol):
    def start(self, query_name: str, params: dict[str, Any], *, owner: str, request_id: str) -> str:
        """Start a catalog query with checked values; return its execution id."""
        ...

    def status(self, execution_id: str) -> ExecutionStatus: ...

    def results(self, execution_id: str, page_token: str | None, page_size: int) -> ResultPage: ...


def decode_value(kind: str, text: str | None) -> Any:
    """An Athena-rendered value as JSON: numbers as numbers, timestamps as ISO 8601 UTC."""
    if text is None:
        return None
    if kind == "integer":
        return int(text)
    if kind == "double":
        return float(text)  # 'NaN' and 'Infinity' never occur: the portability rules avoid them
    if kind == "boolean":
        return text == "true"
    if kind == "timestamp":
        # Athena: '2026-11-26 10:00:00.000' (UTC) -> '2026-11-26T10:00:00.000Z'
        return text.replace(" ", "T", 1) + ("" if text.endswith("Z") else "Z")
    return text


def decode_row(columns: tuple[ColumnSpec, ...], row: list[str | None]) -> dict[str, Any]:
    return {col.name: decode_value(col.type, value) for col, value in zip(columns, row, strict=True)}
