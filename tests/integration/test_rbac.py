"""The permission matrix on the local stack: every route in `routes.ROUTES` × every kind
of caller (no token, malformed, expired, forged, each role by ID and access token, each
workload scope), each with a valid request, answered 401 / 403 / 2xx as the matrix says.

Each route's valid request comes from tests/integration/route_requests.py: from its row
where it can (a read without path values or required query parameters is called as it
is), else from the request its operation is given there; a new route that needs one
fails here until it gets it.
"""

from __future__ import annotations

import re
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from mlaudit.routes import ROUTES, Route

from local import client
from local.oauth import moto_signing_key
from tests.integration.route_requests import VALID_REQUESTS, Call, needs_a_request, valid_request


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
    missing = [f"{r.method} {r.path}" for r in ROUTES if needs_a_request(r) and r.operation not in VALID_REQUESTS]
    assert missing == [], "give these routes' operations a minimal valid request in VALID_REQUESTS"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_route_answers_every_caller_by_the_matrix(local_stack, callers, machine_token, route):
    build = valid_request(route)
    answers = {}
    for caller, token in callers.items():
        path, body = build(Call(local_stack, route, caller, token, machine_token))
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
