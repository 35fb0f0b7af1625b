"""The environment variables the functions read, by name: one place, so the CDK app and
the local stack cannot drift apart. No pydantic here: every function's cold path reads
these names (the deployment settings themselves are `mlaudit.settings`)."""

from __future__ import annotations


class Env:
    AUDIT_BUCKET = "MLAUDIT_AUDIT_BUCKET"
    EVENTS_QUEUE_URL = "MLAUDIT_EVENTS_QUEUE_URL"
    IDEMPOTENCY_TABLE = "MLAUDIT_IDEMPOTENCY_TABLE"
    LEDGER_TABLE = "MLAUDIT_LEDGER_TABLE"
    KMS_KEY_ID = "MLAUDIT_KMS_KEY_ID"
    MAX_BATCH_EVENTS = "MLAUDIT_MAX_BATCH_EVENTS"
    MAX_BODY_BYTES = "MLAUDIT_MAX_BODY_BYTES"
    MAX_MESSAGE_BYTES = "MLAUDIT_MAX_MESSAGE_BYTES"
    CLOCK_SKEW_SECONDS = "MLAUDIT_CLOCK_SKEW_SECONDS"
    IDEMPOTENCY_TTL_SECONDS = "MLAUDIT_IDEMPOTENCY_TTL_SECONDS"
    INGEST_TIMEOUT_SECONDS = "MLAUDIT_INGEST_TIMEOUT_SECONDS"
    WRITER_TIMEOUT_SECONDS = "MLAUDIT_WRITER_TIMEOUT_SECONDS"
    JWKS_URL = "MLAUDIT_JWKS_URL"
    TOKEN_ISSUER = "MLAUDIT_TOKEN_ISSUER"  # noqa: S105 - a variable name, not a secret
    ALLOWED_CLIENT_IDS = "MLAUDIT_ALLOWED_CLIENT_IDS"
    # Subject keys (crypto-shredding): set on ingest and privacy; unset = personal fields refused.
    SUBJECT_KEYS_TABLE = "MLAUDIT_SUBJECT_KEYS_TABLE"
    SIGNING_KEY_ID = "MLAUDIT_SIGNING_KEY_ID"
    ENTRY_KEY_ID = "MLAUDIT_ENTRY_KEY_ID"
    SEAL_KEY_ID = "MLAUDIT_SEAL_KEY_ID"
    WITNESS_BUCKET = "MLAUDIT_WITNESS_BUCKET"
    WITNESS_TOPIC_ARN = "MLAUDIT_WITNESS_TOPIC_ARN"
    LOG_ID = "MLAUDIT_LOG_ID"
    GLUE_DATABASE = "MLAUDIT_GLUE_DATABASE"
    ATHENA_WORKGROUP = "MLAUDIT_ATHENA_WORKGROUP"
    SETTINGS = "MLAUDIT_SETTINGS"
    LANDING_BUCKET = "MLAUDIT_LANDING_BUCKET"
    MONITORS_TOPIC_ARN = "MLAUDIT_MONITORS_TOPIC_ARN"


# Set on every function (and by the local stack): pydantic otherwise scans installed
# packages' metadata for plugins on first use, about 30 ms of every cold start; mlaudit
# uses none.
FUNCTION_RUNTIME_ENVIRONMENT = {"PYDANTIC_DISABLE_PLUGINS": "__all__"}
