"""The AWS regions this release supports, in one place.

A region is listed when everything the stack uses is offered there: Lambda on arm64
with the python3.14 runtime (the functions' layers are built here, so no public layer
has to be published in the region), Cognito user pools with a hosted domain, API Gateway
REST APIs, WAF, SQS, DynamoDB, S3 Object Lock, KMS asymmetric keys, Glue and Athena
engine 3. Opt-in regions are left out until someone deploys and smoke-tests one
(`make preflight`, `make smoke`); add a region here after that.

The region is checked twice: at synth when it is known (`-c region=...`, or the CLI's
CDK_DEFAULT_REGION from the credentials' profile), and, because the template is
region-agnostic, by a CloudFormation rule that stops a deploy elsewhere before anything
is created.
"""

from __future__ import annotations

from aws_cdk import CfnRule, CfnRuleAssertion, Fn, Stack
from mlaudit.settings import SettingsError

SUPPORTED_REGIONS: tuple[str, ...] = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
    "ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
)


def unsupported(region: str) -> str:
    return (
        f"region {region} is not one mlaudit supports; supported: {', '.join(SUPPORTED_REGIONS)} "
        "(stacks/regions.py says what a region needs)"
    )


def check_region(region: str | None) -> None:
    """Synth-time check; None (region not known yet) is left to the template's rule."""
    if region is not None and region not in SUPPORTED_REGIONS:
        raise SettingsError(unsupported(region))


def require_supported_region(stack: Stack) -> CfnRule:
    return CfnRule(
        stack,
        "SupportedRegion",
        assertions=[
            CfnRuleAssertion(
                assert_=Fn.condition_contains(list(SUPPORTED_REGIONS), stack.region),
                assert_description=unsupported("this") + ".",
            )
        ],
    )
