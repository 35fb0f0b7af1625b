"""GET / DELETE /v1/subjects/{subject_ref}: subject access and erasure (logic in mlaudit.privacy).

The subject_ref arrives percent-encoded in the path and is decoded once here. It is
personal data: it never reaches a log line, an error message or the audit events
(those carry the subject's pseudonym only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger

from mlaudit import bootstrap
from mlaudit.errors import Invalid
from mlaudit.http import api_handler
from mlaudit.principal import principal_from_event
from mlaudit.privacy import check_subject_ref

if TYPE_CHECKING:
    from mlaudit.bootstrap import FunctionApp
    from mlaudit.privacy import PrivacyService

logger = Logger(service="mlaudit-privacy")

APP: FunctionApp[PrivacyService] = bootstrap.app("privacy")


def subject_access(event: dict[str, Any], privacy: PrivacyService) -> dict[str, Any]:
    return _logged("subject_access", privacy.access(principal_from_event(event), _subject_ref(event)))


def erase_subject(event: dict[str, Any], privacy: PrivacyService) -> dict[str, Any]:
    return _logged("erase_subject", privacy.erase(principal_from_event(event), _subject_ref(event)))


handler = api_handler(APP, {"subject_access": subject_access, "erase_subject": erase_subject}, logger,
                      "The privacy service is unavailable; retry later.")


def _subject_ref(event: dict[str, Any]) -> str:
    raw = (event.get("pathParameters") or {}).get("subject_ref")
    try:
        return check_subject_ref(unquote(raw, errors="strict") if raw else raw)
    except UnicodeDecodeError:
        raise Invalid("invalid_subject_ref", "subject_ref is not valid percent-encoded UTF-8.") from None


def _logged(action: str, body: dict[str, Any]) -> dict[str, Any]:
    # The pseudonym and counts only: never the subject_ref from the path.
    logger.info("privacy action", extra={"action": action, "subject_pseudonym": body.get("subject_pseudonym"),
                                         "events": body.get("count")})
    return body
