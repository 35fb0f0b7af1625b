"""docs/openapi.json: generated from the routes table and the contract, valid OpenAPI 3.1,
never stale, and served without a token (the schemathesis run is in tests/integration)."""

from __future__ import annotations

import json
import re

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


def test_every_answer_with_a_body_is_a_named_schema_with_its_fields():
    # A generated client makes one typed model per named schema; a bare {"type": "object"}
    # (or an array without items) would come out untyped or not at all.
    document = openapi.document()
    schemas = document["components"]["schemas"]
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        success = operation["responses"][str(route.status)]
        if route.response is None:
            assert "content" not in success, route.path
            continue
        reference = success["content"]["application/json"]["schema"]["$ref"]
        schema = schemas[reference.rsplit("/", 1)[1]]
        assert schema["properties"] and set(schema["required"]) <= set(schema["properties"]), route.path

    def arrays(node):
        if isinstance(node, dict):
            if node.get("type") == "array":
                yield node
            for value in node.values():
                yield from arrays(value)
        elif isinstance(node, list):
            for value in node:
                yield from arrays(value)

    assert all("items" in array for array in arrays(document)), "every array says what it holds"


def test_the_events_answer_lists_the_data_quality_fields():
    schemas = openapi.document()["components"]["schemas"]
    accepted = schemas["EventsAccepted"]
    assert set(accepted["required"]) == {"accepted", "event_ids", "dq", "dq_violations"}
    assert set(schemas["DataQualityCounts"]["required"]) == {"pass", "warn", "fail"}
    assert set(schemas["DataQualityViolation"]["required"]) == {"index", "event_id", "rules"}
    # the same fields the ingest service writes
    from mlaudit.ingest.service import IngestResult

    body = IngestResult(["e1"], {"pass": 0, "warn": 1, "fail": 0},
                        [{"index": 0, "event_id": "e1", "rules": ["environment.known"]}]).body()
    assert set(body) == set(accepted["properties"])
    assert set(body["dq_violations"][0]) == set(schemas["DataQualityViolation"]["properties"])


def test_the_query_catalog_answer_describes_what_the_catalog_says():
    from mlaudit.queries.catalog import load_catalog

    schemas = openapi.document()["components"]["schemas"]
    for query in load_catalog().describe():
        assert set(query) <= set(schemas["NamedQuery"]["properties"])
        for parameter in query["parameters"]:
            assert set(parameter) <= set(schemas["QueryParameter"]["properties"]), parameter
            assert parameter["type"] in schemas["QueryParameter"]["properties"]["type"]["enum"]


def test_servers_are_a_deployment_and_the_local_stack():
    from mlaudit.routes import DEPLOYED_STAGE, LOCAL_STAGE

    servers = openapi.document()["servers"]
    urls = [s["url"] for s in servers]
    assert urls == [f"https://{{api_id}}.execute-api.{{region}}.amazonaws.com/{DEPLOYED_STAGE}",
                    f"http://127.0.0.1:{{port}}/{LOCAL_STAGE}"]
    for server in servers:  # every {variable} of a URL is declared, with a default
        assert set(re.findall(r"\{(\w+)\}", server["url"])) == set(server["variables"])
        assert all(v["default"] for v in server["variables"].values())
