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

import os
import shutil
import tempfile
from dataclasses import replace
from typing import Any

import boto3
from botocore.config import Config
from mlaudit import bootstrap
from mlaudit.functions import FUNCTIONS, FunctionSpec
from mlaudit.resources import Attr, Resource
from mlaudit.settings import FUNCTION_RUNTIME_ENVIRONMENT, Settings

from local import api, oauth
from local.faults import FaultPlan
from local.httpd import BackgroundServer
from local.iam import Enforcer, World, enforced_clients, statements_for
from local.landing import LandingWatcher
from local.moto_server import FAKE_CREDENTIALS, MotoServer
from local.poller import WriterPoller
from local.resources import Overrides, Resources, create_resources
from local.schedule import Schedule

DEFAULT_REGION = "us-east-1"
STAGE = "local"
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
        # The monitors run on a schedule too (monitor_interval_minutes on AWS), from this file
        # (default: the packaged lambdas/mlaudit/monitors/monitors.json).
        self.monitor_interval = monitor_interval
        self.monitors_file = monitors_file
        self.monitor_runs: Schedule | None = None
        self.landing: LandingWatcher | None = None
        self.config: dict[str, Any] = {}
        self.resources: Resources | None = None
        self.poller: WriterPoller | None = None
        self._moto = MotoServer()
        self._servers: list[BackgroundServer] = []
        self._saved_env: dict[str, str | None] = {}
        self._query_cache: str | None = None
        self.enforcers: dict[str, Enforcer] = {}
        # Local-only: grants to withhold, {function: {action, ...}}, to show what AWS would deny.
        self.withheld: dict[str, set[str]] = {}
        # Local-only: AWS calls of the functions that fail on purpose (local/faults.py).
        self.faults = FaultPlan()

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
        moto_url = self._moto.start()
        resources = self.resources = create_resources(self.client, self.settings, self.region, self.overrides)
        jwks_url = f"{moto_url}/{resources.user_pool_id}/.well-known/jwks.json"
        self._set_env(PLATFORM_ENVIRONMENT)
        self._configure_functions(resources, jwks_url)

        issuer = oauth.TokenIssuer(self.client("cognito-idp"), resources.user_pool_id, resources.issuer)
        token_server = self._serve(oauth.handler_class(issuer), "oauth")
        emulator = api.ApiEmulator(
            region=self.region, account_id=resources.account_id, stage=STAGE,
            function_timeouts={spec.name: spec.timeout(self.settings) for spec in FUNCTIONS},
        )
        api_server = self._serve(api.handler_class(emulator), "api")
        if self.run_poller:
            # Lambda's event source polls with the writer's role.
            self.poller = WriterPoller(
                self.function_clients("writer")("sqs"), queue_url=resources.queue_url, queue_arn=resources.queue_arn,
                region=self.region, batch_size=self.settings.writer_batch_size,
                window_seconds=self.writer_window, timeout_seconds=self.settings.writer_timeout_seconds,
            ).start()

        # A file dropped in the landing bucket goes to the import function (EventBridge on AWS).
        self.landing = LandingWatcher(self.client("s3"), resources.landing_bucket, region=self.region).start()

        # The integrity log's head is signed on a schedule (every checkpoint_interval_minutes on AWS).
        self.checkpoints = Schedule(
            "checkpoint", self.checkpoint_interval, timeout_seconds=60, region=self.region,
        ).start()
        self.monitor_runs = Schedule(
            "monitors", self.monitor_interval, timeout_seconds=300, region=self.region,
        ).start()

        self.config = {
            "api_url": f"{api_server.url}/{STAGE}",
            "token_url": f"{token_server.url}{oauth.TOKEN_PATH}",
            "aws_endpoint_url": moto_url,
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
            Resource.EVENTS_GLUE_TABLE: (f"arn:aws:glue:{base}:table/{self.names[Resource.GLUE_DATABASE]}/"
                                         f"{self.names[Resource.EVENTS_GLUE_TABLE]}"),
            Resource.USER_POOL: f"arn:aws:cognito-idp:{base}:userpool/{r.user_pool_id}",
        }
        key = r.kms_key_arn
        signing, entry, seal = arns[Resource.SIGNING_KEY], arns[Resource.ENTRY_KEY], arns[Resource.SEAL_KEY]
        return World(
            account=r.account_id, region=self.region, arns=arns,
            queue_arns={r.queue_url: r.queue_arn, r.dlq_url: r.dlq_arn},
            key_arns={r.kms_key_id: key, key: key, r.kms_alias: key, r.signing_key_id: signing, signing: signing,
                      r.entry_key_id: entry, entry: entry, r.seal_key_id: seal, seal: seal},
            # Everything holding audit data is encrypted with the data key, as in stacks/storage.py.
            encrypted_with={r.bucket: key, r.results_bucket: key, r.landing_bucket: key,
                            r.queue_arn: key, r.dlq_arn: key,
                            r.witness_bucket: key, r.witness_topic_arn: key, r.monitors_topic_arn: key,
                            **{arns[t]: key for t in (Resource.IDEMPOTENCY_TABLE, Resource.LEDGER_TABLE,
                                                      Resource.SUBJECT_KEYS_TABLE)}},
            # The audit bucket's and the witness's policies (mlaudit.bucket_policy), enforced here: moto does not.
            write_once_buckets=frozenset({r.bucket}), witness_buckets=frozenset({r.witness_bucket}),
        )

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
        world = self.world()
        self._clients: dict[str, Any] = {}
        for spec in FUNCTIONS:
            withheld = {a.lower() for a in self.withheld.get(spec.name, ())}
            statements = [
                replace(s, actions=s.actions - withheld) for s in statements_for(spec, world.arns)
            ]
            enforcer = self.enforcers[spec.name] = Enforcer(spec.name, statements, world)
            clients = self._clients[spec.name] = enforced_clients(self._faulty_client(spec.name), enforcer)
            bootstrap.app(spec.name).configure(runtime=bootstrap.Runtime(
                self.function_environment(spec, jwks_url), clients,
            ))
        self._use_duckdb_for_queries(resources)

    def _faulty_client(self, function: str) -> Any:
        return lambda service: self.faults.guard(function, self._function_client(service))

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
        }

    def _use_duckdb_for_queries(self, resources: Resources) -> None:
        """moto's Athena answers nothing: the queries function runs its SQL on DuckDB over
        the bucket's Parquet instead, read with the function's own clients, and each step
        Athena would take with the caller's permissions is checked against its grants."""
        from local.athena import AthenaAsCaller, DuckDbEngine, S3Lake  # noqa: PLC0415 - duckdb only here

        self._query_cache = tempfile.mkdtemp(prefix="mlaudit-athena-")
        clients, enforcer, names = self.function_clients("queries"), self.enforcers["queries"], self.names
        lake = S3Lake(clients("s3"), resources.bucket, self._query_cache)
        engine = AthenaAsCaller(
            DuckDbEngine(lake, bytes_scanned_cutoff=self.settings.athena_bytes_scanned_cutoff),
            enforcer, s3=clients("s3"), workgroup=names[Resource.WORKGROUP],
            database=names[Resource.GLUE_DATABASE], table=names[Resource.EVENTS_GLUE_TABLE],
            lake_bucket=resources.bucket, results_bucket=resources.results_bucket,
        )
        queries = bootstrap.app("queries")
        queries.configure(runtime=queries.runtime,
                          build=lambda env, clients: bootstrap.build_queries(env, clients, engine=engine))
        self._use_duckdb_for_monitors(resources)

    def _use_duckdb_for_monitors(self, resources: Resources) -> None:
        """The monitors function's queries on DuckDB, as the queries function's: read with its
        own clients, each step Athena would take checked against its own grants."""
        from mlaudit import monitors  # noqa: PLC0415

        from local.athena import AthenaAsCaller, DuckDbEngine, S3Lake  # noqa: PLC0415 - duckdb only here

        assert self._query_cache is not None
        clients, enforcer, names = self.function_clients("monitors"), self.enforcers["monitors"], self.names
        lake = S3Lake(clients("s3"), resources.bucket, os.path.join(self._query_cache, "monitors"))
        engine = AthenaAsCaller(
            DuckDbEngine(lake, bytes_scanned_cutoff=self.settings.athena_bytes_scanned_cutoff),
            enforcer, s3=clients("s3"), workgroup=names[Resource.WORKGROUP],
            database=names[Resource.GLUE_DATABASE], table=names[Resource.EVENTS_GLUE_TABLE],
            lake_bucket=resources.bucket, results_bucket=resources.results_bucket,
        )
        chosen = monitors.load(self.monitors_file)  # a bad file stops the stack at start
        app = bootstrap.app("monitors")
        app.configure(runtime=app.runtime, build=lambda env, clients: bootstrap.build_monitors(
            env, clients, engine=engine, monitors=chosen))

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
        if self.checkpoints is not None:
            self.checkpoints.stop()
            self.checkpoints = None
        if self.monitor_runs is not None:
            self.monitor_runs.stop()
            self.monitor_runs = None
        if self.poller is not None:
            self.poller.stop()
            self.poller = None
        self._moto.stop()
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
