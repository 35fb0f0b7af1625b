"""The stack's resource policies from their one declaration (`mlaudit.resource_policies`):
the statements mlaudit writes are added to their buckets, queues, topics and keys here;
CDK constructs write the others (TLS-only denies, access-log delivery, a key's account
statement, Lambda permissions, an EventBridge dead-letter queue's statement), and
tests/infra/test_resource_policies.py holds the template to the whole declaration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from mlaudit import resource_policies
from mlaudit.resources import Attr, Resource

from stacks.functions import ResourceMap


class CdkValues:
    """`resource_policies.Renderer` for this stack: CDK tokens."""

    def __init__(self, stack: Stack, resources: ResourceMap, function_arns: Mapping[str, str]) -> None:
        self.stack = stack
        self.resources = resources
        self.function_arns = dict(function_arns)

    def pseudo(self, name: str) -> str:
        return {"partition": self.stack.partition, "region": self.stack.region, "account": self.stack.account}[name]

    def attribute(self, resource: Resource, attribute: str) -> str:
        return self.resources.attribute(Attr(resource, attribute))

    def function_arn(self, name: str) -> str:
        return self.function_arns[name]


def apply(values: CdkValues, holders: Mapping[Resource, Any]) -> None:
    """Add every statement mlaudit writes to its resource (`holders`: the construct of each
    resource that has a policy). A bucket's or queue's policy is retained with it: a
    retained bucket must not lose its write-once or TLS-only statements when the stack goes."""
    for holder, statements in resource_policies.rendered(values, keep=lambda s: s.written_by == "mlaudit").items():
        if holder.resource is None:
            continue  # Lambda permissions: written by the API methods and EventBridge targets
        construct = holders[holder.resource]
        for statement in statements:
            construct.add_to_resource_policy(iam.PolicyStatement.from_json(statement))
    for construct in holders.values():
        policy = construct.node.try_find_child("Policy")  # a bucket's or queue's policy construct
        if isinstance(construct, s3.Bucket | sqs.Queue) and policy is not None:
            policy.apply_removal_policy(RemovalPolicy.RETAIN)
