"""Integrity: an asymmetric signing key only the scheduled checkpoint function may use."""

from __future__ import annotations

import json

from mlaudit.settings import Env

from tests.infra.synth import Synth


def test_signing_key_is_rsa_sign_verify_and_retained(synth: Synth) -> None:
    key = synth.resources[synth.logical_id("Integrity/SigningKey")]
    assert key["Properties"]["KeySpec"] == "RSA_3072"
    assert key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    assert key["DeletionPolicy"] == "Retain"


def test_only_the_checkpoint_function_may_sign(synth: Synth) -> None:
    signing_key = synth.logical_id("Integrity/SigningKey")
    signers = {
        logical_id
        for logical_id, policy in synth.of_type("AWS::IAM::Policy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if signing_key in json.dumps(statement["Resource"])
    }
    assert signers == {synth.logical_id("Integrity/Checkpoint/Role/DefaultPolicy")}
    statements = synth.resources[synth.logical_id("Integrity/Checkpoint/Role/DefaultPolicy")]["Properties"]
    (sign,) = [s for s in statements["PolicyDocument"]["Statement"] if signing_key in json.dumps(s["Resource"])]
    assert sign["Action"] == "kms:Sign"


def test_checkpoint_runs_on_a_schedule_with_retries(synth: Synth) -> None:
    function_id = synth.logical_id("Integrity/Checkpoint/Function")
    function = synth.resources[function_id]["Properties"]
    # Overlapping runs cannot fork the chain (tests/infra/test_deploy_concurrency.py): no reservation.
    assert "ReservedConcurrentExecutions" not in function
    env = function["Environment"]["Variables"]
    assert env[Env.SIGNING_KEY_ID] == {"Fn::GetAtt": [synth.logical_id("Integrity/SigningKey"), "Arn"]}
    assert {"MLAUDIT_AUDIT_BUCKET", "MLAUDIT_KMS_KEY_ID"} <= set(env)
    (rule,) = synth.props("AWS::Events::Rule")
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_verifiers_get_a_read_only_policy_with_the_public_key(synth: Synth) -> None:
    signing_key = synth.logical_id("Integrity/SigningKey")
    policy = synth.resources[synth.logical_id("Integrity/VerifierPolicy")]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"s3:GetObject", "s3:ListBucket", "kms:Decrypt", "kms:GetPublicKey"}
    (public_key,) = [s for s in statements if s["Action"] == "kms:GetPublicKey"]
    assert public_key["Resource"] == {"Fn::GetAtt": [signing_key, "Arn"]}
    assert "VerifierPolicyArn" in synth.template.to_json()["Outputs"]
