"""The AWS resources the functions need, created in moto from the same `Settings` the
CDK app reads and named by `mlaudit.resources` (the names the functions' grants and
environments refer to), so names and limits cannot drift between the laptop and AWS.

People's passwords are generated here at every start and only ever written to the
config file `serve` produces (mode 0600); nothing secret is committed.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from mlaudit.adapters.ledger import SLOTS_SINCE
from mlaudit.resources import (
    DEAD_LETTER_RETENTION_DAYS,
    Resource,
    data_key_alias,
    entry_key_alias,
    seal_key_alias,
    signing_key_alias,
)
from mlaudit.routes import RESOURCE_SERVER, ROLES, SCOPES
from mlaudit.settings import Settings


@dataclass(frozen=True)
class Overrides:
    """Local-only knobs for fast tests and demos; `None` keeps the settings' value."""

    visibility_timeout_seconds: int | None = None
    max_receive_count: int | None = None


@dataclass(frozen=True)
class CaptureResources:
    """The capture function's: its dead-letter queue, the stand-in for your captured table,
    and the local delivery queues EventBridge and the pipe deliver through (local/capture.py)."""

    dlq_url: str
    dlq_arn: str
    table: str
    stream_arn: str
    eventbridge_url: str  # the SageMaker rule's target on moto's bus
    eventbridge_arn: str
    pipe_url: str  # a batch sent here is delivered again by the pipe


@dataclass(frozen=True)
class Resources:
    region: str
    account_id: str
    kms_key_id: str
    kms_key_arn: str
    kms_alias: str
    signing_key_id: str
    entry_key_id: str
    seal_key_id: str
    bucket: str
    witness_bucket: str
    witness_topic_arn: str
    monitors_topic_arn: str
    alarm_topic_arn: str
    results_bucket: str
    landing_bucket: str
    queue_url: str
    queue_arn: str
    visibility_timeout_seconds: int
    dlq_url: str
    dlq_arn: str
    imports_dlq_url: str
    imports_dlq_arn: str
    idempotency_table: str
    ledger_table: str
    subject_keys_table: str
    user_pool_id: str
    issuer: str
    user_client_id: str
    machine_client_id: str
    machine_client_secret: str = field(repr=False)
    machine_scopes: tuple[str, ...] = ()
    users: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    capture: CaptureResources | None = None

    @property
    def allowed_client_ids(self) -> tuple[str, ...]:
        return (self.machine_client_id, self.user_client_id)


def create_resources(
    clients: Any, settings: Settings, region: str, overrides: Overrides | None = None
) -> Resources:
    """`clients(service)` returns a boto3 client pointed at moto."""
    overrides = overrides or Overrides()
    prefix = settings.name_prefix
    account_id = clients("sts").get_caller_identity()["Account"]

    def name(resource: Resource) -> str:
        return resource.local_name(prefix, account_id, region)

    key_id, key_arn, alias = _kms(clients("kms"), prefix)
    signing_key_id = _signing_key(clients("kms"), prefix)
    entry_key_id = _entry_key(clients("kms"), prefix)
    seal_key_id = _seal_key(clients("kms"), prefix)
    bucket = _bucket(clients("s3"), settings, name(Resource.AUDIT_BUCKET), key_arn)
    witness_bucket = _witness_bucket(clients("s3"), settings, name(Resource.WITNESS_BUCKET), key_arn)
    witness_topic_arn = clients("sns").create_topic(
        Name=name(Resource.WITNESS_TOPIC), Attributes={"KmsMasterKeyId": key_id},
    )["TopicArn"]
    monitors_topic_arn = clients("sns").create_topic(
        Name=name(Resource.MONITORS_TOPIC), Attributes={"KmsMasterKeyId": key_id},
    )["TopicArn"]
    alarm_topic_arn = clients("sns").create_topic(
        Name=name(Resource.ALARM_TOPIC), Attributes={"KmsMasterKeyId": key_id},
    )["TopicArn"]
    results_bucket = _results_bucket(clients("s3"), name(Resource.RESULTS_BUCKET), key_arn)
    _glue(clients("glue"), name(Resource.GLUE_DATABASE), bucket)
    landing_bucket = _landing_bucket(clients("s3"), name(Resource.LANDING_BUCKET), key_arn)
    visibility = overrides.visibility_timeout_seconds or settings.queue_visibility_timeout_seconds
    queue_url, queue_arn, dlq_url, dlq_arn = _queues(
        clients("sqs"), settings, name(Resource.EVENTS_QUEUE), name(Resource.DEAD_LETTER_QUEUE), key_id, visibility,
        overrides.max_receive_count or settings.max_receive_count,
    )
    imports_dlq_url = clients("sqs").create_queue(
        QueueName=name(Resource.IMPORTS_DEAD_LETTER_QUEUE),
        Attributes={"MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_DAYS * 86_400), "KmsMasterKeyId": key_id},
    )["QueueUrl"]
    dynamodb = clients("dynamodb")
    idempotency, ledger = (_table(dynamodb, name(r)) for r in (Resource.IDEMPOTENCY_TABLE, Resource.LEDGER_TABLE))
    # Made by this version: it never held the writer's list in items of a minute (the sweep
    # reads those for a day after an upgrade, mlaudit.adapters.ledger).
    dynamodb.put_item(TableName=ledger, Item={"pk": {"S": SLOTS_SINCE}, "at": {"N": "0"}})
    subject_keys = _subject_keys_table(dynamodb, name(Resource.SUBJECT_KEYS_TABLE))
    cognito = _cognito(clients("cognito-idp"), prefix, name(Resource.USER_POOL), region, settings.machine_token_hours)
    capture = _capture(clients, prefix, name, key_id)
    return Resources(
        region=region, account_id=account_id, kms_key_id=key_id, kms_key_arn=key_arn, kms_alias=alias,
        signing_key_id=signing_key_id, entry_key_id=entry_key_id, seal_key_id=seal_key_id,
        bucket=bucket, witness_bucket=witness_bucket, witness_topic_arn=witness_topic_arn,
        monitors_topic_arn=monitors_topic_arn, alarm_topic_arn=alarm_topic_arn,
        imports_dlq_url=imports_dlq_url, imports_dlq_arn=_queue_arn(clients("sqs"), imports_dlq_url),
        results_bucket=results_bucket, landing_bucket=landing_bucket,
        queue_url=queue_url, queue_arn=queue_arn,
        visibility_timeout_seconds=visibility,
        dlq_url=dlq_url, dlq_arn=dlq_arn, idempotency_table=idempotency, ledger_table=ledger,
        subject_keys_table=subject_keys, capture=capture,
        **cognito,
    )


def _capture(clients: Any, prefix: str, name: Any, key_id: str) -> CaptureResources:
    sqs = clients("sqs")
    dlq_url = sqs.create_queue(
        QueueName=name(Resource.CAPTURE_DEAD_LETTER_QUEUE),
        Attributes={"MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_DAYS * 86_400), "KmsMasterKeyId": key_id},
    )["QueueUrl"]
    # Your table (on AWS you own it; capture_dynamodb_stream_arn names its stream), with the
    # view type tables.json's mapping needs.
    table = clients("dynamodb").create_table(
        TableName=name(Resource.CAPTURED_STREAM), BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "request_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "request_id", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    # Local plumbing (no AWS counterpart): what EventBridge and Pipes deliver, read by local/capture.py.
    eventbridge_url = sqs.create_queue(QueueName=f"{prefix}-local-eventbridge-to-capture")["QueueUrl"]
    pipe_url = sqs.create_queue(QueueName=f"{prefix}-local-pipe-to-capture")["QueueUrl"]
    return CaptureResources(dlq_url=dlq_url, dlq_arn=_queue_arn(sqs, dlq_url), table=table["TableName"],
                            stream_arn=table["LatestStreamArn"], eventbridge_url=eventbridge_url,
                            eventbridge_arn=_queue_arn(sqs, eventbridge_url), pipe_url=pipe_url)


def _kms(kms: Any, prefix: str) -> tuple[str, str, str]:
    key = kms.create_key(
        Description=f"{prefix} audit data key (local)",
        KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT",
    )["KeyMetadata"]
    alias = data_key_alias(prefix)
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return key["KeyId"], key["Arn"], alias


def _signing_key(kms: Any, prefix: str) -> str:
    """The integrity log's checkpoint key: RSA, sign/verify (PKCS#1 v1.5 over RAW messages)."""
    key = kms.create_key(
        Description=f"{prefix} integrity checkpoint signing key (local)",
        KeyUsage="SIGN_VERIFY", KeySpec="RSA_3072",
    )["KeyMetadata"]
    kms.create_alias(AliasName=signing_key_alias(prefix), TargetKeyId=key["KeyId"])
    return key["KeyId"]


def _entry_key(kms: Any, prefix: str) -> str:
    """The writer's log-entry key: RSA, sign/verify; only the writer may sign with it."""
    key = kms.create_key(
        Description=f"{prefix} integrity log entry signing key (local)",
        KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048",
    )["KeyMetadata"]
    kms.create_alias(AliasName=entry_key_alias(prefix), TargetKeyId=key["KeyId"])
    return key["KeyId"]


def _seal_key(kms: Any, prefix: str) -> str:
    """Ingest's seal key: RSA, sign/verify; only the functions that enqueue may sign with it."""
    key = kms.create_key(
        Description=f"{prefix} pack seal key (local)", KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048",
    )["KeyMetadata"]
    kms.create_alias(AliasName=seal_key_alias(prefix), TargetKeyId=key["KeyId"])
    return key["KeyId"]


def _glue(glue: Any, database: str, bucket: str) -> None:
    """The catalog as stacks/analytics.py declares it: the tables over events/ and compacted/
    and the `events` view (moto stores them and runs no query: the local engine reads the
    view's compacted-through date, local/athena/lake.py)."""
    from mlaudit import events_view  # noqa: PLC0415
    from mlaudit.layout import PARTITION_KEYS, glue_columns  # noqa: PLC0415

    glue.create_database(DatabaseInput={"Name": database, "Description": "mlaudit audit trail"})
    for table, root in events_view.TABLE_ROOTS.items():
        glue.create_table(DatabaseName=database, TableInput={
            "Name": table, "TableType": "EXTERNAL_TABLE",
            "PartitionKeys": [{"Name": n, "Type": t} for n, t in PARTITION_KEYS],
            "StorageDescriptor": {"Location": f"s3://{bucket}/{root}",
                                  "Columns": [{"Name": c["name"], "Type": c["type"]} for c in glue_columns()]}})
    glue.create_table(DatabaseName=database,
                      TableInput=events_view.view_input(database, events_view.NOTHING_COMPACTED))


def _witness_bucket(s3: Any, settings: Settings, name: str, key_arn: str) -> str:
    """Every checkpoint, under Object Lock in object_lock_mode like the lake, as in
    stacks/integrity.py."""
    _encrypted_bucket(s3, name, key_arn, object_lock=True)
    s3.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": settings.object_lock_mode, "Days": settings.object_lock_days}},
        },
    )
    return name


def _bucket(s3: Any, settings: Settings, name: str, key_arn: str) -> str:
    _encrypted_bucket(s3, name, key_arn, object_lock=True)
    s3.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {
                "Mode": settings.object_lock_mode, "Days": settings.object_lock_days,
            }},
        },
    )
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True,
            "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
        },
    )
    return name


def _encrypted_bucket(
    s3: Any, name: str, key_arn: str, *, versioned: bool = False, object_lock: bool = False,
) -> str:
    """A bucket with SSE-KMS under the stack's key (and a bucket key) by default; Object Lock
    needs versioning, so `object_lock` turns it on too."""
    s3.create_bucket(Bucket=name, **({"ObjectLockEnabledForBucket": True} if object_lock else {}))
    if versioned or object_lock:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
            "BucketKeyEnabled": True,
        }]},
    )
    return name


def _results_bucket(s3: Any, name: str, key_arn: str) -> str:
    """Where Athena writes query results (the local engine only checks the caller may)."""
    return _encrypted_bucket(s3, name, key_arn)


def _landing_bucket(s3: Any, name: str, key_arn: str) -> str:
    """Files dropped for import (versioned: a file is identified by its version), and reports."""
    return _encrypted_bucket(s3, name, key_arn, versioned=True)


def _queues(
    sqs: Any, settings: Settings, queue_name: str, dlq_name: str, key_id: str, visibility: int,
    max_receive_count: int,
) -> tuple[str, str, str, str]:
    retention = str(settings.queue_retention_days * 86_400)
    dlq_url = sqs.create_queue(
        QueueName=dlq_name,
        Attributes={"MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_DAYS * 86_400), "KmsMasterKeyId": key_id},
    )["QueueUrl"]
    dlq_arn = _queue_arn(sqs, dlq_url)
    queue_url = sqs.create_queue(
        QueueName=queue_name,
        Attributes={
            "VisibilityTimeout": str(visibility),
            "MessageRetentionPeriod": retention,
            "KmsMasterKeyId": key_id,
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
            ),
        },
    )["QueueUrl"]
    return queue_url, _queue_arn(sqs, queue_url), dlq_url, dlq_arn


def _queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _table(dynamodb: Any, name: str) -> str:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    return name


def _subject_keys_table(dynamodb: Any, name: str) -> str:
    """Crypto-shredding keys: no TTL (a key lives until its subject is erased); PITR on,
    as on AWS (docs/regulations.md explains what that means for erasure)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    return name


def _cognito(cognito: Any, prefix: str, pool_name: str, region: str, token_hours: int) -> dict[str, Any]:
    pool_id = cognito.create_user_pool(
        PoolName=pool_name,
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
    )["UserPool"]["Id"]
    for role, description in ROLES.items():
        cognito.create_group(UserPoolId=pool_id, GroupName=role, Description=description)
    cognito.create_resource_server(
        UserPoolId=pool_id, Identifier=RESOURCE_SERVER, Name=RESOURCE_SERVER,
        Scopes=[{"ScopeName": name, "ScopeDescription": text} for name, text in SCOPES.items()],
    )
    scopes = tuple(f"{RESOURCE_SERVER}/{name}" for name in SCOPES)
    machine = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName=f"{prefix}-workloads", GenerateSecret=True,
        AllowedOAuthFlows=["client_credentials"], AllowedOAuthScopes=list(scopes),
        AllowedOAuthFlowsUserPoolClient=True, AccessTokenValidity=token_hours,
        TokenValidityUnits={"AccessToken": "hours"},
    )["UserPoolClient"]
    people = cognito.create_user_pool_client(
        UserPoolId=pool_id, ClientName=f"{prefix}-people", GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]

    users: dict[str, dict[str, str]] = {}
    for role in ROLES:
        username, password = role.replace("_", "-"), _password()
        cognito.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
        cognito.admin_set_user_password(
            UserPoolId=pool_id, Username=username, Password=password, Permanent=True
        )
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=role)
        users[role] = {"username": username, "password": password}

    return {
        "user_pool_id": pool_id,
        # What Cognito (and moto) put in `iss`; the JWKS lives at <issuer>/.well-known/jwks.json.
        "issuer": f"https://cognito-idp.{region}.amazonaws.com/{pool_id}",
        "user_client_id": people["ClientId"],
        "machine_client_id": machine["ClientId"],
        "machine_client_secret": machine["ClientSecret"],
        "machine_scopes": scopes,
        "users": users,
    }


def _password() -> str:
    # Random part plus one of each class Cognito's default password policy asks for.
    return secrets.token_urlsafe(18) + "Aa1!"
