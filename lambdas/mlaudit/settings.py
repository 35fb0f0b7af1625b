"""Deployment settings: one typed source of names and limits.

The CDK app reads them from `cdk.json` context (``-c name=value`` overrides), the
local stack from the same file, and each function receives the part it needs as
environment variables built by `function_environment`. An invalid value fails
with a message that names the setting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlaudit.env import FUNCTION_RUNTIME_ENVIRONMENT, Env  # noqa: F401 - also read from here

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = REPO_ROOT / "cdk.json"


class SettingsError(ValueError):
    """A deployment setting is missing, unknown or out of range."""


class Settings(BaseModel):
    """Every knob a deployment has. Defaults are the safe, HIPAA-minded ones."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    # Naming
    name_prefix: str = Field("mlaudit", pattern=r"^[a-z][a-z0-9-]{1,20}$")
    """Prefix of named resources (KMS alias, Glue database, Athena workgroup, Cognito domain)."""

    # Storage and retention (HIPAA §164.316(b)(2): six years)
    object_lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] = "GOVERNANCE"
    """Object Lock default retention mode of the audit bucket and the witness bucket: GOVERNANCE (a trial
    deploy that can be removed, docs/deploy.md) or COMPLIANCE (cannot be shortened or removed by anyone,
    root included)."""
    object_lock_days: int = Field(2190, ge=1, le=36500)
    """Default Object Lock retention and lifecycle expiry of audit objects and witnessed checkpoints, in
    days (2190 = HIPAA's six years)."""
    archive_after_days: int = Field(90, ge=1, le=36500)
    """Age in days at which audit objects move to archive_storage_class."""
    archive_storage_class: Literal["GLACIER_IR", "GLACIER", "DEEP_ARCHIVE", "STANDARD_IA"] = (
        "GLACIER_IR"
    )
    """Archive storage class: GLACIER_IR, GLACIER, DEEP_ARCHIVE or STANDARD_IA."""
    noncurrent_archive_after_days: int = Field(30, ge=1, le=36500)
    """Days after an object version becomes noncurrent before it is archived."""
    checkpoint_interval_minutes: int = Field(5, ge=1, le=60)
    """Minutes between signed checkpoints of the integrity log: the longest an acknowledged event waits
    for signed evidence, plus the writer's batch window (docs/integrity.md, "Freshness")."""
    compaction_interval_hours: int = Field(6, ge=1, le=24)
    """Hours between compaction runs: each merges the closed days' files per event type into few large
    ones (docs/compaction.md)."""
    compaction_delay_hours: int = Field(6, ge=1, le=168)
    """Hours after its end (UTC) a day counts as closed and is compacted."""
    compaction_late_days: int = Field(14, ge=0, le=365)
    """Days a compacted day is looked at again for files written after it was compacted (a writer
    retry, a dead-letter redrive): they become one more compacted file."""
    compaction_max_rows: int = Field(1_000_000, ge=1000, le=20_000_000)
    """Most events in one compacted file (a day's larger partitions become several files)."""
    compaction_memory_mb: int = Field(3008, ge=512, le=10240)
    """Memory of the compaction function: a compacted file is built in memory."""
    access_log_retention_days: int = Field(2190, ge=1, le=36500)
    """Days S3 server access logs are kept in the log bucket."""
    log_retention_days: Literal[
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
        2557, 2922, 3288, 3653,
    ] = 2192
    """CloudWatch Logs retention of function, API access and WAF logs (a value CloudWatch accepts)."""

    # API
    api_throttle_rate: int = Field(1000, ge=1, le=100_000)
    """API stage steady-state request rate limit (requests per second)."""
    api_throttle_burst: int = Field(2000, ge=1, le=100_000)
    """API stage burst limit (requests); at least api_throttle_rate."""
    waf_enabled: bool = False
    """Attach a WAF web ACL (AWS managed rules and a per-IP rate limit) to the API stage."""
    waf_rate_limit_per_5min: int = Field(20_000, ge=100, le=2_000_000_000)
    """WAF rate limit: requests per client IP per 5 minutes."""

    # Ingest
    max_batch_events: int = Field(500, ge=1, le=500)
    """Most events one POST /v1/events request may carry."""
    max_body_bytes: int = Field(1_000_000, ge=1024, le=6_000_000)
    """Largest request body the ingest function accepts, in bytes."""
    max_message_bytes: int = Field(240_000, ge=16_384, le=262_144)
    """Largest SQS message the ingest function writes (events are packed up to this)."""
    clock_skew_seconds: int = Field(300, ge=0, le=86_400)
    """How far in the future an event's occurred_at may be."""
    idempotency_ttl_seconds: int = Field(86_400, ge=60, le=30 * 86_400)
    """How long an accepted event_id is remembered to drop retries."""
    ingest_timeout_seconds: int = Field(15, ge=3, le=29)
    """Ingest function timeout (below API Gateway's 29 s)."""
    ingest_memory_mb: int = Field(512, ge=128, le=10_240)
    """Ingest function memory (MB)."""
    ingest_provisioned_min: int = Field(0, ge=0, le=1000)
    """Provisioned concurrency of the ingest alias: minimum; 0 = none and no auto scaling. Lambda keeps 100
    of the account's concurrency unreserved, so any value needs a Lambda concurrency quota of at least 100 +
    ingest_provisioned_max (+ writer_reserved_concurrency); a fresh account's is 10 (make preflight)."""
    ingest_provisioned_max: int = Field(10, ge=1, le=1000)
    """Provisioned concurrency of the ingest alias: maximum (auto scaling; only with ingest_provisioned_min)."""
    ingest_provisioned_target: float = Field(0.7, gt=0.0, lt=1.0)
    """Target utilization (0-1) of provisioned concurrency for auto scaling."""

    # Writer
    writer_batch_size: int = Field(10_000, ge=1, le=10_000)
    """Most SQS messages per writer invocation."""
    writer_batch_window_seconds: int = Field(60, ge=0, le=300)
    """Longest the event source waits to fill a writer batch."""
    writer_timeout_seconds: int = Field(300, ge=10, le=900)
    """Writer function timeout."""
    writer_memory_mb: int = Field(2048, ge=512, le=10_240)
    """Writer function memory (MB)."""
    writer_reserved_concurrency: int | None = Field(None, ge=1, le=1000)
    """Reserved concurrency of the writer; none by default. Lambda keeps 100 of the account's concurrency
    unreserved, so a value needs a Lambda concurrency quota of at least 100 + this (+ provisioned
    concurrency); a fresh account's is 10 (make preflight)."""
    writer_max_concurrency: int = Field(5, ge=2, le=1000)
    """Most writer invocations the SQS event source runs at once (reserves nothing; with
    writer_reserved_concurrency, the smaller of the two)."""
    queue_visibility_timeout_seconds: int = Field(1800, ge=60, le=43_200)
    """Events queue visibility timeout; at least 6 x writer_timeout_seconds."""
    queue_retention_days: int = Field(14, ge=1, le=14)
    """How long the events queue keeps a message (days, up to 14)."""
    max_receive_count: int = Field(5, ge=1, le=1000)
    """Receives before a message moves to the dead-letter queue. With the visibility timeout it bounds how
    long the writer may be throttled before a healthy message is dead-lettered: max_receive_count x
    queue_visibility_timeout_seconds (2.5 hours by default; docs/deploy.md)."""

    # Analytics
    athena_bytes_scanned_cutoff: int = Field(10 * 1024**3, ge=10 * 1024**2)
    """Per-query scan limit of the Athena workgroup (bytes)."""
    quicksight_principal_arn: str | None = Field(
        None, pattern=r"^arn:aws[a-z-]*:quicksight:[a-z0-9-]+:\d{12}:(user|group)/.+$"
    )
    """QuickSight user or group ARN; when set, the stack creates a data source on the workgroup (with a
    role of its own), a data set on the events table and one per view in queries/views/, and the dashboard
    in stacks/quicksight/dashboard.json, and shares them with it read-only (docs/queries.md#quicksight)."""

    machine_token_hours: int = Field(12, ge=1, le=24)
    """Lifetime of the workload client's access tokens (client credentials). Cognito bills each token
    ($2.25 per 1,000): a process renewing hourly costs $1.62 a month, twice a day $0.14. A token cannot be
    revoked: a leaked one writes events until it expires (whoever can read it from a workload can
    usually read the client secret too)."""

    # Monitoring
    alarm_email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    """Email address subscribed to the alarm topic (confirm the subscription email)."""
    api_p99_latency_ms: int = Field(2000, ge=10, le=29_000)
    """Alarm when API p99 latency exceeds this (ms)."""
    writer_max_message_age_seconds: int = Field(900, ge=60, le=1_209_600)
    """Alarm when the oldest queued event is older than this (s)."""
    monitor_interval_minutes: int = Field(60, ge=5, le=1440)
    """Minutes between evaluations of the monitors (monitors.json). Each evaluation scans the days its
    windows touch: at 60 the packaged monitors' one-hour windows are each seen once; 5 costs twelve times
    as much (docs/deploy.md, "What it costs")."""

    # Capture (docs/capture.md)
    capture_sagemaker: bool = False
    """Capture SageMaker's training job, model package and endpoint state changes from the account's default
    event bus (the rule is created disabled while false)."""
    capture_dynamodb_stream_arn: str | None = Field(
        None, pattern=r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/[A-Za-z0-9_.-]+/stream/.+$")
    """A DynamoDB stream (NEW_IMAGE or NEW_AND_OLD_IMAGES) to capture through EventBridge Pipes; its table needs
    a mapping in lambdas/mlaudit/capture/tables.json. None: no pipe."""
    capture_bedrock_prompts: Literal["hash", "encrypted"] = "hash"
    """Bedrock invocation logs: prompts and outputs stored only as SHA-256 hashes (hash), or also as personal
    data encrypted under the key of the subject the request names, else of the caller (encrypted)."""

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.ingest_provisioned_max < self.ingest_provisioned_min:
            raise ValueError("ingest_provisioned_max must be >= ingest_provisioned_min")
        if self.queue_visibility_timeout_seconds < 6 * self.writer_timeout_seconds:
            raise ValueError(
                "queue_visibility_timeout_seconds must be at least 6 x writer_timeout_seconds "
                f"({6 * self.writer_timeout_seconds}), as AWS advises for SQS event sources"
            )
        if self.archive_after_days >= self.object_lock_days:
            raise ValueError("archive_after_days must be smaller than object_lock_days")
        if self.api_throttle_burst < self.api_throttle_rate:
            raise ValueError("api_throttle_burst must be >= api_throttle_rate")
        return self

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Settings:
        """Build from context values (strings from ``-c`` are coerced), naming any bad key."""
        known = {k: v for k, v in values.items() if k in cls.model_fields}
        try:
            return cls.model_validate({k: _coerce(v) for k, v in known.items()})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
                for err in exc.errors()
            )
            raise SettingsError(f"invalid mlaudit setting: {problems}") from None

    @classmethod
    def from_cdk_json(cls, path: Path = CDK_JSON, overrides: dict[str, Any] | None = None) -> Settings:
        context = json.loads(path.read_text())["context"] if path.exists() else {}
        return cls.from_mapping({**context, **(overrides or {})})


def _coerce(value: Any) -> Any:
    """``cdk -c`` passes strings; turn 'true'/'null'/numbers into JSON values."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def setting_docs() -> list[tuple[str, Any, str]]:
    """(name, default, meaning) for every setting: the README table is built from this."""
    return [
        (name, field.default, " ".join((field.description or "").split()))
        for name, field in Settings.model_fields.items()
    ]


def settings_environment(settings: Settings) -> dict[str, str]:
    """The whole deployment's settings, for the function that shows them (GET /v1/config)."""
    return {Env.SETTINGS: settings.model_dump_json()}


def ingest_limits_environment(settings: Settings) -> dict[str, str]:
    return {
        Env.MAX_BATCH_EVENTS: str(settings.max_batch_events),
        Env.MAX_BODY_BYTES: str(settings.max_body_bytes),
        Env.MAX_MESSAGE_BYTES: str(settings.max_message_bytes),
        Env.CLOCK_SKEW_SECONDS: str(settings.clock_skew_seconds),
        Env.IDEMPOTENCY_TTL_SECONDS: str(settings.idempotency_ttl_seconds),
        Env.INGEST_TIMEOUT_SECONDS: str(settings.ingest_timeout_seconds),
    }


def writer_limits_environment(settings: Settings) -> dict[str, str]:
    return {Env.WRITER_TIMEOUT_SECONDS: str(settings.writer_timeout_seconds)}
