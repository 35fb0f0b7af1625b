"""POST /v1/events: the thin Lambda entry point for ingest (logic in mlaudit.ingest)."""

from __future__ import annotations

import base64
import functools
import gc
import os
from typing import Any

from aws_lambda_powertools import Logger

from mlaudit.http import answers_errors, header, json_response
from mlaudit.ingest import IngestLimits, IngestService, RequestMeta
from mlaudit.principal import principal_from_event
from mlaudit.settings import Env

logger = Logger(service="mlaudit-ingest")

# What the imports above created lives as long as the process: keep it out of the
# collector's full passes, which a 500-event request's allocations set off.
gc.freeze()


@functools.cache
def service() -> IngestService:
    """Built on the first request, not at import: no client or env read at import time."""
    from mlaudit.adapters.aws import client  # noqa: PLC0415
    from mlaudit.adapters.idempotency import DynamoIdempotencyStore  # noqa: PLC0415
    from mlaudit.adapters.queue import SqsQueue  # noqa: PLC0415

    protector = None
    if os.environ.get(Env.SUBJECT_KEYS_TABLE):
        # Crypto-shredding on: pseudonymize subject_ref, encrypt personal_data.
        from mlaudit.adapters.subject_keys import DynamoKmsKeyStore  # noqa: PLC0415
        from mlaudit.privacy import SubjectProtector  # noqa: PLC0415

        protector = SubjectProtector(DynamoKmsKeyStore(
            client("dynamodb"), client("kms"), os.environ[Env.SUBJECT_KEYS_TABLE], os.environ[Env.KMS_KEY_ID],
        ))
    return IngestService(
        store=DynamoIdempotencyStore(client("dynamodb"), os.environ[Env.IDEMPOTENCY_TABLE]),
        queue=SqsQueue(client("sqs"), os.environ[Env.EVENTS_QUEUE_URL]),
        limits=IngestLimits.from_env(),
        protector=protector,
    )


@logger.inject_lambda_context(clear_state=True)
@answers_errors(logger, "The events could not be stored; retry with the same body.")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    principal = principal_from_event(event)
    identity = (event.get("requestContext") or {}).get("identity") or {}
    meta = RequestMeta(source_ip=identity.get("sourceIp"), user_agent=identity.get("userAgent"))
    status, body = service().ingest(_body(event), header(event, "content-type"), principal, meta)
    logger.info("events accepted", extra={"accepted": body["accepted"], "actor_id": principal.actor_id})
    return json_response(status, body)


def _body(event: dict[str, Any]) -> bytes:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(raw)
    return raw.encode("utf-8", "surrogatepass")
