"""Athena runs a query with the caller's permissions: it reads the Glue table and the
lake, and writes the results, as the function that started it. The stand-in engine
checks each of those steps against the queries function's grants (local/iam.py), so a
grant the function lacks on AWS is missing here too; the lake itself is read with the
function's own S3 client."""

from __future__ import annotations

from typing import Any

from mlaudit.queries.engine import ExecutionStatus, ResultPage

from local.iam import Enforcer


class AthenaAsCaller:
    def __init__(
        self, engine: Any, enforcer: Enforcer, *, s3: Any, workgroup: str, database: str, tables: tuple[str, ...],
        lake_bucket: str, results_bucket: str,
    ) -> None:
        self.engine = engine
        self.enforcer = enforcer
        self.s3 = s3
        self.workgroup = workgroup
        self.database = database
        self.tables = tables  # the view the query names, then the tables it reads
        self.lake_bucket = lake_bucket
        self.results_bucket = results_bucket

    def _athena(self, operation: str) -> None:
        self.enforcer.check_call("athena", operation, {"WorkGroup": self.workgroup})

    def start(self, query_name: str, params: dict[str, Any], *, owner: str = "", request_id: str = "") -> str:
        self._athena("StartQueryExecution")
        self.enforcer.check_call("glue", "GetDatabase", {"Name": self.database})
        for table in self.tables:
            self.enforcer.check_call("glue", "GetTable", {"DatabaseName": self.database, "Name": table})
        for bucket in (self.lake_bucket, self.results_bucket):
            self.enforcer.check_call("s3", "GetBucketLocation", {"Bucket": bucket})
            self.enforcer.check_call("s3", "ListObjectsV2", {"Bucket": bucket})
        # Athena cleans up a results upload it could not finish.
        self.enforcer.check_call("s3", "AbortMultipartUpload", {"Bucket": self.results_bucket, "Key": "x.csv"})
        execution_id = self.engine.start(query_name, params, owner=owner, request_id=request_id)
        # The results file, written as the caller.
        self.s3.put_object(Bucket=self.results_bucket, Key=f"{execution_id}.csv", Body=b"")
        return execution_id

    def status(self, execution_id: str) -> ExecutionStatus:
        self._athena("GetQueryExecution")
        return self.engine.status(execution_id)

    def results(self, execution_id: str, page_token: str | None, page_size: int) -> ResultPage:
        self._athena("GetQueryResults")
        page = self.engine.results(execution_id, page_token, page_size)  # an unknown id is refused first
        self.s3.get_object(Bucket=self.results_bucket, Key=f"{execution_id}.csv")
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)  # what the service asks of an engine beyond the three steps
