"""The REST API: one method per route, all behind the Lambda authorizer, with
throttling, validation, tracing, JSON access logs and (by context) WAF."""

from __future__ import annotations

import json

import pytest
from mlaudit.routes import RESOURCE_SERVER

from stacks.api import ACCESS_LOG_FORMAT
from tests.infra.synth import Synth, path_of


def test_methods_are_exactly_the_routes(synth: Synth) -> None:
    methods = {(m["HttpMethod"], path_of(synth, m["ResourceId"])) for m in synth.props("AWS::ApiGateway::Method")}
    assert methods == {(r.method, r.path) for r in synth.stack.routes}


def test_every_method_uses_the_lambda_authorizer_and_the_validator(synth: Synth) -> None:
    (authorizer_id,) = synth.of_type("AWS::ApiGateway::Authorizer")
    (validator_id,) = synth.of_type("AWS::ApiGateway::RequestValidator")
    public = sum(1 for route in synth.stack.routes if route.public)  # the OpenAPI document
    methods = synth.props("AWS::ApiGateway::Method")
    assert public == 1 and sum(1 for m in methods if m["AuthorizationType"] == "NONE") == public
    for method in methods:
        if method["AuthorizationType"] == "NONE":
            assert "AuthorizerId" not in method
        else:
            assert method["AuthorizationType"] == "CUSTOM"
            assert method["AuthorizerId"] == {"Ref": authorizer_id}
        assert method["RequestValidatorId"] == {"Ref": validator_id}
        assert method["Integration"]["Type"] == "AWS_PROXY"


def test_authorizer_reads_the_authorization_header_and_caches(synth: Synth) -> None:
    (authorizer,) = synth.props("AWS::ApiGateway::Authorizer")
    assert authorizer["Type"] == "REQUEST"
    assert authorizer["IdentitySource"] == "method.request.header.Authorization"
    assert authorizer["AuthorizerResultTtlInSeconds"] == 300


def test_authorizer_knows_the_pool_and_both_clients(synth: Synth) -> None:
    env = synth.resources[synth.logical_id("Authorizer/Function")]["Properties"]["Environment"]["Variables"]
    pool = synth.logical_id("Identity/UserPool")
    jwks = json.dumps(env["MLAUDIT_JWKS_URL"])
    assert pool in jwks and "/.well-known/jwks.json" in jwks
    assert pool in json.dumps(env["MLAUDIT_TOKEN_ISSUER"])
    clients = json.dumps(env["MLAUDIT_ALLOWED_CLIENT_IDS"])
    for client in ("WorkloadClient", "PeopleClient"):
        assert synth.logical_id(f"Identity/UserPool/{client}") in clients


def test_every_route_scope_is_offered_by_the_resource_server(synth: Synth) -> None:
    (server,) = synth.props("AWS::Cognito::UserPoolResourceServer")
    offered = {s["ScopeName"] for s in server["Scopes"]}
    assert server["Identifier"] == RESOURCE_SERVER
    for route in synth.stack.routes:
        assert route.scopes or route.roles or route.public, f"{route.method} {route.path} admits nobody"
        assert route.scopes <= offered, route.path


def test_stage_throttling_tracing_and_logging(synth: Synth) -> None:
    (stage,) = synth.props("AWS::ApiGateway::Stage")
    assert stage["TracingEnabled"] is True
    (settings,) = stage["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == synth.settings.api_throttle_rate
    assert settings["ThrottlingBurstLimit"] == synth.settings.api_throttle_burst
    assert settings["LoggingLevel"] == "ERROR" and settings["DataTraceEnabled"] is False
    assert json.loads(stage["AccessLogSetting"]["Format"]) == ACCESS_LOG_FORMAT


def test_event_bodies_must_be_json_objects(synth: Synth) -> None:
    (validator,) = synth.props("AWS::ApiGateway::RequestValidator")
    assert validator["ValidateRequestBody"] is True
    (model,) = synth.of_type("AWS::ApiGateway::Model")
    events = synth.resources[synth.logical_id("Api/RestApi/Default/v1/events/POST")]["Properties"]
    assert events["RequestModels"] == {"application/json": {"Ref": model}}
    others = [m for m in synth.props("AWS::ApiGateway::Method") if m is not events]
    assert all("RequestModels" not in m for m in others)  # a query's parameters are optional


def test_waf_is_off_by_default(default: Synth) -> None:
    assert not default.of_type("AWS::WAFv2::WebACL")


def test_waf_by_context_rate_limits_and_logs(custom: Synth) -> None:
    (acl,) = custom.props("AWS::WAFv2::WebACL")
    assert acl["Scope"] == "REGIONAL"
    rules = {r["Name"]: r for r in acl["Rules"]}
    assert rules["rate-limit-per-ip"]["Statement"]["RateBasedStatement"]["Limit"] == 3000
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
            "AWSManagedRulesAmazonIpReputationList"} <= set(rules)
    (association,) = custom.props("AWS::WAFv2::WebACLAssociation")
    assert custom.logical_id("Api/RestApi/DeploymentStage.prod") in json.dumps(association["ResourceArn"])
    (logging,) = custom.props("AWS::WAFv2::LoggingConfiguration")
    assert "aws-waf-logs-" in json.dumps(logging["LogDestinationConfigs"])


@pytest.mark.parametrize("response_type", ["DEFAULT_4XX", "DEFAULT_5XX"])
def test_gateway_errors_use_the_api_error_shape(default: Synth, response_type: str) -> None:
    (response,) = [r for r in default.props("AWS::ApiGateway::GatewayResponse") if r["ResponseType"] == response_type]
    assert '"error":' in response["ResponseTemplates"]["application/json"]


def test_api_accepts_tls_1_3_only(synth: Synth) -> None:
    (api,) = synth.props("AWS::ApiGateway::RestApi")
    assert api["SecurityPolicy"] == "SecurityPolicy_TLS13_1_3_2025_09"
    assert api["EndpointAccessMode"] == "STRICT"


def test_json_body_model_admits_objects_only(default: Synth) -> None:
    (model,) = default.props("AWS::ApiGateway::Model")
    assert model["ContentType"] == "application/json"
    assert model["Schema"]["type"] == "object"


def test_request_bodies_are_configured_explicitly_as_the_emulator_handles_them(synth: Synth) -> None:
    """No binary media types and CONVERT_TO_TEXT on every integration (mlaudit.api_gateway, which
    local/api.py follows); no response compression; Lambda permissions for the stage only."""
    from mlaudit.api_gateway import BINARY_MEDIA_TYPES, CONTENT_HANDLING

    (api,) = synth.props("AWS::ApiGateway::RestApi")
    assert api.get("BinaryMediaTypes", []) == list(BINARY_MEDIA_TYPES) == []
    assert "MinimumCompressionSize" not in api
    for method in synth.props("AWS::ApiGateway::Method"):
        assert method["Integration"]["ContentHandling"] == CONTENT_HANDLING == "CONVERT_TO_TEXT"
    for permission in synth.props("AWS::Lambda::Permission"):
        assert "test-invoke-stage" not in json.dumps(permission["SourceArn"])
