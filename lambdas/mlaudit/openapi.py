"""The API as an OpenAPI 3.1 document, generated from the routes table and the event
contract: `python -m mlaudit.openapi [FILE]` (default docs/openapi.json).

Paths, methods, summaries and who may call each route come from `mlaudit.routes.ROUTES`;
the event bodies from the contract's JSON Schema (`mlaudit.schema_export`). What this
module adds per operation is what the routes table cannot say: its success status, its
query parameters, its request body and the errors it can answer with. A test fails when
docs/openapi.json is stale, and schemathesis checks the local stack against it.

The document is also served, without a token, at `GET /v1/openapi.json`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlaudit.routes import ROLES, ROUTES, SCOPES, Route

REPO_DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
OPENAPI_VERSION = "3.1.0"
API_VERSION = "1"

# API Gateway's own answers for any authenticated route: no or a bad token (401), a
# caller without the permission (403), a body over its 10 MB quota (413), throttling
# (429), and the function's "retry later" (503, which a healthy stack never sends).
_AUTHENTICATED_ERRORS = (401, 403, 413, 429, 503)
_ERROR_TEXT = {
    400: "The request is malformed (the `errors` list says where).",
    401: "Missing or invalid credentials.",
    403: "The caller may not call this route (or send these event types).",
    404: "Nothing found at this address.",
    409: "An event id already stored from this sender with other content (the `errors` list names it).",
    413: "The request body is too large.",
    415: "Unsupported content type or encoding.",
    422: "One or more events break the contract; nothing was stored.",
    429: "Throttled: retry later.",
    500: "The operation did not complete; retry.",
    503: "Unavailable: retry later.",
}


@dataclass(frozen=True)
class Operation:
    success: int
    success_schema: dict[str, Any] | None  # None: an empty body
    errors: tuple[int, ...]
    query: tuple[tuple[str, dict[str, Any], bool, str], ...] = ()  # name, schema, required, text
    body: dict[str, Any] | None = None  # the JSON request body's schema (required when set)
    body_required: bool = True
    success_text: str = "OK."


_OBJECT = {"type": "object"}
_ID_LIST = {"type": "array", "items": {"type": "string"}}
_SIZE = {"type": "string", "pattern": "^[0-9]{1,19}$"}

OPERATIONS: dict[str, Operation] = {
    "ingest": Operation(
        202,
        {"type": "object", "required": ["accepted", "event_ids"],
         "properties": {"accepted": {"type": "integer", "minimum": 0}, "event_ids": _ID_LIST}},
        (400, 409, 413, 415, 422),
        body={"oneOf": [{"$ref": "#/components/schemas/AuditEventV1"},
                        {"$ref": "#/components/schemas/AuditEventBatchV1"}]},
        success_text="Stored (or already stored by an earlier identical request).",
    ),
    "lineage": Operation(
        201, None, (400, 409, 413, 415, 422),
        body={"type": "object", "description": "An OpenLineage RunEvent, JobEvent or DatasetEvent (spec 2-0-x); "
                                               "may be gzip-compressed (Content-Encoding: gzip)."},
        success_text="Stored, answered like Marquez: an empty body.",
    ),
    "receipt": Operation(
        200, _OBJECT, (400, 404),
        query=(("event_date", {"type": "string"}, False, "YYYY-MM-DD: where to look first."),
               ("event_type", {"type": "string"}, False, "The event's type: where to look first.")),
        success_text="The event's Merkle path to its file, the file's path to the latest signed checkpoint.",
    ),
    "latest_checkpoint": Operation(200, _OBJECT, (404,), success_text="The latest signed tree head."),
    "consistency": Operation(
        200, _OBJECT, (400, 404),
        query=(("first", _SIZE, True, "The older tree size."), ("second", _SIZE, True, "The newer tree size.")),
        success_text="A consistency proof between the two sizes.",
    ),
    "list_queries": Operation(
        200, {"type": "object", "required": ["queries"], "properties": {"queries": {"type": "array"}}}, (),
        success_text="The named queries the caller's roles allow.",
    ),
    "start_query": Operation(
        202, {"type": "object", "required": ["execution_id"], "properties": {"execution_id": {"type": "string"}}},
        (400, 404, 413, 415),
        body={"type": "object", "properties": {"parameters": {"type": "object"}},
              "description": "The query's typed parameters (GET /v1/queries lists them)."},
        body_required=False,
        success_text="Started; poll GET /v1/query-executions/{id}.",
    ),
    "query_execution": Operation(
        200, _OBJECT, (400, 404),
        query=(("page_token", {"type": "string"}, False, "From the previous page's next_page_token."),
               ("page_size", {"type": "string"}, False, "Rows per page, 1 to 1000.")),
        success_text="The run's state and, once it succeeded, a page of rows.",
    ),
    "subject_access": Operation(200, _OBJECT, (400,), success_text="Every event about the subject, decrypted."),
    "erase_subject": Operation(200, _OBJECT, (400, 500), success_text="The subject's key is destroyed."),
    "read_config": Operation(200, {"type": "object", "required": ["settings"]}, (),
                             success_text="The settings in force."),
    "openapi": Operation(200, {"type": "object", "required": ["openapi", "paths"]}, (),
                         success_text="This document."),
}


def _error_response(status: int) -> dict[str, Any]:
    return {"description": _ERROR_TEXT[status],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _who(route: Route) -> str:
    if route.public:
        return "Public: no token."
    parts = []
    if route.scopes:
        parts.append("workload scopes " + ", ".join(f"`{s}`" for s in sorted(route.scopes)))
    if route.roles:
        parts.append("roles " + ", ".join(f"`{r}`" for r in sorted(route.roles)))
    return "Who: " + "; ".join(parts) + "."


def _operation(route: Route, operation_id: str) -> dict[str, Any]:
    spec = OPERATIONS[route.operation]
    path_names = [part[1:-1] for part in route.path.split("/") if part.startswith("{")]
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in path_names
    ] + [
        {"name": name, "in": "query", "required": required, "schema": schema, "description": text}
        for name, schema, required, text in spec.query
    ]
    success: dict[str, Any] = {"description": spec.success_text}
    if spec.success_schema is not None:
        success["content"] = {"application/json": {"schema": spec.success_schema}}
    errors = set(spec.errors) | ({404} if path_names else set())
    if not route.public:
        errors |= set(_AUTHENTICATED_ERRORS)
    responses = {str(spec.success): success, **{str(s): _error_response(s) for s in sorted(errors)}}
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": route.summary,
        "description": _who(route),
        "tags": [route.function],
        "responses": dict(sorted(responses.items())),
    }
    if parameters:
        operation["parameters"] = parameters
    if spec.body is not None:
        operation["requestBody"] = {"required": spec.body_required,
                                    "content": {"application/json": {"schema": spec.body}}}
    operation["security"] = [] if route.public else [{"bearer": []}]
    return operation


def _event_schemas() -> dict[str, Any]:
    from mlaudit.schema_export import contract_schema  # noqa: PLC0415 - pydantic only when rendering

    text = json.dumps(contract_schema()["$defs"]).replace("#/$defs/", "#/components/schemas/")
    return json.loads(text)


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for route in ROUTES:
        operation_id = route.operation
        if operation_id in seen:  # one operation at two addresses (lineage)
            operation_id = route.operation + "_" + "_".join(p for p in route.path.split("/") if p and "{" not in p)
        seen.add(operation_id)
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, operation_id)
    scopes = "; ".join(f"`{name}`: {text}" for name, text in SCOPES.items())
    roles = "; ".join(f"`{name}`: {text}" for name, text in ROLES.items())
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "mlaudit",
            "version": API_VERSION,
            "description": (
                "An audit trail for ML systems. Workloads call with an access token from the OAuth2 "
                f"client-credentials grant and act through scopes ({scopes}); people call with their "
                f"Cognito ID or access token and act through groups ({roles})."
            ),
        },
        "servers": [{"url": "/prod", "description": "The API's stage (prefix the API's host)."}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                **_event_schemas(),
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "errors": {"type": "array", "items": {
                            "type": "object",
                            "properties": {"index": {"type": ["integer", "null"]}, "path": {"type": "string"},
                                           "rule": {"type": "string"}, "message": {"type": "string"}},
                        }},
                    },
                },
            },
        },
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_DOC
    target.write_text(render())
    print(f"wrote {target}")
