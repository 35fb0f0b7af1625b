"""docs/openapi.json: generated from the routes table and the contract, valid OpenAPI 3.1,
never stale, and served without a token (the schemathesis run is in tests/integration)."""

from __future__ import annotations

import json

import pytest
from mlaudit import openapi
from mlaudit.routes import ROUTES, Route
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError


def test_committed_document_is_current():
    assert openapi.REPO_DOC.read_text(encoding="utf-8") == openapi.render(), (
        "docs/openapi.json is stale: run `PYTHONPATH=lambdas python -m mlaudit.openapi` and commit it"
    )


def test_document_is_valid_openapi_3_1():
    document = openapi.document()
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_the_validator_would_refuse_a_broken_document():
    broken = openapi.document()
    broken["paths"]["/v1/events"]["post"]["responses"] = {"202": {"content": {}}}  # no description
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_every_route_is_one_operation_with_its_callers():
    document = openapi.document()
    operations = {(m.upper(), p): op for p, item in document["paths"].items() for m, op in item.items()}
    assert set(operations) == {(r.method, r.path) for r in ROUTES}
    assert len({op["operationId"] for op in operations.values()}) == len(ROUTES)
    for route in ROUTES:
        op = operations[(route.method, route.path)]
        assert op["summary"] == route.summary
        if route.public:
            assert op["security"] == [] and "401" not in op["responses"]
        else:
            assert op["security"] == [{"bearer": []}] and {"401", "403"} <= set(op["responses"])
            for role in route.roles | route.scopes:
                assert f"`{role}`" in op["description"]


def test_event_bodies_come_from_the_contract():
    document = openapi.document()
    body = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    refs = {alt["$ref"].rsplit("/", 1)[1] for alt in body["oneOf"]}
    schemas = document["components"]["schemas"]
    assert refs == {"AuditEventV1", "AuditEventBatchV1"} <= set(schemas)
    assert schemas["AuditEventV1"]["additionalProperties"] is False
    assert "#/$defs/" not in json.dumps(document)


def test_a_public_route_cannot_name_callers():
    with pytest.raises(ValueError, match="public route names no scopes or roles"):
        Route("GET", "/v1/x", "config", "openapi", roles=frozenset({"admin"}), public=True)


def test_the_config_function_serves_the_document_without_a_principal():
    from mlaudit.handlers import config

    from local.runtime import LambdaContext

    event = {"httpMethod": "GET", "resource": "/v1/openapi.json", "requestContext": {"authorizer": {}}}
    response = config.handler(event, LambdaContext("config", 10, region="us-east-1"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == openapi.document()
