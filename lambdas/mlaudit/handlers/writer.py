"""SQS -> Parquet: the thin Lambda entry point for the writer (logic in mlaudit.writer)."""

from __future__ import annotations

import functools
import os
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger

from mlaudit.pack import PACK_ID_ATTRIBUTE
from mlaudit.settings import Env
from mlaudit.writer import Message, WriterService

logger = Logger(service="mlaudit-writer")


@functools.cache
def service() -> WriterService:
    from mlaudit.adapters.aws import client  # noqa: PLC0415
    from mlaudit.adapters.ledger import DynamoLedger  # noqa: PLC0415
    from mlaudit.adapters.objects import S3Objects  # noqa: PLC0415
    from mlaudit.integrity.sink import IntegritySink  # noqa: PLC0415
    from mlaudit.integrity.store import S3Store  # noqa: PLC0415

    bucket, key_id = os.environ[Env.AUDIT_BUCKET], os.environ[Env.KMS_KEY_ID]
    return WriterService(
        objects=S3Objects(client("s3"), bucket, key_id),
        ledger=DynamoLedger(client("dynamodb"), os.environ[Env.LEDGER_TABLE]),
        integrity=IntegritySink(S3Store(client("s3"), bucket, key_id)),
        in_flight=timedelta(seconds=int(os.environ[Env.WRITER_TIMEOUT_SECONDS])),
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    messages = [to_message(record) for record in event.get("Records", [])]
    report = service().process(messages)
    logger.info(
        "batch written",
        extra={"messages": len(messages), "files": len(report.files), "events": sum(report.files.values()),
               "skipped_parts": report.skipped_parts, "failed": len(report.failed_message_ids)},
    )
    # ReportBatchItemFailures: only the listed messages return to the queue.
    return {"batchItemFailures": [{"itemIdentifier": m} for m in report.failed_message_ids]}


def to_message(record: dict[str, Any]) -> Message:
    attribute = (record.get("messageAttributes") or {}).get(PACK_ID_ATTRIBUTE) or {}
    return Message(
        message_id=record["messageId"], pack_id=attribute.get("stringValue"), body=record.get("body") or "",
    )
