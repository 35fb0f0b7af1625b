"""POST /v1/events: the thin Lambda entry point for ingest (logic in mlaudit.ingest)."""

from __future__ import annotations

import base64
import gc
from typing import Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap
from mlaudit.http import answers_errors, header, json_response
from mlaudit.ingest.identity import RequestMeta
from mlaudit.principal import principal_from_event

logger = Logger(service="mlaudit-ingest")

# What the imports above created lives as long as the process: keep it out of the
# collector's full passes, which a 500-event request's allocations set off.
gc.freeze()


APP = bootstrap.app("ingest")


@logger.inject_lambda_context(clear_state=True)
@answers_errors(logger, "The events could not be stored; retry with the same body.")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    principal = principal_from_event(event)
    identity = (event.get("requestContext") or {}).get("identity") or {}
    meta = RequestMeta(source_ip=identity.get("sourceIp"), user_agent=identity.get("userAgent"))
    status, body = APP.service().ingest(_body(event), header(event, "content-type"), principal, meta)
    logger.info("events accepted", extra={"accepted": body["accepted"], "actor_id": principal.actor_id})
    return json_response(status, body)


def _body(event: dict[str, Any]) -> bytes:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(raw)
    return raw.encode("utf-8", "surrogatepass")
