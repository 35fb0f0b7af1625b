"""The API as an OpenAPI 3.1 document, generated from the routes table and the event
contract: `python -m mlaudit.openapi [FILE]` (default docs/openapi.json).

Every operation comes from its row in `mlaudit.routes.ROUTES`: path, method, summary, who
may call it, its success status and body, its query parameters, request body and errors;
the event bodies from the contract's JSON Schema (`mlaudit.schema_export`). This module
adds what every route shares: API Gateway's own answers and the error body. `make docs`
rewrites docs/openapi.json, a test fails when it is stale, and schemathesis checks the
local stack against it.

The document is also served, without a token, at `GET /v1/openapi.json`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mlaudit.api_schemas import SCHEMAS
from mlaudit.routes import DEPLOYED_STAGE, LOCAL_STAGE, ROLES, ROUTES, SCOPES, Route

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
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in route.path_params
    ] + [
        {"name": p.name, "in": "query", "required": p.required, "schema": p.schema, "description": p.text}
        for p in route.query
    ]
    success: dict[str, Any] = {"description": route.answer}
    if route.response is not None:
        # A schema written in the route's row is named after its operation (a generated client
        # makes one typed model per named schema).
        schema = route.response if "$ref" in route.response else {"$ref": "#/components/schemas/"
                                                                   + inline_schema_name(operation_id)}
        success["content"] = {"application/json": {"schema": schema}}
    errors = set(route.errors) | ({404} if route.path_params else set())
    if not route.public:
        errors |= set(_AUTHENTICATED_ERRORS)
    responses = {str(route.status): success, **{str(s): _error_response(s) for s in sorted(errors)}}
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": route.summary,
        "description": _who(route),
        "tags": [route.function],
        "responses": dict(sorted(responses.items())),
    }
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {"required": route.body.required,
                                    "content": {"application/json": {"schema": route.body.schema}}}
    operation["security"] = [] if route.public else [{"bearer": []}]
    return operation


def _event_schemas() -> dict[str, Any]:
    from mlaudit.schema_export import contract_schema  # noqa: PLC0415 - pydantic only when rendering

    text = json.dumps(contract_schema()["$defs"]).replace("#/$defs/", "#/components/schemas/")
    return json.loads(text)


def inline_schema_name(operation_id: str) -> str:
    """The component name of an answer schema written inline in a route's row."""
    return "".join(part.capitalize() for part in operation_id.split("_")) + "Answer"


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    inline: dict[str, Any] = {}
    seen: set[str] = set()
    for route in ROUTES:
        operation_id = route.operation
        if operation_id in seen:  # one operation at two addresses (lineage)
            operation_id = route.operation + "_" + "_".join(p for p in route.path.split("/") if p and "{" not in p)
        seen.add(operation_id)
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, operation_id)
        if route.response is not None and "$ref" not in route.response:
            inline[inline_schema_name(operation_id)] = route.response
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
        "servers": [
            {"url": "https://{api_id}.execute-api.{region}.amazonaws.com/" + DEPLOYED_STAGE,
             "description": "A deployment: the stack's ApiUrl output.",
             "variables": {"api_id": {"default": "abc123", "description": "The REST API's id (ApiUrl's host)."},
                           "region": {"default": "eu-west-1", "description": "The stack's region."}}},
            {"url": "http://127.0.0.1:{port}/" + LOCAL_STAGE,
             "description": "The local stack (mlaudit serve): api_url in .local/stack.json.",
             "variables": {"port": {"default": "8080", "description": "The port in api_url (a new one each start)."}}},
        ],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                **_event_schemas(),
                **SCHEMAS,
                **inline,
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
