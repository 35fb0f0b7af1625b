"""Lineage from the tools teams already run: OpenLineage events mapped to the contract.

`POST /v1/lineage` (issue #13): the body, gunzipped as ingest does it (`ingest.request.decode_body`),
then `lineage_request_body`
turns one OpenLineage RunEvent, JobEvent or DatasetEvent into a `POST /v1/events` body
that the ingest service stores like any other; the route answers `ACCEPTED_STATUS`.
"""

from mlaudit.lineage.openlineage import (
    ACCEPTED_STATUS,
    EVENT_TYPES,
    dataset_ref,
    event_kind,
    lineage_request_body,
    parse_openlineage,
    to_contract_event,
    validate,
)

__all__ = [
    "ACCEPTED_STATUS", "EVENT_TYPES", "dataset_ref", "event_kind", "lineage_request_body",
    "parse_openlineage", "to_contract_event", "validate",
]
