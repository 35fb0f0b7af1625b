"""Integrity: the asymmetric key that signs checkpoints of the integrity log, the
schedule of the function that signs them (declared in mlaudit.functions), and the
read-only policy verifiers need. Verifiers need only the public key."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct
from mlaudit.layout import EVENTS_PREFIX, INTEGRITY_PREFIX
from mlaudit.settings import Settings

# How often the log head is signed: CloudTrail signs its digests hourly.
CHECKPOINT_INTERVAL = Duration.hours(1)


class Integrity(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        key: kms.IKey,
        audit_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        # RSASSA_PKCS1_V1_5_SHA_256 over a raw message verifies offline (docs/integrity.md).
        # Asymmetric KMS keys cannot rotate: a new key starts a new chain of checkpoints.
        self.signing_key = kms.Key(
            self,
            "SigningKey",
            description="mlaudit: signs integrity-log checkpoints",
            key_spec=kms.KeySpec.RSA_3072,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            pending_window=Duration.days(30),
            removal_policy=RemovalPolicy.RETAIN,
        )
        # What an offline verifier needs and nothing more (read the lake, open SSE-KMS
        # objects, fetch the public key): attach it to an auditor's or a third party's role.
        self.verifier_policy = iam.ManagedPolicy(
            self,
            "VerifierPolicy",
            description="mlaudit: read-only access to verify the audit lake (python -m mlaudit.integrity.verify)",
            statements=[
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[audit_bucket.arn_for_objects(f"{EVENTS_PREFIX}*"),
                               audit_bucket.arn_for_objects(f"{INTEGRITY_PREFIX}*")],
                ),
                iam.PolicyStatement(actions=["s3:ListBucket"], resources=[audit_bucket.bucket_arn]),
                iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key.key_arn]),
                iam.PolicyStatement(actions=["kms:GetPublicKey"], resources=[self.signing_key.key_arn]),
            ],
        )

    def schedule(self, checkpoint: lambda_.IFunction) -> None:
        """Sign the log's head on a fixed rate."""
        events.Rule(
            self,
            "Schedule",
            description="Sign the integrity log's head",
            schedule=events.Schedule.rate(CHECKPOINT_INTERVAL),
            targets=[
                targets.LambdaFunction(checkpoint, retry_attempts=2, max_event_age=Duration.minutes(30))
            ],
        )
