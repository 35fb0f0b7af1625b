"""Capture's infrastructure (stacks/capture.py): SageMaker's rule exists either way and is
enabled by capture_sagemaker only; the pipe exists only with capture_dynamodb_stream_arn,
with a role that is exactly its declaration (mlaudit.functions.CAPTURE_PIPE); the landing
rule hands bedrock/ and dms/ files to the import function; Bedrock may deliver only under
bedrock/AWSLogs/<this account>/ and only for this account."""

from __future__ import annotations

from typing import Any

from mlaudit.capture import sagemaker
from mlaudit.functions import CAPTURE_PIPE

from local.policy import Principal, Request
from tests.infra.synth import Synth
from tests.infra.template_policies import ACCOUNT, PARTITION, REGION, Evaluator, evaluate, template_policies
from tests.infra.test_declared_roles import _pairs


def _rule(synth: Synth) -> dict[str, Any]:
    (rule,) = [p for p in synth.props("AWS::Events::Rule") if p.get("EventPattern", {}).get("source") ==
               ["aws.sagemaker"]]
    return rule


def test_sagemaker_rule_is_opt_in_and_the_pipe_exists_only_with_a_stream(default: Synth, custom: Synth) -> None:
    for synth, state in ((default, "DISABLED"), (custom, "ENABLED")):
        rule = _rule(synth)
        assert rule["State"] == state
        assert rule["EventPattern"]["detail-type"] == sagemaker.PATTERN["detail-type"]
        (target,) = rule["Targets"]
        assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 2
    assert default.of_type("AWS::Pipes::Pipe") == {}
    (pipe,) = custom.props("AWS::Pipes::Pipe")
    assert pipe["Source"] == custom.settings.capture_dynamodb_stream_arn
    parameters = pipe["SourceParameters"]["DynamoDBStreamParameters"]
    assert parameters["StartingPosition"] == "TRIM_HORIZON" and "DeadLetterConfig" in parameters
    assert pipe["TargetParameters"]["LambdaFunctionParameters"]["InvocationType"] == "REQUEST_RESPONSE"
    capture = custom.stack.functions["capture"]
    assert custom.stack.resolve(pipe["Target"]) == custom.stack.resolve(capture.function.function_arn)


def test_the_pipe_role_is_exactly_its_declaration(custom: Synth) -> None:
    stack = custom.stack
    role = stack.get_logical_id(stack.node.find_child("Capture").pipe_role.node.default_child)
    assert custom.resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "pipes.amazonaws.com"}
    statements = [s for r in custom.of_type("AWS::IAM::Policy").values() if {"Ref": role} in r["Properties"]["Roles"]
                  for s in r["Properties"]["PolicyDocument"]["Statement"]]
    resources = stack.resources
    declared = {(action, str(stack.resolve(arn))) for grant in CAPTURE_PIPE.grants
                for arn in resources.grant_arns(grant) for action in grant.actions}
    assert _pairs(statements, stack.resolve) == declared


def test_the_landing_rule_takes_the_captured_sources_files(synth: Synth) -> None:
    (rule,) = [p for p in synth.props("AWS::Events::Rule") if p.get("EventPattern", {}).get("source") == ["aws.s3"]]
    assert rule["EventPattern"]["detail"]["object"]["key"] == [{"prefix": "imports/"}, {"prefix": "bedrock/"},
                                                                {"prefix": "dms/"}]


def test_bedrock_may_deliver_only_its_own_accounts_logs_under_bedrock(default: Synth) -> None:
    ev = Evaluator(default.resources)
    policies = template_policies(ev)
    bucket = ev.get_att(default.logical_id("Imports/LandingBucket"), "Arn")
    bedrock = Principal.of_service("bedrock.amazonaws.com")

    def put(key: str, account: str = ACCOUNT) -> bool:
        context = {"aws:SecureTransport": True, "aws:SourceAccount": account,
                   "aws:SourceArn": f"arn:{PARTITION}:bedrock:{REGION}:{account}:model-invocation-logging"}
        from tests.infra.template_policies import Step  # noqa: PLC0415

        return evaluate(Step("bedrock", Request.make(bedrock, "s3:PutObject", f"{bucket}/{key}", context)),
                        policies).allowed

    assert put(f"bedrock/AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/{REGION}/log.json.gz")
    assert not put("imports/log.json.gz")
    assert not put(f"bedrock/AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/x", account="210987654321")
