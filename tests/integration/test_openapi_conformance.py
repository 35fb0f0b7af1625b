"""The local stack against its own OpenAPI document: the public route serves it without a
token, and schemathesis (a bounded number of generated requests per operation, with a
valid workload token and an auditor's token) finds no 5xx and no answer the document does
not describe: every status, content type and body is one it names."""

from __future__ import annotations

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from mlaudit import openapi
from mlaudit.routes import ROUTES
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local import client

EXAMPLES_PER_OPERATION = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_document_is_served_without_a_token(local_stack):
    response = requests.get(local_stack["api_url"] + "/v1/openapi.json", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == openapi.document()


def test_generated_requests_get_only_documented_answers(local_stack, machine_token, user_tokens):
    served = requests.get(local_stack["api_url"] + "/v1/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(served)
    base_url = local_stack["api_url"]
    callers = {"workload": client.bearer(machine_token()),
               "auditor": client.bearer(user_tokens("auditor")["id_token"])}
    failures: list[str] = []
    calls = 0
    statuses: list[tuple[str, int]] = []

    def explore(operation, caller, headers):
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            nonlocal calls
            response = case.call(base_url=base_url, headers=headers, timeout=60)
            calls += 1
            statuses.append((operation.label, response.status_code))
            try:
                case.validate_response(response, checks=CHECKS)
            except AssertionError as exc:  # schemathesis's failure groups are AssertionErrors
                failures.append(f"{caller} {operation.label}: {response.status_code} "
                                f"{response.text[:200]!r}: {str(exc).splitlines()[0]}")

        run()

    for result in schema.get_all_operations():
        for caller, headers in callers.items():
            explore(result.ok(), caller, headers)

    assert calls >= len(ROUTES) * len(callers), calls  # every operation was exercised
    # Not only refusals: generated events were stored and documents read
    assert ("POST /v1/events", 202) in statuses and ("GET /v1/checkpoints/latest", 200) in statuses
    assert failures == [], "\n".join(failures[:20])
