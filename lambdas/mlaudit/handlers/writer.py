"""SQS -> Parquet: the thin Lambda entry point for the writer (logic in mlaudit.writer).
On its schedule (EventBridge), the recovery sweep instead (mlaudit.recovery)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap
from mlaudit.pack import ENCODING_ATTRIBUTE, PACK_ID_ATTRIBUTE, SEAL_ATTRIBUTE, from_queue
from mlaudit.writer import Message

if TYPE_CHECKING:
    from mlaudit.bootstrap import FunctionApp
    from mlaudit.metrics import MeasuredWriter

logger = Logger(service="mlaudit-writer")


APP: FunctionApp[MeasuredWriter] = bootstrap.app("writer")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("source") == "aws.events":
        return recover()
    messages = [to_message(record) for record in event.get("Records", [])]
    report = APP.service().process(messages)  # with its metrics (metrics.MeasuredWriter)
    logger.info(
        "batch written",
        extra={"messages": len(messages), "files": len(report.files), "events": sum(report.files.values()),
               "skipped_parts": report.skipped_parts, "failed": len(report.failed_message_ids),
               "index_merges": len(report.index_merges), "index_error": report.index_error},
    )
    # ReportBatchItemFailures: only the listed messages return to the queue.
    return {"batchItemFailures": [{"itemIdentifier": m} for m in report.failed_message_ids]}


def to_message(record: dict[str, Any]) -> Message:
    attributes = record.get("messageAttributes") or {}
    try:  # a pack deflated on the queue (mlaudit.pack.queue_body), or sent as it is
        body = from_queue(record.get("body") or "", (attributes.get(ENCODING_ATTRIBUTE) or {}).get("stringValue"))
    except ValueError:
        body = ""  # fails alone: its pack id is not an empty body's (writer.bound_to_content)
    return Message(
        message_id=record["messageId"], pack_id=(attributes.get(PACK_ID_ATTRIBUTE) or {}).get("stringValue"),
        body=body, seal=(attributes.get(SEAL_ATTRIBUTE) or {}).get("stringValue"),
    )


def recover() -> dict[str, Any]:
    report = APP.service().recover()
    # Object keys name a partition and a digest of pack ids, never an event's content.
    logger.info("recovery sweep", extra={**report.summary(), "adopted_files": report.adopted[:20]})
    return report.summary()
