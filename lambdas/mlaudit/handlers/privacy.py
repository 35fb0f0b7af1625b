"""GET / DELETE /v1/subjects/{subject_ref}: subject access and erasure (logic in mlaudit.privacy).

The subject_ref arrives percent-encoded in the path and is decoded once here. It is
personal data: it never reaches a log line, an error message or the audit events
(those carry the subject's pseudonym only).
"""

from __future__ import annotations

import functools
import os
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger

from mlaudit.http import ApiError, answers_errors, json_response
from mlaudit.principal import Principal, principal_from_event
from mlaudit.privacy import PrivacyService, check_subject_ref
from mlaudit.settings import Env

logger = Logger(service="mlaudit-privacy")

ROUTE = "/v1/subjects/{subject_ref}"

_service: PrivacyService | None = None


def set_service(service: PrivacyService | None) -> None:
    """Tests inject a service built on fakes; None rebuilds from the environment."""
    global _service
    _service = service


class _FixedPseudonym:
    """A `Protector` for the function's own audit events: it stamps the pseudonym
    already computed, so the event carries no subject_ref and creates no key."""

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def prepare(self, subject_refs: Any) -> None:
        pass  # no keys to load: the pseudonym is already known

    def protect(self, subject_ref: str, personal_data: dict[str, Any] | None) -> tuple[str, str | None]:
        return self.alias, None


class QueueAuditRecorder:
    """Privacy actions become audit events on the events queue, like any client's events."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def record(self, principal: Principal, events: list[dict[str, Any]], subject_pseudonym: str | None) -> list[str]:
        from mlaudit.ingest import EventRecorder, IngestLimits  # noqa: PLC0415

        protector = None if subject_pseudonym is None else _FixedPseudonym(subject_pseudonym)
        if protector is not None:
            # The recorder pseudonymizes only events with a subject_ref; the value is
            # never stored (the protector ignores it), the pseudonym is.
            events = [{**event, "subject_ref": subject_pseudonym} for event in events]
        recorder = EventRecorder(queue=self.queue, limits=IngestLimits(), protector=protector)
        return recorder.record(principal, events)


@functools.cache
def _default_service() -> PrivacyService:
    """Built on the first request, not at import: no client or env read at import time."""
    from mlaudit.adapters.aws import client  # noqa: PLC0415
    from mlaudit.adapters.queue import SqsQueue  # noqa: PLC0415
    from mlaudit.adapters.subject_keys import DynamoKmsKeyStore  # noqa: PLC0415
    from mlaudit.adapters.subject_lake import S3SubjectEvents  # noqa: PLC0415

    return PrivacyService(
        keys=DynamoKmsKeyStore(client("dynamodb"), client("kms"), os.environ[Env.SUBJECT_KEYS_TABLE],
                               os.environ[Env.KMS_KEY_ID]),
        lake=S3SubjectEvents(client("s3"), os.environ[Env.AUDIT_BUCKET]),
        audit=QueueAuditRecorder(SqsQueue(client("sqs"), os.environ[Env.EVENTS_QUEUE_URL])),
    )


def service() -> PrivacyService:
    return _service or _default_service()


def route(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    principal = principal_from_event(event)
    method = event.get("httpMethod")
    resource = event.get("resource") or (event.get("requestContext") or {}).get("resourcePath")
    if resource != ROUTE or method not in ("GET", "DELETE"):
        raise ApiError(404, "not_found", "No such route.")
    raw = (event.get("pathParameters") or {}).get("subject_ref")
    subject_ref = check_subject_ref(unquote(raw, errors="strict") if raw else raw)
    if method == "GET":
        return 200, service().access(principal, subject_ref)
    return 200, service().erase(principal, subject_ref)


@logger.inject_lambda_context(clear_state=True)
@answers_errors(logger, "The privacy service is unavailable; retry later.")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        status, body = route(event)
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_subject_ref", "subject_ref is not valid percent-encoded UTF-8.") from None
    # The pseudonym and counts only: never the subject_ref from the path.
    logger.info("privacy action", extra={"method": event.get("httpMethod"),
                                         "subject_pseudonym": body.get("subject_pseudonym"),
                                         "events": body.get("count")})
    return json_response(status, body)
