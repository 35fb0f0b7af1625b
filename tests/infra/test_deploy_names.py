"""Redeployable and side by side: every account- or region-wide name and metric dimension
carries the deployment's prefix, so two stacks with different prefixes share none, and
retained resources with a fixed name cannot stop a redeploy."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infra.synth import CUSTOM_CONTEXT, Synth, synthesize

SECOND_PREFIX = "second-one"

# Where a resource type carries a name or dimension that must be unique in an account and
# region (or globally). A type absent here that has a top-level *Name property fails the
# completeness test below, so a new named resource cannot slip past.
PHYSICAL_NAMES: dict[str, tuple[str, ...]] = {
    "AWS::KMS::Alias": ("AliasName",),
    "AWS::Cognito::UserPoolDomain": ("Domain",),
    "AWS::Cognito::UserPool": ("UserPoolName",),
    "AWS::Glue::Database": ("DatabaseInput.Name",),
    "AWS::Athena::WorkGroup": ("Name",),
    "AWS::QuickSight::DataSource": ("DataSourceId", "Name"),
    "AWS::QuickSight::DataSet": ("DataSetId", "Name"),
    "AWS::QuickSight::Dashboard": ("DashboardId", "Name"),
    "AWS::ApiGateway::RestApi": ("Name",),
    "AWS::Logs::LogGroup": ("LogGroupName",),
    "AWS::WAFv2::WebACL": ("Name", "VisibilityConfig.MetricName"),
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::DynamoDB::Table": ("TableName",),
    "AWS::SQS::Queue": ("QueueName",),
    "AWS::SNS::Topic": ("TopicName",),
    "AWS::Lambda::Function": (
        "FunctionName", "Environment.Variables.POWERTOOLS_SERVICE_NAME",
        "Environment.Variables.POWERTOOLS_METRICS_NAMESPACE",
    ),
    "AWS::Lambda::LayerVersion": ("LayerName",),
    "AWS::IAM::Role": ("RoleName",),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName",),
    "AWS::CloudWatch::Dashboard": ("DashboardName",),
    "AWS::CloudWatch::Alarm": ("AlarmName",),
    "AWS::Events::Rule": ("Name",),
    "AWS::XRay::SamplingRule": ("SamplingRule.RuleName", "SamplingRule.ServiceName"),
}
# Names that live inside another resource (a pool's groups, an API's stage, a function's
# alias, a table's columns) or that CloudFormation derives from the logical id.
SCOPED: set[tuple[str, str]] = {
    ("AWS::ApiGateway::Stage", "StageName"),
    ("AWS::ApiGateway::Authorizer", "Name"),
    ("AWS::Lambda::Alias", "Name"),
    ("AWS::Cognito::UserPoolGroup", "GroupName"),
    ("AWS::Cognito::UserPoolResourceServer", "Name"),
    ("AWS::IAM::Policy", "PolicyName"),
    ("AWS::Glue::Table", "DatabaseName"),
    ("AWS::CloudWatch::Alarm", "MetricName"),
    ("AWS::Cognito::UserPoolClient", "ClientName"),
    ("AWS::ApplicationAutoScaling::ScalingPolicy", "PolicyName"),  # per scalable target
    ("AWS::SNS::Topic", "DisplayName"),  # a label on messages, not a name
}


def _render(value: Any) -> str:
    """A name as text; references and attributes stay as placeholders."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(_render(p) for p in parts)
    return "{" + json.dumps(value, sort_keys=True) + "}"


def _get(props: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        if not isinstance(props, dict) or part not in props:
            return None
        props = props[part]
    return props


def physical_names(synth: Synth) -> dict[str, str]:
    """logical id/property -> the name it sets."""
    names = {}
    for logical_id, resource in synth.resources.items():
        for path in PHYSICAL_NAMES.get(resource["Type"], ()):
            value = _get(resource.get("Properties", {}), path)
            if value is not None:
                names[f"{logical_id}/{path}"] = _render(value)
    return names


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("second"), {**CUSTOM_CONTEXT, "name_prefix": SECOND_PREFIX})


def test_every_name_property_is_classified(custom: Synth) -> None:
    for resource in custom.resources.values():
        for key, value in resource.get("Properties", {}).items():
            sets_a_name = isinstance(value, str) or (isinstance(value, dict) and "Fn::Join" in value)
            if key.endswith("Name") and sets_a_name:
                known = key in PHYSICAL_NAMES.get(resource["Type"], ()) or (resource["Type"], key) in SCOPED
                assert known, f"{resource['Type']}.{key} = {value}: classify it in PHYSICAL_NAMES or SCOPED"


def test_every_physical_name_carries_the_prefix(custom: Synth, second: Synth) -> None:
    for synth in (custom, second):
        prefix = synth.settings.name_prefix
        names = physical_names(synth)
        # The ones this stack sets today (the test must see them to mean anything).
        assert len(names) >= 15, names
        for where, name in names.items():
            assert prefix in name or prefix.replace("-", "_") in name, f"{where}: {name} lacks {prefix}"


def test_two_prefixes_share_no_physical_name(custom: Synth, second: Synth) -> None:
    first, other = physical_names(custom), physical_names(second)
    assert set(first) == set(other)  # the same resources, named apart
    assert not set(first.values()) & set(other.values())


def test_no_retained_resource_has_a_fixed_name(custom: Synth) -> None:
    """A failed first deploy leaves retained resources behind; a fixed name among them
    would stop the next deploy with "already exists". The stack's id is new each time."""
    stack_uuid = re.escape(_render({"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}))
    for logical_id, resource in custom.resources.items():
        if resource.get("DeletionPolicy") != "Retain":
            continue
        for path in PHYSICAL_NAMES.get(resource["Type"], ()):
            value = _get(resource.get("Properties", {}), path)
            if value is not None:
                assert re.search(stack_uuid, _render(value)), f"{logical_id}/{path} = {_render(value)}"


def test_the_api_metric_dimension_is_the_prefixed_name(custom: Synth) -> None:
    (api,) = custom.props("AWS::ApiGateway::RestApi")
    dimensions = [
        d["Value"] for alarm in custom.props("AWS::CloudWatch::Alarm") for d in alarm.get("Dimensions", [])
        if d["Name"] == "ApiName"
    ]
    assert dimensions and set(dimensions) == {api["Name"]} == {f"{custom.settings.name_prefix}-api"}


def test_every_retained_resource_type_is_documented(custom: Synth) -> None:
    from stacks.docs import DEPLOY

    page = DEPLOY.read_text()
    section = page.split("## Names, redeploys and what `cdk destroy` leaves behind", 1)[1].split("\n## ", 1)[0]
    retained = {r["Type"] for r in custom.resources.values() if r.get("DeletionPolicy") == "Retain"}
    assert len(retained) >= 6
    for cfn_type in retained:
        assert f"`{cfn_type}`" in section, f"docs/deploy.md does not say how to remove a retained {cfn_type}"
