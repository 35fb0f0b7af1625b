"""Least privilege: no wildcard action anywhere, and a wildcard resource only where
stacks/compliance.py acknowledges it with a reason."""

from __future__ import annotations

import json
import re
from typing import Any

from mlaudit.functions import SIGNER_INTEGRITY_AREAS, WRITER_INTEGRITY_AREAS

from stacks.compliance import ACKNOWLEDGMENTS, resolve_rule
from tests.infra.synth import Synth

XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _render(value: Any) -> str:
    """A resource as cdk-nag prints it: GetAtt -> <Id.Attr>, Ref -> <Id>, Join -> concatenation."""
    if isinstance(value, str):
        return value
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_render(p) for p in parts)
    return json.dumps(value)


def _statements(synth: Synth) -> list[tuple[str, dict]]:
    found = []
    for logical_id, resource in synth.resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [props["PolicyDocument"]]
        elif resource["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        else:
            continue
        found += [(logical_id, s) for doc in documents for s in doc["Statement"]]
    return found


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def test_no_policy_statement_has_a_wildcard_action(synth: Synth) -> None:
    for logical_id, statement in _statements(synth):
        for action in _as_list(statement["Action"]):
            assert "*" not in action, (logical_id, action)


def test_every_wildcard_resource_is_acknowledged_with_a_reason(synth: Synth) -> None:
    acknowledged = {
        resolve_rule(synth.stack, ack.rule): ack.reason
        for ack in ACKNOWLEDGMENTS
        if ack.rule.startswith("AwsSolutions-IAM5")
    }
    for logical_id, statement in _statements(synth):
        for resource in map(_render, _as_list(statement["Resource"])):
            if "*" not in resource:
                continue
            rule = f"AwsSolutions-IAM5[Resource::{resource}]"
            assert rule in acknowledged, (logical_id, resource)
            if resource == "*":  # the acknowledged reason: X-Ray has no resource-level permissions
                assert set(_as_list(statement["Action"])) <= XRAY, (logical_id, statement["Action"])


def test_audit_objects_are_only_written_under_their_prefixes(synth: Synth) -> None:
    """Reads under events/ and integrity/; writes under events/ and, in integrity/, the areas the
    writer records (never checkpoints or tiles) and the areas the signer signs (only those)."""
    bucket = synth.logical_id("Storage/AuditBucket")
    areas = "|".join((*WRITER_INTEGRITY_AREAS, *SIGNER_INTEGRITY_AREAS))
    for logical_id, statement in _statements(synth):
        for resource in map(_render, _as_list(statement["Resource"])):
            if resource.startswith(f"<{bucket}.Arn>/"):
                assert re.fullmatch(rf"<{bucket}\.Arn>/(events|integrity|index|integrity/({areas}))/\*",
                                    resource), resource
                assert set(_as_list(statement["Action"])) <= {"s3:PutObject", "s3:GetObject"}
    writes = {
        (logical_id, _render(resource).split(".Arn>/", 1)[1])
        for logical_id, statement in _statements(synth) if "s3:PutObject" in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"]) if _render(resource).startswith(f"<{bucket}.Arn>/")
    }
    writer = synth.logical_id("Ingestion/Writer/Role/DefaultPolicy")
    signer = synth.logical_id("Integrity/Checkpoint/Role/DefaultPolicy")
    assert {p for who, p in writes if who == writer} == {
        "events/*", "index/*", *(f"integrity/{a}/*" for a in WRITER_INTEGRITY_AREAS)}
    assert {p for who, p in writes if who == signer} == {f"integrity/{a}/*" for a in SIGNER_INTEGRITY_AREAS}


def test_only_the_writer_and_the_checkpoint_signer_write_to_the_lake(custom: Synth) -> None:
    bucket = custom.logical_id("Storage/AuditBucket")
    writers = {
        logical_id
        for logical_id, statement in _statements(custom)
        if "s3:PutObject" in _as_list(statement["Action"])
        and any(_render(r).startswith(f"<{bucket}.Arn>") for r in _as_list(statement["Resource"]))
    }
    assert writers == {
        custom.logical_id("Ingestion/Writer/Role/DefaultPolicy"),
        custom.logical_id("Integrity/Checkpoint/Role/DefaultPolicy"),
    }


def test_the_authorizer_may_only_log_and_trace(synth: Synth) -> None:
    policy = synth.resources[synth.logical_id("Authorizer/Role/DefaultPolicy")]["Properties"]["PolicyDocument"]
    actions = {a for s in policy["Statement"] for a in _as_list(s["Action"])}
    assert actions == {"logs:CreateLogStream", "logs:PutLogEvents"} | XRAY
