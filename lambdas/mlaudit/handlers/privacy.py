"""GET / DELETE /v1/subjects/{subject_ref}: subject access and erasure (logic in mlaudit.privacy).

The subject_ref arrives percent-encoded in the path and is decoded once here. It is
personal data: it never reaches a log line, an error message or the audit events
(those carry the subject's pseudonym only).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger

from mlaudit import bootstrap
from mlaudit.errors import Invalid
from mlaudit.http import answers_errors, dispatch, json_response
from mlaudit.principal import principal_from_event
from mlaudit.privacy import check_subject_ref

logger = Logger(service="mlaudit-privacy")

APP = bootstrap.app("privacy")


def _subject_ref(event: dict[str, Any]) -> str:
    raw = (event.get("pathParameters") or {}).get("subject_ref")
    try:
        return check_subject_ref(unquote(raw, errors="strict") if raw else raw)
    except UnicodeDecodeError:
        raise Invalid("invalid_subject_ref", "subject_ref is not valid percent-encoded UTF-8.") from None


OPERATIONS = {
    "subject_access": lambda event: APP.service().access(principal_from_event(event), _subject_ref(event)),
    "erase_subject": lambda event: APP.service().erase(principal_from_event(event), _subject_ref(event)),
}


@logger.inject_lambda_context(clear_state=True)
@answers_errors(logger, "The privacy service is unavailable; retry later.")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    status, body = dispatch(event, OPERATIONS)
    # The pseudonym and counts only: never the subject_ref from the path.
    logger.info("privacy action", extra={"method": event.get("httpMethod"),
                                         "subject_pseudonym": body.get("subject_pseudonym"),
                                         "events": body.get("count")})
    return json_response(status, body)
