"""The permission matrix on the local stack: every route in `routes.ROUTES` × every kind
of caller (no token, malformed, expired, forged, each role by ID and access token, each
workload scope), each with a valid request, answered 401 / 403 / 2xx as the matrix says.

Every route must have a valid request below (a new route fails here until it gets one).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from mlaudit.routes import ROUTES, Route

from local import client
from local.oauth import moto_signing_key
from tests.integration.helpers import signed_checkpoint_covering

# (config, caller name, token, machine_token factory) -> (path, JSON body or None)
Request = Callable[[dict[str, Any], str, str | None, Callable[..., str]], tuple[str, Any]]


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def _query(caller: str) -> tuple[str, dict[str, Any]]:
    """A query this caller's role may run (privacy officers run subject_events only)."""
    dates = {"from_date": _today(), "to_date": _today()}
    if "privacy_officer" in caller:
        return "subject_events", {"parameters": {**dates, "subject_pseudonym": "sp1." + "0" * 32}}
    return "prediction_volume_latency", {"parameters": dates}


def _events(config, caller, token, machine_token):
    # A lineage event: what every scope that may call POST /v1/events may send.
    return "/v1/events", {"event_id": f"rbac-{uuid.uuid4().hex}", "event_type": "lineage",
                          "occurred_at": datetime.now(UTC).isoformat(), "run_id": "rbac",
                          "inputs": ["s3://rbac/in"], "outputs": ["s3://rbac/out"]}


def _lineage(path):
    def build(config, caller, token, machine_token):
        # An OpenLineage RunEvent, as openlineage-python sends it.
        return path, {"eventType": "START", "eventTime": datetime.now(UTC).isoformat(),
                      "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python",
                      "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                      "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "rbac", "name": "job"}}

    return build


def _start_query(config, caller, token, machine_token):
    name, body = _query(caller)
    return f"/v1/queries/{name}", body


def _execution(config, caller, token, machine_token):
    """An execution the caller started (only its owner may read it); any id otherwise."""
    name, body = _query(caller)
    started = requests.post(config["api_url"] + f"/v1/queries/{name}", json=body,
                            headers=client.bearer(token) if token else {}, timeout=60)
    execution = started.json()["execution_id"] if started.status_code == 202 else "0" * 32
    return f"/v1/query-executions/{execution}", None


def _subject(config, caller, token, machine_token):
    """A subject that exists (a workload sent an event about them), fresh per call."""
    subject_ref = f"rbac subject/{uuid.uuid4().hex}"
    event = {"event_type": "data_accessed", "occurred_at": datetime.now(UTC).isoformat(),
             "subject_ref": subject_ref, "personal_data": {"name": "R. Bac"}}
    sent = requests.post(config["api_url"] + "/v1/events", json=event,
                         headers=client.bearer(machine_token(["events.write"])), timeout=60)
    assert sent.status_code == 202, sent.text
    return "/v1/subjects/" + quote(subject_ref, safe=""), None


_stored: list[str] = []


def _receipt(config, caller, token, machine_token):
    """An event already in the lake, sent by this stack's workload client (a workload
    may read receipts for its own events only)."""
    if not _stored:
        event_id = f"rbac-receipt-{uuid.uuid4().hex}"
        _, body = _events(config, caller, token, machine_token)
        sent = requests.post(config["api_url"] + "/v1/events", json={**body, "event_id": event_id},
                             headers=client.bearer(machine_token(["events.write"])), timeout=60)
        assert sent.status_code == 202, sent.text
        assert client.wait_drained(config, timeout=90)
        signed_checkpoint_covering(config, machine_token(["events.read"]), 1)
        _stored.append(event_id)
    return f"/v1/events/{_stored[0]}/proof", None


def _checkpoint(path):
    def build(config, caller, token, machine_token):
        _receipt(config, caller, token, machine_token)  # an event in the log, and a checkpoint over it
        return path, None

    return build


VALID_REQUESTS: dict[tuple[str, str], Request] = {
    ("POST", "/v1/events"): _events,
    ("POST", "/v1/lineage"): _lineage("/v1/lineage"),
    ("POST", "/api/v1/lineage"): _lineage("/api/v1/lineage"),
    ("GET", "/v1/queries"): lambda *_: ("/v1/queries", None),
    ("POST", "/v1/queries/{name}"): _start_query,
    ("GET", "/v1/query-executions/{id}"): _execution,
    ("GET", "/v1/subjects/{subject_ref}"): _subject,
    ("DELETE", "/v1/subjects/{subject_ref}"): _subject,
    ("GET", "/v1/config"): lambda *_: ("/v1/config", None),
    ("GET", "/v1/openapi.json"): lambda *_: ("/v1/openapi.json", None),
    ("GET", "/v1/events/{event_id}/proof"): _receipt,
    ("GET", "/v1/checkpoints/latest"): _checkpoint("/v1/checkpoints/latest"),
    ("GET", "/v1/checkpoints/consistency"): _checkpoint("/v1/checkpoints/consistency?first=1&second=1"),
}


@pytest.fixture(scope="module")
def callers(local_stack, principal_tokens) -> dict[str, str | None]:
    """principal_tokens plus a malformed and two forged tokens (all must be 401)."""
    key, kid = moto_signing_key()
    now = int(time.time())
    client_id = local_stack["machine_client"]["client_id"]
    claims = {"sub": client_id, "client_id": client_id, "token_use": "access", "iss": local_stack["issuer"],
              "scope": " ".join(local_stack["machine_client"]["scopes"]), "iat": now, "exp": now + 600}
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        **principal_tokens,
        "malformed": "not-a-jwt",
        "forged-signature": jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": kid}),
        "forged-issuer": jwt.encode({**claims, "iss": local_stack["issuer"] + "x"}, key, algorithm="RS256",
                                    headers={"kid": kid}),
    }


def expected(route: Route, caller: str) -> str:
    """The matrix, read from the routes table: 401 for bad credentials, else by role/scope;
    a public route answers everyone, whatever they send."""
    if route.public:
        return "2xx"
    if caller in ("none", "expired", "malformed", "forged-signature", "forged-issuer"):
        return "401"
    kind, value = caller.split(":")[:2]
    return "2xx" if value in (route.scopes if kind == "scope" else route.roles) else "403"


def test_every_route_has_a_valid_request():
    missing = [f"{r.method} {r.path}" for r in ROUTES if (r.method, r.path) not in VALID_REQUESTS]
    assert missing == [], "give these routes a minimal valid request in VALID_REQUESTS"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_route_answers_every_caller_by_the_matrix(local_stack, callers, machine_token, route):
    build = VALID_REQUESTS[(route.method, route.path)]
    answers = {}
    for caller, token in callers.items():
        path, body = build(local_stack, caller, token, machine_token)
        assert re.fullmatch(route.pattern, path.split("?")[0]), path
        headers = {"Content-Type": "application/json", **(client.bearer(token) if token else {})}
        response = requests.request(route.method, local_stack["api_url"] + path, json=body, headers=headers,
                                    timeout=60)
        got = "2xx" if 200 <= response.status_code < 300 else str(response.status_code)
        answers[caller] = (got, expected(route, caller))
        if got in ("401", "403"):
            # Nothing that helps an attacker: the fixed body only
            assert response.json()["error"] in ("unauthorized", "forbidden"), response.text
            assert set(response.json()) == {"error", "message"}
    wrong = {caller: pair for caller, pair in answers.items() if pair[0] != pair[1]}
    assert wrong == {}, "caller: (got, expected)"
    # Both kinds of principal were exercised and at least one caller got through
    assert any(got == "2xx" for got, _ in answers.values())
