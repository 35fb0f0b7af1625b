"""SQS -> Parquet: the thin Lambda entry point for the writer (logic in mlaudit.writer)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap, metrics
from mlaudit.pack import PACK_ID_ATTRIBUTE, SEAL_ATTRIBUTE
from mlaudit.writer import Message

logger = Logger(service="mlaudit-writer")


APP = bootstrap.app("writer")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    messages = [to_message(record) for record in event.get("Records", [])]
    service = APP.service()
    report = service.process(messages)
    if isinstance(service.objects, metrics.CountedObjects):
        metrics.written(sum(report.files.values()), service.objects.take(), (m.body for m in messages),
                        datetime.now(UTC))
    logger.info(
        "batch written",
        extra={"messages": len(messages), "files": len(report.files), "events": sum(report.files.values()),
               "skipped_parts": report.skipped_parts, "failed": len(report.failed_message_ids)},
    )
    # ReportBatchItemFailures: only the listed messages return to the queue.
    return {"batchItemFailures": [{"itemIdentifier": m} for m in report.failed_message_ids]}


def to_message(record: dict[str, Any]) -> Message:
    attributes = record.get("messageAttributes") or {}
    return Message(
        message_id=record["messageId"], pack_id=(attributes.get(PACK_ID_ATTRIBUTE) or {}).get("stringValue"),
        body=record.get("body") or "", seal=(attributes.get(SEAL_ATTRIBUTE) or {}).get("stringValue"),
    )
