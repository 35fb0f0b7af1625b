"""Capture without code (docs/capture.md): SageMaker's state changes through an EventBridge
rule, and a DynamoDB stream through an EventBridge Pipe, to the capture function (declared
in mlaudit.functions); what it refuses, and what EventBridge or the pipe cannot deliver,
to the capture dead-letter queue. Bedrock's logs and DMS's files arrive in the landing
bucket (stacks/imports.py) and need nothing here but the bucket's and key's statements
(mlaudit.resource_policies)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_pipes as pipes
from constructs import Construct
from mlaudit.capture import sagemaker
from mlaudit.capture.tables import load as load_tables
from mlaudit.functions import CAPTURE_PIPE
from mlaudit.resources import Resource
from mlaudit.settings import Settings

from stacks.functions import ResourceMap
from stacks.ingestion import dead_letter_queue

PIPE_BATCH_SIZE = 100  # records per invocation: one ingest request (at most 500 events)
PIPE_RETRIES = 10  # then the batch goes to the dead-letter queue (a stream keeps records 24 hours)


class Capture(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        load_tables()  # an invalid tables.json stops synthesis, naming what is wrong
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue", key=key)

    def wire(self, capture: lambda_.IFunction, *, settings: Settings, resources: ResourceMap) -> None:
        # Opt-in: the rule exists either way (its Lambda permission is declared once), enabled by the setting.
        self.rule = events.Rule(
            self,
            "SageMakerEvents",
            description="SageMaker training job, model package and endpoint state changes -> audit events",
            enabled=settings.capture_sagemaker,
            event_pattern=events.EventPattern(source=sagemaker.PATTERN["source"],
                                              detail_type=sagemaker.PATTERN["detail-type"]),
            # Undeliverable (throttled past its retries, refused) -> the dead-letter queue; an event
            # the function fails on after Lambda's two retries goes there too (its DeadLetterConfig).
            targets=[targets.LambdaFunction(capture, retry_attempts=2, max_event_age=Duration.hours(2),
                                            dead_letter_queue=self.dead_letter_queue)],
        )
        self.pipe: pipes.CfnPipe | None = None
        if settings.capture_dynamodb_stream_arn is None:
            return
        resources.register(Resource.CAPTURED_STREAM, settings.capture_dynamodb_stream_arn)
        resources.register(Resource.CAPTURE_FUNCTION, capture.function_arn)
        self.pipe_role = iam.Role(self, "PipeRole", assumed_by=iam.ServicePrincipal(CAPTURE_PIPE.service),
                                  description=f"mlaudit {CAPTURE_PIPE.name}")
        for statement in resources.statements(CAPTURE_PIPE):  # the declaration's grants, nothing else
            self.pipe_role.add_to_policy(statement)
        self.pipe = pipes.CfnPipe(
            self,
            "StreamPipe",
            description="A DynamoDB stream -> audit events (capture/tables.json maps its rows)",
            role_arn=self.pipe_role.role_arn,
            source=settings.capture_dynamodb_stream_arn,
            source_parameters=pipes.CfnPipe.PipeSourceParametersProperty(
                dynamo_db_stream_parameters=pipes.CfnPipe.PipeSourceDynamoDBStreamParametersProperty(
                    # The last 24 hours when the pipe starts: a change made before it is kept too;
                    # a record delivered twice has the same event id (stored once).
                    starting_position="TRIM_HORIZON",
                    batch_size=PIPE_BATCH_SIZE,
                    maximum_batching_window_in_seconds=5,
                    maximum_retry_attempts=PIPE_RETRIES,
                    dead_letter_config=pipes.CfnPipe.DeadLetterConfigProperty(arn=self.dead_letter_queue.queue_arn),
                ),
            ),
            target=capture.function_arn,
            target_parameters=pipes.CfnPipe.PipeTargetParametersProperty(
                lambda_function_parameters=pipes.CfnPipe.PipeTargetLambdaFunctionParametersProperty(
                    invocation_type="REQUEST_RESPONSE"),  # a failed batch is retried, in order
            ),
        )
        # The role is referenced already; its policy is not, and Pipes checks the role can read the stream.
        self.pipe.node.add_dependency(self.pipe_role.node.find_child("DefaultPolicy"))
