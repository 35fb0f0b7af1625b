"""SQS -> writer, as Lambda's SQS event source mapping does it (moto cannot invoke
functions): gather a batch (up to `batch_size` messages, for at most `window`
seconds after the first one, under Lambda's 6 MB payload limit), call the writer
handler with an SQS event, then delete every message not reported in
``batchItemFailures``. Failed messages stay invisible until the queue's visibility
timeout, come back, and after maxReceiveCount receives moto's own redrive moves
them to the DLQ. If the handler raises, or answers with an identifier that is not
in the batch, nothing is deleted (Lambda treats the whole batch as failed).
"""

from __future__ import annotations

import base64
import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlaudit.functions import LAMBDA_PAYLOAD_LIMIT_BYTES
from mlaudit.functions import SQS_RECEIVE_MAX as RECEIVE_MAX

from local.runtime import LambdaContext

logger = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = LAMBDA_PAYLOAD_LIMIT_BYTES - 64 * 1024  # minus the event's envelope
POLL_WAIT_SECONDS = 1  # short long-polls keep stop() responsive


def load_writer() -> Callable[[dict[str, Any], Any], Any]:
    return importlib.import_module("mlaudit.handlers.writer").handler


@dataclass
class PollerStats:
    invocations: int = 0
    messages_deleted: int = 0
    messages_failed: int = 0
    handler_errors: int = 0


class WriterPoller:
    def __init__(
        self, sqs: Any, *, queue_url: str, queue_arn: str, region: str, batch_size: int,
        window_seconds: float, timeout_seconds: int,
        load_handler: Callable[[], Callable[[dict[str, Any], Any], Any]] = load_writer,
    ) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.batch_size = batch_size
        self.window_seconds = window_seconds
        self.timeout_seconds = timeout_seconds
        self._load_handler = load_handler
        self.stats = PollerStats()
        self._stop = threading.Event()
        self._busy = threading.Event()  # set while a batch is in hand
        self._thread = threading.Thread(target=self._run, name="writer-poller", daemon=True)

    def start(self) -> WriterPoller:
        # Creating a mapping, Lambda first reads the queue's attributes with the function's role.
        self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def wait_drained(self, timeout: float) -> bool:
        """True once the queue holds nothing (visible, in flight or delayed) and no batch
        is in hand, i.e. every message was written or moved to the DLQ."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._busy.is_set() and queue_is_empty(self._sqs, self.queue_url):
                return True
            time.sleep(0.2)
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._collect()
                if batch:
                    self._invoke(batch)
            except Exception:
                # moto restarting, a network hiccup: keep polling, as Lambda would.
                logger.exception("writer poller: poll failed")
                self._stop.wait(1)
            finally:
                self._busy.clear()

    def _collect(self) -> list[dict[str, Any]]:
        batch: dict[str, dict[str, Any]] = {}  # by messageId: a message seen twice counts once
        size = 0
        first_at: float | None = None
        while not self._stop.is_set() and len(batch) < self.batch_size:
            if first_at is not None:
                remaining = self.window_seconds - (time.monotonic() - first_at)
                if remaining <= 0:
                    break
                wait = max(0, min(POLL_WAIT_SECONDS, int(remaining)))
            else:
                wait = POLL_WAIT_SECONDS
            received = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(RECEIVE_MAX, self.batch_size - len(batch)),
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                if first_at is not None and self.window_seconds <= 0:
                    break
                if wait == 0:  # under a second of window left: do not spin on moto
                    self._stop.wait(0.2)
                continue
            self._busy.set()
            first_at = first_at or time.monotonic()
            for message in received:
                size += len(message.get("Body", "").encode())
                batch[message["MessageId"]] = message
            if size >= MAX_PAYLOAD_BYTES:
                break
        return list(batch.values())

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        self.stats.invocations += 1
        event = {"Records": [self._record(m) for m in messages]}
        context = LambdaContext("writer", self.timeout_seconds, region=self.region)
        try:
            result = self._load_handler()(event, context)
        except Exception:
            self.stats.handler_errors += 1
            logger.exception("writer poller: handler raised; the whole batch returns to the queue")
            return
        failed = {f.get("itemIdentifier") for f in (result or {}).get("batchItemFailures") or []}
        ids = {m["MessageId"] for m in messages}
        if not failed <= ids:
            self.stats.handler_errors += 1
            logger.error("writer poller: unknown itemIdentifier in batchItemFailures; batch returns")
            return
        done = [m for m in messages if m["MessageId"] not in failed]
        self.stats.messages_failed += len(failed)
        for start in range(0, len(done), RECEIVE_MAX):
            chunk = done[start:start + RECEIVE_MAX]
            answer = self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            self.stats.messages_deleted += len(answer.get("Successful", []))
            if answer.get("Failed"):
                logger.warning("writer poller: %d deletes failed", len(answer["Failed"]))
        logger.info("writer poller: batch of %d, %d failed", len(messages), len(failed))

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: _attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    # Lambda's SQS event spells message attributes in camelCase.
    converted: dict[str, Any] = {"dataType": value.get("DataType", "String"),
                                 "stringListValues": [], "binaryListValues": []}
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return converted


def queue_is_empty(sqs: Any, queue_url: str) -> bool:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return all(int(value) == 0 for value in attributes.values())
