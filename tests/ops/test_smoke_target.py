"""How `make smoke STACK=... REGION=...` finds a deployment: the stack's outputs and the
workload client's secret, against moto."""

from __future__ import annotations

import json

import boto3
import pytest

from ops.smoke import OUTPUTS, SmokeFailure, from_stack

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


def test_the_target_comes_from_the_outputs_and_the_clients_secret(deployed) -> None:
    values, secret = deployed
    target = from_stack("mlaudit-stack", REGION, person_token="a-person")
    assert target.api_url == "https://api.example/prod"
    assert (target.client_id, target.client_secret) == (values["WorkloadClientId"], secret)
    assert target.bucket == values["AuditBucketName"]
    assert target.signing_key_id == values["CheckpointSigningKeyArn"]
    assert target.entry_key_id == values["LogEntryKeyArn"]
    assert target.person_token() == "a-person"


def test_without_a_person_token_the_query_step_says_how_to_get_one(deployed) -> None:
    target = from_stack("mlaudit-stack", REGION, person_token=None)
    with pytest.raises(SmokeFailure, match="--person-token"):
        target.person_token()


def test_a_stack_that_is_not_mlaudit_is_refused(aws) -> None:
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": {"X": {"Value": "y"}}}
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName="other", TemplateBody=json.dumps(template))
    with pytest.raises(SmokeFailure, match="has no output ApiUrl"):
        from_stack("other", REGION, person_token=None)


def test_a_missing_stack_fails_with_a_message(aws, capsys) -> None:
    from ops.smoke import main

    assert main(["--stack", "nope", "--region", REGION]) == 1
    assert "FAILED" in capsys.readouterr().err
