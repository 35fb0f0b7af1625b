"""SageMaker's state changes (an EventBridge rule, one event per invocation) and a
DynamoDB stream's records (EventBridge Pipes, a batch per invocation) -> contract events,
stored through the ingest's own path (logic in mlaudit.capture). Answers what each
invocation came to; an input that is refused goes to the capture dead-letter queue with
its reasons and is not retried."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap

if TYPE_CHECKING:
    from mlaudit.bootstrap import FunctionApp
    from mlaudit.capture.service import CaptureService

logger = Logger(service="mlaudit-capture")

APP: FunctionApp[CaptureService] = bootstrap.app("capture")


@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    service = APP.service()
    # Pipes delivers a JSON array of records; EventBridge one event object.
    outcome = service.stream(event) if isinstance(event, list) else service.sagemaker(event)
    logger.info("captured", extra={"source": "dynamodb" if isinstance(event, list) else "sagemaker",
                                   "stored": outcome.stored, "ignored": outcome.ignored,
                                   "refused": len(outcome.refused)})
    return outcome.body()
