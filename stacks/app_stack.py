"""The mlaudit stack: builds each unit and wires them together. Every permission a
function has is granted here, next to the resources it touches, as explicit
actions on explicit resources (no CDK grant helpers: they add wildcard actions)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from mlaudit.layout import EVENTS_PREFIX, INTEGRITY_PREFIX
from mlaudit.routes import ROUTES, Route
from mlaudit.settings import Env, Settings, settings_environment

from stacks.analytics import EVENTS_TABLE, Analytics
from stacks.api import Api
from stacks.functions import AuditFunction, Layers, log_retention
from stacks.identity import Identity
from stacks.ingestion import Ingestion
from stacks.integrity import Integrity
from stacks.monitoring import Monitoring
from stacks.storage import Storage

DEFAULT_CALLBACK_URLS = ("http://localhost:8080/callback",)
# Route functions that read Parquet (receipts, a subject's events): the pyarrow layer, and
# memory and time for it (API Gateway waits 29 s at most).
PYARROW_FUNCTIONS = frozenset({"proofs", "privacy"})
PYARROW_MEMORY_MB = 1024
ROUTE_TIMEOUT_SECONDS = 29
KEY_USE = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]


def _allow(function: lambda_.Function, actions: list[str], resources: list[str]) -> None:
    function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=resources))


class MlAuditStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        callback_urls: Sequence[str] = DEFAULT_CALLBACK_URLS,
        routes: Sequence[Route] = ROUTES,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        self.routes = tuple(routes)
        self.storage = storage = Storage(self, "Storage", settings=settings)
        key = storage.key
        identity = Identity(self, "Identity", settings=settings, callback_urls=callback_urls)
        layers = Layers(self, "Layers")
        ingestion = Ingestion(self, "Ingestion", settings=settings, key=key, layers=layers)
        integrity = Integrity(
            self, "Integrity", settings=settings, key=key, audit_bucket=storage.audit_bucket, layers=layers,
        )
        self.analytics = Analytics(
            self,
            "Analytics",
            settings=settings,
            key=key,
            audit_bucket=storage.audit_bucket,
            access_logs=storage.access_logs,
        )
        retention = log_retention(settings.log_retention_days)
        authorizer = AuditFunction(
            self,
            "Authorizer",
            name="authorizer",
            key=key,
            layers=layers,
            log_retention=retention,
            timeout_seconds=5,
            environment={
                Env.JWKS_URL: identity.jwks_url,
                Env.TOKEN_ISSUER: identity.issuer,
                Env.ALLOWED_CLIENT_IDS: Fn.join(" ", identity.client_ids),
            },
        )

        # One function per function name in the routes table; the API calls ingest's alias.
        functions: dict[str, lambda_.Function] = {
            "ingest": ingestion.ingest.function,
            "writer": ingestion.writer.function,
            "authorizer": authorizer.function,
            "checkpoint": integrity.checkpoint.function,
        }
        handlers: dict[str, lambda_.IFunction] = {"ingest": ingestion.ingest_alias}
        for name in sorted({route.function for route in routes} - set(handlers)):
            handlers[name] = functions[name] = AuditFunction(
                self,
                f"Route-{name}",
                name=name,
                key=key,
                layers=layers,
                pyarrow=name in PYARROW_FUNCTIONS,
                memory_mb=PYARROW_MEMORY_MB if name in PYARROW_FUNCTIONS else 256,
                timeout_seconds=ROUTE_TIMEOUT_SECONDS,
                log_retention=retention,
                environment={Env.AUDIT_BUCKET: storage.audit_bucket.bucket_name, Env.KMS_KEY_ID: key.key_arn},
            ).function

        api = Api(
            self,
            "Api",
            settings=settings,
            key=key,
            authorizer_function=authorizer.function,
            routes=routes,
            handlers=handlers,
        )
        Monitoring(
            self,
            "Monitoring",
            settings=settings,
            key=key,
            rest_api=api.rest_api,
            queue=ingestion.queue,
            dead_letter_queue=ingestion.dead_letter_queue,
            functions=functions,
        )

        self._wire_ingest(functions["ingest"], queue_arn=ingestion.queue.queue_arn)
        self._wire_writer(functions["writer"])
        self._wire_checkpoint(functions["checkpoint"])
        if "queries" in functions:
            self._wire_queries(functions["queries"], queue_arn=ingestion.queue.queue_arn,
                               queue_url=ingestion.queue.queue_url)
        if "proofs" in functions:
            self._wire_proofs(functions["proofs"])
        if "privacy" in functions:
            self._wire_privacy(functions["privacy"], queue_arn=ingestion.queue.queue_arn,
                               queue_url=ingestion.queue.queue_url)
        if "config" in functions:
            self._wire_config(functions["config"], queue_arn=ingestion.queue.queue_arn,
                              queue_url=ingestion.queue.queue_url)

        CfnOutput(self, "ApiUrl", value=api.rest_api.url)
        CfnOutput(self, "UserPoolId", value=identity.user_pool.user_pool_id)
        CfnOutput(self, "WorkloadClientId", value=identity.workload_client.user_pool_client_id)
        CfnOutput(self, "PeopleClientId", value=identity.people_client.user_pool_client_id)
        CfnOutput(self, "TokenUrl", value=f"{identity.domain.base_url()}/oauth2/token")
        CfnOutput(self, "AuditBucketName", value=storage.audit_bucket.bucket_name)
        CfnOutput(self, "AthenaWorkGroup", value=self.analytics.workgroup.name)
        # Verifiers fetch the public key once: aws kms get-public-key --key-id <this>
        CfnOutput(self, "CheckpointSigningKeyArn", value=integrity.signing_key.key_arn)
        # Attach to whoever verifies the lake: read-only, plus kms:GetPublicKey on the signing key.
        CfnOutput(self, "VerifierPolicyArn", value=integrity.verifier_policy.managed_policy_arn)

    def _wire_ingest(self, function: lambda_.Function, *, queue_arn: str) -> None:
        """Remember event ids, pseudonymize subjects and encrypt personal fields, enqueue."""
        table, subject_keys = self.storage.idempotency_table, self.storage.subject_keys_table
        function.add_environment(Env.IDEMPOTENCY_TABLE, table.table_name)
        function.add_environment(Env.SUBJECT_KEYS_TABLE, subject_keys.table_name)
        _allow(function, ["sqs:SendMessage"], [queue_arn])
        # Subject keys are created on first sight, never deleted here.
        _allow(
            function,
            ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem"],
            [subject_keys.table_arn],
        )
        _allow(
            function,
            [
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:PutItem",
                "dynamodb:BatchWriteItem",
                "dynamodb:UpdateItem",
                "dynamodb:ConditionCheckItem",
            ],
            [table.table_arn],
        )
        _allow(function, KEY_USE, [self.storage.key.key_arn])

    def _wire_writer(self, function: lambda_.Function) -> None:
        """Parquet files and the integrity log into the lake, the sequencer in DynamoDB."""
        bucket, ledger = self.storage.audit_bucket, self.storage.ledger_table
        function.add_environment(Env.AUDIT_BUCKET, bucket.bucket_name)
        function.add_environment(Env.LEDGER_TABLE, ledger.table_name)
        _allow(
            function,
            ["s3:PutObject", "s3:GetObject"],
            [bucket.arn_for_objects(f"{EVENTS_PREFIX}*"), bucket.arn_for_objects(f"{INTEGRITY_PREFIX}*")],
        )
        # HeadObject answers 404 for a missing key (not 403) only with ListBucket, and that
        # request carries no s3:prefix, so the grant cannot be narrowed by prefix.
        _allow(function, ["s3:ListBucket"], [bucket.bucket_arn])
        _allow(
            function,
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query",
             "dynamodb:ConditionCheckItem"],
            [ledger.table_arn],
        )
        _allow(function, KEY_USE, [self.storage.key.key_arn])

    def _wire_checkpoint(self, function: lambda_.Function) -> None:
        """Read the integrity log, write signed checkpoints under integrity/ (kms:Sign is in Integrity)."""
        bucket = self.storage.audit_bucket
        function.add_environment(Env.AUDIT_BUCKET, bucket.bucket_name)
        _allow(function, ["s3:PutObject", "s3:GetObject"], [bucket.arn_for_objects(f"{INTEGRITY_PREFIX}*")])
        _allow(function, ["s3:ListBucket"], [bucket.bucket_arn])
        _allow(function, KEY_USE, [self.storage.key.key_arn])

    def _wire_privacy(self, function: lambda_.Function, *, queue_arn: str, queue_url: str) -> None:
        """Subject access reads the subject's events from the lake and decrypts with the
        subject's key; erasure deletes that key. Both actions are audit events themselves."""
        bucket, subject_keys = self.storage.audit_bucket, self.storage.subject_keys_table
        function.add_environment(Env.SUBJECT_KEYS_TABLE, subject_keys.table_name)
        function.add_environment(Env.EVENTS_QUEUE_URL, queue_url)
        _allow(
            function,
            ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
            [subject_keys.table_arn],
        )
        _allow(function, ["s3:GetObject"], [bucket.arn_for_objects(f"{EVENTS_PREFIX}*")])
        _allow(function, ["s3:ListBucket"], [bucket.bucket_arn])
        _allow(function, ["sqs:SendMessage"], [queue_arn])
        _allow(function, KEY_USE, [self.storage.key.key_arn])

    def _wire_config(self, function: lambda_.Function, *, queue_arn: str, queue_url: str) -> None:
        """The settings in force travel as one environment variable (no secrets in them);
        each read is an audit event on the events queue."""
        for name, value in settings_environment(self.settings).items():
            function.add_environment(name, value)
        function.add_environment(Env.EVENTS_QUEUE_URL, queue_url)
        _allow(function, ["sqs:SendMessage"], [queue_arn])
        _allow(function, ["kms:Encrypt", "kms:GenerateDataKey"], [self.storage.key.key_arn])

    def _wire_proofs(self, function: lambda_.Function) -> None:
        """Receipts and checkpoints: read-only on the lake."""
        bucket = self.storage.audit_bucket
        _allow(
            function,
            ["s3:GetObject"],
            [bucket.arn_for_objects(f"{EVENTS_PREFIX}*"), bucket.arn_for_objects(f"{INTEGRITY_PREFIX}*")],
        )
        _allow(function, ["s3:ListBucket"], [bucket.bucket_arn])
        _allow(function, ["kms:Decrypt"], [self.storage.key.key_arn])

    def _wire_queries(self, function: lambda_.Function, *, queue_arn: str, queue_url: str) -> None:
        """Named queries run in the workgroup over the Glue table; Athena reads the lake and
        writes results with the caller's permissions, so those are granted here too. Every
        run is itself an audit event, sent to the events queue like a client's."""
        analytics, bucket = self.analytics, self.storage.audit_bucket
        function.add_environment(Env.GLUE_DATABASE, analytics.database_name)
        function.add_environment(Env.ATHENA_WORKGROUP, analytics.workgroup.name)
        function.add_environment(Env.EVENTS_QUEUE_URL, queue_url)
        _allow(function, ["sqs:SendMessage"], [queue_arn])
        workgroup = self.format_arn(service="athena", resource="workgroup", resource_name=analytics.workgroup.name)
        _allow(
            function,
            ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
             "athena:StopQueryExecution"],
            [workgroup],
        )
        _allow(
            function,
            ["glue:GetDatabase", "glue:GetTable"],
            [
                self.format_arn(service="glue", resource="catalog"),
                self.format_arn(service="glue", resource="database", resource_name=analytics.database_name),
                self.format_arn(
                    service="glue", resource="table", resource_name=f"{analytics.database_name}/{EVENTS_TABLE}"
                ),
            ],
        )
        _allow(function, ["s3:GetObject"], [bucket.arn_for_objects(f"{EVENTS_PREFIX}*")])
        _allow(
            function,
            ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
            [analytics.results_bucket.arn_for_objects("*")],
        )
        _allow(
            function,
            ["s3:ListBucket", "s3:GetBucketLocation"],
            [bucket.bucket_arn, analytics.results_bucket.bucket_arn],
        )
        _allow(function, KEY_USE, [self.storage.key.key_arn])
