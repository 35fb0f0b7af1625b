"""One way to build an mlaudit Lambda function: same runtime, architecture, asset,
layers, tracing and encrypted log group for every handler, so they cannot drift."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    AssetHashType,
    BundlingOptions,
    CfnMapping,
    DockerImage,
    Duration,
    Fn,
    ILocalBundling,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from mlaudit.functions import FunctionSpec, Grant
from mlaudit.resources import Attr, Resource, service_name
from mlaudit.settings import FUNCTION_RUNTIME_ENVIRONMENT, Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
LAMBDAS_DIR = REPO_ROOT / "lambdas"
# Runtime packages neither the Lambda runtime (boto3) nor the public layers (Powertools,
# pyarrow) provide; pinned in requirements.txt and installed into one layer.
LAYER_PACKAGES = ("pydantic", "pydantic_core", "PyJWT", "cryptography", "msgspec")

# The newest Python runtime this aws-cdk-lib knows. The layers below must match it.
RUNTIME = lambda_.Runtime.PYTHON_3_14
PYTHON_TAG = "python314"

# Powertools for AWS Lambda (Python) v3 public layer: one version number in every
# commercial region. 38 is the newest number seen published for python314-arm64 while
# this was written (3.31.1 was 36); before a release, check that it carries the
# aws-lambda-powertools of requirements.txt:
#   aws lambda get-layer-version-by-arn --arn <arn> --query Description
POWERTOOLS_LAYER_VERSION = 38

# AWS SDK for pandas layer (carries pyarrow): its version number differs per region
# (https://aws-sdk-pandas.readthedocs.io/en/stable/layers.html). Seen published:
# af-south-1 (6), ap-southeast-2 and eu-west-2 (11); the other rows assume the same
# number as their peers: confirm against that page before a first deployment there.
# Regions absent here fail at the mapping lookup instead of running with a wrong layer.
PANDAS_LAYER_VERSIONS: dict[str, int] = {
    "af-south-1": 6,
    "ap-northeast-1": 11,
    "ap-south-1": 11,
    "ap-southeast-1": 11,
    "ap-southeast-2": 11,
    "ca-central-1": 11,
    "eu-central-1": 11,
    "eu-north-1": 11,
    "eu-west-1": 11,
    "eu-west-2": 11,
    "eu-west-3": 11,
    "us-east-1": 11,
    "us-east-2": 11,
    "us-west-1": 11,
    "us-west-2": 11,
}

# CloudWatch Logs retention periods (days) as the enum jsii exposes (by name, not number).
_RETENTION_NAMES = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH",
    60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS", 150: "FIVE_MONTHS", 180: "SIX_MONTHS",
    365: "ONE_YEAR", 400: "THIRTEEN_MONTHS", 545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS",
    1096: "THREE_YEARS", 1827: "FIVE_YEARS", 2192: "SIX_YEARS", 2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS", 3288: "NINE_YEARS", 3653: "TEN_YEARS",
}


def log_retention(days: int) -> logs.RetentionDays:
    return logs.RetentionDays[_RETENTION_NAMES[days]]


ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/.pytest_cache"]


def _asset() -> lambda_.Code:
    return lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=ASSET_EXCLUDES)


def layer_requirements() -> list[str]:
    """The pins of LAYER_PACKAGES, read from requirements.txt so there is one place to bump them."""
    pins = {}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        name = line.split("#")[0].split("==")[0].strip()
        if name in LAYER_PACKAGES:
            pins[name] = line.split("#")[0].strip()
    missing = set(LAYER_PACKAGES) - set(pins)
    if missing:
        raise ValueError(f"requirements.txt pins none of {sorted(missing)}")
    return [pins[name] for name in LAYER_PACKAGES]


@jsii.implements(ILocalBundling)
class PipInstall:
    """Bundle wheels for Lambda's arm64 Python with pip on this machine: no Docker.

    Needs the package index at synth time (once per requirements change and output dir).
    """

    def __init__(self, requirements: list[str]) -> None:
        self.requirements = requirements

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: Any) -> bool:
        python_version = RUNTIME.name.removeprefix("python")
        subprocess.run(  # noqa: S603 - fixed argv, pins from requirements.txt
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--quiet", "--no-compile",
                "--platform", "manylinux2014_aarch64", "--implementation", "cp",
                "--python-version", python_version, "--only-binary=:all:",
                "--target", str(Path(output_dir) / "python"), *self.requirements,
            ],
            check=True,
        )
        return True


class Layers(Construct):
    """The two public layers, resolved for the stack's region at deploy time, and
    the project's own layer of pinned runtime packages (`dependencies`)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        requirements = layer_requirements()
        self.dependencies = lambda_.LayerVersion(
            self,
            "Dependencies",
            description="mlaudit runtime packages: " + " ".join(requirements),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            code=lambda_.Code.from_asset(
                str(REPO_ROOT / "stacks"),  # not read: the layer is built from the pins alone
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=hashlib.sha256(f"{RUNTIME.name} arm64 {requirements}".encode()).hexdigest(),
                bundling=BundlingOptions(
                    image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.14"),
                    local=PipInstall(requirements),
                ),
            ),
        )
        region = Stack.of(self).region
        # Both public layers are published in the aws partition only.
        self.powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            f"arn:aws:lambda:{region}:017000801446:layer:"
            f"AWSLambdaPowertoolsPythonV3-{PYTHON_TAG}-arm64:{POWERTOOLS_LAYER_VERSION}",
        )
        versions = CfnMapping(
            self,
            "PandasLayerVersion",
            mapping={r: {"version": str(v)} for r, v in PANDAS_LAYER_VERSIONS.items()},
        )
        self.pandas = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "SdkForPandas",
            Fn.join(
                "",
                [
                    f"arn:aws:lambda:{region}:336392948345:layer:"
                    f"AWSSDKPandas-{PYTHON_TAG.capitalize()}-Arm64:",
                    versions.find_in_map(region, "version"),
                ],
            ),
        )


class ResourceMap:
    """Where each declared `Resource` lives in this stack: its ARN and the attributes
    environment variables carry. Grants render to IAM statements here."""

    def __init__(self, stack: Stack, arns: Mapping[Resource, str], attributes: Mapping[Attr, str]) -> None:
        self.stack = stack
        self._arns = dict(arns)
        self._attributes = dict(attributes)

    def attribute(self, attr: Attr) -> str:
        if attr.attribute == "arn":
            return self._arns[attr.resource]
        return self._attributes[attr]

    def grant_arns(self, grant: Grant) -> list[str]:
        arn = self._arns[grant.resource]
        if grant.objects is not None:
            return [f"{arn}/{grant.objects}"]
        return [arn]

    def statements(self, spec: FunctionSpec) -> list[iam.PolicyStatement]:
        return [
            iam.PolicyStatement(actions=list(grant.actions), resources=self.grant_arns(grant))
            for grant in spec.grants
        ]


class AuditFunction(Construct):
    """A function built from its declaration (`mlaudit.functions.FunctionSpec`): its own
    role with exactly the declared grants (plus writing its own log group and, by
    tracing, X-Ray), the declared environment, an encrypted log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: FunctionSpec,
        settings: Settings,
        resources: ResourceMap,
        key: kms.IKey,
        layers: Layers,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention(settings.log_retention_days),
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"mlaudit {spec.name} function",
        )
        # pyarrow only where Parquet is read or written: it adds seconds to a cold start.
        function_layers = [layers.powertools, *([layers.pandas] if spec.pyarrow else []), layers.dependencies]
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            code=_asset(),
            handler=spec.handler,
            layers=function_layers,
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=Duration.seconds(spec.timeout(settings)),
            memory_size=spec.memory(settings),
            reserved_concurrent_executions=spec.reserved(settings),
            environment={
                "POWERTOOLS_SERVICE_NAME": service_name(settings.name_prefix, spec.name),
                "POWERTOOLS_METRICS_NAMESPACE": settings.name_prefix,
                **FUNCTION_RUNTIME_ENVIRONMENT,
                **spec.environment_values(settings, resources.attribute),
            },
            # Environment variables hold names, ARNs and limits only: Lambda's own key suffices.
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        for statement in resources.statements(spec):
            self.role.add_to_policy(statement)
        # CDK adds DependsOn the role next to the Fn::GetAtt of its ARN (cfn-lint W3005);
        # the duplicate is harmless, and the DependsOn on the role's policy must stay.
        cfn_function = self.function.node.default_child
        assert isinstance(cfn_function, lambda_.CfnFunction)
        cfn_function.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
        # Lambda extracts layers in order and a later one wins where two ship the same package:
        # keep our pinned packages last (CDK renders layers sorted, not in the order given).
        cfn_function.add_property_override("Layers", [layer.layer_version_arn for layer in function_layers])

