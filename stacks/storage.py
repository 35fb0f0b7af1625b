"""Keys and storage: the customer managed key, the audit bucket (Object Lock,
lifecycle, access logs) and the two DynamoDB tables. Everything here holds audit
data or protects it, so everything is retained when the stack is deleted."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from mlaudit.resources import data_key_alias
from mlaudit.settings import Settings

STORAGE_CLASSES: dict[str, s3.StorageClass] = {
    "GLACIER_IR": s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
    "GLACIER": s3.StorageClass.GLACIER,
    "DEEP_ARCHIVE": s3.StorageClass.DEEP_ARCHIVE,
    "STANDARD_IA": s3.StorageClass.INFREQUENT_ACCESS,
}


def lock_retention(settings: Settings) -> s3.ObjectLockRetention:
    """The default retention of the audit bucket and the witness: object_lock_mode for object_lock_days."""
    days = Duration.days(settings.object_lock_days)
    if settings.object_lock_mode == "COMPLIANCE":
        return s3.ObjectLockRetention.compliance(days)
    return s3.ObjectLockRetention.governance(days)


def encrypted_bucket(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    access_logs: s3.IBucket,
    access_logs_prefix: str,
    lifecycle_rules: list[s3.LifecycleRule] | None = None,
    object_lock: s3.ObjectLockRetention | None = None,
) -> s3.Bucket:
    """A bucket for audit data or what is derived from it: SSE-KMS under the stack's key
    (with a bucket key), TLS only, no public access, no ACLs, versioned, access-logged and
    retained when the stack is deleted. `object_lock` is the default retention, if any."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        object_lock_enabled=True if object_lock else None,
        object_lock_default_retention=object_lock,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=access_logs_prefix,
        lifecycle_rules=lifecycle_rules,
        removal_policy=RemovalPolicy.RETAIN,
    )


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            alias=data_key_alias(settings.name_prefix),
            description="mlaudit: audit events, queues, tables, logs, alarms and query results",
            enable_key_rotation=True,
            pending_window=Duration.days(30),
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Its key policy (the services that use it on their own behalf: CloudWatch Logs, alarms,
        # EventBridge's dead letters) is declared in mlaudit.resource_policies (stacks/policies.py).

        # S3 server access logs cannot be delivered to an SSE-KMS bucket: this one uses SSE-S3.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(settings.access_log_retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

        retention = Duration.days(settings.object_lock_days)
        archive_class = STORAGE_CLASSES[settings.archive_storage_class]
        self.audit_bucket = encrypted_bucket(
            self,
            "AuditBucket",
            key=self.key,
            access_logs=self.access_logs,
            access_logs_prefix="audit-bucket/",
            object_lock=lock_retention(settings),
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="archive-then-expire",
                    transitions=[
                        s3.Transition(
                            storage_class=archive_class,
                            transition_after=Duration.days(settings.archive_after_days),
                        )
                    ],
                    noncurrent_version_transitions=[
                        s3.NoncurrentVersionTransition(
                            storage_class=archive_class,
                            transition_after=Duration.days(settings.noncurrent_archive_after_days),
                        )
                    ],
                    # After retention an object gets a delete marker, and its data goes a day after
                    # the noncurrent transition (S3 wants that order). Lifecycle never deletes a
                    # version Object Lock still protects, so nothing goes before its retention ends.
                    expiration=retention,
                    noncurrent_version_expiration=Duration.days(settings.noncurrent_archive_after_days + 1),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
        )
        # Write-once under events/ and integrity/, for every principal (mlaudit.bucket_policy): its
        # statements are added with the stack's other resource policies (stacks/policies.py), and
        # the local stack enforces the same statements.

        # Idempotency: event ids already accepted, forgotten after idempotency_ttl_seconds.
        self.idempotency_table = self._table("IdempotencyTable")
        # Ledger: which file holds each SQS pack, so a redelivered pack is not written twice.
        self.ledger_table = self._table("LedgerTable")
        # Subject keys (crypto-shredding): erasure deletes a subject's item, its only live copy.
        self.subject_keys_table = self._table("SubjectKeysTable", ttl=False)

    def _table(self, construct_id: str, *, ttl: bool = True) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute="expires_at" if ttl else None,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
