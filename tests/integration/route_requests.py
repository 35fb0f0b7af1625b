"""A valid request for every route in `routes.ROUTES`, for the tests that walk them all
(the permission matrix, IAM enforced): from the route's row where it can, a read without
path values or required query parameters being called as it is; otherwise from the request
its operation is given here (`VALID_REQUESTS`), which may first make what it names exist."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from mlaudit.routes import Route

from local import client
from tests.integration.helpers import signed_checkpoint_covering


@dataclass(frozen=True)
class Call:
    """One caller about to call one route."""

    config: dict[str, Any]
    route: Route
    caller: str  # a key of the `callers` fixture
    token: str | None
    machine_token: Callable[..., str]


# A valid request for a route: (path with its query, JSON body or None)
Request = Callable[[Call], tuple[str, Any]]


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def _query(caller: str) -> tuple[str, dict[str, Any]]:
    """A query this caller's role may run (privacy officers run subject_events only)."""
    dates = {"from_date": _today(), "to_date": _today()}
    if "privacy_officer" in caller:
        return "subject_events", {"parameters": {**dates, "subject_pseudonym": "sp1." + "0" * 32}}
    return "prediction_volume_latency", {"parameters": dates}


def _event() -> dict[str, Any]:
    # A lineage event: what every scope that may call POST /v1/events may send.
    return {"event_id": f"rbac-{uuid.uuid4().hex}", "event_type": "lineage",
            "occurred_at": datetime.now(UTC).isoformat(), "run_id": "rbac",
            "inputs": ["s3://rbac/in"], "outputs": ["s3://rbac/out"]}


def _events(call: Call) -> tuple[str, Any]:
    return call.route.path, _event()


def _lineage(call: Call) -> tuple[str, Any]:
    # An OpenLineage RunEvent, as openlineage-python sends it (both lineage paths).
    return call.route.path, {"eventType": "START", "eventTime": datetime.now(UTC).isoformat(),
                             "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python",
                             "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                             "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "rbac", "name": "job"}}


def _start_query(call: Call) -> tuple[str, Any]:
    name, body = _query(call.caller)
    return f"/v1/queries/{name}", body


def _execution(call: Call) -> tuple[str, Any]:
    """An execution the caller started (only its owner may read it); any id otherwise."""
    name, body = _query(call.caller)
    started = requests.post(call.config["api_url"] + f"/v1/queries/{name}", json=body,
                            headers=client.bearer(call.token) if call.token else {}, timeout=60)
    execution = started.json()["execution_id"] if started.status_code == 202 else "0" * 32
    return f"/v1/query-executions/{execution}", None


def _subject(call: Call) -> tuple[str, Any]:
    """A subject that exists (a workload sent an event about them), fresh per call."""
    subject_ref = f"rbac subject/{uuid.uuid4().hex}"
    event = {"event_type": "data_accessed", "occurred_at": datetime.now(UTC).isoformat(),
             "subject_ref": subject_ref, "personal_data": {"name": "R. Bac"}}
    sent = requests.post(call.config["api_url"] + "/v1/events", json=event,
                         headers=client.bearer(call.machine_token(["events.write"])), timeout=60)
    assert sent.status_code == 202, sent.text
    return "/v1/subjects/" + quote(subject_ref, safe=""), None


_stored: list[str] = []


def _stored_event(call: Call) -> str:
    """An event already in the lake under a signed checkpoint, sent by this stack's workload
    client (a workload may read receipts for its own events only)."""
    if not _stored:
        event_id = f"rbac-receipt-{uuid.uuid4().hex}"
        sent = requests.post(call.config["api_url"] + "/v1/events", json={**_event(), "event_id": event_id},
                             headers=client.bearer(call.machine_token(["events.write"])), timeout=60)
        assert sent.status_code == 202, sent.text
        assert client.wait_drained(call.config, timeout=90)
        signed_checkpoint_covering(call.config, call.machine_token(["events.read"]), 1)
        _stored.append(event_id)
    return _stored[0]


# The requests a route's row cannot imply, by operation: a body, or a path value or query
# that must name something (a query the caller may run, a subject or event that exists).
# Every other route, a read without path values or required query parameters, is called
# as it is (`valid_request`).
VALID_REQUESTS: dict[str, Request] = {
    "ingest": _events,
    "lineage": _lineage,
    "start_query": _start_query,
    "query_execution": _execution,
    "subject_access": _subject,
    "erase_subject": _subject,
    "receipt": lambda call: (f"/v1/events/{_stored_event(call)}/proof", None),
    "consistency": lambda call: (_signed(call) + "?first=1&second=1", None),
    "latest_checkpoint": lambda call: (_signed(call), None),
}


def _signed(call: Call) -> str:
    """The route's path, once a signed checkpoint exists (a read answers 200, not 404)."""
    _stored_event(call)
    return call.route.path


def needs_a_request(route: Route) -> bool:
    """Whether a valid request takes more than the route's path."""
    required_query = any(param.required for param in route.query)
    return bool(route.path_params) or required_query or (route.body is not None and route.body.required)


def valid_request(route: Route) -> Request:
    return VALID_REQUESTS.get(route.operation, lambda call: (call.route.path, None))
