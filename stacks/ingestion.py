"""Ingestion: the SQS queue (KMS) between the ingest function (behind an alias with
provisioned concurrency) and the writer function (Parquet), with a DLQ for messages
the writer cannot take after max_receive_count attempts. The functions themselves
are declared in mlaudit.functions and built by the app stack."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from mlaudit.resources import DEAD_LETTER_RETENTION_DAYS
from mlaudit.settings import Settings


def dead_letter_queue(scope: Construct, construct_id: str, *, key: kms.IKey) -> sqs.Queue:
    """A dead-letter queue: KMS-encrypted, TLS only, SQS's longest retention, retained."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(DEAD_LETTER_RETENTION_DAYS),
        removal_policy=RemovalPolicy.RETAIN,
    )


class Ingestion(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)

        # Both queues hold audit events not yet in the lake: retained like the lake.
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue", key=key)
        self.queue = sqs.Queue(
            self,
            "EventsQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(settings.queue_visibility_timeout_seconds),
            retention_period=Duration.days(settings.queue_retention_days),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=settings.max_receive_count
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )

    def serve(self, *, settings: Settings, ingest: lambda_.Function, writer: lambda_.Function) -> None:
        """The API calls ingest's alias (warm instances, scaled on their utilization); the
        writer drains the queue through an SQS event source."""
        # Provisioned concurrency is opt-in: Lambda keeps 100 of the account's concurrency
        # unreserved, which a fresh account's quota of 10 cannot spare (docs/deploy.md).
        provisioned = settings.ingest_provisioned_min or None
        self.ingest_alias = lambda_.Alias(
            self,
            "IngestLive",
            alias_name="live",
            version=ingest.current_version,
            provisioned_concurrent_executions=provisioned,
        )
        if provisioned:
            scaling = self.ingest_alias.add_auto_scaling(
                min_capacity=settings.ingest_provisioned_min, max_capacity=settings.ingest_provisioned_max
            )
            scaling.scale_on_utilization(utilization_target=settings.ingest_provisioned_target)

        reserved = settings.writer_reserved_concurrency
        # At most writer_max_concurrency pollers (this reserves nothing), and polling no wider
        # than a reserved concurrency keeps throttled batches from burning receive counts and
        # landing in the DLQ (SQS allows 2..1000).
        pollers = min(settings.writer_max_concurrency, reserved or settings.writer_max_concurrency)
        # A plain mapping, not SqsEventSource: that one adds its own grants to the writer's
        # role, and the role must be exactly the writer's declaration (mlaudit.functions).
        lambda_.EventSourceMapping(
            self,
            "WriterSource",
            target=writer,
            event_source_arn=self.queue.queue_arn,
            batch_size=settings.writer_batch_size,
            max_batching_window=Duration.seconds(settings.writer_batch_window_seconds),
            report_batch_item_failures=True,
            max_concurrency=pollers if pollers >= 2 else None,
        )
