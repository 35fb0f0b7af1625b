"""AthenaEngine: runs catalog queries on Athena with execution parameters.

Values travel only in ExecutionParameters (one SQL literal per ``?``, built by
`params.to_athena_literal`). The workgroup enforces the results location, its
encryption and the bytes-scanned cutoff, so none of that is set per query here.

A trailing comment tags each query with its catalog name and an opaque owner digest.
Athena keeps the query text with the execution, so `status` can say which named query
an id belongs to and whose it is without any other store; ids that carry no tag (not
started by mlaudit) are treated as unknown.
"""

from __future__ import annotations

import re
from typing import Any

from mlaudit.queries.catalog import Catalog
from mlaudit.queries.engine import MAX_PAGE_SIZE, ExecutionNotFound, ExecutionStatus, ResultPage
from mlaudit.queries.params import to_athena_literal

_TAG = re.compile(r"\n-- mlaudit query=([a-z][a-z0-9_]{0,63}) owner=([0-9a-f]{1,64})\s*$")
_OWNER = re.compile(r"^[0-9a-f]{1,64}$")


class AthenaEngine:
    def __init__(self, client: Any, catalog: Catalog, *, workgroup: str, database: str) -> None:
        self.client = client
        self.catalog = catalog
        self.workgroup = workgroup
        self.database = database

    def start(self, query_name: str, params: dict[str, Any], *, owner: str, request_id: str) -> str:
        spec = self.catalog.get(query_name)
        if not _OWNER.match(owner):
            raise ValueError("owner must be a hex digest")  # it goes into a comment
        request: dict[str, Any] = {
            "QueryString": f"{spec.athena_sql}\n-- mlaudit query={spec.name} owner={owner}",
            "QueryExecutionContext": {"Catalog": "AwsDataCatalog", "Database": self.database},
            "WorkGroup": self.workgroup,
        }
        if spec.bind_order:
            request["ExecutionParameters"] = [
                to_athena_literal(spec.param(name), params[name]) for name in spec.bind_order
            ]
        if 32 <= len(request_id) <= 128:
            request["ClientRequestToken"] = request_id  # a retried start reuses the execution
        return self.client.start_query_execution(**request)["QueryExecutionId"]

    def status(self, execution_id: str) -> ExecutionStatus:
        try:
            found = self.client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
        except self.client.exceptions.InvalidRequestException:
            raise ExecutionNotFound(execution_id) from None
        tag = _TAG.search(found.get("Query", ""))
        if not tag or found.get("WorkGroup") != self.workgroup:
            raise ExecutionNotFound(execution_id)
        status = found.get("Status", {})
        stats = found.get("Statistics", {})
        return ExecutionStatus(
            execution_id=execution_id,
            state=status.get("State", "QUEUED"),
            query_name=tag.group(1),
            owner=tag.group(2),
            reason=status.get("StateChangeReason"),
            bytes_scanned=stats.get("DataScannedInBytes"),
            elapsed_ms=stats.get("TotalExecutionTimeInMillis"),
        )

    def results(self, execution_id: str, page_token: str | None, page_size: int) -> ResultPage:
        size = max(1, min(page_size, MAX_PAGE_SIZE))
        request: dict[str, Any] = {"QueryExecutionId": execution_id}
        if page_token:
            request["NextToken"] = page_token
        # The first page starts with the header row; ask for one more row to make up for it.
        request["MaxResults"] = size if page_token else min(size + 1, MAX_PAGE_SIZE)
        try:
            answer = self.client.get_query_results(**request)
        except self.client.exceptions.InvalidRequestException:
            raise ExecutionNotFound(execution_id) from None
        columns = tuple(c["Name"] for c in answer["ResultSet"]["ResultSetMetadata"]["ColumnInfo"])
        rows = [[cell.get("VarCharValue") for cell in row["Data"]] for row in answer["ResultSet"]["Rows"]]
        if not page_token and rows and tuple(rows[0]) == columns:
            rows = rows[1:]
        return ResultPage(columns, rows, answer.get("NextToken"))
