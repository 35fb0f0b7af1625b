"""Named queries over the audit lake: the thin Lambda entry point (logic in mlaudit.queries).

GET  /v1/queries                  the catalog (the queries the caller's roles allow)
POST /v1/queries/{name}           {"parameters": {...}} -> 202 {"execution_id", ...}
GET  /v1/query-executions/{id}    ?page_token=&page_size= (1..1000) -> state and rows

On AWS the engine is Athena; the local stack builds the service with its DuckDB
stand-in (mlaudit.bootstrap). Every run is itself an audit event.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap
from mlaudit.errors import Invalid, TooLarge, UnsupportedMediaType
from mlaudit.http import answers_errors, dispatch, json_response
from mlaudit.principal import principal_from_event

logger = Logger(service="mlaudit-queries")

APP = bootstrap.app("queries")


def _list(event: dict[str, Any]) -> Any:
    return APP.service().list_queries(principal_from_event(event))


def _start(event: dict[str, Any]) -> Any:
    name = (event.get("pathParameters") or {}).get("name", "")
    return APP.service().start(principal_from_event(event), name, _json_body(event))


def _execution(event: dict[str, Any]) -> Any:
    query = event.get("queryStringParameters") or {}
    execution_id = (event.get("pathParameters") or {}).get("id", "")
    return APP.service().execution(
        principal_from_event(event), execution_id, query.get("page_token"), query.get("page_size")
    )


OPERATIONS = {"list_queries": _list, "start_query": _start, "query_execution": _execution}
STATUS = {"start_query": 202}


@logger.inject_lambda_context(clear_state=True)
@answers_errors(logger, "The query service is unavailable; retry later.")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return json_response(*dispatch(event, OPERATIONS, STATUS))


def _json_body(event: dict[str, Any]) -> Any:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        raise UnsupportedMediaType("unsupported_media_type", "Send the body as application/json text.")
    if len(raw) > 16_384:
        raise TooLarge("payload_too_large", "Query requests are at most 16 KiB.")
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        raise Invalid("invalid_json", "The body is not valid JSON.") from None
