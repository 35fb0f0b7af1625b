"""Integrity: the asymmetric keys that sign checkpoints of the integrity log, the writer's
log entries and ingest's pack seals, the witness (a bucket and a topic outside the audit
bucket's authority that receive every checkpoint; the bucket write-once for everyone),
the schedule of the function that signs (declared in mlaudit.functions), and the
read-only policy verifiers need. Verifiers need only the three public keys."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct
from mlaudit.functions import WITNESS_OBJECTS
from mlaudit.layout import EVENTS_PREFIX, INTEGRITY_PREFIX
from mlaudit.settings import Settings

from stacks.storage import encrypted_bucket, lock_retention


def checkpoint_interval(settings: Settings) -> Duration:
    """How often the log head is signed: the longest an acknowledged event waits for
    signed evidence (plus the writer's batch window)."""
    return Duration.minutes(settings.checkpoint_interval_minutes)


class Integrity(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        key: kms.IKey,
        audit_bucket: s3.IBucket,
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        # RSASSA_PKCS1_V1_5_SHA_256 over a raw message verifies offline (docs/integrity.md).
        # Asymmetric KMS keys cannot rotate: a new key starts a new chain of checkpoints.
        self.signing_key = self._signing_key("SigningKey", "signs integrity-log checkpoints", kms.KeySpec.RSA_3072)
        # The writer authenticates each log entry with this key; only its role may sign, so
        # S3 write access alone cannot add an entry the signer or a verifier accepts.
        self.entry_key = self._signing_key("EntryKey", "the writer signs each integrity-log entry")
        # Ingest's seals: each function that enqueues makes a sealing key in memory and has
        # this key certify it (kms:Sign, once per container); the writer, which cannot sign
        # with it, stores only sealed events, so it cannot invent any (mlaudit.integrity.services.seals).
        self.seal_key = self._signing_key(
            "SealKey", "certifies the keys that seal each pack of events where they are accepted")
        # The witness: every checkpoint, write-once, under Object Lock in object_lock_mode like
        # the lake (COMPLIANCE in production: no one, root included, removes a version before
        # retention ends; GOVERNANCE for a trial deploy that must be removable, docs/deploy.md).
        # Lifecycle expires a checkpoint once its retention has passed, as the lake's objects.
        # The signer reads its last state back from here; verifiers trust it. For a witness in
        # another account, grant the checkpoint role PutObject there and point the verifier at
        # that bucket.
        self.witness_bucket = encrypted_bucket(
            self,
            "WitnessBucket",
            key=key,
            access_logs=access_logs,
            access_logs_prefix="witness-bucket/",
            object_lock=lock_retention(settings),
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-after-retention",
                    # A delete marker once retention ends; the version itself a day later
                    # (lifecycle never removes a version Object Lock still protects).
                    expiration=Duration.days(settings.object_lock_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
        )
        # Object Lock protects versions, not keys: the policy makes every key write-once for
        # every principal (no delete marker, no second version), as in the audit bucket; its
        # statements are added with the stack's other resource policies (stacks/policies.py).
        # Subscribers (an archive in another account, a notary, e-mail) keep their own copies.
        self.witness_topic = sns.Topic(
            self, "WitnessTopic", master_key=key, enforce_ssl=True,
            display_name="mlaudit integrity checkpoints",
        )
        # What an offline verifier needs and nothing more (read the lake, its versions and
        # the witness, open SSE-KMS objects, fetch the public keys): attach it to an
        # auditor's or a third party's role.
        self.verifier_policy = iam.ManagedPolicy(
            self,
            "VerifierPolicy",
            description="mlaudit: read-only access to verify the audit lake (mlaudit-verify)",
            statements=[
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[audit_bucket.arn_for_objects(f"{EVENTS_PREFIX}*"),
                               audit_bucket.arn_for_objects(f"{INTEGRITY_PREFIX}*")],
                ),
                iam.PolicyStatement(actions=["s3:ListBucket", "s3:ListBucketVersions"],
                                    resources=[audit_bucket.bucket_arn]),
                # Hidden or replaced witness checkpoints are read by version id.
                iam.PolicyStatement(actions=["s3:GetObject", "s3:GetObjectVersion"],
                                    resources=[self.witness_bucket.arn_for_objects(WITNESS_OBJECTS)]),
                iam.PolicyStatement(actions=["s3:ListBucket", "s3:ListBucketVersions"],
                                    resources=[self.witness_bucket.bucket_arn]),
                iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key.key_arn]),
                iam.PolicyStatement(actions=["kms:GetPublicKey"],
                                    resources=[self.signing_key.key_arn, self.entry_key.key_arn,
                                               self.seal_key.key_arn]),
            ],
        )

    def _signing_key(self, construct_id: str, purpose: str, spec: kms.KeySpec = kms.KeySpec.RSA_2048) -> kms.Key:
        """An RSA SIGN_VERIFY key, retained: its public key verifies what it signed for years."""
        return kms.Key(self, construct_id, description=f"mlaudit: {purpose}", key_spec=spec,
                       key_usage=kms.KeyUsage.SIGN_VERIFY, pending_window=Duration.days(30),
                       removal_policy=RemovalPolicy.RETAIN)

    def schedule_compaction(self, compaction: lambda_.IFunction) -> None:
        """Compact the closed days every compaction_interval_hours (docs/compaction.md). A failed
        run is retried twice; what it left half-done, the next run finishes from its records."""
        self.compaction_rule = events.Rule(
            self,
            "CompactionSchedule",
            description="Compact the lake's closed days",
            schedule=events.Schedule.rate(Duration.hours(self.settings.compaction_interval_hours)),
            targets=[
                targets.LambdaFunction(compaction, retry_attempts=2, max_event_age=Duration.hours(1))
            ],
        )

    def schedule(self, checkpoint: lambda_.IFunction) -> None:
        """Sign the log's head on a fixed rate."""
        self.schedule_rule = events.Rule(
            self,
            "Schedule",
            description="Sign the integrity log's head",
            schedule=events.Schedule.rate(checkpoint_interval(self.settings)),
            targets=[
                targets.LambdaFunction(checkpoint, retry_attempts=2, max_event_age=Duration.minutes(30))
            ],
        )
