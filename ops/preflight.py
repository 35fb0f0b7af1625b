"""Preflight: read-only checks of an account and region before the first `cdk deploy`,
for what stops a deploy in a fresh account or collides with another deployment.

    python -m ops.preflight --region eu-west-1 [-c name=value ...]    (make preflight REGION=...)

The settings are the ones the deploy will use: cdk.json's context, then each `-c`.
Every finding says what to do. Exit status 1 when any finding is FAIL (the deploy would
stop or clash) or UNCHECKED (a check could not run, so it cannot say the deploy is safe),
unless `--allow-unchecked` is given; WARN and OK never fail. Calls made (all read-only): sts:GetCallerIdentity,
lambda:GetAccountSettings, apigateway:GetAccount, apigateway:GetRestApis,
cloudformation:DescribeStacks, ssm:GetParameter (CDK bootstrap), kms:ListAliases,
glue:GetDatabase, athena:GetWorkGroup, cognito-idp:DescribeUserPoolDomain and, when
QuickSight is on, quicksight:DescribeAccountSubscription.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from mlaudit.resources import (
    api_name,
    cognito_domain_prefix,
    data_key_alias,
    glue_database_name,
    workgroup_name,
)
from mlaudit.settings import Settings, SettingsError

from stacks.regions import SUPPORTED_REGIONS

# Lambda keeps this much of an account's concurrency unreserved (reserved and provisioned
# concurrency may only use the rest).
UNRESERVED_MINIMUM = 100
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
COGNITO_DEFAULT_EMAILS_PER_DAY = 50


@dataclass(frozen=True)
class Finding:
    level: str  # OK | WARN | FAIL | UNCHECKED
    check: str
    message: str
    action: str = ""

    def __str__(self) -> str:
        return f"{self.level:4} {self.check}: {self.message}" + (f"\n     -> {self.action}" if self.action else "")


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


class Preflight:
    def __init__(self, settings: Settings, session: boto3.session.Session) -> None:
        self.settings = settings
        self.session = session
        self.region = session.region_name
        self.prefix = settings.name_prefix
        self.stack_name = f"{self.prefix}-stack"

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def run(self) -> list[Finding]:
        findings = list(self.region_supported())
        if findings and findings[0].level == "FAIL":
            return findings
        self.account = self.client("sts").get_caller_identity()["Account"]
        checks: list[Callable[[], Iterator[Finding]]] = [
            self.lambda_concurrency, self.writer_throttling, self.cdk_bootstrap, self.existing_stack,
            self.name_collisions, self.api_gateway_logging_role, self.cognito, self.object_lock, self.quicksight,
        ]
        for check in checks:
            try:
                findings.extend(check())
            except (ClientError, BotoCoreError) as error:
                findings.append(self.unchecked(check.__name__, error))
        return findings

    def unchecked(self, check: str, error: Exception) -> Finding:
        """A check that could not run: what it would have decided, and how to decide it by hand."""
        s = self.settings
        by_hand = {
            "lambda_concurrency": "aws lambda get-account-settings: ConcurrentExecutions must be at least "
            f"{UNRESERVED_MINIMUM} + what the settings reserve ({self._reserved()}), and "
            f"UnreservedConcurrentExecutions at least {UNRESERVED_MINIMUM + self._reserved()}",
            "writer_throttling": "aws lambda get-account-settings: UnreservedConcurrentExecutions should be at "
            f"least 2 x writer_max_concurrency ({2 * s.writer_max_concurrency})",
        }.get(check, "check by hand")
        return Finding("UNCHECKED", check.replace("_", " "), f"could not check: {error}",
                       f"{by_hand}; or grant the read-only call it needs and run again; or accept the risk "
                       "with --allow-unchecked")

    def _reserved(self) -> int:
        s = self.settings
        return (s.writer_reserved_concurrency or 0) + (s.ingest_provisioned_max if s.ingest_provisioned_min else 0)

    def _account_limit(self) -> dict[str, int]:
        if not hasattr(self, "_limit"):
            self._limit = self.client("lambda").get_account_settings()["AccountLimit"]
        return self._limit

    def region_supported(self) -> Iterator[Finding]:
        if self.region not in SUPPORTED_REGIONS:
            yield Finding("FAIL", "region", f"{self.region} is not a supported region",
                          f"deploy to one of {', '.join(SUPPORTED_REGIONS)} (stacks/regions.py)")
        else:
            yield Finding("OK", "region", f"{self.region} is supported; the functions' layers are this stack's own")

    def lambda_concurrency(self) -> Iterator[Finding]:
        limit = self._account_limit()
        quota, unreserved = limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]
        s = self.settings
        provisioned = s.ingest_provisioned_max if s.ingest_provisioned_min else 0
        wanted = (s.writer_reserved_concurrency or 0) + provisioned
        if wanted and unreserved - wanted < UNRESERVED_MINIMUM:
            parts = []
            if s.writer_reserved_concurrency:
                parts.append(f"writer_reserved_concurrency={s.writer_reserved_concurrency}")
            if provisioned:
                parts.append(f"ingest provisioned concurrency up to {provisioned}")
            yield Finding(
                "FAIL", "lambda concurrency",
                f"{' and '.join(parts)} would reserve {wanted} of the account's concurrency, but Lambda keeps "
                f"{UNRESERVED_MINIMUM} unreserved and {unreserved} of the quota ({quota}) are unreserved now: "
                "the deploy would stop with \"decreases account's UnreservedConcurrentExecution below its "
                "minimum value\"",
                f"request a Lambda concurrency quota of at least {quota - unreserved + wanted + UNRESERVED_MINIMUM} "
                "(Service Quotas, Lambda, 'Concurrent executions', L-B99A9384), or deploy without "
                "writer_reserved_concurrency and with ingest_provisioned_min=0 (the defaults)",
            )
        elif quota < 2 * UNRESERVED_MINIMUM:
            yield Finding(
                "WARN", "lambda concurrency",
                f"the account's Lambda concurrency quota is {quota}: the stack deploys (it reserves nothing), but "
                f"all functions share {quota} concurrent executions, so bursts above that are throttled (429)",
                "request 1000 (Service Quotas, Lambda, 'Concurrent executions', L-B99A9384) before production",
            )
        else:
            yield Finding("OK", "lambda concurrency",
                          f"quota {quota}, {unreserved} unreserved; the settings reserve {wanted}")

    def writer_throttling(self) -> Iterator[Finding]:
        """The SQS event source starts up to writer_max_concurrency writers (fewer with a
        reservation). A throttled batch is retried by Lambda until the queue's visibility timeout
        ends, then costs the messages one receive: a healthy message reaches the DLQ only after
        max_receive_count x queue_visibility_timeout_seconds of continuous throttling."""
        s = self.settings
        unreserved = self._account_limit()["UnreservedConcurrentExecutions"]
        pollers = min(s.writer_max_concurrency, s.writer_reserved_concurrency or s.writer_max_concurrency)
        hours = s.max_receive_count * s.queue_visibility_timeout_seconds / 3600
        outlasts = (f"a throttled batch is retried for a visibility timeout and loses a receive only then, so a "
                    f"healthy message reaches the DLQ only after {hours:g} h of continuous throttling "
                    f"(max_receive_count x queue_visibility_timeout_seconds); the WriterThrottles alarm fires first")
        if s.writer_reserved_concurrency:
            yield Finding("OK", "writer throttling", f"the writer has {s.writer_reserved_concurrency} reserved and "
                          f"the event source runs at most {pollers}: it never throttles itself; {outlasts}")
        elif pollers > unreserved:
            yield Finding(
                "FAIL", "writer throttling",
                f"writer_max_concurrency={s.writer_max_concurrency} is more than the {unreserved} executions the "
                "account leaves unreserved: every batch beyond them is throttled, and each throttle spends a "
                "receive of a healthy message",
                f"deploy with writer_max_concurrency at most {max(unreserved, 2)} (-c writer_max_concurrency=...), "
                "or raise the Lambda concurrency quota (L-B99A9384)",
            )
        elif unreserved < 2 * UNRESERVED_MINIMUM:
            yield Finding(
                "WARN", "writer throttling",
                f"the writer (up to {pollers} at once) shares {unreserved} executions with ingest and the other "
                f"functions: an ingest burst can throttle it; {outlasts}",
                "request a Lambda concurrency quota of 1000 (L-B99A9384) before production traffic",
            )
        else:
            yield Finding("OK", "writer throttling", f"the writer takes at most {pollers} of {unreserved} "
                          f"unreserved executions; {outlasts}")

    def cdk_bootstrap(self) -> Iterator[Finding]:
        try:
            version = self.client("ssm").get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)["Parameter"]["Value"]
        except ClientError as error:
            if _code(error) != "ParameterNotFound":
                raise
            yield Finding("WARN", "cdk bootstrap", f"{self.region} of {self.account} is not bootstrapped yet",
                          f"before deploying: npx aws-cdk@2 bootstrap aws://{self.account}/{self.region}")
            return
        yield Finding("OK", "cdk bootstrap", f"bootstrap version {version}")

    def existing_stack(self) -> Iterator[Finding]:
        try:
            (stack,) = self.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"]
        except ClientError as error:
            if "does not exist" not in str(error):
                raise
            yield Finding("OK", "stack", f"no stack {self.stack_name} yet: a first deploy")
            return
        status = stack["StackStatus"]
        if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"):
            yield Finding("FAIL", "stack", f"{self.stack_name} is {status} after a failed deploy",
                          f"aws cloudformation delete-stack --stack-name {self.stack_name} (retained resources "
                          "stay, under generated names: docs/deploy.md lists them), then deploy again")
        elif status.endswith("_IN_PROGRESS"):
            yield Finding("FAIL", "stack", f"{self.stack_name} is {status}", "wait for it to finish")
        else:
            yield Finding("OK", "stack", f"{self.stack_name} exists ({status}): the deploy updates it")

    def _ours(self) -> bool:
        """Names owned by this prefix's own stack are not collisions."""
        try:
            self.client("cloudformation").describe_stacks(StackName=self.stack_name)
            return True
        except ClientError:
            return False

    def name_collisions(self) -> Iterator[Finding]:
        if self._ours():
            yield Finding("OK", "names", f"the names of prefix {self.prefix} belong to {self.stack_name}")
            return
        taken = []
        aliases = self.client("kms").get_paginator("list_aliases").paginate()
        if any(a["AliasName"] == data_key_alias(self.prefix) for page in aliases for a in page["Aliases"]):
            taken.append(f"KMS alias {data_key_alias(self.prefix)}")
        try:
            self.client("glue").get_database(Name=glue_database_name(self.prefix))
            taken.append(f"Glue database {glue_database_name(self.prefix)}")
        except ClientError as error:
            if _code(error) != "EntityNotFoundException":
                raise
        try:
            if self.client("athena").get_work_group(WorkGroup=workgroup_name(self.prefix)).get("WorkGroup"):
                taken.append(f"Athena workgroup {workgroup_name(self.prefix)}")
        except ClientError as error:
            if _code(error) != "InvalidRequestException":
                raise
        domain = cognito_domain_prefix(self.prefix, self.account)
        described = self.client("cognito-idp").describe_user_pool_domain(Domain=domain)["DomainDescription"]
        if described.get("UserPoolId"):
            taken.append(f"Cognito domain {domain}")
        apis = self.client("apigateway").get_paginator("get_rest_apis").paginate()
        if any(api.get("name") == api_name(self.prefix) for page in apis for api in page.get("items", [])):
            taken.append(f"REST API name {api_name(self.prefix)} (its metrics would mix with this one's)")
        if taken:
            yield Finding("FAIL", "names", f"prefix {self.prefix} is in use outside {self.stack_name}: "
                          + "; ".join(taken),
                          "deploy with another prefix (-c name_prefix=...), or remove what a past deployment left")
        else:
            yield Finding("OK", "names", f"nothing in {self.region} uses the prefix {self.prefix}")

    def api_gateway_logging_role(self) -> Iterator[Finding]:
        role = self.client("apigateway").get_account().get("cloudwatchRoleArn")
        if role:
            yield Finding("WARN", "api gateway logging role",
                          f"the region already has API Gateway's CloudWatch role {role}; the stack replaces this "
                          "account-wide setting with its own role (kept when the stack is deleted)",
                          "fine unless another tool manages AWS::ApiGateway::Account here; then let one own it")
        else:
            yield Finding("OK", "api gateway logging role", "unset: the stack sets it (access logs need it)")

    def cognito(self) -> Iterator[Finding]:
        yield Finding(
            "WARN", "cognito",
            "the user pool uses the Plus feature plan (threat protection; billed per monthly active user) and "
            f"Cognito's default email sender (about {COGNITO_DEFAULT_EMAILS_PER_DAY} invitations a day); MFA is "
            "TOTP only, so no SMS spending limit or origination number is needed",
            "for more invitations a day, configure SES (production access) as the pool's email sender",
        )

    def object_lock(self) -> Iterator[Finding]:
        s = self.settings
        if s.object_lock_mode == "COMPLIANCE":
            yield Finding("WARN", "object lock",
                          f"COMPLIANCE mode: nobody, root included, can delete an audit object or a witnessed "
                          f"checkpoint or shorten its retention for {s.object_lock_days} days, and neither bucket "
                          "can be deleted before",
                          "deploy with GOVERNANCE first (a trial that can be removed: docs/deploy.md) and "
                          "smoke-test; switch when sure")
        else:
            yield Finding("OK", "object lock", f"{s.object_lock_mode} for {s.object_lock_days} days; new buckets "
                          "get Object Lock at creation, no account setting needed; keys are created by the stack")

    def quicksight(self) -> Iterator[Finding]:
        if not self.settings.quicksight_principal_arn:
            return
        try:
            status = self.client("quicksight").describe_account_subscription(AwsAccountId=self.account)[
                "AccountInfo"]["AccountSubscriptionStatus"]
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            status = "none"
        if status != "ACCOUNT_CREATED":
            yield Finding("FAIL", "quicksight", f"quicksight_principal_arn is set but the account's QuickSight "
                          f"subscription is {status}", "sign up for QuickSight in this account, or unset the setting")
        else:
            yield Finding("OK", "quicksight", "subscribed; allow its service role to read the buckets and use the key "
                          "(QuickSight console, Security & permissions)")


def parse_context(pairs: list[str]) -> dict[str, str]:
    context = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SettingsError(f"-c takes name=value, not {pair!r}")
        context[name] = value
    return context


def main(argv: list[str] | None = None, session: boto3.session.Session | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("--region", help="the target region (default: the profile's)")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting, as for cdk deploy")
    parser.add_argument("--allow-unchecked", action="store_true",
                        help="exit 0 even when a check could not run (UNCHECKED findings)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_cdk_json(overrides=parse_context(args.context))
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    session = session or boto3.session.Session(region_name=args.region)
    findings = Preflight(settings, session).run()
    for finding in findings:
        print(finding)
    failed = [f for f in findings if f.level == "FAIL"]
    unchecked = [f for f in findings if f.level == "UNCHECKED"]
    blocking = failed + ([] if args.allow_unchecked else unchecked)
    if failed:
        verdict = "fix the FAIL findings before deploying"
    elif unchecked and not args.allow_unchecked:
        verdict = "some checks could not run: check those by hand, or pass --allow-unchecked"
    elif unchecked:
        verdict = "nothing found that stops a deploy, but some checks could not run (--allow-unchecked)"
    else:
        verdict = "nothing stops a deploy"
    print(f"\n{len(failed)} FAIL, {len(unchecked)} UNCHECKED, {sum(f.level == 'WARN' for f in findings)} WARN: "
          + verdict)
    return 1 if blocking else 0


if __name__ == "__main__":
    sys.exit(main())
