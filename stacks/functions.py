"""One way to build an mlaudit Lambda function: same runtime, architecture, asset,
layers, tracing and encrypted log group for every handler, so they cannot drift."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    AssetHashType,
    BundlingOptions,
    DockerImage,
    Duration,
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
REQUIREMENTS = REPO_ROOT / "requirements.txt"

# The newest Python runtime this aws-cdk-lib knows; the layers are built for it.
RUNTIME = lambda_.Runtime.PYTHON_3_14
# Lambda's python3.14 runs on Amazon Linux 2023 (glibc 2.34): manylinux_2_28 wheels (pyarrow
# ships only those for aarch64) and manylinux2014 ones (glibc 2.17) both load there.
PLATFORMS = ("manylinux_2_28_aarch64", "manylinux2014_aarch64")
# Lambda's limit on a function's code and layers, unzipped; our budget keeps a margin under it.
UNZIPPED_LIMIT_MIB = 250
UNZIPPED_BUDGET_MIB = 200

# What pip installs into the pyarrow layer but no function loads: Arrow Flight, the S3
# filesystem (the functions read S3 through boto3; pyarrow.fs skips it when absent), the
# C++ tests, headers and Cython sources, and the two extra copies of each versioned
# library (the extensions link the `.so.<major>` one). tests/infra/test_deploy_layers.py
# imports and runs what the functions use from a copy trimmed with these patterns.
PYARROW_TRIM = (
    "pyarrow/libarrow_flight.so*", "pyarrow/_flight.*.so", "pyarrow/libarrow_python_flight.so*",
    "pyarrow/libarrow_s3.so*", "pyarrow/_s3fs.*.so", "pyarrow/_pyarrow_cpp_tests.*.so",
    "pyarrow/tests", "pyarrow/include", "pyarrow/src", "pyarrow/**/*.pyx", "pyarrow/**/*.pxd",
    "pyarrow/**/*.pxi", "pyarrow/libarrow_python.so", "pyarrow/libarrow_python.so.*.*.*",
    "pyarrow/libarrow_python_parquet_encryption.so", "pyarrow/libarrow_python_parquet_encryption.so.*.*.*",
)

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


# The offline verifier (mlaudit.integrity.verifier) is for auditors, installed with the CLI;
# no function imports it (tests/unit/test_import_cycles.py), so no function ships it.
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/.pytest_cache", "mlaudit/integrity/verifier"]


def _asset() -> lambda_.Code:
    return lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=ASSET_EXCLUDES)


def runtime_requirements(path: Path = REQUIREMENTS) -> dict[str, str]:
    """Normalized name -> pin (`name==version`) of every package requirements.txt lists:
    the packages the functions import and each of their dependencies."""
    pins = {}
    for line in path.read_text().splitlines():
        pin = line.split("#")[0].strip()
        if pin:
            name, _, version = pin.partition("==")
            if not version:
                raise ValueError(f"requirements.txt: {pin!r} is not pinned with ==")
            pins[normalize(name)] = pin
    return pins


def normalize(name: str) -> str:
    """PEP 503 names: PyJWT, pyjwt and py_jwt are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class LayerContent:
    """What one layer holds: exact pins, installed with --no-deps, minus `trim`."""

    construct_id: str
    description: str
    requirements: tuple[str, ...]
    trim: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        key = f"{RUNTIME.name} {PLATFORMS} {self.requirements} {self.trim}"
        return hashlib.sha256(key.encode()).hexdigest()


def layer_contents() -> tuple[LayerContent, LayerContent]:
    """The core layer (every function: everything pinned but pyarrow, boto3 included, so the
    SDK is the tested one and not the runtime's) and the pyarrow layer (functions declared
    with pyarrow=True)."""
    pins = runtime_requirements()
    arrow = tuple(pin for name, pin in pins.items() if name == "pyarrow")
    core = tuple(pin for name, pin in pins.items() if name != "pyarrow")
    if not arrow:
        raise ValueError("requirements.txt pins no pyarrow")
    return (
        LayerContent("Core", "mlaudit runtime packages (requirements.txt)", core),
        LayerContent("Pyarrow", "pyarrow for the functions that read or write Parquet", arrow, PYARROW_TRIM),
    )


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlaudit" / "layers"


def trim(root: Path, patterns: tuple[str, ...]) -> None:
    for pattern in patterns:
        for path in sorted(root.glob(pattern), reverse=True):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()


def build_layer(content: LayerContent) -> Path:
    """pip installs the pins for Lambda's arm64 Python into a cache keyed by the content,
    once per machine (the tests synthesize several times); returns the `python/` parent."""
    done = _cache_root() / content.digest
    if done.exists():
        return done
    done.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{content.digest[:12]}-", dir=done.parent))
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    try:
        subprocess.run(  # noqa: S603 - fixed argv, pins from requirements.txt
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--quiet", "--no-compile", "--no-deps",
                *platforms, "--implementation", "cp", "--python-version", RUNTIME.name.removeprefix("python"),
                "--only-binary=:all:", "--target", str(work / "python"), *content.requirements,
            ],
            check=True,
        )
        trim(work / "python", content.trim)
        shutil.rmtree(work / "python" / "bin", ignore_errors=True)  # console scripts: never run on Lambda
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # no half-built layer left in the cache
        raise
    try:
        work.rename(done)  # atomic: a concurrent build of the same content keeps the first
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    return done


@jsii.implements(ILocalBundling)
class PipInstall:
    """Bundle wheels for Lambda's arm64 Python with pip on this machine: no Docker.
    Needs the package index at synth time, once per requirements change and machine."""

    def __init__(self, content: LayerContent) -> None:
        self.content = content

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: Any) -> bool:
        # Hard links where the cache and cdk.out share a file system (nothing writes to
        # either copy): each synth would otherwise copy about 140 MB.
        shutil.copytree(build_layer(self.content), output_dir, dirs_exist_ok=True, copy_function=_link_or_copy)
        return True


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


class Layers(Construct):
    """The project's own layers, built from requirements.txt's pins: `core` for every
    function, `pyarrow` for those whose declaration says pyarrow=True. No public layer:
    what a function imports on AWS is what the tests run (tests/infra/test_deploy_layers.py)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        core, arrow = layer_contents()
        self.core = self._layer(core)
        self.pyarrow = self._layer(arrow)

    def _layer(self, content: LayerContent) -> lambda_.LayerVersion:
        return lambda_.LayerVersion(
            self,
            content.construct_id,
            description=f"{content.description}; content {content.digest[:16]}",
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            code=lambda_.Code.from_asset(
                str(REPO_ROOT / "stacks"),  # not read: the layer is built from the pins alone
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=content.digest,
                bundling=BundlingOptions(
                    image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.14"),
                    local=PipInstall(content),
                ),
            ),
        )


class ResourceMap:
    """Where each declared `Resource` lives in this stack: its ARN and the attributes
    environment variables carry. Grants render to IAM statements here."""

    def __init__(self, stack: Stack, arns: Mapping[Resource, str], attributes: Mapping[Attr, str]) -> None:
        self.stack = stack
        self._arns = dict(arns)
        self._attributes = dict(attributes)

    def register(self, resource: Resource, arn: str, **attributes: str) -> None:
        """A resource built after the functions (the API, the rules), for the resource policies."""
        self._arns[resource] = arn
        self._attributes.update({Attr(resource, name): value for name, value in attributes.items()})

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
        # pyarrow only where Parquet is read or written: it adds to a cold start.
        function_layers = [layers.core, *([layers.pyarrow] if spec.pyarrow else [])]
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
        if spec.dead_letter is not None:
            # Set on the resource, not through `dead_letter_queue=`: that adds its own grant to the
            # role, which must hold the declaration's grants only (sqs:SendMessage is declared).
            cfn_function.dead_letter_config = lambda_.CfnFunction.DeadLetterConfigProperty(
                target_arn=resources.attribute(Attr(spec.dead_letter, "arn")))

