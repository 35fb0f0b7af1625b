"""The capture function's two doors, played as AWS plays them (stacks/capture.py wires them
on AWS; docs/capture.md):

- SageMaker -> EventBridge -> the function: the rule is created on moto's default event bus
  with the same pattern and state (capture_sagemaker) as on AWS, so moto matches what is put
  on the bus (`events.put_events` with source aws.sagemaker: SageMaker's part); moto cannot
  invoke a function, so the rule's target is a local delivery queue, which a thread reads and
  hands to the function as EventBridge does (local/services.py `LambdaTarget`: the function's
  Lambda permission for the rule, Lambda's retries, the dead-letter queues).
- a DynamoDB stream -> EventBridge Pipes -> the function: a thread reads the stream of the
  local stand-in for your table (created with a stream, named as tables.json names it) with
  the pipe's declared role, and invokes the function with each batch, a JSON array of stream
  records with their eventSourceARN, as Pipes does (the role's lambda:InvokeFunction checked;
  a batch still failing after the retries goes to the dead-letter queue with the role).

EventBridge and Pipes deliver at least once. To show what a second delivery does, a test
sends an event (or a batch) to a delivery queue (`config["capture"]`): each is delivered to
the function exactly as the first was.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from local.iam import Enforcer, Need
from local.periodic import Periodic
from local.runtime import LambdaContext
from local.services import LambdaTarget

logger = logging.getLogger(__name__)

PIPE_BATCH_SIZE = 100  # stacks/capture.py
PIPE_RETRIES = 3  # fewer than on AWS (10): a local batch that keeps failing reaches the dead-letter queue sooner


class EventBridgeDeliveries(Periodic):
    """Events moto's bus matched to the SageMaker rule (its SQS target) -> the capture function."""

    def __init__(self, sqs: Any, queue_url: str, target: LambdaTarget, *, interval: float = 0.5) -> None:
        super().__init__("capture-eventbridge", interval)
        self.sqs = sqs  # the stack's own client: EventBridge's delivery, not the function's
        self.queue_url = queue_url
        self.target = target
        self.delivered = 0

    def tick(self) -> None:
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return
            for message in messages:
                try:
                    event = json.loads(message["Body"])
                except ValueError:
                    event = message["Body"]  # delivered as it is: the function refuses it, naming why
                self.target.deliver(event)
                self.delivered += 1
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


class StreamPipe(Periodic):
    """EventBridge Pipes on the captured table's stream, with the pipe's role."""

    def __init__(self, streams: Any, stream_arn: str, *, enforcer: Enforcer, function: str, function_arn: str,
                 load_handler: Callable[[str], Callable[[Any, Any], Any]], timeout_seconds: float, region: str,
                 send_dead_letter: Callable[[list[Any], str], None], redeliveries: tuple[Any, str] | None = None,
                 interval: float = 0.5) -> None:
        super().__init__("capture-pipe", interval)
        self.streams = streams  # dynamodbstreams client held to the pipe's role
        self.stream_arn = stream_arn
        self.enforcer = enforcer
        self.function = function
        self.function_arn = function_arn
        self.load_handler = load_handler
        self.timeout_seconds = timeout_seconds
        self.region = region
        self.send_dead_letter = send_dead_letter
        self.redeliveries = redeliveries  # (the stack's sqs client, queue URL)
        self._iterators: dict[str, str | None] = {}
        self.batches = 0
        self.failed_batches = 0

    def tick(self) -> None:
        self._redeliver()
        for shard in self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"].get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:  # TRIM_HORIZON, as stacks/capture.py starts the pipe
                self._iterators[shard_id] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            iterator = self._iterators[shard_id]
            while iterator:
                answer = self.streams.get_records(ShardIterator=iterator, Limit=PIPE_BATCH_SIZE)
                records = answer.get("Records", [])
                if records:
                    self.deliver([self._as_pipes_delivers(r) for r in records])
                iterator = answer.get("NextShardIterator")
                self._iterators[shard_id] = iterator
                if not records:
                    break

    def _as_pipes_delivers(self, record: dict[str, Any]) -> dict[str, Any]:
        """A stream record as Pipes hands it on: JSON (times as epoch seconds), with its source's ARN."""
        change = dict(record.get("dynamodb", {}))
        created = change.get("ApproximateCreationDateTime")
        if hasattr(created, "timestamp"):
            change["ApproximateCreationDateTime"] = int(created.timestamp())
        return json.loads(json.dumps({**record, "dynamodb": change, "eventSourceARN": self.stream_arn}, default=str))

    def _redeliver(self) -> None:
        if self.redeliveries is None:
            return
        sqs, url = self.redeliveries
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            try:
                batch = json.loads(message["Body"])
            except ValueError:
                batch = message["Body"]
            self.deliver(batch)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def deliver(self, batch: Any) -> None:
        """Invoke the function with the batch (synchronously, as Pipes' REQUEST_RESPONSE), retry
        it while it fails, then send it to the dead-letter queue with the role."""
        self.batches += 1
        error = ""
        for attempt in range(1 + PIPE_RETRIES):
            try:
                self.enforcer.check([Need("lambda:InvokeFunction", self.function_arn)], "lambda:Invoke")
                self.load_handler(self.function)(batch, LambdaContext(self.function, self.timeout_seconds,
                                                                      region=self.region))
                return
            except Exception as exc:  # logged as Pipes would; then retried
                error = f"{type(exc).__name__}: {exc}"
                logger.exception("the capture pipe's target failed on a batch (attempt %d)", attempt + 1)
                time.sleep(min(0.2 * 2 ** attempt, 2))
        self.failed_batches += 1
        try:
            self.send_dead_letter(batch if isinstance(batch, list) else [batch], error)
        except Exception:
            logger.exception("the capture pipe could not send a failed batch to its dead-letter queue")
