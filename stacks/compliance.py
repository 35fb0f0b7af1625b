"""Compliance rule packs and every acknowledgment of their findings, in one table.

docs/compliance.md is generated from `ACKNOWLEDGMENTS` (python -m stacks.docs). The rows
for function roles' grants on objects under a key pattern are derived from the grants
(`grant_acknowledgments`: the reason is each grant's `why` in mlaudit.functions).
A row names the rule (as cdk-nag reports it; `<Path/To/Construct.Arn>` stands for
the hashed logical id cdk-nag prints), the construct path under the stack it
applies to (a glob), and why the finding is accepted. A row that matches no
construct fails synthesis, so the table cannot keep stale entries.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Acknowledgment, App, Stack, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks
from mlaudit import functions
from mlaudit.functions import FunctionSpec
from mlaudit.resources import Resource
from mlaudit.settings import Settings

from stacks.analytics import QUICKSIGHT_GRANTS
from stacks.app_stack import function_path


@dataclass(frozen=True)
class Ack:
    rule: str
    path: str  # construct path below the stack; fnmatch glob
    reason: str
    unless: str | None = None  # a setting that, when set (true or a number), removes the finding
    only_with: str | None = None  # a setting without which the construct is not built (nothing to acknowledge)

    def applies(self, settings: Settings) -> bool:
        return not (self.unless and getattr(settings, self.unless)) and (
            self.only_with is None or bool(getattr(settings, self.only_with)))


FUNCTION_POLICIES = "*/Role/DefaultPolicy/Resource"
FUNCTIONS = "*/Function/Resource"
API_FUNCTIONS = (
    "Ingestion/Ingest/Function/Resource",
    "Authorizer/Function/Resource",
    "Route-*/Function/Resource",
)
WRITER = "Ingestion/Writer/Function/Resource"
STAGE = "Api/RestApi/DeploymentStage.*/Resource"
BUCKETS = ("Storage/AuditBucket/Resource", "Storage/AccessLogs/Resource", "Analytics/QueryResults/Resource",
           "Imports/LandingBucket/Resource",
           "Integrity/WitnessBucket/Resource")
TABLES = ("Storage/IdempotencyTable/Resource", "Storage/LedgerTable/Resource", "Storage/SubjectKeysTable/Resource")
PACKS = ("AwsSolutions", "HIPAA.Security", "NIST.800.53.R5")

_VPC = (
    "The functions have no inbound network path and call only AWS service APIs (SQS, S3, DynamoDB, "
    "KMS, Athena, Glue) and the Cognito JWKS URL, over TLS with IAM-signed requests; a VPC would add "
    "NAT or interface endpoints without changing who can reach the data."
)
_DLQ = (
    "Not invoked asynchronously, so a function DLQ would never receive anything: API Gateway invokes "
    "ingest, the authorizer and the route functions synchronously (the caller sees the error)."
)
_WRITER_DLQ = (
    "The writer's failed messages go to the SQS dead-letter queue after max_receive_count attempts, with "
    "an alarm on its depth. Its only asynchronous invocation is the recovery sweep's schedule, which "
    "EventBridge retries twice; a lost run leaves nothing to replay (the next run, 5 minutes later, reads "
    "the same lists of files) and the Errors alarm reports it."
)
_INLINE = (
    "Each function has its own role whose one CDK-managed policy lists only that function's grants "
    "(see stacks/app_stack.py); a customer managed policy per role would hold the same statements."
)
_REPLICATION = (
    "Single-region by design; versioning, Object Lock (audit data) and RETAIN protect against loss. "
    "Cross-region replication needs a destination bucket and key in another region, which is the "
    "deploying organization's choice."
)
_CACHE = (
    "Every method answers one authenticated principal about audit data or accepts writes; a stage "
    "cache would serve one caller's answer to another and keep personal data outside the CMK."
)
_SSL = (
    "Backend client certificates authenticate API Gateway to HTTP integrations; every integration "
    "here is a Lambda proxy invoked with IAM, so there is no HTTP backend to present one to."
)
# Why each API-invoked function has no reserved concurrency, in API_FUNCTIONS order.
_UNRESERVED = (
    "a reservation would cap the API below the stage's limit, and fail the deployment in a fresh account "
    "(Lambda keeps 100 of the account's concurrency unreserved; a fresh account's quota is 10).",
    "every request passes the authorizer, so a reserved limit would throttle the whole API below the stage.",
    "reserving concurrency for a low-volume route would take it from the pool ingest scales in.",
)
_WAF = "WAF is opt-in (waf_enabled) because web ACLs bill per request; stage throttling still applies."
_BACKUP = (
    "Point-in-time recovery is on (35 days of restore points). The idempotency table is a 24-hour "
    "cache; the ledger only drops SQS redeliveries (15 days); subject keys must not outlive an "
    "erasure in long-term backups (crypto-shredding)."
)

ACKNOWLEDGMENTS: tuple[Ack, ...] = (
    Ack(
        "AwsSolutions-APIG4",
        "Api/RestApi/Default/v1/openapi.json/GET/Resource",
        "The API's OpenAPI document (routes.Route.public) is public by design so clients and tools "
        "can read it before they hold a token; it is generated from code in the repository and serves "
        "nothing from the audit trail, and the stage's throttling and the WAF (when on) still apply.",
    ),
    Ack(
        "AwsSolutions-COG4",
        "Api/RestApi/Default/*",
        "Methods use a Lambda REQUEST authorizer that verifies Cognito ID and access tokens against "
        "the pool's JWKS (issuer, audience/client id, expiry, token use), because a Cognito authorizer "
        "cannot accept people's ID tokens and workloads' scoped access tokens on one method.",
    ),
    Ack(
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AmazonAPIGatewayPushToCloudWatchLogs]",
        "Api/RestApi/CloudWatchRole/Resource",
        "The account-level role API Gateway uses to write access logs; this AWS managed policy is the "
        "one API Gateway documents and it grants only CloudWatch Logs actions.",
    ),
    Ack(
        "AwsSolutions-IAM5[Resource::*]",
        FUNCTION_POLICIES,
        "Only xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing), which support no "
        "resource-level permissions.",
    ),
    *(
        Ack(
            f"AwsSolutions-IAM5[Resource::<Storage/AuditBucket.Arn>/{prefix}/*]",
            "Integrity/VerifierPolicy/Resource",
            "An offline verifier reads every Parquet file, manifest, log entry and checkpoint to check "
            "the whole lake; read-only (GetObject) and limited to the events/ and integrity/ prefixes.",
        )
        for prefix in ("events", "integrity")
    ),
    Ack(
        "AwsSolutions-IAM5[Resource::<Integrity/WitnessBucket.Arn>/mlaudit/*]",
        "Integrity/VerifierPolicy/Resource",
        "An offline verifier reads every witnessed checkpoint of the log it verifies; read-only "
        "(GetObject) and limited to the checkpoints' prefix.",
    ),
    Ack("AwsSolutions-APIG3", STAGE, _WAF, unless="waf_enabled"),
    Ack("NIST.800.53.R5-APIGWAssociatedWithWAF", STAGE, _WAF, unless="waf_enabled"),
    *(Ack(f"{pack}-APIGWCacheEnabledAndEncrypted", STAGE, _CACHE) for pack in PACKS[1:]),
    *(Ack(f"{pack}-APIGWSSLEnabled", STAGE, _SSL) for pack in PACKS[1:]),
    *(Ack(f"{pack}-LambdaInsideVPC", FUNCTIONS, _VPC) for pack in PACKS[1:]),
    *(Ack(f"{pack}-LambdaDLQ", p, _DLQ) for pack in PACKS[1:] for p in API_FUNCTIONS),
    *(Ack(f"{pack}-LambdaDLQ", WRITER, _WRITER_DLQ) for pack in PACKS[1:]),
    *(
        Ack(
            f"{pack}-LambdaDLQ",
            "Integrity/Checkpoint/Function/Resource",
            "EventBridge retries a failed scheduled run twice within 30 minutes; a lost run leaves nothing "
            "to replay (the next run signs the then-current log head) and the Errors alarm reports it.",
        )
        for pack in PACKS[1:]
    ),
    *(
        Ack(
            f"{pack}-LambdaDLQ",
            "Integrity/Compaction/Function/Resource",
            "EventBridge retries a failed scheduled run twice within the hour; a lost run leaves nothing to "
            "replay (the next run compacts every closed day not yet compacted, finishing from their records "
            "what a failed run left), and the Errors alarm reports it.",
        )
        for pack in PACKS[1:]
    ),
    *(
        Ack(
            f"{pack}-LambdaDLQ",
            "Monitors/Evaluator/Function/Resource",
            "A scheduled evaluation has nothing to replay: windows are relative to the run, so the next run "
            "(minutes later) evaluates the then-current data, and the Errors alarm reports a failed run.",
        )
        for pack in PACKS[1:]
    ),
    *(
        Ack(f"{pack}-LambdaConcurrency", path, f"Stage throttling (api_throttle_rate/burst) bounds it; {why}")
        for pack in PACKS[1:]
        for path, why in zip(API_FUNCTIONS, _UNRESERVED, strict=True)
    ),
    *(
        Ack(
            f"{pack}-LambdaConcurrency",
            WRITER,
            "Lambda keeps 100 of an account's concurrency unreserved, so a reservation fails the deployment "
            "in a fresh account (quota 10); the SQS event source caps the writer at writer_max_concurrency "
            "instead, which reserves nothing. Set writer_reserved_concurrency where the quota allows.",
            unless="writer_reserved_concurrency",
        )
        for pack in PACKS[1:]
    ),
    *(
        Ack(
            f"{pack}-LambdaConcurrency",
            "Integrity/Checkpoint/Function/Resource",
            "Invoked hourly by one schedule (two retries); a reservation would fail the deployment in a fresh "
            "account (quota 10), and none is needed for correctness: overlapping runs claim the checkpoint's "
            "sequence number with a conditional create, so the loser fails without writing.",
        )
        for pack in PACKS[1:]
    ),
    *(
        Ack(
            f"{pack}-LambdaConcurrency",
            "Integrity/Compaction/Function/Resource",
            "Invoked every compaction_interval_hours by one schedule (two retries); a reservation would fail the "
            "deployment in a fresh account (quota 10), and none is needed for correctness: overlapping runs "
            "claim each compacted file's generation with a conditional create, so no source is merged twice.",
        )
        for pack in PACKS[1:]
    ),
    *(
        Ack(
            f"{pack}-LambdaConcurrency",
            "Monitors/Evaluator/Function/Resource",
            "Invoked every few minutes by one schedule (no retries); a reservation would fail the deployment in a "
            "fresh account (quota 10). Two overlapping runs evaluate the same windows and each records its own "
            "evaluation; nothing they write can conflict.",
        )
        for pack in PACKS[1:]
    ),
    *(
        Ack(
            f"{pack}-LambdaConcurrency",
            "Imports/Import/Function/Resource",
            "One run per dropped file, bounded by how many files land; a reservation would fail the deployment "
            "in a fresh account (quota 10), and runs of the same file are serialized by its import claim.",
        )
        for pack in PACKS[1:]
    ),
    *(
        Ack(
            f"{pack}-LambdaConcurrency",
            "Capture/Capture/Function/Resource",
            "Invoked by one EventBridge rule (SageMaker's state changes: a few per job) and one pipe (one batch at "
            "a time per stream shard); a reservation would fail the deployment in a fresh account (quota 10), and "
            "concurrent deliveries of the same events are settled by their claims, as ingest's requests are.",
        )
        for pack in PACKS[1:]
    ),
    *(Ack(f"{pack}-IAMNoInlinePolicy", FUNCTION_POLICIES, _INLINE) for pack in PACKS[1:]),
    *(Ack(f"{pack}-IAMNoInlinePolicy", "Capture/PipeRole/DefaultPolicy/Resource",
          "The capture pipe's own role, whose one CDK-managed policy lists only its declared grants "
          "(mlaudit.functions.CAPTURE_PIPE); a customer managed policy would hold the same statements.",
          only_with="capture_dynamodb_stream_arn")
      for pack in PACKS[1:]),
    *(Ack(f"{pack}-S3BucketReplicationEnabled", p, _REPLICATION) for pack in PACKS[1:] for p in BUCKETS),
    *(
        Ack(
            f"{pack}-S3DefaultEncryptionKMS",
            "Storage/AccessLogs/Resource",
            "S3 server access logs can only be delivered to a bucket encrypted with SSE-S3; this bucket "
            "holds request metadata only, never audit events.",
        )
        for pack in PACKS[1:]
    ),
    *(Ack(f"{pack}-DynamoDBInBackupPlan", p, _BACKUP) for pack in PACKS[1:] for p in TABLES),
)


# Where each bucket a grant may name objects in sits (resolve_rule finds its logical id).
BUCKET_PATHS = {
    Resource.AUDIT_BUCKET: "Storage/AuditBucket",
    Resource.RESULTS_BUCKET: "Analytics/QueryResults",
    Resource.LANDING_BUCKET: "Imports/LandingBucket",
    Resource.WITNESS_BUCKET: "Integrity/WitnessBucket",
}


def grant_acknowledgments(specs: Sequence[FunctionSpec] = functions.FUNCTIONS) -> tuple[Ack, ...]:
    """AwsSolutions-IAM5 on each function's role for each grant on a bucket's objects
    (`Grant.objects`): the keys are made at run time, so the statement names a key pattern,
    and the grant's own `why` says what for. A new grant brings its acknowledgment along;
    one without a why stops here. The same for the policy of QuickSight's data source."""
    rows: dict[tuple[str, str], Ack] = {}
    holders = [(f"The {spec.name} function", spec.grants, f"{function_path(spec.name)}/Role/DefaultPolicy/Resource",
                None) for spec in specs]
    holders.append(("QuickSight's data source", QUICKSIGHT_GRANTS, "Analytics/QuickSightPolicy/Resource",
                    "quicksight_principal_arn"))
    for who, grants, path, when in holders:
        for grant in (g for g in grants if g.objects is not None):
            if not grant.why:
                raise ValueError(f"{who}: the grant on {grant.resource.name} objects {grant.objects} "
                                 "needs its why (it is the cdk-nag acknowledgment's reason)")
            rule = f"AwsSolutions-IAM5[Resource::<{BUCKET_PATHS[grant.resource]}.Arn>/{grant.objects}]"
            reason = (f"{who}: {grant.why}. Object keys are made at run time, so the grant "
                      f"names the pattern {grant.objects} and allows only {', '.join(grant.actions)} there.")
            if (rule, path) in rows:  # two grants under one pattern: one row, both reasons
                reason = f"{rows[rule, path].reason} {reason}"
            rows[rule, path] = Ack(rule, path, reason, only_with=when)
    return tuple(rows.values())


ACKNOWLEDGMENTS = (*ACKNOWLEDGMENTS, *grant_acknowledgments())


def add_rule_packs(app: App) -> None:
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app), HIPAASecurityChecks(app), NIST80053R5Checks(app)
    )


def resolve_rule(stack: Stack, rule: str) -> str:
    """`<Storage/AuditBucket.Arn>` -> `<StorageAuditBucket9A8BEFCB.Arn>`, as cdk-nag prints it."""

    def logical_id(match: re.Match[str]) -> str:
        resource = stack.node.find_child(match.group(1).split("/")[0])
        for part in [*match.group(1).split("/")[1:], "Resource"]:
            resource = resource.node.find_child(part)
        return f"<{stack.get_logical_id(resource)}.{match.group(2)}>"  # type: ignore[arg-type]

    return re.sub(r"<([\w/-]+)\.(\w+)>", logical_id, rule)


def acknowledge(stack: Stack, settings: Settings) -> None:
    """Record every row on the constructs its path matches. Rows for route functions
    (Route-<name>) wait for the routes table to name that function; any other row that
    matches nothing is stale and stops synthesis."""
    prefix = stack.node.path + "/"
    nodes = [n for n in stack.node.find_all() if n is not stack]
    for ack in ACKNOWLEDGMENTS:
        if not ack.applies(settings):
            continue
        matched = [n for n in nodes if fnmatch.fnmatchcase(n.node.path.removeprefix(prefix), ack.path)]
        if not matched and not ack.path.startswith("Route-"):
            raise ValueError(f"acknowledgment {ack.rule} matches no construct: {ack.path}")
        rule = resolve_rule(stack, ack.rule)
        for node in matched:
            Validations.of(node).acknowledge(Acknowledgment(id=rule, reason=ack.reason))
