"""Resource policies: the template holds exactly the declared ones (mlaudit.resource_policies),
and every path an AWS service takes through the stack is allowed by them, evaluated as AWS
evaluates it (local/policy.py, the local stack's evaluator). Where moto cannot run the
service's side (an alarm firing, EventBridge delivering, API Gateway invoking, S3 writing
access logs), this is the check; removing any statement a service needs makes a path fail
with AWS's message, naming the principal, the action and the resource."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from mlaudit import resource_policies
from mlaudit.resources import Resource

from local.policy import Principal, Request, Statement
from tests.infra.synth import Synth
from tests.infra.template_policies import (
    Evaluator,
    Policies,
    Step,
    denials,
    service_paths,
    template_policies,
)


def _key(statement: Statement, sid: bool) -> str:
    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in sorted(value.items())}
        if isinstance(value, list | tuple):
            return sorted(json.dumps(norm(v), sort_keys=True) for v in value)
        return value

    return json.dumps({
        "Effect": statement.effect, "Principal": norm(statement.principal),
        "Action": sorted(a.lower() for a in statement.actions), "Resource": sorted(statement.resources),
        "Condition": {op: {k.lower(): norm(v if isinstance(v, list) else [v]) for k, v in block.items()}
                      for op, block in statement.condition.items()},
        "Sid": statement.sid if sid else "",
    }, sort_keys=True)


def declared_policies(synth: Synth, ev: Evaluator) -> dict[str, list[Statement]]:
    """The declaration rendered as this stack renders it (CDK tokens), then resolved and evaluated."""
    stack, values = synth.stack, synth.stack.policy_values
    found: dict[str, list[Statement]] = {}
    for holder, statements in resource_policies.rendered(values, synth.stack.routes).items():
        token = values.attribute(holder.resource, "arn") if holder.resource else values.function_arn(holder.function)
        arn = str(ev(stack.resolve(token)))
        if holder.function:
            arn = ev.function_arn(arn)
        found[arn] = [Statement.from_json(ev(stack.resolve(body))) for body in statements]
    return found


@pytest.fixture(scope="module")
def checked(synth: Synth) -> tuple[Evaluator, Policies, list[Step]]:
    ev = Evaluator(synth.resources)
    policies = template_policies(ev)
    return ev, policies, service_paths(ev) + role_key_uses(policies)


def role_key_uses(policies: Policies) -> list[Step]:
    """Each function's declared KMS actions on each key: the key policy must let them through."""
    steps = []
    for role, statements in policies.identity.items():
        for statement in statements:
            for resource in statement.resources:
                if resource in policies.keys and statement.effect == "Allow":
                    steps.extend(Step(f"role {role.rsplit('/', 1)[1]} uses its key grant",
                                      Request.make(Principal.role(role, role.rsplit("/", 1)[1]), action, resource,
                                                   {"aws:SecureTransport": True}))
                                 for action in statement.actions)
    return steps


def test_every_resource_policy_is_its_declaration(synth: Synth, checked) -> None:
    ev, policies, _ = checked
    declared = declared_policies(synth, ev)
    assert set(policies.resource) == set(declared), "resources with a policy differ from the declaration"
    for arn, statements in declared.items():
        template = policies.resource[arn]
        unmatched = Counter(_key(s, sid=False) for s in template)
        for statement in statements:
            key = _key(statement, sid=False)
            assert unmatched[key] > 0, f"{arn}: declared but not in the template:\n{key}"
            unmatched[key] -= 1
            if statement.sid:
                assert any(s.sid == statement.sid and _key(s, sid=False) == key for s in template), (arn, statement.sid)
        extra = [k for k, n in unmatched.items() if n > 0]
        assert extra == [], f"{arn}: in the template but not declared:\n" + "\n".join(extra)


def test_every_path_an_aws_service_takes_is_allowed(checked) -> None:
    _, policies, steps = checked
    kinds = {step.request.principal.service or "role" for step in steps}
    assert {"cloudwatch.amazonaws.com", "events.amazonaws.com", "apigateway.amazonaws.com",
            "logging.s3.amazonaws.com", "role"} <= kinds
    assert any(s.request.principal.service.startswith("logs.") for s in steps)
    assert denials(steps, policies) == []


def test_removing_any_statement_a_service_needs_fails_naming_principal_action_and_resource(checked) -> None:
    """Each Allow in every resource policy, removed in turn: some path is refused with AWS's
    message (principal, action, resource); and every Allow is needed by some path."""
    _, policies, steps = checked
    needed: dict[str, list[str]] = {}
    unneeded = []
    for arn, statements in policies.resource.items():
        for statement in statements:
            if statement.effect != "Allow":
                continue
            refused = denials(steps, policies.without(id(statement)))
            label = f"{policies.origin[id(statement)]} {statement.sid or statement.actions}"
            if not refused:
                unneeded.append(label)
                continue
            needed[label] = refused
            for message in refused:
                assert " is not authorized to perform: " in message and " on resource: " in message, message
    assert unneeded == [], "allowed in a resource policy but needed by no path (remove it):\n" + "\n".join(unneeded)
    joined = "\n".join(m for found in needed.values() for m in found)
    # The four the issue names, each failing with its principal, action and resource.
    assert "cloudwatch.amazonaws.com is not authorized to perform: sns:Publish on resource: arn:aws:sns:" in joined
    assert "events.amazonaws.com is not authorized to perform: lambda:InvokeFunction on resource: " in joined
    assert "cloudwatch.amazonaws.com is not authorized to perform: kms:GenerateDataKey on resource: " \
        "arn:aws:kms:" in joined
    assert "events.amazonaws.com is not authorized to perform: kms:GenerateDataKey on resource: arn:aws:kms:" in joined
    assert "events.amazonaws.com is not authorized to perform: sqs:SendMessage on resource: arn:aws:sqs:" in joined


def test_alarm_topics_let_cloudwatch_publish_and_every_alarm_notifies_one(synth: Synth, checked) -> None:
    ev, policies, steps = checked
    alarms = {lid for lid, _ in ev.of_type("AWS::CloudWatch::Alarm")}
    notified = {s.path.split(" ")[1] for s in steps if s.request.action == "sns:Publish"}
    assert alarms and alarms == notified
    for topic in ("Monitoring/AlarmTopic", "Monitors/AlarmTopic"):
        arn = ev.ref(synth.logical_id(topic))
        assert any(s.sid == "CloudWatchAlarmsPublish" for s in policies.resource[arn]), topic


def test_the_landing_bucket_tells_eventbridge_and_the_rule_listens(checked) -> None:
    ev, _, _ = checked
    senders = {str(ev.ref(lid)) for lid, props in ev.of_type("AWS::S3::Bucket")
               if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {})
               .get("EventBridgeEnabled")}
    listened = {name for _, props in ev.of_type("AWS::Events::Rule")
                if props.get("EventPattern", {}).get("source") == ["aws.s3"]
                for name in ev(props["EventPattern"]["detail"]["bucket"]["name"])}
    assert senders and senders == listened


def test_every_bucket_and_queue_policy_is_retained_with_its_resource(synth: Synth) -> None:
    for kind, target in (("AWS::S3::BucketPolicy", "Bucket"), ("AWS::SQS::QueuePolicy", "Queues")):
        for logical_id, resource in synth.of_type(kind).items():
            assert resource.get("DeletionPolicy") == "Retain", logical_id
            refs = resource["Properties"][target]
            for ref in refs if isinstance(refs, list) else [refs]:
                assert synth.resources[ref["Ref"]].get("DeletionPolicy") == "Retain", ref


def test_the_declaration_names_every_resource_with_a_policy_once() -> None:
    holders = resource_policies.declared()
    assert {h.resource for h in holders if h.resource} >= {Resource.ALARM_TOPIC, Resource.MONITORS_TOPIC,
                                                         Resource.DATA_KEY, Resource.IMPORTS_DEAD_LETTER_QUEUE}
    for holder, statements in holders.items():
        assert all(s.why for s in statements), holder
