"""The API follows the routes table: every route gets a method behind the authorizer,
every declared function one Lambda, and a route to an undeclared function stops synthesis."""

from __future__ import annotations

import json

import pytest
from mlaudit.functions import FUNCTIONS
from mlaudit.routes import ROUTES, Route
from mlaudit.settings import Env

from app import build_app
from tests.infra.synth import Synth, path_of


def _actions(policy: dict) -> set[str]:
    statements = policy["PolicyDocument"]["Statement"]
    return {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}


def test_every_route_has_a_method_behind_the_authorizer(custom: Synth) -> None:
    (authorizer_id,) = custom.of_type("AWS::ApiGateway::Authorizer")
    methods = {}
    public = {(r.method, r.path) for r in ROUTES if r.public}
    for method in custom.props("AWS::ApiGateway::Method"):
        key = (method["HttpMethod"], path_of(custom, method["ResourceId"]))
        if key in public:  # the OpenAPI document: no authorizer at all
            assert method["AuthorizationType"] == "NONE" and "AuthorizerId" not in method
        else:
            assert method["AuthorizationType"] == "CUSTOM" and method["AuthorizerId"] == {"Ref": authorizer_id}
        methods[key] = method
    assert set(methods) == {(r.method, r.path) for r in ROUTES}
    assert public == {("GET", "/v1/openapi.json")}
    assert "RequestModels" not in methods[("GET", "/v1/queries")]


def test_one_function_per_declaration(custom: Synth) -> None:
    handlers = sorted(f["Handler"] for f in custom.props("AWS::Lambda::Function"))
    assert handlers == sorted(spec.handler for spec in FUNCTIONS)
    assert {r.function for r in ROUTES} <= {spec.name for spec in FUNCTIONS}


def test_a_route_to_an_undeclared_function_stops_synthesis(tmp_path) -> None:
    extra = Route("GET", "/v1/lineage/{model_id}", "lineage", "lineage_graph", roles=frozenset({"auditor"}))
    with pytest.raises(ValueError, match=r"no declaration in mlaudit.functions: \['lineage'\]"):
        build_app(outdir=str(tmp_path), routes=(*ROUTES, extra))


def test_each_route_function_is_invoked_by_its_methods(custom: Synth) -> None:
    for route in (r for r in ROUTES if r.function != "ingest"):  # ingest: through its alias
        function = custom.logical_id(f"Route-{route.function}/Function")
        uris = [
            json.dumps(m["Integration"]["Uri"])
            for m in custom.props("AWS::ApiGateway::Method")
            if (m["HttpMethod"], path_of(custom, m["ResourceId"])) == (route.method, route.path)
        ]
        assert len(uris) == 1 and function in uris[0], route.path


def test_queries_function_runs_athena_in_the_workgroup(custom: Synth) -> None:
    queries = custom.resources[custom.logical_id("Route-queries/Function")]["Properties"]
    env = queries["Environment"]["Variables"]
    assert env[Env.ATHENA_WORKGROUP] == custom.settings.name_prefix
    assert env[Env.GLUE_DATABASE] == custom.settings.name_prefix.replace("-", "_")
    policy = custom.resources[custom.logical_id("Route-queries/Role/DefaultPolicy")]["Properties"]
    actions = _actions(policy)
    assert {"athena:StartQueryExecution", "athena:GetQueryResults", "glue:GetTable", "sqs:SendMessage"} <= actions
    assert "MLAUDIT_EVENTS_QUEUE_URL" in env
    assert not {a for a in actions if a.startswith(("s3:Delete", "s3:PutObjectRetention", "s3:PutBucket"))}


def test_proofs_function_reads_the_lake_with_pyarrow(custom: Synth) -> None:
    proofs = custom.resources[custom.logical_id("Route-proofs/Function")]["Properties"]
    assert {"Ref": custom.logical_id("Layers/Pyarrow")} in proofs["Layers"]
    policy = custom.resources[custom.logical_id("Route-proofs/Role/DefaultPolicy")]["Properties"]
    assert _actions(policy) == {
        "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
        "s3:GetObject", "s3:ListBucket", "kms:Decrypt",
    }


def test_privacy_function_reads_the_lake_and_manages_subject_keys(custom: Synth) -> None:
    privacy = custom.resources[custom.logical_id("Route-privacy/Function")]["Properties"]
    assert {"Ref": custom.logical_id("Layers/Pyarrow")} in privacy["Layers"]
    env = privacy["Environment"]["Variables"]
    assert env[Env.SUBJECT_KEYS_TABLE] == {"Ref": custom.logical_id("Storage/SubjectKeysTable")}
    assert Env.EVENTS_QUEUE_URL in env
    actions = _actions(custom.resources[custom.logical_id("Route-privacy/Role/DefaultPolicy")]["Properties"])
    assert {"dynamodb:DeleteItem", "s3:GetObject", "sqs:SendMessage", "kms:Decrypt"} <= actions
    assert not {a for a in actions if a.startswith(("s3:Put", "s3:Delete"))}


def test_only_privacy_may_delete_subject_keys(custom: Synth) -> None:
    table = custom.logical_id("Storage/SubjectKeysTable")
    deleters = {
        logical_id
        for logical_id, policy in custom.of_type("AWS::IAM::Policy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if table in json.dumps(statement["Resource"]) and "dynamodb:DeleteItem" in statement["Action"]
    }
    assert deleters == {custom.logical_id("Route-privacy/Role/DefaultPolicy")}
