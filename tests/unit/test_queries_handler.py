"""The query API: routes, roles per query, audit of every run, paging; and the Athena adapter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from mlaudit.adapters.memory import MemorySelfAudit
from mlaudit.handlers import queries as handler_module
from mlaudit.principal import Principal
from mlaudit.queries.athena import AthenaEngine
from mlaudit.queries.catalog import load_catalog
from mlaudit.queries.engine import ExecutionNotFound
from mlaudit.queries.service import QueryService, owner_digest

from bench.synthetic import generate, write_lake
from local.athena import DuckDbEngine, LocalLake
from local.runtime import LambdaContext


def principal(roles: str, actor: str = "alice") -> dict[str, str]:
    return {"principal_kind": "person", "actor_id": actor, "client_id": "web", "roles": roles, "scopes": ""}


def call(
    method: str,
    resource: str,
    who: dict[str, str],
    *,
    path: dict | None = None,
    query: dict | None = None,
    body: Any = None,
) -> tuple[int, dict[str, Any]]:
    event = {
        "httpMethod": method,
        "resource": resource,
        "pathParameters": path,
        "queryStringParameters": query,
        "body": body if isinstance(body, str) or body is None else json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {"authorizer": who},
    }
    response = handler_module.handler(event, LambdaContext("queries", 30))
    return response["statusCode"], json.loads(response["body"])


WINDOW = {"from_date": "2026-10-01", "to_date": "2026-10-03"}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    write_lake(generate(800, days=3, seed=9), root)
    return root


@pytest.fixture
def audit(lake: Path):
    audit = MemorySelfAudit()
    handler_module.APP.configure(service=QueryService(load_catalog(), DuckDbEngine(LocalLake(lake), threads=1), audit))
    yield audit.events
    handler_module.APP.reset()


def start(name: str, who: dict[str, str], parameters: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return call("POST", "/v1/queries/{name}", who, path={"name": name}, body={"parameters": parameters})


def test_catalog_lists_the_queries_a_role_may_run(audit: list) -> None:
    status, body = call("GET", "/v1/queries", principal("analyst"))
    names = {q["name"] for q in body["queries"]}
    assert status == 200
    assert names == {"prediction_volume_latency", "dq_violation_rate", "drift_psi", "accuracy", "lineage",
                     "lineage_graph", "lineage_upstream", "lineage_downstream", "model_inputs",
                     "monitor_drift_psi", "monitor_dq_rate", "monitor_state", "monitor_volume_latency",
                     "monitor_accuracy"}
    _, body = call("GET", "/v1/queries", principal("privacy_officer"))
    assert [q["name"] for q in body["queries"]] == ["subject_events"]


def test_a_run_is_audited_then_paged(audit: list) -> None:
    analyst = principal("analyst")
    # When an analyst starts a named query,
    status, body = start("accuracy", analyst, {**WINDOW, "positive_label": "pos"})
    assert status == 202 and body["query"] == "accuracy"
    # Then the run is an audit event,
    ((who, event, _),) = audit
    assert who.actor_id == "alice"
    assert {k: event[k] for k in ("event_type", "action", "resource")} == {
        "event_type": "audit_access",
        "action": "query",
        "resource": "query:accuracy",
    }
    assert event["details"]["parameters"] == {**WINDOW, "positive_label": "pos"}
    assert event["details"]["outcome"] == "started" and event["details"]["request_id"] == body["request_id"]
    # and its results come back typed, one bounded page at a time.
    execution = body["execution_id"]
    status, page = call("GET", "/v1/query-executions/{id}", analyst, path={"id": execution}, query={"page_size": "2"})
    assert status == 200 and page["state"] == "SUCCEEDED" and len(page["rows"]) == 2
    assert page["columns"][0] == {"name": "model_id", "type": "string"}
    assert isinstance(page["rows"][0]["labeled"], int) and isinstance(page["rows"][0]["accuracy"], float)
    _, rest = call(
        "GET",
        "/v1/query-executions/{id}",
        analyst,
        path={"id": execution},
        query={"page_token": page["next_page_token"], "page_size": "1000"},
    )
    assert rest["next_page_token"] is None and rest["rows"]
    assert page["bytes_scanned"] > 0


@pytest.mark.parametrize("size", ["0", "1001", "abc", "-1", "1e3"])
def test_page_size_is_bounded(audit: list, size: str) -> None:
    _, body = start("lineage", principal("auditor"), {**WINDOW, "model_id": "fraud", "model_version": "v1"})
    status, error = call(
        "GET",
        "/v1/query-executions/{id}",
        principal("auditor"),
        path={"id": body["execution_id"]},
        query={"page_size": size},
    )
    assert status == 400 and error["error"] == "invalid_request"


def test_only_the_caller_who_started_a_run_sees_it(audit: list) -> None:
    _, body = start("accuracy", principal("analyst", "alice"), {**WINDOW, "positive_label": "pos"})
    status, error = call(
        "GET", "/v1/query-executions/{id}", principal("auditor", "mallory"), path={"id": body["execution_id"]}
    )
    assert status == 404 and error["error"] == "not_found"
    status, _ = call("GET", "/v1/query-executions/{id}", principal("analyst"), path={"id": "../../etc"})
    assert status == 404


def test_roles_per_query_are_enforced_and_refusals_audited(audit: list) -> None:
    status, error = start("subject_events", principal("analyst"), {**WINDOW, "subject_pseudonym": "subj-0001"})
    assert status == 403 and error["error"] == "forbidden"
    assert "the roles that may run it: privacy_officer." in error["message"]  # whom to ask
    assert error["errors"] == [{"path": "roles", "rule": "roles", "message": "one of ['privacy_officer']"}]
    assert audit[-1][1]["details"] == {"query": "subject_events", "outcome": "denied"}
    status, _ = start("subject_events", principal("privacy_officer"), {**WINDOW, "subject_pseudonym": "subj-0001"})
    assert status == 202


def test_unknown_query_is_a_clear_404(audit: list) -> None:
    status, error = start("drop_table", principal("auditor"), WINDOW)
    assert status == 404 and error == {
        "error": "unknown_query",
        "message": "There is no named query 'drop_table'.",
    }
    status, error = start("x'; DROP TABLE events --", principal("auditor"), WINDOW)
    assert status == 404 and "DROP" not in error["message"]
    assert audit == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", "invalid_json"),
        ({"parameters": {**WINDOW, "positive_label": "' OR 1=1 --" * 30}}, "invalid_parameters"),
        ({"parameters": {**WINDOW, "positive_label": 5}}, "invalid_parameters"),
        ({"parameters": WINDOW}, "invalid_parameters"),
        ({"parameters": [1]}, "invalid_parameters"),
        ({"parameters": {**WINDOW, "positive_label": "pos"}, "sql": "SELECT 1"}, "invalid_request"),
    ],
)
def test_bad_requests_are_refused_with_reasons(audit: list, body: Any, code: str) -> None:
    status, error = call("POST", "/v1/queries/{name}", principal("analyst"), path={"name": "accuracy"}, body=body)
    assert status == 400 and error["error"] == code
    if code == "invalid_parameters":
        assert error["errors"] and all(e["path"].startswith("parameters.") and e["rule"] for e in error["errors"])


def test_no_audit_no_query(lake: Path) -> None:
    class Refusing:
        def start(self, *args: Any, **kwargs: Any) -> str:
            raise AssertionError("must not run")

    class Unreachable:
        def record(self, *args: Any) -> list[str]:
            raise OSError("queue down")

    handler_module.APP.configure(service=QueryService(load_catalog(), Refusing(), Unreachable()))  # type: ignore[arg-type]
    try:
        status, error = start("accuracy", principal("analyst"), {**WINDOW, "positive_label": "pos"})
        assert status == 503 and error["error"] == "unavailable"
    finally:
        handler_module.APP.reset()


def test_missing_principal_is_401(audit: list) -> None:
    status, _ = call("GET", "/v1/queries", {})
    assert status == 401


# --- the Athena adapter ---------------------------------------------------------------------
EXECUTION = "3f1c8a55-7b8e-4a43-9d59-2d1f0e1a7b11"


@pytest.fixture
def athena():
    client = boto3.client("athena", region_name="us-east-1")
    with Stubber(client) as stub:
        yield (
            client,
            stub,
            AthenaEngine(client, load_catalog(), workgroup="mlaudit", database="mlaudit_audit"),
        )


def test_athena_start_binds_execution_parameters(athena) -> None:
    client, stub, engine = athena
    spec = load_catalog().get("accuracy")
    values = spec.check({**WINDOW, "positive_label": "it's"})
    owner = owner_digest(Principal("person", "alice", "web", ("analyst",)))
    stub.add_response(
        "start_query_execution",
        {"QueryExecutionId": EXECUTION},
        {
            "QueryString": spec.athena_sql + f"\n-- mlaudit query=accuracy owner={owner}",
            "QueryExecutionContext": {"Catalog": "AwsDataCatalog", "Database": "mlaudit_audit"},
            "WorkGroup": "mlaudit",
            "ExecutionParameters": ["'2026-10-01'", "'2026-10-03'", "NULL", "NULL"] + ["'it''s'"] * 6,
            "ClientRequestToken": "a" * 32,
        },
    )
    assert engine.start("accuracy", values, owner=owner, request_id="a" * 32) == EXECUTION
    assert "it's" not in spec.athena_sql  # the value is only ever a parameter
    with pytest.raises(ValueError):
        engine.start("accuracy", values, owner="x*/ DROP", request_id="a" * 32)


def test_athena_status_reads_the_tag_and_statistics(athena) -> None:
    client, stub, engine = athena
    stub.add_response(
        "get_query_execution",
        {
            "QueryExecution": {
                "QueryExecutionId": EXECUTION,
                "Query": "SELECT 1\n-- mlaudit query=accuracy owner=abc123",
                "WorkGroup": "mlaudit",
                "Status": {"State": "SUCCEEDED"},
                "Statistics": {"DataScannedInBytes": 1234, "TotalExecutionTimeInMillis": 56},
            }
        },
    )
    status = engine.status(EXECUTION)
    assert (status.state, status.query_name, status.owner, status.bytes_scanned) == (
        "SUCCEEDED",
        "accuracy",
        "abc123",
        1234,
    )
    # An execution mlaudit did not start (no tag) is unknown.
    stub.add_response(
        "get_query_execution",
        {
            "QueryExecution": {
                "QueryExecutionId": EXECUTION,
                "Query": "SELECT secret FROM t",
                "WorkGroup": "mlaudit",
                "Status": {"State": "SUCCEEDED"},
            }
        },
    )
    with pytest.raises(ExecutionNotFound):
        engine.status(EXECUTION)
    stub.add_client_error("get_query_execution", "InvalidRequestException")
    with pytest.raises(ExecutionNotFound):
        engine.status(EXECUTION)


def test_athena_results_drop_the_header_row_and_page(athena) -> None:
    client, stub, engine = athena
    meta = {"ColumnInfo": [{"Name": "model_id", "Type": "varchar"}, {"Name": "labeled", "Type": "bigint"}]}

    def rows(*values):
        return [{"Data": [{"VarCharValue": v} if v is not None else {} for v in row]} for row in values]

    stub.add_response(
        "get_query_results",
        {
            "ResultSet": {"Rows": rows(("model_id", "labeled"), ("fraud", "3")), "ResultSetMetadata": meta},
            "NextToken": "tok",
        },
        {"QueryExecutionId": EXECUTION, "MaxResults": 2},
    )
    page = engine.results(EXECUTION, None, 1)
    assert page.rows == [["fraud", "3"]] and page.next_token == "tok"
    stub.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": rows((None, "4")), "ResultSetMetadata": meta}},
        {"QueryExecutionId": EXECUTION, "MaxResults": 1000, "NextToken": "tok"},
    )
    page = engine.results(EXECUTION, "tok", 5000)
    assert page.rows == [[None, "4"]] and page.next_token is None


def test_handler_builds_athena_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLAUDIT_GLUE_DATABASE", "mlaudit_audit")
    monkeypatch.setenv("MLAUDIT_ATHENA_WORKGROUP", "mlaudit")
    monkeypatch.setenv("MLAUDIT_EVENTS_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/events")
    monkeypatch.setenv("MLAUDIT_SEAL_KEY_ID", "arn:aws:kms:us-east-1:123456789012:key/seals")
    handler_module.APP.reset()
    service = handler_module.APP.service()
    assert isinstance(service.engine, AthenaEngine)
    assert (service.engine.workgroup, service.engine.database) == ("mlaudit", "mlaudit_audit")
    handler_module.APP.reset()


def test_the_lambda_path_imports_no_heavy_engine() -> None:
    # The analytics function must not pay for pyarrow, duckdb or sqlglot at cold start.
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "os.environ.update(MLAUDIT_GLUE_DATABASE='db', MLAUDIT_ATHENA_WORKGROUP='wg', AWS_DEFAULT_REGION='us-east-1',\n"
        "                  MLAUDIT_EVENTS_QUEUE_URL='https://sqs.us-east-1.amazonaws.com/123456789012/events',\n"
        "                  MLAUDIT_SEAL_KEY_ID='arn:aws:kms:us-east-1:123456789012:key/seals')\n"
        "from mlaudit.handlers import queries\n"
        "queries.APP.service()\n"
        "print(sorted(m for m in ('pyarrow', 'duckdb', 'sqlglot') if m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": f"{root / 'lambdas'}", "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "[]"
