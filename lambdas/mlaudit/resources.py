"""The AWS resources the functions touch, and those the stack's resource policies name,
named once.

The CDK app maps each `Resource` to the construct that creates it; the local stack
creates each one in moto under `local_name` (or, for what moto cannot run, gives it a
local ARN only). Grants and environment variables in `mlaudit.functions`, and the
resource policies in `mlaudit.resource_policies`, refer to resources only through this
enum, so permissions and settings read the same on AWS and on the laptop.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    BUCKET = "bucket"
    KEY = "key"
    QUEUE = "queue"
    TABLE = "table"
    WORKGROUP = "workgroup"
    GLUE_CATALOG = "glue_catalog"
    GLUE_DATABASE = "glue_database"
    GLUE_TABLE = "glue_table"
    USER_POOL = "user_pool"
    TOPIC = "topic"
    RULE = "rule"  # an EventBridge rule
    API = "api"  # the REST API (attributes: id, stage, authorizer_id)
    STREAM = "stream"  # a DynamoDB stream the stack reads but does not own (capture)
    FUNCTION = "function"  # a function, where a role names it (a pipe's target)


class Resource(Enum):
    """Each value is (kind, suffix of the local physical name)."""

    AUDIT_BUCKET = (Kind.BUCKET, "audit")
    DATA_KEY = (Kind.KEY, "data")
    SIGNING_KEY = (Kind.KEY, "checkpoints")
    ENTRY_KEY = (Kind.KEY, "log-entries")  # the writer signs each integrity log entry with it
    SEAL_KEY = (Kind.KEY, "pack-seals")  # the functions that enqueue certify their pack-sealing keys with it
    WITNESS_BUCKET = (Kind.BUCKET, "witness")  # every checkpoint, outside the audit bucket's authority
    WITNESS_TOPIC = (Kind.TOPIC, "witness")  # announces every checkpoint to subscribers
    MONITORS_TOPIC = (Kind.TOPIC, "monitor-alarms")  # a monitor entering ALARM (stacks/monitors.py)
    ALARM_TOPIC = (Kind.TOPIC, "alarms")  # the operations alarms (stacks/monitoring.py)
    EVENTS_QUEUE = (Kind.QUEUE, "events")
    DEAD_LETTER_QUEUE = (Kind.QUEUE, "events-dlq")
    # A landed file's event that could not be delivered to, or handled by, the import function.
    IMPORTS_DEAD_LETTER_QUEUE = (Kind.QUEUE, "imports-dlq")
    IDEMPOTENCY_TABLE = (Kind.TABLE, "idempotency")
    LEDGER_TABLE = (Kind.TABLE, "ledger")
    SUBJECT_KEYS_TABLE = (Kind.TABLE, "subject-keys")
    RESULTS_BUCKET = (Kind.BUCKET, "query-results")
    LANDING_BUCKET = (Kind.BUCKET, "landing")  # files dropped for batch import, and their reports
    ACCESS_LOGS_BUCKET = (Kind.BUCKET, "access-logs")  # S3 server access logs (S3 delivers them)
    WORKGROUP = (Kind.WORKGROUP, "")
    GLUE_CATALOG = (Kind.GLUE_CATALOG, "")
    GLUE_DATABASE = (Kind.GLUE_DATABASE, "")
    EVENTS_GLUE_TABLE = (Kind.GLUE_TABLE, "events")  # the view the named queries read (mlaudit.events_view)
    WRITTEN_GLUE_TABLE = (Kind.GLUE_TABLE, "events_written")  # the writer's files under events/
    COMPACTED_GLUE_TABLE = (Kind.GLUE_TABLE, "events_compacted")  # the compacted files under compacted/
    USER_POOL = (Kind.USER_POOL, "users")
    CHECKPOINT_SCHEDULE = (Kind.RULE, "checkpoint-schedule")  # EventBridge -> the checkpoint signer
    MONITORS_SCHEDULE = (Kind.RULE, "monitors-schedule")  # EventBridge -> the monitors
    RECOVERY_SCHEDULE = (Kind.RULE, "recovery-schedule")  # EventBridge -> the writer's recovery sweep
    COMPACTION_SCHEDULE = (Kind.RULE, "compaction-schedule")  # EventBridge -> compaction of closed days
    FILE_LANDED_RULE = (Kind.RULE, "file-landed")  # S3 -> EventBridge -> the import function
    REST_API = (Kind.API, "")
    # Capture (docs/capture.md): SageMaker's state changes -> the capture function; what it
    # refuses or cannot take, and what EventBridge or Pipes cannot deliver, in its dead-letter queue.
    SAGEMAKER_RULE = (Kind.RULE, "sagemaker-events")
    CAPTURE_DEAD_LETTER_QUEUE = (Kind.QUEUE, "capture-dlq")
    # Your table's stream, read by the capture pipe (capture_dynamodb_stream_arn); locally a
    # table of this name (its mapping in capture/tables.json).
    CAPTURED_STREAM = (Kind.STREAM, "predictions")
    CAPTURE_FUNCTION = (Kind.FUNCTION, "capture")  # the capture pipe's target

    @property
    def kind(self) -> Kind:
        return self.value[0]

    def local_name(self, prefix: str, account: str, region: str) -> str:
        """The physical name the local stack gives it (CloudFormation names most of them on AWS)."""
        suffix = self.value[1]
        if self.kind is Kind.BUCKET:
            return f"{prefix}-{suffix}-{account}-{region}"  # bucket names are global
        if self.kind in (Kind.WORKGROUP,):
            return workgroup_name(prefix)
        if self.kind in (Kind.GLUE_DATABASE,):
            return glue_database_name(prefix)
        if self.kind is Kind.GLUE_TABLE:
            return suffix
        if self.kind is Kind.API:
            return api_name(prefix)
        if self.kind is Kind.STREAM:
            return suffix  # the table's own name, as tables.json names it
        return f"{prefix}-{suffix}"


def data_key_alias(prefix: str) -> str:
    return f"alias/{prefix}"


def signing_key_alias(prefix: str) -> str:
    return f"alias/{prefix}-checkpoints"


def entry_key_alias(prefix: str) -> str:
    return f"alias/{prefix}-log-entries"


def seal_key_alias(prefix: str) -> str:
    return f"alias/{prefix}-pack-seals"


def api_name(prefix: str) -> str:
    """The REST API's name, also the ApiName dimension of its CloudWatch metrics."""
    return f"{prefix}-api"


def cognito_domain_prefix(prefix: str, account: str) -> str:
    """Cognito hosted domains are global: the account number keeps two accounts apart."""
    return f"{prefix}-{account}"


def waf_log_group_name(prefix: str, stack_uuid: str) -> str:
    """WAF wants "aws-waf-logs-"; the stack's id keeps a redeploy after a failed first deploy
    (which leaves the retained group behind) from colliding with it."""
    return f"aws-waf-logs-{prefix}-{stack_uuid}"


def service_name(prefix: str, function: str) -> str:
    """A function's Powertools service (its log and metric dimension)."""
    return f"{prefix}-{function}"


def glue_database_name(prefix: str) -> str:
    return prefix.replace("-", "_")  # Glue and Athena identifiers take no hyphen


def workgroup_name(prefix: str) -> str:
    return prefix


EVENTS_GLUE_TABLE_NAME = Resource.EVENTS_GLUE_TABLE.value[1]
DEAD_LETTER_RETENTION_DAYS = 14  # SQS's longest: a dead letter is audit data not yet stored


@dataclass(frozen=True)
class Attr:
    """An attribute of a resource an environment variable carries (name, arn, url, ...)."""

    resource: Resource
    attribute: str  # name | arn | url | id | jwks_url | issuer | client_ids | stage | authorizer_id
