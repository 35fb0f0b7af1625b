"""Receipts and checkpoints over HTTP (logic in mlaudit.integrity.services.proofs).

GET /v1/events/{event_id}/proof[?event_date=YYYY-MM-DD&event_type=...]  auditor; events.read (own events)
GET /v1/checkpoints/latest                                            auditor; events.read
GET /v1/checkpoints/consistency?first=<size>&second=<size>            auditor; events.read

Read-only (grants in mlaudit.functions). Needs pyarrow (receipts read the event's Parquet file).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap
from mlaudit.errors import Invalid
from mlaudit.http import api_handler
from mlaudit.principal import principal_from_event

if TYPE_CHECKING:
    from mlaudit.bootstrap import FunctionApp
    from mlaudit.integrity.services.proofs import ProofService

logger = Logger(service="mlaudit-proofs")

# Matched whole (fullmatch: `$` also matches before a final newline), ASCII digits only.
_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TYPE = re.compile(r"[a-z_]{1,64}")
_SIZE = re.compile(r"[0-9]{1,19}")


APP: FunctionApp[ProofService] = bootstrap.app("proofs")


def receipt(event: dict[str, Any], proofs: ProofService) -> dict[str, Any]:
    principal = principal_from_event(event)
    query = event.get("queryStringParameters") or {}
    event_id = (event.get("pathParameters") or {}).get("event_id") or ""
    if not _EVENT_ID.fullmatch(event_id):
        raise Invalid("invalid_request", "event_id is not a valid event id.")
    hints = {"event_date": query.get("event_date"), "event_type": query.get("event_type")}
    if hints["event_date"] and not _DATE.fullmatch(hints["event_date"]):
        raise Invalid("invalid_request", "event_date must be YYYY-MM-DD.")
    if hints["event_type"] and not _TYPE.fullmatch(hints["event_type"]):
        raise Invalid("invalid_request", "event_type is not an event type.")
    # A workload sees receipts for its own events only; auditors for every event.
    own = None if "auditor" in principal.roles else principal.client_id
    return proofs.receipt(event_id, client_id=own, **hints)


def consistency(event: dict[str, Any], proofs: ProofService) -> dict[str, Any]:
    principal_from_event(event)
    query = event.get("queryStringParameters") or {}
    bad = [name for name in ("first", "second") if not _SIZE.fullmatch(query.get(name) or "")]
    if bad:  # (int() would also take "١٢", " 12" and "1_2")
        raise Invalid("invalid_request", "first and second must be tree sizes.", [
            {"path": name, "rule": "integer", "message": "a tree size in ASCII digits"} for name in bad])
    return proofs.consistency(int(query["first"]), int(query["second"]))


def latest_checkpoint(event: dict[str, Any], proofs: ProofService) -> dict[str, Any]:
    principal_from_event(event)
    return proofs.latest()


handler = api_handler(
    APP, {"receipt": receipt, "latest_checkpoint": latest_checkpoint, "consistency": consistency}, logger,
    "The proof could not be built; retry later.",
)
