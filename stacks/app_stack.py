"""The mlaudit stack: builds each unit, then every function from its declaration in
`mlaudit.functions` (role, environment, log group), and wires the functions to the API,
the queue and the schedule. No permission is granted anywhere else."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from mlaudit import events_view
from mlaudit.functions import FUNCTIONS
from mlaudit.resources import Attr, Resource
from mlaudit.routes import ROUTES, Route
from mlaudit.settings import Settings

from stacks.analytics import Analytics
from stacks.api import Api
from stacks.capture import Capture
from stacks.functions import AuditFunction, Layers, ResourceMap
from stacks.identity import Identity
from stacks.imports import Imports
from stacks.ingestion import Ingestion
from stacks.integrity import Integrity
from stacks.monitoring import Monitoring
from stacks.monitors import Monitors
from stacks.policies import CdkValues
from stacks.policies import apply as apply_policies
from stacks.storage import Storage

DEFAULT_CALLBACK_URLS = ("http://localhost:8080/callback",)
# Where each function's construct sits (kept stable: logical ids and acknowledgments use it).
FUNCTION_SCOPES = {"ingest": ("Ingestion", "Ingest"), "writer": ("Ingestion", "Writer"),
                   "imports": ("Imports", "Import"),
                   "checkpoint": ("Integrity", "Checkpoint"), "compaction": ("Integrity", "Compaction"),
                   "authorizer": (None, "Authorizer"),
                   "monitors": ("Monitors", "Evaluator"), "capture": ("Capture", "Capture")}


def function_scope(name: str) -> tuple[str | None, str]:
    """(the unit a function's construct sits in, or None for the stack; its id): a function
    not listed above is a route function, Route-<name>, in the stack."""
    return FUNCTION_SCOPES.get(name, (None, f"Route-{name}"))


def function_path(name: str) -> str:
    """A function's construct path below the stack, e.g. Ingestion/Writer or Route-queries."""
    scope, function_id = function_scope(name)
    return f"{scope}/{function_id}" if scope else function_id


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
        unknown = sorted({route.function for route in routes} - {spec.name for spec in FUNCTIONS})
        if unknown:
            raise ValueError(f"routes name functions with no declaration in mlaudit.functions: {unknown}")
        self.storage = storage = Storage(self, "Storage", settings=settings)
        key = storage.key
        identity = Identity(self, "Identity", settings=settings, callback_urls=callback_urls)
        layers = Layers(self, "Layers")
        ingestion = Ingestion(self, "Ingestion", settings=settings, key=key)
        integrity = Integrity(self, "Integrity", settings=settings, key=key, audit_bucket=storage.audit_bucket,
                              access_logs=storage.access_logs)
        self.analytics = analytics = Analytics(
            self,
            "Analytics",
            settings=settings,
            key=key,
            audit_bucket=storage.audit_bucket,
            access_logs=storage.access_logs,
        )
        imports = Imports(self, "Imports", key=key, access_logs=storage.access_logs)
        capture = Capture(self, "Capture", key=key)
        # Generated from lambdas/mlaudit/monitors/monitors.json: the topic now, the rest once built.
        self.monitors = monitors = Monitors(self, "Monitors", settings=settings, key=key)
        self.resources = resources = self.resource_map(
            storage, ingestion, integrity, analytics, identity, imports, monitors, capture)
        if settings.quicksight_principal_arn:
            analytics.share_with_quicksight(settings.quicksight_principal_arn, resources)

        scopes = {"Ingestion": ingestion, "Integrity": integrity, "Imports": imports, "Monitors": monitors,
                  "Capture": capture, None: self}
        self.functions: dict[str, AuditFunction] = {}
        for spec in FUNCTIONS:
            scope_name, function_id = function_scope(spec.name)
            self.functions[spec.name] = AuditFunction(
                scopes[scope_name], function_id, spec=spec, settings=settings, resources=resources,
                key=key, layers=layers,
            )
        functions = {name: built.function for name, built in self.functions.items()}
        ingestion.serve(settings=settings, ingest=functions["ingest"], writer=functions["writer"])
        recovery_schedule = ingestion.sweep(functions["writer"])
        integrity.schedule(functions["checkpoint"])
        integrity.schedule_compaction(functions["compaction"])
        imports.trigger(functions["imports"])
        monitors.wire(functions["monitors"])
        capture.wire(functions["capture"], settings=settings, resources=resources)

        # The API calls ingest's alias; every other route its function.
        handlers: dict[str, lambda_.IFunction] = {**functions, "ingest": ingestion.ingest_alias}
        api = Api(
            self,
            "Api",
            settings=settings,
            key=key,
            authorizer_function=functions["authorizer"],
            routes=routes,
            handlers={name: handlers[name] for name in {route.function for route in routes}},
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            settings=settings,
            key=key,
            rest_api=api.rest_api,
            queue=ingestion.queue,
            dead_letter_queue=ingestion.dead_letter_queue,
            imports_dead_letter_queue=imports.dead_letter_queue,
            capture_dead_letter_queue=capture.dead_letter_queue,
            functions=functions,
            monitor_widgets=monitors.widgets,
        )

        # Every resource policy, from its one declaration (mlaudit.resource_policies).
        resources.register(Resource.ALARM_TOPIC, monitoring.topic.topic_arn)
        resources.register(Resource.ACCESS_LOGS_BUCKET, storage.access_logs.bucket_arn)
        resources.register(Resource.CHECKPOINT_SCHEDULE, integrity.schedule_rule.rule_arn)
        resources.register(Resource.MONITORS_SCHEDULE, monitors.schedule.rule_arn)
        resources.register(Resource.RECOVERY_SCHEDULE, recovery_schedule.rule_arn)
        resources.register(Resource.COMPACTION_SCHEDULE, integrity.compaction_rule.rule_arn)
        resources.register(Resource.FILE_LANDED_RULE, imports.rule.rule_arn)
        resources.register(Resource.SAGEMAKER_RULE, capture.rule.rule_arn)
        resources.register(Resource.REST_API, api.rest_api.arn_for_execute_api(), id=api.rest_api.rest_api_id,
                           stage=api.stage.stage_name, authorizer_id=api.authorizer.authorizer_id)
        self.policy_values = CdkValues(self, resources, {**{name: f.function_arn for name, f in functions.items()},
                                                         "ingest": ingestion.ingest_alias.function_arn})
        apply_policies(self.policy_values, {
            Resource.AUDIT_BUCKET: storage.audit_bucket, Resource.WITNESS_BUCKET: integrity.witness_bucket,
            Resource.RESULTS_BUCKET: analytics.results_bucket, Resource.LANDING_BUCKET: imports.landing_bucket,
            Resource.ACCESS_LOGS_BUCKET: storage.access_logs, Resource.EVENTS_QUEUE: ingestion.queue,
            Resource.DEAD_LETTER_QUEUE: ingestion.dead_letter_queue,
            Resource.IMPORTS_DEAD_LETTER_QUEUE: imports.dead_letter_queue,
            Resource.CAPTURE_DEAD_LETTER_QUEUE: capture.dead_letter_queue,
            Resource.WITNESS_TOPIC: integrity.witness_topic, Resource.MONITORS_TOPIC: monitors.topic,
            Resource.ALARM_TOPIC: monitoring.topic, Resource.DATA_KEY: storage.key,
            Resource.SIGNING_KEY: integrity.signing_key, Resource.ENTRY_KEY: integrity.entry_key,
            Resource.SEAL_KEY: integrity.seal_key,
        })

        CfnOutput(self, "ApiUrl", value=api.rest_api.url)
        CfnOutput(self, "UserPoolId", value=identity.user_pool.user_pool_id)
        CfnOutput(self, "WorkloadClientId", value=identity.workload_client.user_pool_client_id)
        CfnOutput(self, "PeopleClientId", value=identity.people_client.user_pool_client_id)
        CfnOutput(self, "TokenUrl", value=f"{identity.domain.base_url()}/oauth2/token")
        CfnOutput(self, "AuditBucketName", value=storage.audit_bucket.bucket_name)
        CfnOutput(self, "AthenaWorkGroup", value=self.analytics.workgroup.name)
        # `mlaudit dlq` lists the dead letters and sends chosen ones back to the events queue.
        CfnOutput(self, "EventsQueueUrl", value=ingestion.queue.queue_url)
        CfnOutput(self, "DeadLetterQueueUrl", value=ingestion.dead_letter_queue.queue_url)
        # Drop JSON Lines or Parquet files under imports/ here; reports appear under reports/.
        CfnOutput(self, "LandingBucketName", value=imports.landing_bucket.bucket_name)
        # Verifiers fetch the public key once: aws kms get-public-key --key-id <this>
        CfnOutput(self, "CheckpointSigningKeyArn", value=integrity.signing_key.key_arn)
        CfnOutput(self, "LogEntryKeyArn", value=integrity.entry_key.key_arn)
        CfnOutput(self, "PackSealKeyArn", value=integrity.seal_key.key_arn)
        CfnOutput(self, "WitnessBucketName", value=integrity.witness_bucket.bucket_name)
        # `mlaudit compact --stack` invokes it at once (it also runs every compaction_interval_hours).
        CfnOutput(self, "CompactionFunctionName", value=functions["compaction"].function_name)
        CfnOutput(self, "WitnessTopicArn", value=integrity.witness_topic.topic_arn)
        # Subscribe on-call tools here: a monitor entering ALARM (and CloudWatch's monitor alarms).
        CfnOutput(self, "MonitorsTopicArn", value=monitors.topic.topic_arn)
        # The operations alarms' topic (CloudWatch alarms publish here; make smoke delivers one).
        CfnOutput(self, "AlarmTopicArn", value=monitoring.topic.topic_arn)
        # A landed file's event that could not be delivered to, or imported by, the import function.
        CfnOutput(self, "ImportsDeadLetterQueueUrl", value=imports.dead_letter_queue.queue_url)
        # What the capture function refused (with its reasons) or could not be delivered to it.
        CfnOutput(self, "CaptureDeadLetterQueueUrl", value=capture.dead_letter_queue.queue_url)
        # make smoke invokes it with the event EventBridge would deliver (SageMaker's source is AWS's own).
        CfnOutput(self, "CaptureFunctionName", value=functions["capture"].function_name)
        # Attach to whoever verifies the lake: read-only, plus kms:GetPublicKey on the signing key.
        CfnOutput(self, "VerifierPolicyArn", value=integrity.verifier_policy.managed_policy_arn)

    def resource_map(
        self, storage: Storage, ingestion: Ingestion, integrity: Integrity, analytics: Analytics, identity: Identity,
        imports: Imports, monitors: Monitors, capture: Capture,
    ) -> ResourceMap:
        """Each declared resource as this stack creates it."""
        database = analytics.database_name
        arns = {
            Resource.AUDIT_BUCKET: storage.audit_bucket.bucket_arn,
            Resource.DATA_KEY: storage.key.key_arn,
            Resource.SIGNING_KEY: integrity.signing_key.key_arn,
            Resource.ENTRY_KEY: integrity.entry_key.key_arn,
            Resource.SEAL_KEY: integrity.seal_key.key_arn,
            Resource.WITNESS_BUCKET: integrity.witness_bucket.bucket_arn,
            Resource.WITNESS_TOPIC: integrity.witness_topic.topic_arn,
            Resource.MONITORS_TOPIC: monitors.topic.topic_arn,
            Resource.EVENTS_QUEUE: ingestion.queue.queue_arn,
            Resource.DEAD_LETTER_QUEUE: ingestion.dead_letter_queue.queue_arn,
            Resource.IDEMPOTENCY_TABLE: storage.idempotency_table.table_arn,
            Resource.LEDGER_TABLE: storage.ledger_table.table_arn,
            Resource.SUBJECT_KEYS_TABLE: storage.subject_keys_table.table_arn,
            Resource.RESULTS_BUCKET: analytics.results_bucket.bucket_arn,
            Resource.LANDING_BUCKET: imports.landing_bucket.bucket_arn,
            Resource.IMPORTS_DEAD_LETTER_QUEUE: imports.dead_letter_queue.queue_arn,
            Resource.CAPTURE_DEAD_LETTER_QUEUE: capture.dead_letter_queue.queue_arn,
            Resource.WORKGROUP: self.format_arn(
                service="athena", resource="workgroup", resource_name=analytics.workgroup.name),
            Resource.GLUE_CATALOG: self.format_arn(service="glue", resource="catalog"),
            Resource.GLUE_DATABASE: self.format_arn(service="glue", resource="database", resource_name=database),
            **{resource: self.format_arn(service="glue", resource="table", resource_name=f"{database}/{name}")
               for resource, name in ((Resource.EVENTS_GLUE_TABLE, events_view.VIEW),
                                      (Resource.WRITTEN_GLUE_TABLE, events_view.WRITTEN_TABLE),
                                      (Resource.COMPACTED_GLUE_TABLE, events_view.COMPACTED_TABLE))},
            Resource.USER_POOL: identity.user_pool.user_pool_arn,
        }
        attributes = {
            Attr(Resource.AUDIT_BUCKET, "name"): storage.audit_bucket.bucket_name,
            Attr(Resource.LANDING_BUCKET, "name"): imports.landing_bucket.bucket_name,
            Attr(Resource.WITNESS_BUCKET, "name"): integrity.witness_bucket.bucket_name,
            Attr(Resource.EVENTS_QUEUE, "url"): ingestion.queue.queue_url,
            Attr(Resource.CAPTURE_DEAD_LETTER_QUEUE, "url"): capture.dead_letter_queue.queue_url,
            Attr(Resource.IDEMPOTENCY_TABLE, "name"): storage.idempotency_table.table_name,
            Attr(Resource.LEDGER_TABLE, "name"): storage.ledger_table.table_name,
            Attr(Resource.SUBJECT_KEYS_TABLE, "name"): storage.subject_keys_table.table_name,
            Attr(Resource.GLUE_DATABASE, "name"): database,
            Attr(Resource.WORKGROUP, "name"): analytics.workgroup.name,
            Attr(Resource.USER_POOL, "jwks_url"): identity.jwks_url,
            Attr(Resource.USER_POOL, "issuer"): identity.issuer,
            Attr(Resource.USER_POOL, "client_ids"): Fn.join(" ", identity.client_ids),
        }
        return ResourceMap(self, arns, attributes)
