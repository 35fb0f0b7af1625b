"""Named queries over the audit lake: the thin Lambda entry point (logic in mlaudit.queries).

GET  /v1/queries                  the catalog (the queries the caller's roles allow)
POST /v1/queries/{name}           {"parameters": {...}} -> 202 {"execution_id", ...}
GET  /v1/query-executions/{id}    ?page_token=&page_size= (1..1000) -> state and rows

On AWS the engine is Athena; the local stack gives the function its DuckDB stand-in
(mlaudit.bootstrap.Clients). Every run is itself an audit event.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap
from mlaudit.errors import Invalid, TooLarge, UnsupportedMediaType
from mlaudit.http import api_handler
from mlaudit.principal import principal_from_event

if TYPE_CHECKING:
    from mlaudit.bootstrap import FunctionApp
    from mlaudit.queries.service import QueryService

logger = Logger(service="mlaudit-queries")

APP: FunctionApp[QueryService] = bootstrap.app("queries")


def list_queries(event: dict[str, Any], queries: QueryService) -> Any:
    return queries.list_queries(principal_from_event(event))


def start_query(event: dict[str, Any], queries: QueryService) -> Any:
    name = (event.get("pathParameters") or {}).get("name", "")
    return queries.start(principal_from_event(event), name, _json_body(event))


def query_execution(event: dict[str, Any], queries: QueryService) -> Any:
    query = event.get("queryStringParameters") or {}
    execution_id = (event.get("pathParameters") or {}).get("id", "")
    return queries.execution(principal_from_event(event), execution_id, query.get("page_token"),
                             query.get("page_size"))


handler = api_handler(
    APP, {"list_queries": list_queries, "start_query": start_query, "query_execution": query_execution},
    logger, "The query service is unavailable; retry later.",
)


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
