"""Ingestion: ingest function (behind an alias with provisioned concurrency) ->
SQS queue (KMS) -> writer function (Parquet), with a DLQ for messages the writer
cannot take after max_receive_count attempts."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from mlaudit.settings import Env, Settings, ingest_limits_environment, writer_limits_environment

from stacks.functions import AuditFunction, Layers, log_retention


class Ingestion(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        key: kms.IKey,
        layers: Layers,
    ) -> None:
        super().__init__(scope, construct_id)
        retention = log_retention(settings.log_retention_days)

        # Both queues hold audit events not yet in the lake: retained like the lake.
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=RemovalPolicy.RETAIN,
        )
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

        self.ingest = AuditFunction(
            self,
            "Ingest",
            name="ingest",
            key=key,
            layers=layers,
            log_retention=retention,
            timeout_seconds=settings.ingest_timeout_seconds,
            memory_mb=settings.ingest_memory_mb,
            environment={
                Env.EVENTS_QUEUE_URL: self.queue.queue_url,
                Env.KMS_KEY_ID: key.key_arn,
                **ingest_limits_environment(settings),
            },
        )
        # The API calls the alias: warm instances, scaled on their utilization.
        self.ingest_alias = lambda_.Alias(
            self,
            "IngestLive",
            alias_name="live",
            version=self.ingest.function.current_version,
            provisioned_concurrent_executions=settings.ingest_provisioned_min,
        )
        scaling = self.ingest_alias.add_auto_scaling(
            min_capacity=settings.ingest_provisioned_min, max_capacity=settings.ingest_provisioned_max
        )
        scaling.scale_on_utilization(utilization_target=settings.ingest_provisioned_target)

        self.writer = AuditFunction(
            self,
            "Writer",
            name="writer",
            key=key,
            layers=layers,
            pyarrow=True,
            log_retention=retention,
            timeout_seconds=settings.writer_timeout_seconds,
            memory_mb=settings.writer_memory_mb,
            reserved_concurrency=settings.writer_reserved_concurrency,
            environment={Env.KMS_KEY_ID: key.key_arn, **writer_limits_environment(settings)},
        )
        reserved = settings.writer_reserved_concurrency
        self.writer.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=settings.writer_batch_size,
                max_batching_window=Duration.seconds(settings.writer_batch_window_seconds),
                report_batch_item_failures=True,
                # Polling no wider than the reserved concurrency keeps throttled batches
                # from burning receive counts and landing in the DLQ (SQS allows 2..1000).
                max_concurrency=reserved if reserved >= 2 else None,
            )
        )
