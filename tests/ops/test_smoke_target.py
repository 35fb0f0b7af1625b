"""How `make smoke STACK=... REGION=...` finds a deployment: the stack's outputs and the
workload client's secret, against moto."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import boto3
import pytest
from mlaudit.functions import FUNCTIONS
from mlaudit.routes import ROUTES, Route

from ops.smoke import OUTPUTS, STEPS, SmokeFailure, from_stack, not_driven

REGION = "eu-west-1"


@pytest.fixture
def deployed(aws):
    cognito = boto3.client("cognito-idp", region_name=REGION)
    pool = cognito.create_user_pool(PoolName="people")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(UserPoolId=pool, ClientName="workloads", GenerateSecret=True)
    client = client["UserPoolClient"]
    values = {name: f"value-of-{name}" for name in OUTPUTS}
    values.update(UserPoolId=pool, WorkloadClientId=client["ClientId"], ApiUrl="https://api.example/prod/")
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {name: {"Value": value} for name, value in values.items()},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="mlaudit-stack", TemplateBody=json.dumps(template))
    return values, client["ClientSecret"]


def _token(groups: list[str]) -> str:
    """An unsigned JWT with these groups (the smoke test only reads them to pick a token)."""
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'cognito:groups': groups})}.x"


def test_the_target_comes_from_the_outputs_and_the_clients_secret(deployed) -> None:
    values, secret = deployed
    auditor, officer = _token(["auditor"]), _token(["privacy_officer", "analyst"])
    target = from_stack("mlaudit-stack", REGION, [auditor, officer])
    assert target.api_url == "https://api.example/prod"
    assert (target.client_id, target.client_secret) == (values["WorkloadClientId"], secret)
    assert target.bucket == values["AuditBucketName"]
    assert target.signing_key_id == values["CheckpointSigningKeyArn"]
    assert target.entry_key_id == values["LogEntryKeyArn"]
    assert (target.landing_bucket, target.alarm_topic_arn) == (values["LandingBucketName"], values["AlarmTopicArn"])
    # Each route's step gets a token of a person its roles allow.
    assert target.person(frozenset({"auditor", "analyst"})) == officer  # analyst sorts first
    assert target.person(frozenset({"admin", "auditor"})) == auditor
    assert target.person(frozenset({"privacy_officer"})) == officer


def test_without_a_person_in_a_routes_roles_the_step_says_how_to_get_one(deployed) -> None:
    target = from_stack("mlaudit-stack", REGION, [_token(["analyst"])])
    with pytest.raises(SmokeFailure, match="privacy_officer.*--person-token"):
        target.person(frozenset({"privacy_officer"}))


def test_a_route_or_a_function_the_steps_do_not_drive_is_named() -> None:
    extra_route = Route("GET", "/v1/new", "config", "new", roles=frozenset({"admin"}))
    extra_function = replace(FUNCTIONS[0], name="newcomer")
    assert not_driven(STEPS) == []
    assert not_driven(STEPS, (*ROUTES, extra_route), (*FUNCTIONS, extra_function)) == [
        "route GET /v1/new (function config)", "function newcomer"]
    without_import = [step for step in STEPS if step.name != "import"]
    assert not_driven(without_import) == ["function imports"]


def test_a_stack_that_is_not_mlaudit_is_refused(aws) -> None:
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": {"X": {"Value": "y"}}}
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="other", TemplateBody=json.dumps(template))
    with pytest.raises(SmokeFailure, match="has no output ApiUrl"):
        from_stack("other", REGION, [])


def test_a_missing_stack_fails_with_a_message(aws, capsys) -> None:
    from ops.smoke import main

    assert main(["--stack", "nope", "--region", REGION]) == 1
    assert "FAILED" in capsys.readouterr().err
