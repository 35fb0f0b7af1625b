"""One mapping of failures to HTTP for every API handler."""

from __future__ import annotations

import json

from mlaudit.errors import InvalidEvents
from mlaudit.http import answers_errors


class RecordingLogger:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message, extra=None):
        self.lines.append(json.dumps([message, extra]))

    error = info


def test_domain_errors_answer_with_their_status_and_other_failures_are_503_without_their_text():
    logger = RecordingLogger()

    @answers_errors(logger, "try later")
    def refuses(event, context):
        raise InvalidEvents("validation_failed", "bad", [{"path": "events[0].x", "rule": "r", "message": "m"}])

    @answers_errors(logger, "try later")
    def breaks(event, context):
        raise KeyError("patient-4711")  # an exception's text can quote a personal value

    refused = refuses({}, None)
    assert refused["statusCode"] == 422 and json.loads(refused["body"])["errors"][0]["path"] == "events[0].x"
    broken = breaks({}, None)
    assert broken["statusCode"] == 503
    assert json.loads(broken["body"]) == {"error": "unavailable", "message": "try later"}
    assert "KeyError" in logger.lines[-1] and "test_http.py" in logger.lines[-1]
    assert not any("patient-4711" in line for line in logger.lines)
