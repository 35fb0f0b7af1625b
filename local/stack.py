"""The whole local stack in one object: moto, resources, token endpoint, API emulator,
writer poller. Used by ``python -m local serve`` and directly by Python code:

    with LocalStack(Settings.from_cdk_json(), writer_window=1) as stack:
        stack.config["api_url"]; stack.wait_drained(30)

Handlers run in this process and read their configuration from environment
variables (as on Lambda), so starting the stack sets them in ``os.environ``;
stopping restores what was there before.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import boto3
from mlaudit.settings import (
    FUNCTION_RUNTIME_ENVIRONMENT,
    Env,
    Settings,
    ingest_limits_environment,
    settings_environment,
    writer_limits_environment,
)

from local import api, oauth
from local.httpd import BackgroundServer
from local.moto_server import FAKE_CREDENTIALS, MotoServer
from local.poller import WriterPoller
from local.resources import Overrides, Resources, create_resources
from local.schedule import Schedule

DEFAULT_REGION = "us-east-1"
STAGE = "local"


class LocalStack:
    def __init__(
        self, settings: Settings | None = None, *, writer_window: float | None = None,
        overrides: Overrides | None = None, region: str = DEFAULT_REGION, run_poller: bool = True,
        checkpoint_interval: float = 60.0,
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
        self.config: dict[str, Any] = {}
        self.resources: Resources | None = None
        self.poller: WriterPoller | None = None
        self._moto = MotoServer()
        self._servers: list[BackgroundServer] = []
        self._saved_env: dict[str, str | None] = {}
        self._query_cache: str | None = None

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
        self._set_env(self.function_environment(moto_url, jwks_url))
        self._use_duckdb_for_queries(resources)

        issuer = oauth.TokenIssuer(self.client("cognito-idp"), resources.user_pool_id, resources.issuer)
        token_server = self._serve(oauth.handler_class(issuer), "oauth")
        emulator = api.ApiEmulator(
            region=self.region, account_id=resources.account_id, stage=STAGE,
            function_timeouts={
                "ingest": self.settings.ingest_timeout_seconds,
                "writer": self.settings.writer_timeout_seconds,
                "privacy": 29,
            },
        )
        api_server = self._serve(api.handler_class(emulator), "api")
        if self.run_poller:
            self.poller = WriterPoller(
                self.client("sqs"), queue_url=resources.queue_url, queue_arn=resources.queue_arn,
                region=self.region, batch_size=self.settings.writer_batch_size,
                window_seconds=self.writer_window, timeout_seconds=self.settings.writer_timeout_seconds,
            ).start()

        # The integrity log's head is signed on a schedule (hourly on AWS).
        self.checkpoints = Schedule(
            "checkpoint", self.checkpoint_interval, timeout_seconds=60, region=self.region,
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
            "kms_key_id": resources.kms_key_id,
            "kms_key_arn": resources.kms_key_arn,
            "kms_alias": resources.kms_alias,
            "signing_key_id": resources.signing_key_id,
            "checkpoint_interval_seconds": self.checkpoint_interval,
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

    def function_environment(self, moto_url: str, jwks_url: str) -> dict[str, str]:
        """What the CDK app gives the functions, pointed at moto."""
        resources = self.resources
        assert resources is not None
        return {
            Env.AUDIT_BUCKET: resources.bucket,
            Env.EVENTS_QUEUE_URL: resources.queue_url,
            Env.IDEMPOTENCY_TABLE: resources.idempotency_table,
            Env.LEDGER_TABLE: resources.ledger_table,
            Env.SUBJECT_KEYS_TABLE: resources.subject_keys_table,
            Env.KMS_KEY_ID: resources.kms_key_arn,
            Env.SIGNING_KEY_ID: resources.signing_key_id,
            Env.JWKS_URL: jwks_url,
            Env.TOKEN_ISSUER: resources.issuer,
            Env.ALLOWED_CLIENT_IDS: " ".join(resources.allowed_client_ids),
            **ingest_limits_environment(self.settings),
            **settings_environment(self.settings),
            **writer_limits_environment(self.settings),
            "AWS_ENDPOINT_URL": moto_url,
            **FUNCTION_RUNTIME_ENVIRONMENT,
            "POWERTOOLS_SERVICE_NAME": "mlaudit",
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon on a laptop
            "POWERTOOLS_METRICS_NAMESPACE": "mlaudit",
        }

    def _use_duckdb_for_queries(self, resources: Resources) -> None:
        """moto's Athena answers nothing: the queries function runs its SQL on DuckDB
        over the bucket's Parquet instead (files copied into a cache as read)."""
        from mlaudit.handlers import queries  # noqa: PLC0415

        from local.athena import DuckDbEngine, S3Lake  # noqa: PLC0415 - duckdb only when the stack starts

        self._query_cache = tempfile.mkdtemp(prefix="mlaudit-athena-")
        lake = S3Lake(self.client("s3"), resources.bucket, self._query_cache)
        queries.set_engine(DuckDbEngine(lake, bytes_scanned_cutoff=self.settings.athena_bytes_scanned_cutoff))

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
        if self.checkpoints is not None:
            self.checkpoints.stop()
            self.checkpoints = None
        if self.poller is not None:
            self.poller.stop()
            self.poller = None
        self._moto.stop()
        if self._query_cache is not None:
            from mlaudit.handlers import queries  # noqa: PLC0415

            queries.set_engine(None)
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
