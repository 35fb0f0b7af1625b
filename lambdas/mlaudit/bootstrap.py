"""The composition root: every function's services are built here, once, from the
function's typed environment (`mlaudit.functions`) and its clients.

A builder is `Callable[[Env, Clients], Service]`: the function's `FunctionEnv` subclass
in, the service its handler calls out, typed. On Lambda the environment is the process's
and clients come from boto3; a function declared with `engine="athena"` runs its named
queries on Athena. The local stack configures each function with its own environment,
clients held to its declared grants and, for such a function, the DuckDB stand-in
(`Clients.query_engine`); tests configure a function with a service built on fakes:

    bootstrap.app("queries").configure(service=QueryService(catalog, engine, recorder))

Measured variants (metrics) wrap a service here, so handlers never ask which they hold.
Nothing is built at import time (no client, no environment read, no network), and each
builder imports only its own function's modules: a function's cold start does not pay
for another's (hence the imports inside the builders).
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from mlaudit.functions import (
    AuthorizerEnv,
    CheckpointEnv,
    CompactionEnv,
    ConfigEnv,
    FunctionEnv,
    ImportsEnv,
    IngestEnv,
    MonitorsEnv,
    PrivacyEnv,
    ProofsEnv,
    QueriesEnv,
    WriterEnv,
    spec,
)

if TYPE_CHECKING:
    from mlaudit.auth import TokenVerifier
    from mlaudit.compaction import Compactor
    from mlaudit.configuration import ConfigService
    from mlaudit.imports.landed import ImportService
    from mlaudit.integrity.services.checkpoint import Checkpointer
    from mlaudit.integrity.services.proofs import ProofService
    from mlaudit.integrity.services.seals import PackSealer
    from mlaudit.metrics import MeasuredIngest, MeasuredWriter
    from mlaudit.monitors.service import MonitorService
    from mlaudit.privacy import PrivacyService
    from mlaudit.queries.catalog import Catalog
    from mlaudit.queries.engine import QueryEngine
    from mlaudit.queries.service import QueryService
    from mlaudit.self_audit import QueueSelfAudit

S = TypeVar("S")
E = TypeVar("E", bound=FunctionEnv)
ClientFactory = Callable[[str], Any]  # service name -> boto3 client
EngineFactory = Callable[["Catalog", QueriesEnv], "QueryEngine"]


def _aws_clients(service: str) -> Any:
    from mlaudit.adapters.aws import client  # noqa: PLC0415 - boto3 costs ~200 ms to import

    return client(service)


@dataclass(frozen=True)
class Clients:
    """A function's AWS clients by service name, and the engine its named queries run on:
    Athena by default; `query_engine` replaces it (the local stack's DuckDB stand-in)."""

    client: ClientFactory = _aws_clients
    query_engine: EngineFactory | None = None

    def __call__(self, service: str) -> Any:
        return self.client(service)

    def engine(self, catalog: Catalog, env: QueriesEnv) -> QueryEngine:
        if self.query_engine is not None:
            return self.query_engine(catalog, env)
        from mlaudit.queries.athena import AthenaEngine  # noqa: PLC0415 - only the query functions use it

        return AthenaEngine(self("athena"), catalog, workgroup=env.athena_workgroup, database=env.glue_database)


@dataclass(frozen=True)
class Runtime:
    """What a function is handed: its environment and its clients (a bare client factory
    is taken as `Clients(factory)`)."""

    environ: Mapping[str, str]
    clients: Clients | ClientFactory

    def __post_init__(self) -> None:
        if not isinstance(self.clients, Clients):
            object.__setattr__(self, "clients", Clients(self.clients))


def lambda_runtime() -> Runtime:
    return Runtime(os.environ, Clients())


Builder = Callable[[E, Clients], S]


class FunctionApp(Generic[S]):
    """One function's service, built on first use from its runtime."""

    def __init__(self, name: str, build: Builder[Any, S] | None = None) -> None:
        self.name = name
        self.env_type = spec(name).environment
        self._build = build
        self._runtime: Runtime | None = None
        self._service: S | None = None
        self._lock = threading.Lock()

    def configure(
        self, *, runtime: Runtime | None = None, service: S | None = None, build: Builder[Any, S] | None = None,
    ) -> None:
        """Use this runtime (None: Lambda's), this ready service, or this builder; resets what was built."""
        with self._lock:
            self._runtime, self._service = runtime, service
            if build is not None:
                self._build = build

    def reset(self) -> None:
        """Back to Lambda's runtime and the default builder."""
        with self._lock:
            self._runtime, self._service, self._build = None, None, None

    @property
    def runtime(self) -> Runtime:
        return self._runtime or lambda_runtime()

    def env(self) -> Any:
        return self.env_type.from_environ(self.runtime.environ)

    def service(self) -> S:
        with self._lock:
            if self._service is None:
                runtime = self.runtime
                assert isinstance(runtime.clients, Clients)
                build = self._build or builder(self.name)
                self._service = build(self.env_type.from_environ(runtime.environ), runtime.clients)
            return self._service


# --- builders: one per function (imports inside: each function loads only its own) ----


def build_authorizer(env: AuthorizerEnv, clients: Clients) -> TokenVerifier:
    from mlaudit.auth import JwksCache, TokenVerifier, http_jwks_fetcher  # noqa: PLC0415

    return TokenVerifier(
        issuer=env.token_issuer,
        allowed_client_ids=frozenset(env.allowed_client_ids.split()),
        jwks=JwksCache(http_jwks_fetcher(env.jwks_url)),
    )


def _sealer(seal_key_id: str, clients: Clients, function: str) -> PackSealer:
    """Seals every pack this function enqueues (a key made in memory, certified once per
    container with the seal key: only the functions that enqueue may sign with it)."""
    from mlaudit.integrity.primitives.signing import KmsSigner  # noqa: PLC0415
    from mlaudit.integrity.services.seals import PackSealer  # noqa: PLC0415 - cryptography: on first use

    return PackSealer(KmsSigner(clients("kms"), seal_key_id), function)


def _self_audit(queue_url: str, clients: Clients, seal_key_id: str, function: str) -> QueueSelfAudit:
    """The stack's own audit events go to the events queue like any client's, sealed."""
    from mlaudit.adapters.queue import SqsQueue  # noqa: PLC0415
    from mlaudit.self_audit import QueueSelfAudit  # noqa: PLC0415

    return QueueSelfAudit(SqsQueue(clients("sqs"), queue_url), sealer=_sealer(seal_key_id, clients, function))


def _subject_keys(table: str, key_id: str, clients: Clients) -> Any:
    from mlaudit.adapters.subject_keys import DynamoKmsKeyStore  # noqa: PLC0415

    return DynamoKmsKeyStore(clients("dynamodb"), clients("kms"), table, key_id)


def build_ingest(env: IngestEnv, clients: Clients, function: str = "ingest") -> MeasuredIngest:
    from mlaudit.adapters.idempotency import DynamoIdempotencyStore  # noqa: PLC0415
    from mlaudit.adapters.lanes import DynamoLanes  # noqa: PLC0415
    from mlaudit.adapters.queue import SqsQueue  # noqa: PLC0415
    from mlaudit.ingest.request import IngestLimits  # noqa: PLC0415
    from mlaudit.ingest.service import IngestService  # noqa: PLC0415
    from mlaudit.metrics import MeasuredIngest  # noqa: PLC0415
    from mlaudit.privacy import SubjectProtector  # noqa: PLC0415

    return MeasuredIngest(IngestService(  # per-model metrics (EMF) of what each request stored or was refused
        store=DynamoIdempotencyStore(clients("dynamodb"), env.idempotency_table, env.ledger_table),
        lanes=DynamoLanes(clients("dynamodb"), env.idempotency_table),  # in the same table, TTL and grants
        queue=SqsQueue(clients("sqs"), env.events_queue_url),
        limits=IngestLimits(
            max_batch_events=env.max_batch_events,
            max_body_bytes=env.max_body_bytes,
            max_message_bytes=env.max_message_bytes,
            clock_skew=timedelta(seconds=env.clock_skew_seconds),
            idempotency_ttl=timedelta(seconds=env.idempotency_ttl_seconds),
            in_flight=timedelta(seconds=env.ingest_timeout_seconds),
        ),
        # Crypto-shredding: pseudonymize subject_ref, encrypt personal_data.
        protector=SubjectProtector(_subject_keys(env.subject_keys_table, env.kms_key_id, clients)),
        sealer=_sealer(env.seal_key_id, clients, function),
    ))


def build_writer(env: WriterEnv, clients: Clients) -> MeasuredWriter:
    from mlaudit.adapters.bucket import S3Bucket  # noqa: PLC0415
    from mlaudit.adapters.ledger import DynamoLedger  # noqa: PLC0415
    from mlaudit.integrity.primitives import records  # noqa: PLC0415
    from mlaudit.integrity.primitives.signing import KmsSigner, kms_public_key_pem, load_public_key  # noqa: PLC0415
    from mlaudit.integrity.services.seals import SealChecker  # noqa: PLC0415
    from mlaudit.integrity.services.sink import IntegritySink  # noqa: PLC0415
    from mlaudit.metrics import CountedObjects, MeasuredWriter  # noqa: PLC0415
    from mlaudit.subject_index import SubjectIndex  # noqa: PLC0415
    from mlaudit.writer import WriterService  # noqa: PLC0415

    objects = CountedObjects(S3Bucket(clients("s3"), env.audit_bucket, env.kms_key_id))  # bytes_written
    return MeasuredWriter(WriterService(
        objects=objects,
        ledger=DynamoLedger(clients("dynamodb"), env.ledger_table),
        integrity=IntegritySink(
            S3Bucket(clients("s3"), env.audit_bucket, env.kms_key_id),
            log_id=records.log_id(env.audit_bucket),
            entry_signer=KmsSigner(clients("kms"), env.entry_key_id),  # one kms:Sign per file
            require_genesis=True,  # entry 0 waits for checkpoint 0: no chain starts over a written log
        ),
        in_flight=timedelta(seconds=env.writer_timeout_seconds),
        # Only packs ingest sealed are stored (the writer checks the seal; it cannot make one).
        seals=SealChecker(load_public_key(kms_public_key_pem(clients("kms"), env.seal_key_id))),
        # Pseudonym -> files, so subject access reads only a subject's files (docs/privacy.md).
        subject_index=SubjectIndex(S3Bucket(clients("s3"), env.audit_bucket, env.kms_key_id)),
    ), objects)


def build_checkpoint(env: CheckpointEnv, clients: Clients) -> Checkpointer:
    from mlaudit.adapters.bucket import S3Bucket  # noqa: PLC0415
    from mlaudit.integrity.primitives import records  # noqa: PLC0415
    from mlaudit.integrity.primitives.signing import KmsSigner, kms_public_key_pem, load_public_key  # noqa: PLC0415
    from mlaudit.integrity.services.checkpoint import Checkpointer  # noqa: PLC0415
    from mlaudit.integrity.services.witness import SnsTopic, Witness  # noqa: PLC0415

    log_id = records.log_id(env.audit_bucket)
    return Checkpointer(
        S3Bucket(clients("s3"), env.audit_bucket, env.kms_key_id),
        KmsSigner(clients("kms"), env.signing_key_id),
        log_id=log_id,
        entry_key=load_public_key(kms_public_key_pem(clients("kms"), env.entry_key_id)),
        witness=Witness(S3Bucket(clients("s3"), env.witness_bucket, env.kms_key_id), log_id,
                        SnsTopic(clients("sns"), env.witness_topic_arn)),
    )


def build_compaction(env: CompactionEnv, clients: Clients) -> Compactor:
    from mlaudit.adapters.bucket import S3Bucket  # noqa: PLC0415
    from mlaudit.compaction import Compactor  # noqa: PLC0415
    from mlaudit.events_view import GlueView  # noqa: PLC0415
    from mlaudit.integrity.primitives import records  # noqa: PLC0415
    from mlaudit.integrity.primitives.signing import KmsSigner  # noqa: PLC0415
    from mlaudit.integrity.services.sink import IntegritySink  # noqa: PLC0415

    bucket = S3Bucket(clients("s3"), env.audit_bucket, env.kms_key_id)
    return Compactor(
        bucket,
        IntegritySink(bucket, log_id=records.log_id(env.audit_bucket),
                      entry_signer=KmsSigner(clients("kms"), env.entry_key_id), require_genesis=True),
        max_rows=env.compaction_max_rows, delay=timedelta(hours=env.compaction_delay_hours),
        late_days=env.compaction_late_days, view=GlueView(clients("glue"), env.glue_database),
    )


def build_proofs(env: ProofsEnv, clients: Clients) -> ProofService:
    from mlaudit.adapters.bucket import S3Bucket  # noqa: PLC0415
    from mlaudit.integrity.services.proofs import ProofService  # noqa: PLC0415

    return ProofService(S3Bucket(clients("s3"), env.audit_bucket))


def build_privacy(env: PrivacyEnv, clients: Clients) -> PrivacyService:
    from mlaudit.adapters.bucket import S3Bucket  # noqa: PLC0415
    from mlaudit.adapters.subject_lake import S3SubjectEvents  # noqa: PLC0415
    from mlaudit.privacy import PrivacyService  # noqa: PLC0415

    return PrivacyService(
        keys=_subject_keys(env.subject_keys_table, env.kms_key_id, clients),
        lake=S3SubjectEvents(S3Bucket(clients("s3"), env.audit_bucket)),  # through the subject index
        audit=_self_audit(env.events_queue_url, clients, env.seal_key_id, "privacy"),
    )


def build_queries(env: QueriesEnv, clients: Clients) -> QueryService:
    from mlaudit.queries.catalog import load_catalog  # noqa: PLC0415
    from mlaudit.queries.service import QueryService  # noqa: PLC0415

    catalog = load_catalog()  # unchecked: no sqlglot in the Lambda asset (see portability)
    return QueryService(catalog, clients.engine(catalog, env),
                        _self_audit(env.events_queue_url, clients, env.seal_key_id, "queries"))


def build_monitors(env: MonitorsEnv, clients: Clients, monitors: Any = None) -> MonitorService:
    """`monitors`: the packaged monitors file's by default (the local stack may name another file)."""
    from mlaudit import monitors as monitors_file  # noqa: PLC0415
    from mlaudit.monitors.emf import EmfMonitorMetrics, SnsAlarmTopic  # noqa: PLC0415
    from mlaudit.monitors.service import MonitorService  # noqa: PLC0415
    from mlaudit.queries.catalog import load_catalog  # noqa: PLC0415

    catalog = load_catalog()
    return MonitorService(
        monitors if monitors is not None else monitors_file.load(), catalog, clients.engine(catalog, env),
        _self_audit(env.events_queue_url, clients, env.seal_key_id, "monitors"),
        SnsAlarmTopic(clients("sns"), env.monitors_topic_arn),
        EmfMonitorMetrics(),
    )


def build_config(env: ConfigEnv, clients: Clients) -> ConfigService:
    from mlaudit.configuration import ConfigService  # noqa: PLC0415

    return ConfigService(json.loads(env.settings_json),
                         _self_audit(env.events_queue_url, clients, env.seal_key_id, "config"))


def build_imports(env: ImportsEnv, clients: Clients) -> ImportService:
    from mlaudit.adapters.landing import LandingFiles  # noqa: PLC0415
    from mlaudit.capture.files import CapturedFiles  # noqa: PLC0415
    from mlaudit.imports import FileImporter  # noqa: PLC0415
    from mlaudit.imports.landed import ImportService  # noqa: PLC0415
    from mlaudit.principal import Principal  # noqa: PLC0415

    ingest = build_ingest(env, clients, "imports")
    return ImportService(
        bucket=env.landing_bucket,
        landing=LandingFiles(clients("s3"), env.landing_bucket, env.kms_key_id),
        # The ingest's own claim path: one for every door.
        importer=FileImporter(ingest=ingest, capture=CapturedFiles(prompts=env.bedrock_prompts)),
        # The events' sender: the import itself (S3 does not say who uploaded a file;
        # the landing bucket's access logs and CloudTrail do).
        principal=Principal(kind="workload", actor_id="mlaudit-import", client_id=f"s3://{env.landing_bucket}",
                            scopes=("events.write", "lineage.write")),
    )


BUILDERS: dict[str, Builder[Any, Any]] = {
    "authorizer": build_authorizer,
    "ingest": build_ingest,
    "writer": build_writer,
    "checkpoint": build_checkpoint,
    "compaction": build_compaction,
    "proofs": build_proofs,
    "privacy": build_privacy,
    "queries": build_queries,
    "monitors": build_monitors,
    "config": build_config,
    "imports": build_imports,
}

def builder(name: str) -> Builder[Any, Any]:
    """The function's builder: the one its declaration names, or the composition root's."""
    declared = spec(name).builder
    if declared is None:
        return BUILDERS[name]
    module, _, function = declared.partition(":")
    return getattr(importlib.import_module(module), function)  # on first use: the function's own modules only


_APPS: dict[str, FunctionApp[Any]] = {}
_APPS_LOCK = threading.Lock()


def app(name: str) -> FunctionApp[Any]:
    """The function's app; a handler names its service's type: `APP: FunctionApp[QueryService] = app("queries")`."""
    with _APPS_LOCK:
        if name not in _APPS:
            _APPS[name] = FunctionApp(name)
        return _APPS[name]
