"""The API's routes and who may call them: one table read by the CDK app (to build
the REST API), the local API emulator (to route requests) and the authorizer (to
decide). Adding a route here is the only way to add one.

A route names the function that serves it (``mlaudit.handlers.<function>``) and the
operation there, the OAuth scopes a workload token may carry to call it, the Cognito
groups a person may belong to to call it, and what it answers: its success status
and body, its own errors, its query parameters and body (the handler answers with
that status; `mlaudit.openapi` and the API's request models read the rest). Workload tokens never reach a route with no
scopes; people never reach a route with no roles. A `public` route (the API's own
OpenAPI document) takes no token at all: API Gateway and the local emulator skip the
authorizer for it, so it must never serve anything about the audit trail itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Cognito resource server identifier; access tokens carry "<identifier>/<scope>".
RESOURCE_SERVER = "mlaudit"

SCOPES = {
    "events.write": "Send audit events (ML workloads).",
    "lineage.write": "Send lineage events (pipelines and orchestrators).",
    "events.read": "Read receipts (inclusion proofs) for the workload's own events.",
}

# API-wide limits, read by the CDK app and the local emulator alike.
AUTHORIZER_CACHE_SECONDS = 300  # API Gateway reuses an authorizer's answer per token this long
ACCESS_TOKEN_SECONDS = 3600  # access and ID token lifetime (Cognito app clients)
API_PAYLOAD_LIMIT_BYTES = 10 * 1024 * 1024  # API Gateway REST's request payload quota

ROLES = {
    "auditor": "Raw events, proofs and verification.",
    "analyst": "Aggregate named queries only.",
    "privacy_officer": "Subject access and erasure.",
    "admin": "Configuration.",
}


@dataclass(frozen=True)
class Param:
    """A query string parameter, as the OpenAPI document describes it."""

    name: str
    schema: dict[str, Any]
    required: bool = False
    text: str = ""


@dataclass(frozen=True)
class Body:
    """A JSON request body: its schema, whether it must be sent, and whether API Gateway
    refuses anything but a JSON object before the function runs (its request model: not
    for an optional body, nor one the function inflates first)."""

    schema: dict[str, Any]
    required: bool = True
    gateway_model: bool = False


_OBJECT: dict[str, Any] = {"type": "object"}
_ID_LIST = {"type": "array", "items": {"type": "string"}}
_SIZE = {"type": "string", "pattern": "^[0-9]{1,19}$"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway style, with {params}
    function: str  # handler module under mlaudit.handlers
    operation: str  # what the handler does for it: the key of its operations table
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    summary: str = ""
    public: bool = False  # no authorizer: anyone may call it (see the module's docstring)
    # What it answers: the handler's success status and body, and the OpenAPI document.
    # (Schemas are dicts: a route hashes by the fields above them.)
    status: int = 200
    response: dict[str, Any] | None = field(default_factory=lambda: _OBJECT, hash=False)  # None: an empty body
    answer: str = "OK."  # what the success answer means
    errors: tuple[int, ...] = ()  # the function's own error answers (API Gateway's are added)
    query: tuple[Param, ...] = field(default=(), hash=False)
    body: Body | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if self.public and (self.scopes or self.roles):
            raise ValueError(f"{self.method} {self.path}: a public route names no scopes or roles")

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path) + "$")

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.path))


# OpenLineage, as its clients send it: openlineage-python's default endpoint is api/v1/lineage
# (Marquez's); both answer like Marquez (201, empty body).
_LINEAGE = {
    "function": "ingest", "operation": "lineage", "scopes": frozenset({"lineage.write"}), "status": 201,
    "response": None, "answer": "Stored, answered like Marquez: an empty body.", "errors": (400, 409, 413, 415, 422),
    "body": Body({"type": "object", "description": "An OpenLineage RunEvent, JobEvent or DatasetEvent (spec 2-0-x); "
                                                   "may be gzip-compressed (Content-Encoding: gzip)."}),
}
_PROOF_READERS = {"scopes": frozenset({"events.read"}), "roles": frozenset({"auditor"})}
_QUERY_READERS = frozenset({"analyst", "auditor", "privacy_officer"})

ROUTES: tuple[Route, ...] = (
    Route(
        "POST", "/v1/events", "ingest", "ingest",
        scopes=frozenset({"events.write", "lineage.write"}),
        summary="Send one event or a batch of up to 500.",
        status=202,
        response={"type": "object", "required": ["accepted", "event_ids"],
                  "properties": {"accepted": {"type": "integer", "minimum": 0}, "event_ids": _ID_LIST}},
        answer="Stored (or already stored by an earlier identical request).",
        errors=(400, 409, 413, 415, 422),
        body=Body({"oneOf": [{"$ref": "#/components/schemas/AuditEventV1"},
                             {"$ref": "#/components/schemas/AuditEventBatchV1"}]}, gateway_model=True),
    ),
    Route("POST", "/v1/lineage", **_LINEAGE,
          summary="Send one OpenLineage RunEvent, JobEvent or DatasetEvent (spec 2-0-x)."),
    Route("POST", "/api/v1/lineage", **_LINEAGE,
          summary="The same as POST /v1/lineage, at the endpoint OpenLineage clients use by default."),
    # Receipts and checkpoints (workloads: receipts for their own events only).
    Route(
        "GET", "/v1/events/{event_id}/proof", "proofs", "receipt", **_PROOF_READERS,
        summary="Receipt: the event's inclusion up to the latest signed checkpoint "
        "(?event_date=&event_type= narrow the search).",
        answer="The event's Merkle path to its file, the file's path to the latest signed checkpoint.",
        errors=(400, 404),
        query=(Param("event_date", {"type": "string"}, text="YYYY-MM-DD: where to look first."),
               Param("event_type", {"type": "string"}, text="The event's type: where to look first.")),
    ),
    Route(
        "GET", "/v1/checkpoints/latest", "proofs", "latest_checkpoint", **_PROOF_READERS,
        summary="The latest signed checkpoint of the integrity log.",
        answer="The latest signed tree head.", errors=(404,),
    ),
    Route(
        "GET", "/v1/checkpoints/consistency", "proofs", "consistency", **_PROOF_READERS,
        summary="Consistency proof between two log sizes (?first=&second=).",
        answer="A consistency proof between the two sizes.", errors=(400, 404),
        query=(Param("first", _SIZE, True, "The older tree size."),
               Param("second", _SIZE, True, "The newer tree size.")),
    ),
    # Named queries: each query's own header narrows these roles further.
    Route(
        "GET", "/v1/queries", "queries", "list_queries", roles=_QUERY_READERS,
        summary="The catalog of named queries the caller may run.",
        response={"type": "object", "required": ["queries"], "properties": {"queries": {"type": "array"}}},
        answer="The named queries the caller's roles allow.",
    ),
    Route(
        "POST", "/v1/queries/{name}", "queries", "start_query", roles=_QUERY_READERS,
        summary="Start a named query with typed parameters.",
        status=202,
        response={"type": "object", "required": ["execution_id"], "properties": {"execution_id": {"type": "string"}}},
        answer="Started; poll GET /v1/query-executions/{id}.",
        errors=(400, 404, 413, 415),
        body=Body({"type": "object", "properties": {"parameters": {"type": "object"}},
                   "description": "The query's typed parameters (GET /v1/queries lists them)."}, required=False),
    ),
    Route(
        "GET", "/v1/query-executions/{id}", "queries", "query_execution", roles=_QUERY_READERS,
        summary="A query run's state and a page of its results.",
        answer="The run's state and, once it succeeded, a page of rows.", errors=(400, 404),
        query=(Param("page_token", {"type": "string"}, text="From the previous page's next_page_token."),
               Param("page_size", {"type": "string"}, text="Rows per page, 1 to 1000.")),
    ),
    # Data subjects (GDPR Art. 15 and 17): {subject_ref} is percent-encoded personal data.
    Route(
        "GET", "/v1/subjects/{subject_ref}", "privacy", "subject_access", roles=frozenset({"privacy_officer"}),
        summary="Every event about one data subject, personal data decrypted (audited).",
        answer="Every event about the subject, decrypted.", errors=(400,),
    ),
    Route(
        "DELETE", "/v1/subjects/{subject_ref}", "privacy", "erase_subject", roles=frozenset({"privacy_officer"}),
        summary="Erase a data subject: destroy their key, record the erasure.",
        answer="The subject's key is destroyed.", errors=(400, 500),
    ),
    Route(
        "GET", "/v1/config", "config", "read_config", roles=frozenset({"admin", "auditor"}),
        summary="The deployment's settings in force: retention, Object Lock, limits, throttles.",
        response={"type": "object", "required": ["settings"]}, answer="The settings in force.",
    ),
    # The API's description (mlaudit.openapi): generated from this table and the contract.
    Route(
        "GET", "/v1/openapi.json", "config", "openapi", public=True,
        summary="This API as an OpenAPI 3.1 document.",
        response={"type": "object", "required": ["openapi", "paths"]}, answer="This document.",
    ),
)


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        if route.method == method and (found := route.pattern.match(path)):
            return route, found.groupdict()
    return None


def route_of(event: dict) -> Route | None:
    """The route an API Gateway proxy event was sent to (by its method and resource template)."""
    method = event.get("httpMethod")
    resource = event.get("resource") or (event.get("requestContext") or {}).get("resourcePath")
    return next((r for r in ROUTES if r.method == method and r.path == resource), None)


def path_exists(path: str) -> bool:
    return any(route.pattern.match(path) for route in ROUTES)
