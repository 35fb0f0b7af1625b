"""The API's routes and who may call them: one table read by the CDK app (to build
the REST API), the local API emulator (to route requests) and the authorizer (to
decide). Adding a route here is the only way to add one.

A route names the function that serves it (``mlaudit.handlers.<function>``), the
OAuth scopes a workload token may carry to call it, and the Cognito groups a
person may belong to to call it. Workload tokens never reach a route with no
scopes; people never reach a route with no roles. A `public` route (the API's own
OpenAPI document) takes no token at all: API Gateway and the local emulator skip the
authorizer for it, so it must never serve anything about the audit trail itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
class Route:
    method: str
    path: str  # API Gateway style, with {params}
    function: str  # handler module under mlaudit.handlers
    operation: str  # what the handler does for it: the key of its dispatch table
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    summary: str = ""
    public: bool = False  # no authorizer: anyone may call it (see the module's docstring)

    def __post_init__(self) -> None:
        if self.public and (self.scopes or self.roles):
            raise ValueError(f"{self.method} {self.path}: a public route names no scopes or roles")

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path) + "$")


ROUTES: tuple[Route, ...] = (
    Route(
        "POST", "/v1/events", "ingest", "ingest",
        scopes=frozenset({"events.write", "lineage.write"}),
        summary="Send one event or a batch of up to 500.",
    ),
    # OpenLineage, as its clients send it: openlineage-python's default endpoint is
    # api/v1/lineage (Marquez's); both answer like Marquez (201, empty body).
    Route(
        "POST", "/v1/lineage", "ingest", "lineage", scopes=frozenset({"lineage.write"}),
        summary="Send one OpenLineage RunEvent, JobEvent or DatasetEvent (spec 2-0-x).",
    ),
    Route(
        "POST", "/api/v1/lineage", "ingest", "lineage", scopes=frozenset({"lineage.write"}),
        summary="The same as POST /v1/lineage, at the endpoint OpenLineage clients use by default.",
    ),
    # Receipts and checkpoints (workloads: receipts for their own events only).
    Route(
        "GET", "/v1/events/{event_id}/proof", "proofs", "receipt",
        scopes=frozenset({"events.read"}), roles=frozenset({"auditor"}),
        summary="Receipt: the event's inclusion up to the latest signed checkpoint "
        "(?event_date=&event_type= narrow the search).",
    ),
    Route(
        "GET", "/v1/checkpoints/latest", "proofs", "latest_checkpoint",
        scopes=frozenset({"events.read"}), roles=frozenset({"auditor"}),
        summary="The latest signed checkpoint of the integrity log.",
    ),
    Route(
        "GET", "/v1/checkpoints/consistency", "proofs", "consistency",
        scopes=frozenset({"events.read"}), roles=frozenset({"auditor"}),
        summary="Consistency proof between two log sizes (?first=&second=).",
    ),
    # Named queries: each query's own header narrows these roles further.
    Route(
        "GET", "/v1/queries", "queries", "list_queries", roles=frozenset({"analyst", "auditor", "privacy_officer"}),
        summary="The catalog of named queries the caller may run.",
    ),
    Route(
        "POST", "/v1/queries/{name}", "queries", "start_query",
        roles=frozenset({"analyst", "auditor", "privacy_officer"}),
        summary="Start a named query with typed parameters.",
    ),
    Route(
        "GET", "/v1/query-executions/{id}", "queries", "query_execution",
        roles=frozenset({"analyst", "auditor", "privacy_officer"}),
        summary="A query run's state and a page of its results.",
    ),
    # Data subjects (GDPR Art. 15 and 17): {subject_ref} is percent-encoded personal data.
    Route(
        "GET", "/v1/subjects/{subject_ref}", "privacy", "subject_access", roles=frozenset({"privacy_officer"}),
        summary="Every event about one data subject, personal data decrypted (audited).",
    ),
    Route(
        "DELETE", "/v1/subjects/{subject_ref}", "privacy", "erase_subject", roles=frozenset({"privacy_officer"}),
        summary="Erase a data subject: destroy their key, record the erasure.",
    ),
    Route(
        "GET", "/v1/config", "config", "read_config", roles=frozenset({"admin", "auditor"}),
        summary="The deployment's settings in force: retention, Object Lock, limits, throttles.",
    ),
    # The API's description (mlaudit.openapi): generated from this table and the contract.
    Route(
        "GET", "/v1/openapi.json", "config", "openapi", public=True,
        summary="This API as an OpenAPI 3.1 document.",
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
