"""Every Lambda function of the stack, declared once.

A `FunctionSpec` says what a function is (its handler module, memory, timeout,
concurrency, whether it needs pyarrow), what it reads from its environment (a typed
`FunctionEnv`) and which actions it may take on which resources (`Grant`s). From
this one declaration:

- the CDK app builds the function, its role (these grants and nothing else besides
  its own log group and X-Ray), its environment and its log group (stacks/functions.py);
- the local stack gives each invocation exactly this environment and evaluates
  every AWS call the function makes against these grants (local/iam.py);
- the handler reads its settings through the same `FunctionEnv` (mlaudit.bootstrap).

Adding a route means a row in `mlaudit.routes`, a handler, and a spec here.
See docs/functions.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlaudit.env import Env
from mlaudit.resources import Attr, Resource

if TYPE_CHECKING:
    from mlaudit.settings import Settings


class MissingSetting(RuntimeError):
    """A function started without a variable its declaration promises."""


@dataclass(frozen=True)
class Setting:
    """An environment value taken from a deployment setting (by its name in `Settings`)."""

    name: str


@dataclass(frozen=True)
class AllSettings:
    """Every setting as one JSON object (the configuration route shows them)."""


Source = Attr | Setting | AllSettings


@dataclass(frozen=True)
class Var:
    name: str  # the environment variable
    source: Source


def var(name: str, source: Source) -> Any:
    """A `FunctionEnv` field: read from variable `name`, set by the deployment from `source`."""
    return field(metadata={"var": Var(name, source)})


@dataclass(frozen=True)
class FunctionEnv:
    """A function's environment, typed. Subclasses declare fields with `var(...)`;
    `str` and `int` fields are parsed, a missing variable fails loudly."""

    @classmethod
    def variables(cls) -> dict[str, Var]:
        """Field name -> variable, in declaration order."""
        return {f.name: f.metadata["var"] for f in dataclasses.fields(cls)}

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Any:
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = f.metadata["var"].name
            if name not in environ:
                raise MissingSetting(f"{cls.__name__} needs the environment variable {name}")
            values[f.name] = int(environ[name]) if f.type in (int, "int") else environ[name]
        return cls(**values)


@dataclass(frozen=True)
class AuthorizerEnv(FunctionEnv):
    jwks_url: str = var(Env.JWKS_URL, Attr(Resource.USER_POOL, "jwks_url"))
    token_issuer: str = var(Env.TOKEN_ISSUER, Attr(Resource.USER_POOL, "issuer"))
    allowed_client_ids: str = var(Env.ALLOWED_CLIENT_IDS, Attr(Resource.USER_POOL, "client_ids"))


@dataclass(frozen=True)
class IngestEnv(FunctionEnv):
    events_queue_url: str = var(Env.EVENTS_QUEUE_URL, Attr(Resource.EVENTS_QUEUE, "url"))
    idempotency_table: str = var(Env.IDEMPOTENCY_TABLE, Attr(Resource.IDEMPOTENCY_TABLE, "name"))
    ledger_table: str = var(Env.LEDGER_TABLE, Attr(Resource.LEDGER_TABLE, "name"))
    subject_keys_table: str = var(Env.SUBJECT_KEYS_TABLE, Attr(Resource.SUBJECT_KEYS_TABLE, "name"))
    kms_key_id: str = var(Env.KMS_KEY_ID, Attr(Resource.DATA_KEY, "arn"))
    max_batch_events: int = var(Env.MAX_BATCH_EVENTS, Setting("max_batch_events"))
    max_body_bytes: int = var(Env.MAX_BODY_BYTES, Setting("max_body_bytes"))
    max_message_bytes: int = var(Env.MAX_MESSAGE_BYTES, Setting("max_message_bytes"))
    clock_skew_seconds: int = var(Env.CLOCK_SKEW_SECONDS, Setting("clock_skew_seconds"))
    idempotency_ttl_seconds: int = var(Env.IDEMPOTENCY_TTL_SECONDS, Setting("idempotency_ttl_seconds"))
    ingest_timeout_seconds: int = var(Env.INGEST_TIMEOUT_SECONDS, Setting("ingest_timeout_seconds"))
    seal_key_id: str = var(Env.SEAL_KEY_ID, Attr(Resource.SEAL_KEY, "arn"))


@dataclass(frozen=True)
class ImportsEnv(IngestEnv):
    """What ingest reads (the same contract, rules, queue and tables), and the landing bucket."""

    landing_bucket: str = var(Env.LANDING_BUCKET, Attr(Resource.LANDING_BUCKET, "name"))
    bedrock_prompts: str = var(Env.CAPTURE_BEDROCK_PROMPTS, Setting("capture_bedrock_prompts"))


@dataclass(frozen=True)
class CaptureEnv(IngestEnv):
    """What ingest reads (the same contract, rules, queue and tables), and where refused inputs go."""

    capture_dlq_url: str = var(Env.CAPTURE_DLQ_URL, Attr(Resource.CAPTURE_DEAD_LETTER_QUEUE, "url"))


@dataclass(frozen=True)
class WriterEnv(FunctionEnv):
    audit_bucket: str = var(Env.AUDIT_BUCKET, Attr(Resource.AUDIT_BUCKET, "name"))
    kms_key_id: str = var(Env.KMS_KEY_ID, Attr(Resource.DATA_KEY, "arn"))
    ledger_table: str = var(Env.LEDGER_TABLE, Attr(Resource.LEDGER_TABLE, "name"))
    entry_key_id: str = var(Env.ENTRY_KEY_ID, Attr(Resource.ENTRY_KEY, "arn"))
    seal_key_id: str = var(Env.SEAL_KEY_ID, Attr(Resource.SEAL_KEY, "arn"))
    writer_timeout_seconds: int = var(Env.WRITER_TIMEOUT_SECONDS, Setting("writer_timeout_seconds"))


@dataclass(frozen=True)
class CheckpointEnv(FunctionEnv):
    audit_bucket: str = var(Env.AUDIT_BUCKET, Attr(Resource.AUDIT_BUCKET, "name"))
    kms_key_id: str = var(Env.KMS_KEY_ID, Attr(Resource.DATA_KEY, "arn"))
    signing_key_id: str = var(Env.SIGNING_KEY_ID, Attr(Resource.SIGNING_KEY, "arn"))
    entry_key_id: str = var(Env.ENTRY_KEY_ID, Attr(Resource.ENTRY_KEY, "arn"))
    witness_bucket: str = var(Env.WITNESS_BUCKET, Attr(Resource.WITNESS_BUCKET, "name"))
    witness_topic_arn: str = var(Env.WITNESS_TOPIC_ARN, Attr(Resource.WITNESS_TOPIC, "arn"))


@dataclass(frozen=True)
class CompactionEnv(FunctionEnv):
    audit_bucket: str = var(Env.AUDIT_BUCKET, Attr(Resource.AUDIT_BUCKET, "name"))
    kms_key_id: str = var(Env.KMS_KEY_ID, Attr(Resource.DATA_KEY, "arn"))
    entry_key_id: str = var(Env.ENTRY_KEY_ID, Attr(Resource.ENTRY_KEY, "arn"))
    compaction_delay_hours: int = var(Env.COMPACTION_DELAY_HOURS, Setting("compaction_delay_hours"))
    compaction_late_days: int = var(Env.COMPACTION_LATE_DAYS, Setting("compaction_late_days"))
    compaction_max_rows: int = var(Env.COMPACTION_MAX_ROWS, Setting("compaction_max_rows"))
    glue_database: str = var(Env.GLUE_DATABASE, Attr(Resource.GLUE_DATABASE, "name"))


@dataclass(frozen=True)
class ProofsEnv(FunctionEnv):
    audit_bucket: str = var(Env.AUDIT_BUCKET, Attr(Resource.AUDIT_BUCKET, "name"))


@dataclass(frozen=True)
class PrivacyEnv(FunctionEnv):
    audit_bucket: str = var(Env.AUDIT_BUCKET, Attr(Resource.AUDIT_BUCKET, "name"))
    subject_keys_table: str = var(Env.SUBJECT_KEYS_TABLE, Attr(Resource.SUBJECT_KEYS_TABLE, "name"))
    kms_key_id: str = var(Env.KMS_KEY_ID, Attr(Resource.DATA_KEY, "arn"))
    events_queue_url: str = var(Env.EVENTS_QUEUE_URL, Attr(Resource.EVENTS_QUEUE, "url"))
    seal_key_id: str = var(Env.SEAL_KEY_ID, Attr(Resource.SEAL_KEY, "arn"))


@dataclass(frozen=True)
class QueriesEnv(FunctionEnv):
    glue_database: str = var(Env.GLUE_DATABASE, Attr(Resource.GLUE_DATABASE, "name"))
    athena_workgroup: str = var(Env.ATHENA_WORKGROUP, Attr(Resource.WORKGROUP, "name"))
    events_queue_url: str = var(Env.EVENTS_QUEUE_URL, Attr(Resource.EVENTS_QUEUE, "url"))
    seal_key_id: str = var(Env.SEAL_KEY_ID, Attr(Resource.SEAL_KEY, "arn"))


@dataclass(frozen=True)
class MonitorsEnv(QueriesEnv):
    """What the queries function reads (the same Athena and self-audit), and the alarm topic."""

    monitors_topic_arn: str = var(Env.MONITORS_TOPIC_ARN, Attr(Resource.MONITORS_TOPIC, "arn"))


@dataclass(frozen=True)
class ConfigEnv(FunctionEnv):
    settings_json: str = var(Env.SETTINGS, AllSettings())
    events_queue_url: str = var(Env.EVENTS_QUEUE_URL, Attr(Resource.EVENTS_QUEUE, "url"))
    seal_key_id: str = var(Env.SEAL_KEY_ID, Attr(Resource.SEAL_KEY, "arn"))


@dataclass(frozen=True)
class Grant:
    """Allow `actions` on `resource` (or, for a bucket, on its objects under `objects`)."""

    resource: Resource
    actions: tuple[str, ...]
    objects: str | None = None  # a key pattern inside a bucket, e.g. "events/*"
    why: str = ""


@dataclass(frozen=True)
class FunctionSpec:
    name: str  # handler module: mlaudit.handlers.<name>
    summary: str
    environment: type[FunctionEnv]
    grants: tuple[Grant, ...] = ()
    # A number, or the name of the setting that holds it.
    memory_mb: int | str = 256
    timeout_seconds: int | str = 29
    reserved_concurrency: int | str | None = None
    pyarrow: bool = False  # the pyarrow layer: cold-start time, only where Parquet is read or written
    # Where Lambda sends an asynchronous event the function still failed on after its retries
    # (with the function's role: grant sqs:SendMessage on it); None for functions invoked
    # synchronously or on a schedule with nothing to replay.
    dead_letter: Resource | None = None
    # Where its named queries run: "athena" (bootstrap.Clients.engine); the local stack runs
    # them on DuckDB over the lake, checking each step Athena takes as the caller against
    # these grants. None: the function runs no queries.
    engine: str | None = None
    # "module:function" that builds its service, `(env, clients) -> service`, beside the
    # service itself; None: mlaudit.bootstrap.BUILDERS[name], the composition root's own.
    builder: str | None = None

    def __post_init__(self) -> None:
        if self.engine not in (None, "athena"):
            raise ValueError(f"{self.name}: engine is 'athena' or None, not {self.engine!r}")

    @property
    def handler(self) -> str:
        return f"mlaudit.handlers.{self.name}.handler"

    def memory(self, settings: Settings) -> int:
        return _number(self.memory_mb, settings)

    def timeout(self, settings: Settings) -> int:
        return _number(self.timeout_seconds, settings)

    def reserved(self, settings: Settings) -> int | None:
        """None: no reservation (also when the named setting is unset, its default)."""
        value = self.reserved_concurrency
        return getattr(settings, value) if isinstance(value, str) else value

    def environment_values(self, settings: Settings, attribute: Any) -> dict[str, str]:
        """Variable -> value; `attribute(Attr)` gives a resource attribute (a CDK token or a local name)."""
        values = {}
        for declared in self.environment.variables().values():
            source = declared.source
            if isinstance(source, Attr):
                values[declared.name] = attribute(source)
            elif isinstance(source, Setting):
                values[declared.name] = str(getattr(settings, source.name))
            else:
                values[declared.name] = settings.model_dump_json()
        return values


def _number(value: int | str, settings: Settings) -> int:
    return value if isinstance(value, int) else int(getattr(settings, value))


# Lambda's quotas the platform applies to every function (the local stack applies them too).
LAMBDA_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024  # synchronous invoke and event source batch payload
SQS_RECEIVE_MAX = 10  # messages per ReceiveMessage / DeleteMessageBatch

# Shorthands for the grants below.
EVENTS_OBJECTS, INTEGRITY_OBJECTS, INDEX_OBJECTS = "events/*", "integrity/*", "index/*"
COMPACTED_OBJECTS = "compacted/*"  # compacted days and their markers (mlaudit.compaction)
# What compaction records under integrity/: a compacted file's record, manifest, seals and log
# entry (never a checkpoint or tile, nor a seal key: it seals nothing, it moves sealed rows).
COMPACTION_INTEGRITY_AREAS = ("compactions", "manifests", "log", "log-by-file", "seals")
# Who writes where under integrity/ (mlaudit.integrity.primitives.records): the writer records files,
# the signer signs; neither can create the other's objects (a writer could otherwise claim
# the next checkpoint's key, or a tile, before the signer).
WRITER_INTEGRITY_AREAS = ("manifests", "log", "log-by-file", "seals", "seal-keys")
SIGNER_INTEGRITY_AREAS = ("checkpoints", "tiles")
WITNESS_OBJECTS = "mlaudit/*"  # <log id>/checkpoints/<seq>.json; a log id is mlaudit/<bucket>
# HeadObject answers 404 for a missing key (not 403) only with ListBucket, and that
# request carries no s3:prefix, so the grant cannot be narrowed by prefix.
LIST_AUDIT_BUCKET = Grant(Resource.AUDIT_BUCKET, ("s3:ListBucket",), why="404, not 403, for a missing key")
# Sending to the KMS-encrypted queue: SQS asks KMS for a data key, and to reuse it, decrypts it.
# Every pack is sealed (mlaudit.integrity.services.seals): the functions that enqueue, and only they,
# certify their in-memory sealing key with the seal key (one kms:Sign per container).
SEND_TO_QUEUE = (
    Grant(Resource.EVENTS_QUEUE, ("sqs:SendMessage",), why="the stack's own audit events, like clients'"),
    Grant(Resource.DATA_KEY, ("kms:GenerateDataKey", "kms:Decrypt"), why="the queue is KMS-encrypted"),
    Grant(Resource.SEAL_KEY, ("kms:Sign",),
          why="certify this container's pack-sealing key: the writer stores only events sealed where they "
          "were accepted, and cannot seal"),
)

# Athena reads the catalog and the lake, and writes results, with the caller's permissions.
RUN_ATHENA_QUERIES = (
    Grant(Resource.WORKGROUP, ("athena:StartQueryExecution", "athena:GetQueryExecution",
                               "athena:GetQueryResults")),
    Grant(Resource.GLUE_CATALOG, ("glue:GetDatabase", "glue:GetTable")),
    Grant(Resource.GLUE_DATABASE, ("glue:GetDatabase", "glue:GetTable")),
    Grant(Resource.EVENTS_GLUE_TABLE, ("glue:GetTable",),
          why="the `events` view the named queries read (its compacted-through date)"),
    Grant(Resource.WRITTEN_GLUE_TABLE, ("glue:GetTable",), why="the view reads the written files' table"),
    Grant(Resource.COMPACTED_GLUE_TABLE, ("glue:GetTable",), why="the view reads the compacted files' table"),
    Grant(Resource.AUDIT_BUCKET, ("s3:GetObject",), objects=EVENTS_OBJECTS,
          why="Athena reads, as the caller, the Parquet files of the partitions a named query selects"),
    Grant(Resource.AUDIT_BUCKET, ("s3:GetObject",), objects=COMPACTED_OBJECTS,
          why="Athena reads, as the caller, a compacted day's files instead of its events/ files "
          "(docs/compaction.md)"),
    Grant(Resource.RESULTS_BUCKET, ("s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"),
          objects="*", why="Athena writes each query's result files under keys named by execution id, and the "
          "function pages them back; the bucket holds nothing else and expires results after 30 days"),
    Grant(Resource.AUDIT_BUCKET, ("s3:ListBucket", "s3:GetBucketLocation")),
    Grant(Resource.RESULTS_BUCKET, ("s3:ListBucket", "s3:GetBucketLocation")),
)

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        "authorizer", "Verify bearer tokens against the user pool's JWKS; answer with an IAM policy.",
        AuthorizerEnv, timeout_seconds=5,
    ),
    FunctionSpec(
        "ingest", "POST /v1/events: validate, pseudonymize, remember event ids, enqueue packs.",
        IngestEnv,
        grants=(
            *SEND_TO_QUEUE,
            Grant(Resource.IDEMPOTENCY_TABLE, ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
                  why="claim a request and each event id (conditional puts); a retried request is answered "
                  "from its record"),
            Grant(Resource.LEDGER_TABLE, ("dynamodb:PutItem",),
                  why="supersede a pack whose send failed without an answer before resending its events "
                  "(a conditional put: only if the writer has not claimed it)"),
            Grant(Resource.SUBJECT_KEYS_TABLE, ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem"),
                  why="subject keys are created on first sight, never deleted here"),
        ),
        memory_mb="ingest_memory_mb", timeout_seconds="ingest_timeout_seconds",
    ),
    FunctionSpec(
        "writer", "SQS -> Parquet files and the integrity log in the lake; on a schedule, the recovery sweep "
        "(files it stored and did not log).",
        WriterEnv,
        grants=(
            Grant(Resource.AUDIT_BUCKET, ("s3:PutObject", "s3:GetObject"), objects=EVENTS_OBJECTS,
                  why="write each batch's Parquet files, keyed by partition and a file name made at write time; "
                  "check for one a redelivered pack may already have written"),
            Grant(Resource.AUDIT_BUCKET, ("s3:GetObject",), objects=INTEGRITY_OBJECTS,
                  why="the log's head and each entry's prev; a retry's manifest and seals; checkpoint 0"),
            # What the writer records, and nothing the signer writes (checkpoints, tiles).
            *(Grant(Resource.AUDIT_BUCKET, ("s3:PutObject",), objects=f"integrity/{area}/*",
                    why=f"append each file's {area} objects, keyed at write time")
              for area in WRITER_INTEGRITY_AREAS),
            Grant(Resource.AUDIT_BUCKET, ("s3:PutObject", "s3:GetObject"), objects=INDEX_OBJECTS,
                  why="the subject index: each batch's pseudonyms -> files, keyed by the hour at write time; "
                  "closed hours and days merged"),
            LIST_AUDIT_BUCKET,
            Grant(Resource.LEDGER_TABLE, ("dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
                  why="the pack ledger: a redelivered pack is not written twice (conditional claims); "
                  "the files put and not yet logged, for the recovery sweep"),
            # What Lambda's SQS event source mapping does with the function's role.
            Grant(Resource.EVENTS_QUEUE, ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"),
                  why="the SQS event source polls with the function's role"),
            Grant(Resource.DATA_KEY, ("kms:GenerateDataKey", "kms:Decrypt"),
                  why="SSE-KMS objects, the encrypted queue and tables"),
            Grant(Resource.ENTRY_KEY, ("kms:Sign",),
                  why="only the writer authenticates log entries: S3 write access alone cannot append"),
            Grant(Resource.SEAL_KEY, ("kms:GetPublicKey",),
                  why="check ingest's seal on every pack before storing it (it cannot seal)"),
        ),
        memory_mb="writer_memory_mb", timeout_seconds="writer_timeout_seconds",
        reserved_concurrency="writer_reserved_concurrency", pyarrow=True,
    ),
    FunctionSpec(
        "checkpoint", "Scheduled: sign the integrity log's head with the signing key.",
        CheckpointEnv,
        grants=(
            Grant(Resource.AUDIT_BUCKET, ("s3:GetObject",), objects=INTEGRITY_OBJECTS,
                  why="the log entries and the tiles"),
            *(Grant(Resource.AUDIT_BUCKET, ("s3:PutObject",), objects=f"integrity/{area}/*",
                    why=f"write each numbered {area} object (numbered at run time)")
              for area in SIGNER_INTEGRITY_AREAS),
            LIST_AUDIT_BUCKET,
            Grant(Resource.DATA_KEY, ("kms:GenerateDataKey", "kms:Decrypt"), why="SSE-KMS objects"),
            Grant(Resource.SIGNING_KEY, ("kms:Sign",), why="only this function signs"),
            Grant(Resource.ENTRY_KEY, ("kms:GetPublicKey",), why="check each log entry's writer signature"),
            Grant(Resource.WITNESS_BUCKET, ("s3:PutObject", "s3:GetObject"), objects=WITNESS_OBJECTS,
                  why="publish each checkpoint outside the audit bucket, at <log id>/checkpoints/<seq>.json "
                  "(numbered at run time); read the last one back"),
            Grant(Resource.WITNESS_BUCKET, ("s3:ListBucket",), why="404, not 403, for a missing checkpoint"),
            Grant(Resource.WITNESS_BUCKET, ("s3:ListBucketVersions",),
                  why="never sign on while a witnessed checkpoint is hidden behind a delete marker or replaced"),
            Grant(Resource.WITNESS_TOPIC, ("sns:Publish",), why="announce each checkpoint to subscribers"),
        ),
        # No reserved concurrency (a fresh account cannot spare any): two overlapping runs
        # cannot fork the chain, each claims its sequence number with a conditional create
        # and the loser fails without writing (mlaudit.integrity.services.checkpoint).
        timeout_seconds=60,
    ),
    FunctionSpec(
        "compaction", "Scheduled: merge each closed day's files per event type into few large ones, logged in "
        "the integrity log with the files they replace.",
        CompactionEnv,
        grants=(
            Grant(Resource.AUDIT_BUCKET, ("s3:GetObject",), objects=EVENTS_OBJECTS,
                  why="read the day's Parquet files it merges"),
            Grant(Resource.AUDIT_BUCKET, ("s3:GetObject",), objects=INTEGRITY_OBJECTS,
                  why="each source's log entry, lookup record and seals; the log's head; earlier compaction "
                  "records; checkpoint 0"),
            Grant(Resource.AUDIT_BUCKET, ("s3:PutObject", "s3:GetObject"), objects=COMPACTED_OBJECTS,
                  why="write each compacted file (named by its record's hash) and each day's marker"),
            *(Grant(Resource.AUDIT_BUCKET, ("s3:PutObject",), objects=f"integrity/{area}/*",
                    why=f"record each compacted file's {area} objects, keyed at run time")
              for area in COMPACTION_INTEGRITY_AREAS),
            LIST_AUDIT_BUCKET,
            Grant(Resource.DATA_KEY, ("kms:GenerateDataKey", "kms:Decrypt"), why="SSE-KMS objects"),
            Grant(Resource.ENTRY_KEY, ("kms:Sign",),
                  why="a compacted file is logged like a written one: its entry carries the entry key's signature"),
            # Athena's `events` view moved on to the compacted days (mlaudit.events_view): the
            # view only, never the tables it reads (no other function may change the catalog).
            Grant(Resource.GLUE_CATALOG, ("glue:GetTable", "glue:UpdateTable")),
            Grant(Resource.GLUE_DATABASE, ("glue:GetTable", "glue:UpdateTable")),
            Grant(Resource.EVENTS_GLUE_TABLE, ("glue:GetTable", "glue:UpdateTable"),
                  why="read the view's compacted-through date; move it on once the days up to it are compacted"),
        ),
        # No reserved concurrency: overlapping runs claim each generation with a conditional
        # create of its record; the loser moves on to the next (mlaudit.compaction).
        memory_mb="compaction_memory_mb", timeout_seconds=900, pyarrow=True,
    ),
    FunctionSpec(
        "proofs", "Receipts, the latest checkpoint and consistency proofs (read-only).",
        ProofsEnv,
        grants=(
            Grant(Resource.AUDIT_BUCKET, ("s3:GetObject",), objects=EVENTS_OBJECTS,
                  why="a receipt reads the event's Parquet file"),
            Grant(Resource.AUDIT_BUCKET, ("s3:GetObject",), objects=INTEGRITY_OBJECTS,
                  why="a receipt reads the log entries and checkpoints that prove the event"),
            LIST_AUDIT_BUCKET,
            Grant(Resource.DATA_KEY, ("kms:Decrypt",), why="SSE-KMS objects"),
        ),
        memory_mb=1024, pyarrow=True,
    ),
    FunctionSpec(
        "privacy", "Subject access (decrypt) and erasure (destroy the subject's key); both audited.",
        PrivacyEnv,
        grants=(
            Grant(Resource.SUBJECT_KEYS_TABLE, ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"),
                  why="read a subject's key (the pseudonym index is made on first use); erasure deletes it"),
            Grant(Resource.AUDIT_BUCKET, ("s3:GetObject",), objects=EVENTS_OBJECTS,
                  why="subject access reads the Parquet files the subject index names for one subject (keys are "
                  "partitioned by date and type, not by subject)"),
            Grant(Resource.AUDIT_BUCKET, ("s3:GetObject",), objects=INDEX_OBJECTS,
                  why="the subject index (objects keyed by the hour or day they cover) names the files that hold "
                  "the subject: only those are read"),
            LIST_AUDIT_BUCKET,
            *SEND_TO_QUEUE,
        ),
        # A full vCPU: after a year at 1B events a month, an access makes about 1,000 S3 requests
        # to the subject index, and boto3's CPU per request, not S3, is most of its time.
        memory_mb=2048, pyarrow=True,
    ),
    FunctionSpec(
        "queries", "Named, parameterized Athena queries; every run is audited.",
        QueriesEnv,
        grants=(*RUN_ATHENA_QUERIES, *SEND_TO_QUEUE),
        engine="athena",
    ),
    FunctionSpec(
        "monitors", "Scheduled: evaluate each monitor (mlaudit/monitors) through the named queries; "
        "each evaluation audited, a metric, an alarm on SNS.",
        MonitorsEnv,
        grants=(
            *RUN_ATHENA_QUERIES,
            *SEND_TO_QUEUE,  # the evaluations' audit events; the data key also encrypts the alarm topic
            Grant(Resource.MONITORS_TOPIC, ("sns:Publish",), why="a monitor entering ALARM"),
        ),
        # CloudWatch metrics go out as EMF on stdout: no cloudwatch:PutMetricData.
        timeout_seconds=300,  # one Athena query per monitor, one after the other
        engine="athena",
    ),
    FunctionSpec(
        "imports", "A file dropped in the landing bucket: each line through ingest's contract and queue; a report.",
        ImportsEnv,
        grants=(
            *SEND_TO_QUEUE,
            Grant(Resource.IDEMPOTENCY_TABLE, ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
                  why="a file imported before answers with its first report and sends nothing"),
            Grant(Resource.SUBJECT_KEYS_TABLE, ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem"),
                  why="subject keys are created on first sight, as in ingest"),
            # The landing bucket is versioned and the event names the version: a GET (and the HEAD
            # before it) with a VersionId is authorized as s3:GetObjectVersion, not s3:GetObject.
            Grant(Resource.LANDING_BUCKET, ("s3:GetObjectVersion",), objects="imports/*",
                  why="read the dropped file, by the version the event names (the uploader names its key)"),
            Grant(Resource.LANDING_BUCKET, ("s3:GetObjectVersion",), objects="bedrock/*",
                  why="read a Bedrock invocation log file, by the version the event names (Bedrock names its key)"),
            Grant(Resource.LANDING_BUCKET, ("s3:GetObjectVersion",), objects="dms/*",
                  why="read a DMS Parquet file, by the version the event names (the DMS task names its key)"),
            Grant(Resource.LANDING_BUCKET, ("s3:PutObject",), objects="reports/*",
                  why="write the file's progress and report beside it"),
            Grant(Resource.IMPORTS_DEAD_LETTER_QUEUE, ("sqs:SendMessage",),
                  why="Lambda sends an event the import still failed on after its retries here, with this role "
                  "(the queue's key: SEND_TO_QUEUE)"),
        ),
        memory_mb=1024, timeout_seconds=900,  # a large file: Lambda's longest run (the claim's in-flight time)
        pyarrow=True,  # Parquet files
        dead_letter=Resource.IMPORTS_DEAD_LETTER_QUEUE,
    ),
    FunctionSpec(
        "capture", "SageMaker's state changes (EventBridge) and a DynamoDB stream (Pipes) -> contract events "
        "through ingest's path; refused inputs kept with their reasons.",
        CaptureEnv,
        grants=(
            *SEND_TO_QUEUE,
            Grant(Resource.IDEMPOTENCY_TABLE, ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
                  why="claim each delivery and each event id, as ingest does: a redelivery stores nothing twice"),
            Grant(Resource.LEDGER_TABLE, ("dynamodb:PutItem",),
                  why="supersede a pack whose send failed without an answer before resending its events, as ingest"),
            Grant(Resource.SUBJECT_KEYS_TABLE, ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem"),
                  why="a column mapped to subject_ref is pseudonymized under its subject's key, as in ingest"),
            Grant(Resource.CAPTURE_DEAD_LETTER_QUEUE, ("sqs:SendMessage",),
                  why="keep a refused input with its reasons; Lambda sends an event the function still fails on "
                  "after its retries here, with this role (the queue's key: SEND_TO_QUEUE)"),
        ),
        # Ingest's timeout: a claim younger than that is in flight, as for ingest's requests.
        timeout_seconds="ingest_timeout_seconds",
        dead_letter=Resource.CAPTURE_DEAD_LETTER_QUEUE,
        builder="mlaudit.capture.service:build",
    ),
    FunctionSpec(
        "config", "GET /v1/config: the settings in force; each read is audited.",
        ConfigEnv,
        grants=SEND_TO_QUEUE,
    ),
)

BY_NAME: dict[str, FunctionSpec] = {spec.name: spec for spec in FUNCTIONS}


@dataclass(frozen=True)
class ServiceRole:
    """A role an AWS service assumes to act for the stack, declared like a function's grants:
    the CDK app gives it these grants and nothing else, the local stack plays the service
    with them (local/pipes.py)."""

    name: str
    service: str  # the principal that assumes it
    summary: str
    grants: tuple[Grant, ...]


# EventBridge Pipes reads the captured stream and invokes the capture function with each
# batch; a batch that still fails after its retries goes to the capture dead-letter queue.
CAPTURE_PIPE = ServiceRole(
    "capture-pipe", "pipes.amazonaws.com", "EventBridge Pipes: the captured DynamoDB stream -> the capture function.",
    grants=(
        Grant(Resource.CAPTURED_STREAM, ("dynamodb:DescribeStream", "dynamodb:GetShardIterator",
                                         "dynamodb:GetRecords", "dynamodb:ListStreams"),
              why="read the stream (the actions the Pipes documentation lists for a DynamoDB source)"),
        Grant(Resource.CAPTURE_FUNCTION, ("lambda:InvokeFunction",), why="the pipe's target"),
        Grant(Resource.CAPTURE_DEAD_LETTER_QUEUE, ("sqs:SendMessage",),
              why="a batch the function still fails on after the pipe's retries"),
        Grant(Resource.DATA_KEY, ("kms:GenerateDataKey", "kms:Decrypt"), why="the dead-letter queue is KMS-encrypted"),
    ),
)
SERVICE_ROLES: tuple[ServiceRole, ...] = (CAPTURE_PIPE,)


def spec(name: str) -> FunctionSpec:
    return BY_NAME[name]
