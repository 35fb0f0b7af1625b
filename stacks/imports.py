"""Batch import: the landing bucket where jobs that cannot call the API drop JSON Lines
or Parquet files (under imports/), and the rule that hands each new file to the import
function (declared in mlaudit.functions), which writes its report under reports/."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.ingestion import dead_letter_queue
from stacks.storage import encrypted_bucket

IMPORTS_PREFIX = "imports/"
# Dropped files and reports are working copies: what they carried is in the lake once imported.
LANDING_EXPIRE_DAYS = 30


class Imports(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, access_logs: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        # Versioned (as every encrypted_bucket): a file is identified by its version, so a
        # re-upload is a new file. Access logs say who dropped what: S3 events do not.
        self.landing_bucket = encrypted_bucket(
            self,
            "LandingBucket",
            key=key,
            access_logs=access_logs,
            access_logs_prefix="landing/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-landed-files",
                    expiration=Duration.days(LANDING_EXPIRE_DAYS),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        # A landed file's event that could not be delivered to, or imported by, the function: kept
        # (SQS's longest) with an alarm on its depth (stacks/monitoring.py). The file stays in the
        # bucket; `docs/deploy.md` says how to import it again.
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue", key=key)
        # S3 -> EventBridge, set on the bucket itself: CDK's own notification wiring would add
        # a custom-resource function whose role no declaration describes.
        cfn_bucket = self.landing_bucket.node.default_child
        assert isinstance(cfn_bucket, s3.CfnBucket)
        cfn_bucket.add_property_override("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True)

    def trigger(self, importer: lambda_.IFunction) -> None:
        """Each file created under imports/ goes to the import function."""
        self.rule = events.Rule(
            self,
            "FileLanded",
            description="A file landed for import",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [self.landing_bucket.bucket_name]},
                    "object": {"key": [{"prefix": IMPORTS_PREFIX}]},
                },
            ),
            # An event EventBridge could not deliver (throttled past its retries, refused) goes to
            # the dead-letter queue; one the function failed on after Lambda's two asynchronous
            # retries goes there too (the function's DeadLetterConfig, mlaudit.functions).
            targets=[targets.LambdaFunction(importer, retry_attempts=2, max_event_age=Duration.hours(2),
                                            dead_letter_queue=self.dead_letter_queue)],
        )
