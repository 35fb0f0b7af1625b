"""POST /v1/events and POST /v1/lineage: the thin Lambda entry point for ingest (logic in
mlaudit.ingest; OpenLineage events are mapped to the contract by mlaudit.lineage and then
stored like any other event)."""

from __future__ import annotations

import base64
import gc
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap
from mlaudit.http import api_handler, header
from mlaudit.ingest.identity import RequestMeta
from mlaudit.ingest.request import decode_body
from mlaudit.principal import principal_from_event

if TYPE_CHECKING:
    from mlaudit.bootstrap import FunctionApp
    from mlaudit.metrics import MeasuredIngest

logger = Logger(service="mlaudit-ingest")

# What the imports above created lives as long as the process: keep it out of the
# collector's full passes, which a 500-event request's allocations set off.
gc.freeze()
# A 500-event request makes some 10,000 short-lived containers, freed by reference
# counting; young-generation passes every 700 of them cost ~6% of the request. Cycles
# (rare here) are still collected, every 20,000 allocations.
gc.set_threshold(20_000, 10, 10)


APP: FunctionApp[MeasuredIngest] = bootstrap.app("ingest")


def events(event: dict[str, Any], ingest: MeasuredIngest) -> dict[str, Any]:
    principal = principal_from_event(event)
    body = ingest.ingest(_body(event), header(event, "content-type"), principal, _meta(event),
                         content_encoding=header(event, "content-encoding"))
    logger.info("events accepted", extra={"accepted": body["accepted"], "actor_id": principal.actor_id})
    return body


def openlineage(event: dict[str, Any], ingest: MeasuredIngest) -> None:
    """Stored like any event once mapped to the contract; answered like Marquez (the route's
    201, no body): OpenLineage clients only check for a 2xx."""
    from mlaudit import lineage  # noqa: PLC0415 - only lineage requests pay for the mapping

    principal = principal_from_event(event)
    raw = decode_body(_body(event), header(event, "content-encoding"), ingest.limits.max_body_bytes)
    body = ingest.ingest(lineage.lineage_request_body(raw), "application/json", principal, _meta(event))
    logger.info("lineage accepted", extra={"event_ids": body["event_ids"], "actor_id": principal.actor_id})


handler = api_handler(APP, {"ingest": events, "lineage": openlineage}, logger,
                      "The events could not be stored; retry with the same body.")


def _meta(event: dict[str, Any]) -> RequestMeta:
    identity = (event.get("requestContext") or {}).get("identity") or {}
    return RequestMeta(source_ip=identity.get("sourceIp"), user_agent=identity.get("userAgent"))


def _body(event: dict[str, Any]) -> bytes:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(raw)
    return raw.encode("utf-8", "surrogatepass")
