"""The local authorization model: IAM's evaluation logic (local/policy.py), the (action,
resource) pairs a call needs (local/iam.py), and the stack's declared resource policies
rendered on local ARNs, as the local stack evaluates them. The infrastructure test
(tests/infra/test_resource_policies.py) runs the same evaluator on the synthesized template."""

from __future__ import annotations

from dataclasses import replace

import pytest
from mlaudit import resource_policies
from mlaudit.functions import spec
from mlaudit.resources import Kind, Resource

from local.iam import AccessDenied, Enforcer, Need, ServicePrincipals, World, needs, statements_for
from local.policy import Principal, Request, Statement, conditions_hold, decide
from local.stack import LocalValues

ACCOUNT, REGION = "123456789012", "us-east-1"
ROLE = Principal.role(f"arn:aws:iam::{ACCOUNT}:role/writer", "writer")
BUCKET = "arn:aws:s3:::lake"


def _allow(actions: tuple[str, ...], resources: tuple[str, ...], **extra) -> Statement:
    return Statement("Allow", actions, resources, **extra)


# --- IAM's evaluation ----------------------------------------------------------------------


def test_an_explicit_deny_in_a_resource_policy_beats_an_identity_allow() -> None:
    request = Request.make(ROLE, "s3:DeleteObject", f"{BUCKET}/events/a")
    deny = Statement("Deny", ("s3:DeleteObject",), (f"{BUCKET}/events/*",), principal={"AWS": "*"}, sid="NoDelete")
    decision = decide(request, [_allow(("s3:*",), ("*",))], [deny])
    assert not decision.allowed and decision.statement == "NoDelete"
    assert decision.message == (f"writer is not authorized to perform: s3:DeleteObject on resource: {BUCKET}/events/a "
                                "with an explicit deny in a resource-based policy")


def test_a_service_is_allowed_by_the_resource_policy_alone() -> None:
    cloudwatch = Principal.of_service("cloudwatch.amazonaws.com")
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:alarms"
    request = Request.make(cloudwatch, "sns:Publish", topic,
                           {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:x",
                            "aws:SourceAccount": ACCOUNT})
    allow = Statement("Allow", ("sns:Publish",), (topic,), principal={"Service": "cloudwatch.amazonaws.com"},
                      condition={"ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"}})
    assert decide(request, [], [allow]).allowed
    refused = decide(request, [], [])
    assert refused.message == ("cloudwatch.amazonaws.com is not authorized to perform: sns:Publish on resource: "
                               f"{topic} because no resource-based policy allows it")
    other_account = replace(request, context=(("aws:SourceArn", "arn:aws:cloudwatch:us-east-1:999:alarm:x"),))
    assert not decide(other_account, [], [allow]).allowed


def test_a_key_policy_must_let_the_caller_or_its_account_use_the_key() -> None:
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k"
    request = Request.make(ROLE, "kms:Decrypt", key)
    root = Statement("Allow", ("kms:*",), ("*",), principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"})
    grant = _allow(("kms:Decrypt",), (key,))
    assert decide(request, [grant], [root], key_policy=True).allowed
    assert not decide(request, [], [root], key_policy=True).allowed  # the account's statement delegates to IAM
    assert not decide(request, [grant], [], key_policy=True).allowed  # no key policy statement: nobody
    # Elsewhere the account's statement grants nothing on its own (same account: IAM decides).
    bucket_root = Statement("Allow", ("s3:GetObject",), (f"{BUCKET}/*",),
                            principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"})
    assert not decide(Request.make(ROLE, "s3:GetObject", f"{BUCKET}/x"), [], [bucket_root]).allowed


@pytest.mark.parametrize(("condition", "keys", "holds"), [
    ({"Null": {"s3:if-none-match": "true"}}, {}, True),
    ({"Null": {"s3:if-none-match": "true"}}, {"s3:if-none-match": "*"}, False),
    ({"StringNotEquals": {"s3:if-none-match": "*"}}, {}, True),  # a missing key satisfies a negated operator
    ({"StringNotEquals": {"s3:if-none-match": "*"}}, {"s3:if-none-match": '"x"'}, True),
    ({"StringNotEquals": {"s3:if-none-match": "*"}}, {"s3:if-none-match": "*"}, False),
    ({"StringEquals": {"aws:SourceAccount": "1"}}, {}, False),
    ({"StringEqualsIfExists": {"aws:SourceAccount": "1"}}, {}, True),
    ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:securetransport": True}, False),
    ({"ArnLike": {"AWS:SourceArn": "arn:aws:events:*:1:rule/*"}}, {"aws:sourcearn": "arn:aws:events:r:1:rule/a"},
     True),
])
def test_conditions_as_iam_evaluates_them(condition, keys, holds) -> None:
    assert conditions_hold(condition, keys) is holds


def test_an_unmodeled_condition_operator_is_refused_not_ignored() -> None:
    with pytest.raises(NotImplementedError, match="DateGreaterThan"):
        conditions_hold({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}, {"aws:currenttime": "x"})


# --- what a call needs --------------------------------------------------------------------------


def _world() -> World:
    return World(account=ACCOUNT, region=REGION, arns={}, encrypted_with={"landing": "arn:aws:kms:k"})


def test_a_versioned_get_needs_the_version_action() -> None:
    world = _world()
    plain = needs("s3", "GetObject", {"Bucket": "landing", "Key": "imports/a"}, world)
    versioned = needs("s3", "GetObject", {"Bucket": "landing", "Key": "imports/a", "VersionId": "v1"}, world)
    assert plain[0] == Need("s3:GetObject", "arn:aws:s3:::landing/imports/a")
    assert versioned == [Need("s3:GetObjectVersion", "arn:aws:s3:::landing/imports/a"),
                         Need("kms:Decrypt", "arn:aws:kms:k")]
    head = needs("s3", "HeadObject", {"Bucket": "landing", "Key": "imports/a", "VersionId": "v1"}, world)
    assert head == [Need("s3:GetObjectVersion", "arn:aws:s3:::landing/imports/a")]
    attributes = needs("s3", "GetObjectAttributes", {"Bucket": "b", "Key": "k", "VersionId": "v"}, world)
    assert attributes[0].action == "s3:GetObjectVersionAttributes"
    assert needs("s3", "ListObjectVersions", {"Bucket": "b"}, world) == [Need("s3:ListBucketVersions",
                                                                              "arn:aws:s3:::b")]
    assert needs("s3", "DeleteObject", {"Bucket": "b", "Key": "k", "VersionId": "v"}, world)[0].action == \
        "s3:DeleteObjectVersion"
    copy = needs("s3", "CopyObject", {"Bucket": "b", "Key": "k", "CopySource": "src/a%20b?versionId=v2"}, world)
    assert Need("s3:GetObjectVersion", "arn:aws:s3:::src/a b") in copy


# --- the stack's declaration, rendered on local ARNs --------------------------------------------


def _local_world() -> World:
    base = f"{REGION}:{ACCOUNT}"
    arns = {}
    for resource in Resource:
        name = resource.local_name("mlaudit", ACCOUNT, REGION)
        arns[resource] = {
            Kind.BUCKET: f"arn:aws:s3:::{name}", Kind.QUEUE: f"arn:aws:sqs:{base}:{name}",
            Kind.TOPIC: f"arn:aws:sns:{base}:{name}", Kind.KEY: f"arn:aws:kms:{base}:key/{name}",
            Kind.RULE: f"arn:aws:events:{base}:rule/{name}", Kind.TABLE: f"arn:aws:dynamodb:{base}:table/{name}",
        }.get(resource.kind, f"arn:aws:local:{base}:{name}")
    key = arns[Resource.DATA_KEY]
    world = World(account=ACCOUNT, region=REGION, arns=arns,
                  key_arns={key: key}, queue_arns={arns[Resource.IMPORTS_DEAD_LETTER_QUEUE]:
                                                   arns[Resource.IMPORTS_DEAD_LETTER_QUEUE]},
                  encrypted_with={arns[r]: key for r in (Resource.ALARM_TOPIC, Resource.MONITORS_TOPIC,
                                                         Resource.IMPORTS_DEAD_LETTER_QUEUE)}
                  | {Resource.LANDING_BUCKET.local_name("mlaudit", ACCOUNT, REGION): key})
    values = LocalValues(world, "api0", "local", _function_arn)
    for holder, statements in resource_policies.rendered(values).items():
        arn = values.attribute(holder.resource, "arn") if holder.resource else _function_arn(holder.function)
        world.policies[arn] = [Statement.from_json(s) for s in statements]
    return world


def _function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:mlaudit-{name}"


def test_the_import_role_reads_the_versioned_file_and_without_the_grant_is_refused_naming_it() -> None:
    world = _local_world()
    landing = Resource.LANDING_BUCKET.local_name("mlaudit", ACCOUNT, REGION)
    get = ("s3", "GetObject", {"Bucket": landing, "Key": "imports/a.jsonl", "VersionId": "v1"})
    Enforcer("imports", statements_for(spec("imports"), world.arns), world).check_call(*get)
    fewer = [replace(s, actions=s.actions - {"s3:getobjectversion"}) for s in statements_for(spec("imports"),
                                                                                             world.arns)]
    with pytest.raises(AccessDenied) as refused:
        Enforcer("imports", fewer, world).check_call(*get)
    assert str(refused.value).endswith(
        f"function imports is not authorized to perform: s3:GetObjectVersion on resource: "
        f"arn:aws:s3:::{landing}/imports/a.jsonl (no grant in its declaration allows it)")


@pytest.mark.parametrize(("service", "action", "resource", "source", "sid"), [
    ("cloudwatch.amazonaws.com", "sns:Publish", Resource.ALARM_TOPIC, "arn:aws:cloudwatch:{base}:alarm:a",
     "CloudWatchAlarmsPublish"),
    ("cloudwatch.amazonaws.com", "kms:GenerateDataKey", Resource.DATA_KEY, "arn:aws:cloudwatch:{base}:alarm:a",
     "CloudWatchAlarmsPublishToEncryptedTopic"),
    ("events.amazonaws.com", "sqs:SendMessage", Resource.IMPORTS_DEAD_LETTER_QUEUE,
     "arn:aws:events:{base}:rule/mlaudit-file-landed", ""),
    ("events.amazonaws.com", "kms:GenerateDataKey", Resource.DATA_KEY,
     "arn:aws:events:{base}:rule/mlaudit-file-landed", "EventBridgeDeadLetters"),
])
def test_each_service_step_is_allowed_by_one_declared_statement_and_refused_without_it(
        service, action, resource, source, sid) -> None:
    world = _local_world()
    arn = world.arns[resource]
    context = {"aws:SourceArn": source.format(base=f"{REGION}:{ACCOUNT}")}
    assert ServicePrincipals(world).decide(service, action, arn, context).allowed
    world.policies[arn] = [s for s in world.policies[arn]
                           if not (s.effect == "Allow" and (s.sid == sid if sid else service in str(s.principal)))]
    refused = ServicePrincipals(world).decide(service, action, arn, context)
    assert not refused.allowed
    assert refused.message.startswith(f"{service} is not authorized to perform: {action} on resource: {arn}")


def test_eventbridge_may_invoke_each_rules_function_and_no_other() -> None:
    world = _local_world()
    services = ServicePrincipals(world)
    for rule, function in resource_policies.RULE_TARGETS.items():
        context = {"aws:SourceArn": world.arns[rule]}
        assert services.decide("events.amazonaws.com", "lambda:InvokeFunction", _function_arn(function),
                               context).allowed
        assert not services.decide("events.amazonaws.com", "lambda:InvokeFunction", _function_arn("writer"),
                                   context).allowed
