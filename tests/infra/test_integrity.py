"""Integrity: an asymmetric signing key only the scheduled checkpoint function may use, an
entry key only the writer may use, a seal key only the functions that enqueue may use, the
witness (bucket and topic) and both buckets' write-once policies."""

from __future__ import annotations

import json

from mlaudit.bucket_policy import WRITE_ONCE
from mlaudit.functions import FUNCTIONS
from mlaudit.resources import Resource
from mlaudit.settings import Env

from tests.infra.synth import Synth


def test_signing_key_is_rsa_sign_verify_and_retained(synth: Synth) -> None:
    key = synth.resources[synth.logical_id("Integrity/SigningKey")]
    assert key["Properties"]["KeySpec"] == "RSA_3072"
    assert key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    assert key["DeletionPolicy"] == "Retain"


def _users(synth: Synth, logical_id: str) -> dict[str, set[str]]:
    """Role policy -> the actions it allows on a resource."""
    found: dict[str, set[str]] = {}
    for policy_id, policy in synth.of_type("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if logical_id in json.dumps(statement["Resource"]):
                actions = statement["Action"]
                found.setdefault(policy_id, set()).update([actions] if isinstance(actions, str) else actions)
    return found


def test_only_the_checkpoint_function_may_sign(synth: Synth) -> None:
    signing_key = synth.logical_id("Integrity/SigningKey")
    assert _users(synth, signing_key) == {synth.logical_id("Integrity/Checkpoint/Role/DefaultPolicy"): {"kms:Sign"}}


def test_only_the_writer_may_sign_log_entries_and_the_signer_reads_their_public_key(synth: Synth) -> None:
    entry_key = synth.logical_id("Integrity/EntryKey")
    key = synth.resources[entry_key]
    assert (key["Properties"]["KeySpec"], key["Properties"]["KeyUsage"]) == ("RSA_2048", "SIGN_VERIFY")
    assert _users(synth, entry_key) == {
        synth.logical_id("Ingestion/Writer/Role/DefaultPolicy"): {"kms:Sign"},
        synth.logical_id("Integrity/Checkpoint/Role/DefaultPolicy"): {"kms:GetPublicKey"},
    }


def test_the_witness_is_locked_as_the_lake_and_only_the_signer_writes_to_it(synth: Synth) -> None:
    witness = synth.logical_id("Integrity/WitnessBucket")
    props = synth.resources[witness]["Properties"]
    retention = props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    # object_lock_mode (GOVERNANCE by default: a trial deploy can be removed; COMPLIANCE in the custom one).
    assert retention == {"Mode": synth.settings.object_lock_mode, "Days": synth.settings.object_lock_days}
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == synth.settings.object_lock_days and rule["Status"] == "Enabled"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert _users(synth, witness) == {
        synth.logical_id("Integrity/Checkpoint/Role/DefaultPolicy"): {
            "s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:ListBucketVersions"},
    }
    topic = synth.logical_id("Integrity/WitnessTopic")
    assert _users(synth, topic) == {synth.logical_id("Integrity/Checkpoint/Role/DefaultPolicy"): {"sns:Publish"}}
    env = synth.resources[synth.logical_id("Integrity/Checkpoint/Function")]["Properties"]["Environment"]["Variables"]
    assert env[Env.WITNESS_BUCKET] == {"Ref": witness} and env[Env.WITNESS_TOPIC_ARN] == {"Ref": topic}


def _write_once(synth: Synth, bucket: str, prefixes: tuple[str, ...]) -> None:
    (policy,) = [p for p in synth.props("AWS::S3::BucketPolicy") if p["Bucket"] == {"Ref": bucket}]
    statements = {s.get("Sid"): s for s in policy["PolicyDocument"]["Statement"]}
    for deny in WRITE_ONCE:
        statement = statements[deny.sid]
        assert statement["Effect"] == "Deny" and statement["Principal"] == {"AWS": "*"}
        assert set([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]) == set(
            deny.actions)
        resources = json.dumps(statement["Resource"])
        assert all(f"/{prefix}*" in resources for prefix in prefixes), resources
    no_delete, no_overwrite = statements["WriteOnceNoDelete"], statements["WriteOnceNoOverwrite"]
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(no_delete["Action"]) and "Condition" not in no_delete
    # A create needs If-None-Match exactly "*" (absent or any other value is denied).
    assert no_overwrite["Condition"] == {"StringNotEquals": {"s3:if-none-match": "*"},
                                         "Bool": {"s3:ObjectCreationOperation": "true"}}


def test_the_audit_bucket_and_the_witness_are_write_once_for_every_principal(synth: Synth) -> None:
    _write_once(synth, synth.logical_id("Storage/AuditBucket"), ("events/", "integrity/"))
    _write_once(synth, synth.logical_id("Integrity/WitnessBucket"), ("",))


def test_only_the_functions_that_enqueue_may_seal_and_the_writer_only_checks_seals(synth: Synth) -> None:
    seal_key = synth.logical_id("Integrity/SealKey")
    key = synth.resources[seal_key]
    assert (key["Properties"]["KeySpec"], key["Properties"]["KeyUsage"]) == ("RSA_2048", "SIGN_VERIFY")
    assert key["DeletionPolicy"] == "Retain"
    sends = {spec.name for spec in FUNCTIONS
             if any(g.resource is Resource.EVENTS_QUEUE and "sqs:SendMessage" in g.actions for g in spec.grants)}
    sealers = {spec.name for spec in FUNCTIONS
               if any(g.resource is Resource.SEAL_KEY and "kms:Sign" in g.actions for g in spec.grants)}
    assert sends == sealers == {"ingest", "imports", "queries", "privacy", "config", "monitors"}
    users = _users(synth, seal_key)
    assert users[synth.logical_id("Ingestion/Writer/Role/DefaultPolicy")] == {"kms:GetPublicKey"}
    assert sum("kms:Sign" in actions for actions in users.values()) == len(sealers)
    assert "PackSealKeyArn" in synth.template.to_json()["Outputs"]


def test_checkpoint_runs_on_a_schedule_with_retries(synth: Synth) -> None:
    function_id = synth.logical_id("Integrity/Checkpoint/Function")
    function = synth.resources[function_id]["Properties"]
    # Overlapping runs cannot fork the chain (tests/infra/test_deploy_concurrency.py): no reservation.
    assert "ReservedConcurrentExecutions" not in function
    env = function["Environment"]["Variables"]
    assert env[Env.SIGNING_KEY_ID] == {"Fn::GetAtt": [synth.logical_id("Integrity/SigningKey"), "Arn"]}
    assert {"MLAUDIT_AUDIT_BUCKET", "MLAUDIT_KMS_KEY_ID"} <= set(env)
    (rule,) = [r for r in synth.props("AWS::Events::Rule")
               if "ScheduleExpression" in r and r.get("Description") == "Sign the integrity log's head"]
    assert rule["ScheduleExpression"] == f"rate({synth.settings.checkpoint_interval_minutes} minutes)"
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_verifiers_get_a_read_only_policy_with_the_public_key(synth: Synth) -> None:
    signing_key = synth.logical_id("Integrity/SigningKey")
    policy = synth.resources[synth.logical_id("Integrity/VerifierPolicy")]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions",
                       "kms:Decrypt", "kms:GetPublicKey"}
    (public_keys,) = [s for s in statements if s["Action"] == "kms:GetPublicKey"]
    assert sorted(r["Fn::GetAtt"][0] for r in public_keys["Resource"]) == sorted(
        [signing_key, synth.logical_id("Integrity/EntryKey"), synth.logical_id("Integrity/SealKey")])
    # The witness's versions: listed, and hidden or replaced ones read by version id.
    witness = synth.logical_id("Integrity/WitnessBucket")
    on_witness = {a for s in statements if witness in json.dumps(s["Resource"])
                  for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert on_witness == {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions"}
    assert "VerifierPolicyArn" in synth.template.to_json()["Outputs"]
