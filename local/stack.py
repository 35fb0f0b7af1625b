"""The whole local stack in one object: moto, resources, token endpoint, API emulator,
writer poller. Used by ``python -m local serve`` and directly by Python code:

    with LocalStack(Settings.from_cdk_json(), writer_window=1) as stack:
        stack.config["api_url"]; stack.wait_drained(30)

Handlers run in this process. Each function gets exactly the environment its
declaration (`mlaudit.functions`) gives it on AWS, and AWS clients that refuse any
call its declared grants do not allow (local/iam.py); both are handed to the
function through the composition root (`mlaudit.bootstrap`), not through a shared
``os.environ``. Stopping puts every function back to Lambda's defaults.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import boto3
from botocore.config import Config
from mlaudit import bootstrap, monitors, resource_policies
from mlaudit.functions import BY_NAME, CAPTURE_PIPE, FUNCTIONS, FunctionSpec
from mlaudit.functions import spec as function_spec
from mlaudit.resources import Attr, Kind, Resource
from mlaudit.routes import LOCAL_STAGE
from mlaudit.settings import FUNCTION_RUNTIME_ENVIRONMENT, Settings

from local import api, invoke, oauth, policy
from local.capture import EventBridgeDeliveries, StreamPipe
from local.faults import FaultPlan
from local.httpd import BackgroundServer
from local.iam import Enforcer, ServicePrincipals, World, enforced_clients, statements_for
from local.landing import LandingWatcher
from local.moto_server import FAKE_CREDENTIALS, MotoServer
from local.poller import WriterPoller
from local.resources import Overrides, Resources, create_resources
from local.schedule import Schedule
from local.services import AlarmActions, LambdaTarget
from local.usage import Usage

DEFAULT_REGION = "us-east-1"
STAGE = LOCAL_STAGE
# What Lambda's platform sets for every function; the same for all, so process-wide.
PLATFORM_ENVIRONMENT = {
    **FUNCTION_RUNTIME_ENVIRONMENT,
    "POWERTOOLS_METRICS_NAMESPACE": "mlaudit",
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon on a laptop
}


class LocalStack:
    def __init__(
        self, settings: Settings | None = None, *, writer_window: float | None = None,
        overrides: Overrides | None = None, region: str = DEFAULT_REGION, run_poller: bool = True,
        checkpoint_interval: float = 60.0, monitor_interval: float = 300.0, monitors_file: str | None = None,
        recovery_interval: float = 60.0,
        usage: Usage | None = None, progress: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings or Settings.from_cdk_json()
        self.writer_window = (
            self.settings.writer_batch_window_seconds if writer_window is None else writer_window
        )
        self.overrides = overrides or Overrides()
        self.region = region
        self.run_poller = run_poller
        self.checkpoint_interval = checkpoint_interval
        self.checkpoints: Schedule | None = None
        # The writer's recovery sweep logs files it stored and did not log (every 5 minutes on AWS).
        self.recovery_interval = recovery_interval
        self.recoveries: Schedule | None = None
        # The monitors run on a schedule too (monitor_interval_minutes on AWS), from this file
        # (default: the packaged lambdas/mlaudit/monitors/monitors.json).
        self.monitor_interval = monitor_interval
        self.monitors_file = monitors_file
        self.monitor_runs: Schedule | None = None
        self.compaction_runs: Schedule | None = None  # every compaction_interval_hours, as on AWS
        self.landing: LandingWatcher | None = None
        self.capture_deliveries: EventBridgeDeliveries | None = None
        self.capture_pipe: StreamPipe | None = None
        self.config: dict[str, Any] = {}
        self.resources: Resources | None = None
        self.poller: WriterPoller | None = None
        self._moto = MotoServer()
        self._servers: list[BackgroundServer] = []
        self._saved_env: dict[str, str | None] = {}
        self._query_cache: str | None = None
        self.enforcers: dict[str, Enforcer] = {}
        self.api_id = api.new_api_id()
        self.services: ServicePrincipals | None = None  # AWS services' requests, checked (local/services.py)
        self.alarm_actions: AlarmActions | None = None
        self.alarm_names: dict[str, str] = {}  # alarm name -> the topic it notifies
        # Local-only: grants to withhold, {function: {action, ...}}, and resource-policy statements,
        # {RESOURCE: {Sid, ...}} (a `mlaudit.resources.Resource` name), to show what AWS would deny.
        self.withheld: dict[str, set[str]] = {}
        # Local-only: AWS calls of the functions that fail on purpose (local/faults.py).
        self.faults = FaultPlan()
        # Local-only: count every AWS call, invocation and request (local/usage.py).
        self.usage = usage
        # Told each step of a start that takes minutes on a busy machine (`make demo` prints them).
        self.progress = progress or (lambda step: None)

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> dict[str, Any]:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> dict[str, Any]:
        # Fake credentials and no proxy for local addresses, before any client exists.
        self._set_env({
            **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region,
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        })
        self.progress("starting moto (the AWS services)")
        moto_url = self._moto.start()
        self.progress("creating the stack's resources (buckets, keys, queues, tables, user pool)")
        resources = self.resources = create_resources(self.client, self.settings, self.region, self.overrides)
        self.progress("configuring the functions with their IAM roles")
        jwks_url = f"{moto_url}/{resources.user_pool_id}/.well-known/jwks.json"
        self._set_env(PLATFORM_ENVIRONMENT)
        if self.usage is not None:
            self.usage.labels.update(self.usage_labels())
            self.usage.admin_dynamodb = self.client("dynamodb")
            self.usage.start_logs()
        self._configure_functions(resources, jwks_url)

        self.progress("starting the API, the token endpoint, the writer and the schedules")
        issuer = oauth.TokenIssuer(self.client("cognito-idp"), resources.user_pool_id, resources.issuer)
        token_server = self._serve(oauth.handler_class(self._counted(issuer, "token_proxy")), "oauth")
        emulator = api.ApiEmulator(
            region=self.region, account_id=resources.account_id, stage=STAGE, api_id=self.api_id,
            function_timeouts={spec.name: spec.timeout(self.settings) for spec in FUNCTIONS},
            may_invoke=self._api_may_invoke,
            load_handler=self.handler,
        )
        api_server = self._serve(api.handler_class(self._counted(emulator, "api_proxy")), "api")
        # Lambda's Invoke API, for what invokes a function directly (`mlaudit compact`, tests).
        invoker = invoke.Invoker(
            self.settings.name_prefix,
            lambda name: BY_NAME[name].timeout(self.settings) if name in BY_NAME else None,
            region=self.region, account_id=resources.account_id, load_handler=self.handler)
        lambda_server = self._serve(invoke.handler_class(invoker), "lambda")
        if self.run_poller:
            # Lambda's event source polls with the writer's role.
            self.poller = WriterPoller(
                self.function_clients("writer")("sqs"), queue_url=resources.queue_url, queue_arn=resources.queue_arn,
                region=self.region, batch_size=self.settings.writer_batch_size,
                window_seconds=self.writer_window, timeout_seconds=self.settings.writer_timeout_seconds,
                load_handler=lambda: self.handler("writer"),
            ).start()

        # A file dropped in the landing bucket goes to the import function (S3 -> EventBridge on AWS).
        self.landing = LandingWatcher(self.client("s3"), resources.landing_bucket, region=self.region,
                                      deliver=self._file_landed_target().deliver, load_handler=self.handler).start()

        self._start_capture(resources)

        # The integrity log's head is signed on a schedule (every checkpoint_interval_minutes on AWS).
        self.checkpoints = Schedule(
            "checkpoint", self.checkpoint_interval, timeout_seconds=60, region=self.region,
            load_handler=self.handler,
            permitted=lambda: self._events_may_invoke("checkpoint", Resource.CHECKPOINT_SCHEDULE),
        ).start()
        self.monitor_runs = Schedule(
            "monitors", self.monitor_interval, timeout_seconds=300, region=self.region,
            load_handler=self.handler,
            permitted=lambda: self._events_may_invoke("monitors", Resource.MONITORS_SCHEDULE),
        ).start()
        # The writer's recovery sweep, on its own schedule (every 5 minutes on AWS).
        self.recoveries = Schedule(
            "writer", self.recovery_interval, timeout_seconds=self.settings.writer_timeout_seconds, region=self.region,
            load_handler=self.handler,
            permitted=lambda: self._events_may_invoke("writer", Resource.RECOVERY_SCHEDULE),
        ).start()
        self.compaction_runs = Schedule(
            "compaction", self.settings.compaction_interval_hours * 3600.0, timeout_seconds=900, region=self.region,
            load_handler=self.handler,
            permitted=lambda: self._events_may_invoke("compaction", Resource.COMPACTION_SCHEDULE),
        ).start()
        # CloudWatch's side of the alarms: a state change notifies the alarm's topics.
        self._create_alarms(resources)
        self.alarm_actions = AlarmActions(self.client("cloudwatch"), self.client("sns"), self.services,
                                          region=self.region, account=resources.account_id).start()

        self.config = {
            "api_url": f"{api_server.url}/{STAGE}",
            "token_url": f"{token_server.url}{oauth.TOKEN_PATH}",
            "aws_endpoint_url": moto_url,
            # Lambda's Invoke API (local/invoke.py): each function runs with its own role.
            "lambda_endpoint_url": lambda_server.url,
            "compaction_function": f"{self.settings.name_prefix}-compaction",
            "glue_database": self.names[Resource.GLUE_DATABASE],
            "region": self.region,
            "account_id": resources.account_id,
            "api_id": emulator.api_id,
            "stage": STAGE,
            "bucket": resources.bucket,
            "landing_bucket": resources.landing_bucket,
            "kms_key_id": resources.kms_key_id,
            "kms_key_arn": resources.kms_key_arn,
            "kms_alias": resources.kms_alias,
            "signing_key_id": resources.signing_key_id,
            "entry_key_id": resources.entry_key_id,
            "seal_key_id": resources.seal_key_id,
            "witness_bucket": resources.witness_bucket,
            "witness_topic_arn": resources.witness_topic_arn,
            "checkpoint_interval_seconds": self.checkpoint_interval,
            "monitors_topic_arn": resources.monitors_topic_arn,
            "alarm_topic_arn": resources.alarm_topic_arn,
            "alarms": self.alarm_names,
            "imports_dlq_url": resources.imports_dlq_url,
            "capture": self._capture_config(resources),
            "monitor_interval_seconds": self.monitor_interval,
            "queue_url": resources.queue_url,
            "dlq_url": resources.dlq_url,
            "tables": {"idempotency": resources.idempotency_table, "ledger": resources.ledger_table,
                       "subject_keys": resources.subject_keys_table},
            "user_pool_id": resources.user_pool_id,
            "issuer": resources.issuer,
            "jwks_url": jwks_url,
            "user_client_id": resources.user_client_id,
            "machine_client": {
                "client_id": resources.machine_client_id,
                "client_secret": resources.machine_client_secret,
                "scopes": list(resources.machine_scopes),
            },
            "users": resources.users,
            "writer": {
                "batch_size": self.settings.writer_batch_size,
                "window_seconds": self.writer_window,
                "visibility_timeout_seconds": resources.visibility_timeout_seconds,
                "max_receive_count": self.overrides.max_receive_count or self.settings.max_receive_count,
            },
        }
        return self.config

    def world(self) -> World:
        """Local ARNs and keys, for the IAM checks."""
        r = self.resources
        assert r is not None
        base = f"{self.region}:{r.account_id}"
        arns = {
            Resource.AUDIT_BUCKET: f"arn:aws:s3:::{r.bucket}",
            Resource.RESULTS_BUCKET: f"arn:aws:s3:::{r.results_bucket}",
            Resource.LANDING_BUCKET: f"arn:aws:s3:::{r.landing_bucket}",
            Resource.DATA_KEY: r.kms_key_arn,
            Resource.SIGNING_KEY: f"arn:aws:kms:{base}:key/{r.signing_key_id}",
            Resource.ENTRY_KEY: f"arn:aws:kms:{base}:key/{r.entry_key_id}",
            Resource.SEAL_KEY: f"arn:aws:kms:{base}:key/{r.seal_key_id}",
            Resource.WITNESS_BUCKET: f"arn:aws:s3:::{r.witness_bucket}",
            Resource.WITNESS_TOPIC: r.witness_topic_arn,
            Resource.MONITORS_TOPIC: r.monitors_topic_arn,
            Resource.EVENTS_QUEUE: r.queue_arn,
            Resource.DEAD_LETTER_QUEUE: r.dlq_arn,
            Resource.IDEMPOTENCY_TABLE: f"arn:aws:dynamodb:{base}:table/{r.idempotency_table}",
            Resource.LEDGER_TABLE: f"arn:aws:dynamodb:{base}:table/{r.ledger_table}",
            Resource.SUBJECT_KEYS_TABLE: f"arn:aws:dynamodb:{base}:table/{r.subject_keys_table}",
            Resource.WORKGROUP: f"arn:aws:athena:{base}:workgroup/{self.names[Resource.WORKGROUP]}",
            Resource.GLUE_CATALOG: f"arn:aws:glue:{base}:catalog",
            Resource.GLUE_DATABASE: f"arn:aws:glue:{base}:database/{self.names[Resource.GLUE_DATABASE]}",
            **{table: f"arn:aws:glue:{base}:table/{self.names[Resource.GLUE_DATABASE]}/{self.names[table]}"
               for table in (Resource.EVENTS_GLUE_TABLE, Resource.WRITTEN_GLUE_TABLE, Resource.COMPACTED_GLUE_TABLE)},
            Resource.USER_POOL: f"arn:aws:cognito-idp:{base}:userpool/{r.user_pool_id}",
            Resource.ALARM_TOPIC: r.alarm_topic_arn,
            Resource.IMPORTS_DEAD_LETTER_QUEUE: r.imports_dlq_arn,
            Resource.CAPTURE_DEAD_LETTER_QUEUE: r.capture.dlq_arn,
            Resource.CAPTURED_STREAM: r.capture.stream_arn,
            Resource.CAPTURE_FUNCTION: self.function_arn("capture"),
            # Not in moto (S3 delivers no access logs there, EventBridge is played by local/services.py,
            # API Gateway by local/api.py): ARNs only, for the resource policies that name them.
            Resource.ACCESS_LOGS_BUCKET: f"arn:aws:s3:::{self.names[Resource.ACCESS_LOGS_BUCKET]}",
            **{rule: f"arn:aws:events:{base}:rule/{self.names[rule]}" for rule in Resource
               if rule.kind is Kind.RULE},
            Resource.REST_API: f"arn:aws:execute-api:{base}:{self.api_id}/*",
        }
        key = r.kms_key_arn
        signing, entry, seal = arns[Resource.SIGNING_KEY], arns[Resource.ENTRY_KEY], arns[Resource.SEAL_KEY]
        world = World(
            account=r.account_id, region=self.region, arns=arns,
            queue_arns={r.queue_url: r.queue_arn, r.dlq_url: r.dlq_arn, r.imports_dlq_url: r.imports_dlq_arn,
                        r.capture.dlq_url: r.capture.dlq_arn},
            key_arns={r.kms_key_id: key, key: key, r.kms_alias: key, r.signing_key_id: signing, signing: signing,
                      r.entry_key_id: entry, entry: entry, r.seal_key_id: seal, seal: seal},
            # Everything holding audit data is encrypted with the data key, as in stacks/storage.py.
            encrypted_with={r.bucket: key, r.results_bucket: key, r.landing_bucket: key,
                            r.queue_arn: key, r.dlq_arn: key, r.imports_dlq_arn: key, r.capture.dlq_arn: key,
                            r.witness_bucket: key, r.witness_topic_arn: key, r.monitors_topic_arn: key,
                            r.alarm_topic_arn: key,
                            **{arns[t]: key for t in (Resource.IDEMPOTENCY_TABLE, Resource.LEDGER_TABLE,
                                                      Resource.SUBJECT_KEYS_TABLE)}},
        )
        # Every resource policy of the stack (mlaudit.resource_policies), evaluated here: moto
        # evaluates none of them (or none of their conditions).
        values = LocalValues(world, self.api_id, STAGE, self.function_arn)
        for holder, statements in resource_policies.rendered(values).items():
            arn = values.attribute(holder.resource, "arn") if holder.resource else self.function_arn(holder.function)
            withheld = self.withheld.get(holder.resource.name, set()) if holder.resource else set()
            world.policies[arn] = [policy.Statement.from_json(s) for s in statements if s.get("Sid") not in withheld]
        return world

    def function_arn(self, name: str) -> str:
        """The ARN a function's invokers name (ingest: its live alias, as on AWS)."""
        r = self.resources
        assert r is not None
        arn = f"arn:aws:lambda:{self.region}:{r.account_id}:function:{self.settings.name_prefix}-{name}"
        return f"{arn}:live" if name == "ingest" else arn

    # --- what AWS services do (local/services.py), checked as their principals ----------------

    def _api_may_invoke(self, function: str, source_arn: str) -> bool:
        assert self.services is not None
        return self.services.allow_all("apigateway.amazonaws.com", [("lambda:InvokeFunction",
                                                                    self.function_arn(function))],
                                       {"aws:SourceArn": source_arn}) is None

    def _events_may_invoke(self, function: str, rule: Resource) -> bool:
        assert self.services is not None
        return self.services.allow_all("events.amazonaws.com", [("lambda:InvokeFunction", self.function_arn(function))],
                                       {"aws:SourceArn": self._world.arns[rule]}) is None

    def _file_landed_target(self) -> LambdaTarget:
        """EventBridge's target for a landed file: the import function, its retries, its dead letters."""
        return self._rule_target("imports", Resource.FILE_LANDED_RULE)

    def _rule_target(self, function: str, rule: Resource) -> LambdaTarget:
        """EventBridge's target for a rule: its function, Lambda's retries, both dead-letter queues."""
        assert self.services is not None
        spec_ = function_spec(function)
        role_sqs = self.function_clients(function)("sqs")
        stack_sqs = self.client("sqs")
        urls = {arn: url for url, arn in self._world.queue_arns.items()}

        def send(client: Any) -> Callable[[str, dict[str, Any], dict[str, str]], None]:
            return lambda queue, body, attributes: client.send_message(
                QueueUrl=urls[queue], MessageBody=json.dumps(body),
                MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()})

        dead_letter = self._world.arns[spec_.dead_letter] if spec_.dead_letter else None
        return LambdaTarget(
            function, self.function_arn(function), self._world.arns[rule], self.services,
            timeout_seconds=spec_.timeout(self.settings), region=self.region,
            target_dead_letter=self._world.arns[resource_policies.RULE_DEAD_LETTERS[rule]],
            send_with_stack=send(stack_sqs), function_dead_letter=dead_letter, send_with_role=send(role_sqs),
            load_handler=self.handler,
        )

    def _start_capture(self, resources: Resources) -> None:
        """SageMaker's rule on moto's bus (its state from capture_sagemaker) and the capture pipe
        (with capture_dynamodb_stream_arn set; it reads the local stand-in table's stream), as
        stacks/capture.py wires them on AWS (local/capture.py)."""
        from mlaudit.capture import sagemaker  # noqa: PLC0415

        capture, events = resources.capture, self.client("events")
        assert capture is not None
        rule = self.names[Resource.SAGEMAKER_RULE]
        events.put_rule(Name=rule, EventPattern=json.dumps(sagemaker.PATTERN),
                        State="ENABLED" if self.settings.capture_sagemaker else "DISABLED")
        events.put_targets(Rule=rule, Targets=[{"Id": "capture", "Arn": capture.eventbridge_arn}])
        self.capture_deliveries = EventBridgeDeliveries(
            self.client("sqs"), capture.eventbridge_url, self._rule_target("capture", Resource.SAGEMAKER_RULE)).start()
        if self.settings.capture_dynamodb_stream_arn is None:
            return
        pipe_clients = self.function_clients(CAPTURE_PIPE.name)
        spec_ = function_spec("capture")

        def dead_letter(batch: list[Any], error: str) -> None:
            pipe_clients("sqs").send_message(
                QueueUrl=capture.dlq_url, MessageBody=json.dumps(batch), MessageAttributes={
                    "source": {"DataType": "String", "StringValue": "pipe"},
                    "error": {"DataType": "String", "StringValue": error[:1000]}})

        self.capture_pipe = StreamPipe(
            pipe_clients("dynamodbstreams"), capture.stream_arn, enforcer=self.enforcers[CAPTURE_PIPE.name],
            function="capture", function_arn=self.function_arn("capture"), load_handler=self.handler,
            timeout_seconds=spec_.timeout(self.settings), region=self.region, send_dead_letter=dead_letter,
            redeliveries=(self.client("sqs"), capture.pipe_url),
        ).start()

    def _capture_config(self, resources: Resources) -> dict[str, Any]:
        capture = resources.capture
        assert capture is not None
        return {"dlq_url": capture.dlq_url, "table": capture.table, "stream_arn": capture.stream_arn,
                "sagemaker_rule": self.names[Resource.SAGEMAKER_RULE],
                "sagemaker_enabled": self.settings.capture_sagemaker,
                "pipe_running": self.capture_pipe is not None,
                # Local only: an event (a batch) sent here is delivered again, as EventBridge (the pipe) may.
                "eventbridge_delivery_url": capture.eventbridge_url, "pipe_delivery_url": capture.pipe_url}

    def _create_alarms(self, resources: Resources) -> None:
        """The alarms whose delivery the local stack plays: each dead-letter queue's (to the
        operations topic) and one per monitor (to the monitors' topic), as on AWS; moto keeps
        their state, which SetAlarmState changes (moto evaluates no metric)."""
        from mlaudit import monitors  # noqa: PLC0415

        cloudwatch, prefix = self.client("cloudwatch"), self.settings.name_prefix
        assert resources.capture is not None
        queues = {"DeadLetterQueueNotEmpty": resources.dlq_url,
                  "ImportsDeadLetterQueueNotEmpty": resources.imports_dlq_url,
                  "CaptureDeadLetterQueueNotEmpty": resources.capture.dlq_url}
        found = {f"{prefix}-{name}": (resources.alarm_topic_arn, "AWS/SQS", "ApproximateNumberOfMessagesVisible",
                                      [{"Name": "QueueName", "Value": url.rsplit("/", 1)[1]}])
                 for name, url in queues.items()}
        for monitor in monitors.load(self.monitors_file):
            found[f"{prefix}-monitor-{monitor.model_id}-{monitor.name}"] = (
                resources.monitors_topic_arn, self.settings.name_prefix, "monitor_alarm",
                [{"Name": "model_id", "Value": monitor.model_id}, {"Name": "monitor", "Value": monitor.name}])
        for name, (topic, namespace, metric, dimensions) in found.items():
            cloudwatch.put_metric_alarm(
                AlarmName=name, Namespace=namespace, MetricName=metric, Dimensions=dimensions, Statistic="Maximum",
                Period=300, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
                AlarmActions=[topic], OKActions=[topic], TreatMissingData="notBreaching")
            self.alarm_names[name] = topic

    @property
    def names(self) -> dict[Resource, str]:
        r = self.resources
        assert r is not None
        return {resource: resource.local_name(self.settings.name_prefix, r.account_id, self.region)
                for resource in Resource}

    def attribute(self, attr: Attr, jwks_url: str) -> str:
        """A resource attribute as an environment variable carries it (what the CDK app passes on AWS)."""
        r = self.resources
        assert r is not None
        if attr.attribute == "arn":
            return self.world().arns[attr.resource]
        values = {
            Attr(Resource.AUDIT_BUCKET, "name"): r.bucket,
            Attr(Resource.LANDING_BUCKET, "name"): r.landing_bucket,
            Attr(Resource.WITNESS_BUCKET, "name"): r.witness_bucket,
            Attr(Resource.EVENTS_QUEUE, "url"): r.queue_url,
            Attr(Resource.CAPTURE_DEAD_LETTER_QUEUE, "url"): r.capture.dlq_url,
            Attr(Resource.IDEMPOTENCY_TABLE, "name"): r.idempotency_table,
            Attr(Resource.LEDGER_TABLE, "name"): r.ledger_table,
            Attr(Resource.SUBJECT_KEYS_TABLE, "name"): r.subject_keys_table,
            Attr(Resource.GLUE_DATABASE, "name"): self.names[Resource.GLUE_DATABASE],
            Attr(Resource.WORKGROUP, "name"): self.names[Resource.WORKGROUP],
            Attr(Resource.USER_POOL, "jwks_url"): jwks_url,
            Attr(Resource.USER_POOL, "issuer"): r.issuer,
            Attr(Resource.USER_POOL, "client_ids"): " ".join(r.allowed_client_ids),
        }
        return values[attr]

    def function_environment(self, spec: FunctionSpec, jwks_url: str) -> dict[str, str]:
        """Exactly what the CDK app gives this function, pointed at moto."""
        return spec.environment_values(self.settings, lambda attr: self.attribute(attr, jwks_url))

    def function_clients(self, name: str) -> Any:
        return self._clients[name]

    def _configure_functions(self, resources: Resources, jwks_url: str) -> None:
        world = self._world = self.world()
        self.services = ServicePrincipals(world)
        self._clients: dict[str, Any] = {}
        for spec in FUNCTIONS:
            withheld = {a.lower() for a in self.withheld.get(spec.name, ())}
            statements = [
                replace(s, actions=s.actions - withheld) for s in statements_for(spec, world.arns)
            ]
            enforcer = self.enforcers[spec.name] = Enforcer(spec.name, statements, world)
            clients = self._clients[spec.name] = enforced_clients(self._faulty_client(spec.name), enforcer)
            engine = self._query_engine(spec, resources) if spec.engine == "athena" else None
            bootstrap.app(spec.name).configure(runtime=bootstrap.Runtime(
                self.function_environment(spec, jwks_url), bootstrap.Clients(clients, query_engine=engine),
            ))
        # The capture pipe's role (EventBridge Pipes acts with it; local/capture.py plays Pipes).
        withheld = {a.lower() for a in self.withheld.get(CAPTURE_PIPE.name, ())}
        statements = [replace(s, actions=s.actions - withheld) for s in statements_for(CAPTURE_PIPE, world.arns)]
        enforcer = self.enforcers[CAPTURE_PIPE.name] = Enforcer(CAPTURE_PIPE.name, statements, world)
        self._clients[CAPTURE_PIPE.name] = enforced_clients(self._faulty_client(CAPTURE_PIPE.name), enforcer)
        # The monitors from this stack's file (a bad file stops the stack at start).
        chosen = monitors.load(self.monitors_file)
        app = bootstrap.app("monitors")
        app.configure(runtime=app.runtime,
                      build=lambda env, clients: bootstrap.build_monitors(env, clients, monitors=chosen))

    def _faulty_client(self, function: str) -> Any:
        if self.usage is not None:
            usage = self.usage
            return lambda service: self.faults.guard(function, usage.guard(function, self._function_client(service)))
        return lambda service: self.faults.guard(function, self._function_client(service))

    def handler(self, name: str) -> Callable[[Any, Any], Any]:
        """A function's handler as the platform invokes it (counted when usage is on)."""
        loaded = importlib.import_module(f"mlaudit.handlers.{name}").handler
        if self.usage is None:
            return loaded
        return self.usage.metered(name, loaded, BY_NAME[name].memory(self.settings))

    def _counted(self, front: Any, proxy: str) -> Any:
        return front if self.usage is None else getattr(self.usage, proxy)(front)

    def usage_labels(self) -> dict[str, str]:
        """Physical names, URLs and ARNs -> the logical resource, for the usage report."""
        r = self.resources
        assert r is not None
        labels = {arn: resource.name.lower() for resource, arn in self.world().arns.items()}
        labels.update({
            r.bucket: "audit_bucket", r.results_bucket: "results_bucket", r.landing_bucket: "landing_bucket",
            r.witness_bucket: "witness_bucket", r.queue_url: "events_queue", r.dlq_url: "dead_letter_queue",
            r.imports_dlq_url: "imports_dead_letter_queue", r.capture.dlq_url: "capture_dead_letter_queue",
            r.capture.table: "captured_table",
            r.idempotency_table: "idempotency_table", r.ledger_table: "ledger_table",
            r.subject_keys_table: "subject_keys_table", r.kms_key_id: "data_key", r.kms_alias: "data_key",
            r.signing_key_id: "signing_key", r.entry_key_id: "entry_key",
        })
        return labels

    def _function_client(self, service: str) -> Any:
        # A function's own client: retries as on Lambda (mlaudit.adapters.aws), pointed at moto.
        return boto3.session.Session(region_name=self.region).client(
            service, endpoint_url=self._moto.url, config=Config(retries={"mode": "standard", "max_attempts": 5}),
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        )

    def iam_report(self) -> dict[str, Any]:
        """Per function: every (action, resource) it was allowed, and what it was denied;
        and the local ARN of each declared resource."""
        if self.resources is None:
            return {}
        return {
            "arns": {resource.name: arn for resource, arn in self.world().arns.items()},
            "functions": {
                name: {"allowed": sorted([n.action, n.resource] for n in e.allowed),
                       "denied": [[n.action, n.resource] for n in e.denied]}
                for name, e in self.enforcers.items()
            },
            # What AWS services were allowed and refused: [principal, action, resource].
            "services": {"allowed": sorted(list(t) for t in self.services.allowed) if self.services else [],
                         "denied": [list(t) for t in self.services.denied] if self.services else []},
        }

    def _query_engine(self, spec: FunctionSpec, resources: Resources) -> bootstrap.EngineFactory:
        """moto's Athena answers nothing: a function declared with engine="athena" runs its
        named queries on DuckDB over the bucket's Parquet instead, read with the function's
        own clients, and each step Athena would take with the caller's permissions is checked
        against its grants. Built here, at start (the catalog's portability check included),
        once per function."""
        from local.athena import AthenaAsCaller, DuckDbEngine, S3Lake  # noqa: PLC0415 - duckdb only here

        if self._query_cache is None:
            self._query_cache = tempfile.mkdtemp(prefix="mlaudit-athena-")
        from mlaudit.events_view import GlueView  # noqa: PLC0415

        clients, names = self.function_clients(spec.name), self.names
        # The days Athena's `events` view reads from compacted/ (its date, read with the role).
        view = GlueView(clients("glue"), names[Resource.GLUE_DATABASE])
        lake = self._counted_lake(
            spec.name, S3Lake(clients("s3"), resources.bucket, os.path.join(self._query_cache, spec.name), view))
        engine = AthenaAsCaller(
            self._counted_engine(spec.name, DuckDbEngine(
                lake, bytes_scanned_cutoff=self.settings.athena_bytes_scanned_cutoff)),
            self.enforcers[spec.name], s3=clients("s3"), workgroup=names[Resource.WORKGROUP],
            database=names[Resource.GLUE_DATABASE],
            tables=tuple(names[t] for t in (Resource.EVENTS_GLUE_TABLE, Resource.WRITTEN_GLUE_TABLE,
                                            Resource.COMPACTED_GLUE_TABLE)),
            lake_bucket=resources.bucket, results_bucket=resources.results_bucket,
        )
        return lambda catalog, env: engine

    def _counted_lake(self, function: str, lake: Any) -> Any:
        return lake if self.usage is None else self.usage.athena_lake(function, lake)

    def _counted_engine(self, function: str, engine: Any) -> Any:
        return engine if self.usage is None else self.usage.athena_engine(function, engine)

    def client(self, service: str) -> Any:
        """A boto3 client for moto (fake credentials, local endpoint)."""
        return boto3.session.Session(region_name=self.region).client(
            service, endpoint_url=self._moto.url,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        )

    def wait_drained(self, timeout: float = 60) -> bool:
        """True once every queued message was written (or redriven to the DLQ)."""
        if self.poller is None:
            raise RuntimeError("the writer poller is not running")
        return self.poller.wait_drained(timeout)

    def stop(self) -> None:
        # Front doors first, then the poller (it finishes its batch), then moto.
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        if self.landing is not None:
            self.landing.stop()
            self.landing = None
        # The capture feeds and the schedules (EventBridge's side): each stops after its run.
        for thread in (self.capture_deliveries, self.capture_pipe, self.checkpoints, self.monitor_runs,
                       self.recoveries, self.compaction_runs):
            if thread is not None:
                thread.stop()
        self.capture_deliveries = self.capture_pipe = None
        self.checkpoints = self.monitor_runs = self.recoveries = self.compaction_runs = None
        if self.alarm_actions is not None:
            self.alarm_actions.stop()
            self.alarm_actions = None
        if self.poller is not None:
            self.poller.stop()
            self.poller = None
        self._moto.stop()
        if self.usage is not None:
            self.usage.stop_logs()
        for spec in FUNCTIONS:
            bootstrap.app(spec.name).reset()
        if self._query_cache is not None:
            shutil.rmtree(self._query_cache, ignore_errors=True)
            self._query_cache = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    def _serve(self, handler: Any, name: str) -> BackgroundServer:
        server = BackgroundServer(handler, name).start()
        self._servers.append(server)
        return server

    def _set_env(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value


class LocalValues:
    """`mlaudit.resource_policies.Renderer` for the local stack: its own ARNs."""

    def __init__(self, world: World, api_id: str, stage: str, function_arn: Callable[[str], str]) -> None:
        self.world = world
        self.values = {Attr(Resource.REST_API, "id"): api_id, Attr(Resource.REST_API, "stage"): stage,
                       Attr(Resource.REST_API, "authorizer_id"): api.LOCAL_AUTHORIZER_ID}
        self.function_arn = function_arn

    def pseudo(self, name: str) -> str:
        return {"partition": "aws", "region": self.world.region, "account": self.world.account}[name]

    def attribute(self, resource: Resource, attribute: str) -> str:
        return self.world.arns[resource] if attribute == "arn" else self.values[Attr(resource, attribute)]
