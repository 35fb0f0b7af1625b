"""The mlaudit stack: builds each unit and wires them together. Every permission a
function has is granted here, next to the resources it touches."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from mlaudit.handlers.queries import ATHENA_WORKGROUP, GLUE_DATABASE
from mlaudit.layout import EVENTS_PREFIX, INTEGRITY_PREFIX
from mlaudit.routes import ROUTES, Route
from mlaudit.settings import Env, Settings

from stacks.analytics import EVENTS_TABLE, Analytics
from stacks.api import Api
from stacks.functions import AuditFunction, Layers, log_retention
from stacks.identity import Identity
from stacks.ingestion import Ingestion
from stacks.integrity import Integrity
from stacks.monitoring import Monitoring
from stacks.storage import Storage

DEFAULT_CALLBACK_URLS = ("http://localhost:8080/callback",)
# Route functions that read Parquet (receipts) and so need the pyarrow layer.
PYARROW_FUNCTIONS = frozenset({"proofs"})


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
        storage = Storage(self, "Storage", settings=settings)
        key = storage.key
        identity = Identity(self, "Identity", settings=settings, callback_urls=callback_urls)
        layers = Layers(self, "Layers")
        ingestion = Ingestion(self, "Ingestion", settings=settings, key=key, layers=layers)
        integrity = Integrity(self, "Integrity", settings=settings, key=key, layers=layers)
        retention = log_retention(settings.log_retention_days)

        authorizer = AuditFunction(
            self,
            "Authorizer",
            name="authorizer",
            key=key,
            layers=[layers.powertools],
            log_retention=retention,
            timeout_seconds=5,
            environment={
                Env.JWKS_URL: identity.jwks_url,
                Env.TOKEN_ISSUER: identity.issuer,
                Env.ALLOWED_CLIENT_IDS: Fn.join(" ", identity.client_ids),
            },
        )
        # Routes served by functions other than ingest get a plain function each; they
        # receive permissions here once their handlers say what they need.
        handlers: dict[str, lambda_.IFunction] = {"ingest": ingestion.ingest_alias}
        functions: dict[str, lambda_.IFunction] = {
            "ingest": ingestion.ingest.function,
            "writer": ingestion.writer.function,
            "authorizer": authorizer.function,
            "checkpoint": integrity.checkpoint.function,
        }
        for name in sorted({route.function for route in routes} - set(handlers)):
            route_function = AuditFunction(
                self,
                f"Route-{name}",
                name=name,
                key=key,
                layers=[layers.powertools, layers.pandas] if name in PYARROW_FUNCTIONS else [layers.powertools],
                log_retention=retention,
                environment={Env.AUDIT_BUCKET: storage.audit_bucket.bucket_name, Env.KMS_KEY_ID: key.key_arn},
            )
            handlers[name] = functions[name] = route_function.function

        api = Api(
            self,
            "Api",
            settings=settings,
            key=key,
            authorizer_function=authorizer.function,
            routes=routes,
            handlers=handlers,
        )
        self.analytics = Analytics(
            self,
            "Analytics",
            settings=settings,
            key=key,
            audit_bucket=storage.audit_bucket,
            access_logs=storage.access_logs,
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

        # Ingest: remember event ids, encrypt personal fields, enqueue.
        ingest = ingestion.ingest.function
        ingest.add_environment(Env.IDEMPOTENCY_TABLE, storage.idempotency_table.table_name)
        ingest.add_to_role_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[ingestion.queue.queue_arn])
        )
        ingest.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:PutItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:ConditionCheckItem",
                ],
                resources=[storage.idempotency_table.table_arn],
            )
        )
        _use_key(ingest, key)

        # Writer: Parquet files and the integrity log into the lake, the sequencer in DynamoDB.
        writer = ingestion.writer.function
        writer.add_environment(Env.AUDIT_BUCKET, storage.audit_bucket.bucket_name)
        writer.add_environment(Env.LEDGER_TABLE, storage.ledger_table.table_name)
        writer.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:GetObject"],
                resources=[
                    storage.audit_bucket.arn_for_objects(f"{EVENTS_PREFIX}*"),
                    storage.audit_bucket.arn_for_objects(f"{INTEGRITY_PREFIX}*"),
                ],
            )
        )
        # HeadObject answers 404 for a missing key (not 403) only with ListBucket, and that
        # request carries no s3:prefix, so the grant cannot be narrowed by prefix.
        writer.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[storage.audit_bucket.bucket_arn])
        )
        writer.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:Query",
                    "dynamodb:ConditionCheckItem",
                ],
                resources=[storage.ledger_table.table_arn],
            )
        )
        _use_key(writer, key)

        # Checkpoint signer: reads the log, writes signed checkpoints under integrity/.
        checkpoint = integrity.checkpoint.function
        checkpoint.add_environment(Env.AUDIT_BUCKET, storage.audit_bucket.bucket_name)
        checkpoint.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:GetObject"],
                resources=[storage.audit_bucket.arn_for_objects(f"{INTEGRITY_PREFIX}*")],
            )
        )
        checkpoint.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[storage.audit_bucket.bucket_arn])
        )
        _use_key(checkpoint, key)

        if "queries" in functions:
            self._wire_queries(functions["queries"], storage=storage)
        if "proofs" in functions:
            self._wire_proofs(functions["proofs"], storage=storage)

        CfnOutput(self, "ApiUrl", value=api.rest_api.url)
        CfnOutput(self, "UserPoolId", value=identity.user_pool.user_pool_id)
        CfnOutput(self, "WorkloadClientId", value=identity.workload_client.user_pool_client_id)
        CfnOutput(self, "PeopleClientId", value=identity.people_client.user_pool_client_id)
        CfnOutput(self, "TokenUrl", value=f"{identity.domain.base_url()}/oauth2/token")
        CfnOutput(self, "AuditBucketName", value=storage.audit_bucket.bucket_name)
        CfnOutput(self, "AthenaWorkGroup", value=self.analytics.workgroup.name)
        # Verifiers fetch the public key once: aws kms get-public-key --key-id <this>
        CfnOutput(self, "CheckpointSigningKeyArn", value=integrity.signing_key.key_arn)


    def _wire_proofs(self, function: lambda_.IFunction, *, storage: Storage) -> None:
        """Receipts and checkpoints: read-only on the lake."""
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[
                    storage.audit_bucket.arn_for_objects(f"{EVENTS_PREFIX}*"),
                    storage.audit_bucket.arn_for_objects(f"{INTEGRITY_PREFIX}*"),
                ],
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[storage.audit_bucket.bucket_arn])
        )
        function.add_to_role_policy(iam.PolicyStatement(actions=["kms:Decrypt"], resources=[storage.key.key_arn]))

    def _wire_queries(self, function: lambda_.IFunction, *, storage: Storage) -> None:
        """Named queries: run in the workgroup over the Glue table, read results back."""
        assert isinstance(function, lambda_.Function)
        analytics = self.analytics
        function.add_environment(GLUE_DATABASE, analytics.database_name)
        function.add_environment(ATHENA_WORKGROUP, analytics.workgroup.name)
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:StopQueryExecution",
                ],
                resources=[
                    self.format_arn(service="athena", resource="workgroup", resource_name=analytics.workgroup.name)
                ],
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["glue:GetDatabase", "glue:GetTable"],
                resources=[
                    self.format_arn(service="glue", resource="catalog"),
                    self.format_arn(service="glue", resource="database", resource_name=analytics.database_name),
                    self.format_arn(
                        service="glue", resource="table", resource_name=f"{analytics.database_name}/{EVENTS_TABLE}"
                    ),
                ],
            )
        )
        # Athena reads the lake and writes results with the caller's permissions.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[storage.audit_bucket.arn_for_objects(f"{EVENTS_PREFIX}*")]
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
                resources=[analytics.results_bucket.arn_for_objects("*")],
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[storage.audit_bucket.bucket_arn, analytics.results_bucket.bucket_arn],
            )
        )
        _use_key(function, storage.key)


def _use_key(function: lambda_.Function, key: kms.IKey) -> None:
    """Data keys for SSE (SQS, S3, DynamoDB) and for envelope encryption of personal data."""
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            resources=[key.key_arn],
        )
    )
