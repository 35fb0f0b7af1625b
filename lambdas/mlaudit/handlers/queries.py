"""Named queries over the audit lake: the thin Lambda entry point (logic in mlaudit.queries).

GET  /v1/queries                  the catalog (the queries the caller's roles allow)
POST /v1/queries/{name}           {"parameters": {...}} -> 202 {"execution_id", ...}
GET  /v1/query-executions/{id}    ?page_token=&page_size= (1..1000) -> state and rows

On AWS the engine is Athena (env: MLAUDIT_GLUE_DATABASE, MLAUDIT_ATHENA_WORKGROUP);
the local stack calls `set_engine` with a DuckDbEngine. Every run goes to the audit
sink: by default an EventRecorder on the events queue (tests may `set_audit_sink`).
"""

from __future__ import annotations

import json
import os
from typing import Any

from aws_lambda_powertools import Logger

from mlaudit.http import ApiError, answers_errors, json_response
from mlaudit.principal import Principal, principal_from_event
from mlaudit.queries.catalog import load_catalog
from mlaudit.queries.engine import QueryEngine
from mlaudit.queries.service import AuditSink, QueryService
from mlaudit.settings import Env

logger = Logger(service="mlaudit-queries")

_engine: QueryEngine | None = None
_audit_sink: AuditSink | None = None
_service: QueryService | None = None


def set_engine(engine: QueryEngine | None) -> None:
    """Use this engine (the local stack's DuckDbEngine, a test fake); None: Athena from env."""
    global _engine, _service
    _engine, _service = engine, None


def set_audit_sink(sink: AuditSink | None) -> None:
    global _audit_sink, _service
    _audit_sink, _service = sink, None


def _queue_sink() -> AuditSink:
    """Query runs become audit events on the events queue, like any client's events."""
    from mlaudit.adapters.recorder import queue_recorder  # noqa: PLC0415 - keeps pydantic out of the import

    recorder = queue_recorder()

    def sink(principal: Principal, event: dict[str, Any]) -> None:
        recorder.record(principal, [event])

    return sink


def service() -> QueryService:
    """Built on the first request, not at import: no client or env read at import time."""
    global _service
    if _service is None:
        catalog = load_catalog()  # unchecked: no sqlglot in the Lambda asset (see portability)
        engine = _engine
        if engine is None:
            import boto3  # noqa: PLC0415

            from mlaudit.queries.athena import AthenaEngine  # noqa: PLC0415

            engine = AthenaEngine(
                boto3.client("athena"),
                catalog,
                workgroup=os.environ[Env.ATHENA_WORKGROUP],
                database=os.environ[Env.GLUE_DATABASE],
            )
        _service = QueryService(catalog, engine, _audit_sink or _queue_sink())
    return _service


def route(event: dict[str, Any]) -> tuple[int, Any]:
    principal = principal_from_event(event)
    method = event.get("httpMethod")
    resource = event.get("resource") or (event.get("requestContext") or {}).get("resourcePath")
    path_params = event.get("pathParameters") or {}
    query = event.get("queryStringParameters") or {}
    if method == "GET" and resource == "/v1/queries":
        return 200, service().list_queries(principal)
    if method == "POST" and resource == "/v1/queries/{name}":
        return 202, service().start(principal, path_params.get("name", ""), _json_body(event))
    if method == "GET" and resource == "/v1/query-executions/{id}":
        return 200, service().execution(
            principal, path_params.get("id", ""), query.get("page_token"), query.get("page_size")
        )
    raise ApiError(404, "not_found", "No such route.")


@logger.inject_lambda_context(clear_state=True)
@answers_errors(logger, "The query service is unavailable; retry later.")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    status, body = route(event)
    return json_response(status, body)


def _json_body(event: dict[str, Any]) -> Any:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json text.")
    if len(raw) > 16_384:
        raise ApiError(413, "payload_too_large", "Query requests are at most 16 KiB.")
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
