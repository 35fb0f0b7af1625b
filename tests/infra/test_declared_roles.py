"""Each function's role is exactly its declaration (mlaudit.functions): the grants it
declares, its own log group, and X-Ray; no statement added anywhere else. The local
stack enforces the same declarations (local/iam.py), so this is what makes a local
pass mean an AWS pass."""

from __future__ import annotations

from typing import Any

from mlaudit.functions import FUNCTIONS

from tests.infra.synth import Synth

XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _pairs(statements: list[dict[str, Any]], resolve: Any) -> set[tuple[str, str]]:
    return {
        (action, str(resolve(resource)))
        for statement in statements
        if statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    }


def test_every_role_is_exactly_its_declaration(synth: Synth) -> None:
    stack = synth.stack
    functions = stack.functions
    assert set(functions) == {spec.name for spec in FUNCTIONS}
    for spec in FUNCTIONS:
        built = functions[spec.name]
        role_id = stack.get_logical_id(built.role.node.default_child)
        policies = [
            resource["Properties"]["PolicyDocument"]["Statement"]
            for resource in synth.of_type("AWS::IAM::Policy").values()
            if {"Ref": role_id} in resource["Properties"]["Roles"]
        ]
        inline = synth.resources[role_id]["Properties"].get("Policies", [])
        managed = synth.resources[role_id]["Properties"].get("ManagedPolicyArns", [])
        assert inline == [] and managed == [], spec.name
        synthesized = _pairs([s for statements in policies for s in statements], stack.resolve)

        declared = {
            (action, str(stack.resolve(arn)))
            for grant in spec.grants
            for action in grant.actions
            for arn in stack.resources.grant_arns(grant)
        }
        log_group = str(stack.resolve(built.log_group.log_group_arn))
        platform = {("logs:CreateLogStream", log_group), ("logs:PutLogEvents", log_group)}
        platform |= {(action, "*") for action in XRAY}
        assert synthesized == declared | platform, spec.name

