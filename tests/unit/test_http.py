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


# --- one handler shape: api_handler ---------------------------------------------------


def _event(method: str, path: str) -> dict:
    return {"httpMethod": method, "resource": path, "requestContext": {"authorizer": {}}}


def test_the_route_gives_the_status_and_an_empty_body_where_it_declares_none():
    from aws_lambda_powertools import Logger
    from mlaudit import bootstrap
    from mlaudit.http import api_handler

    from local.runtime import LambdaContext

    # Given the ingest function's operations, answering with fixed bodies from a stand-in service
    app = bootstrap.FunctionApp("ingest")
    app.configure(service="the service")
    seen = []

    def events(event, service):
        seen.append(service)
        return {"accepted": 0, "event_ids": []}

    handler = api_handler(app, {"ingest": events, "lineage": lambda event, service: None}, Logger(), "retry")
    context = LambdaContext("ingest", 29)
    # When each of its routes is called
    stored = handler(_event("POST", "/v1/events"), context)
    lineage = handler(_event("POST", "/api/v1/lineage"), context)
    elsewhere = handler(_event("GET", "/v1/config"), context)
    # Then each answers with its row's status: 202 with the body, 201 with none (Marquez's
    # answer); another function's route is not found here; the operation got the service
    assert (stored["statusCode"], json.loads(stored["body"])) == (202, {"accepted": 0, "event_ids": []})
    assert (lineage["statusCode"], lineage["body"]) == (201, "")
    assert elsewhere["statusCode"] == 404
    assert seen == ["the service"]


def test_a_public_route_gets_no_service():
    from aws_lambda_powertools import Logger
    from mlaudit import bootstrap
    from mlaudit.http import api_handler

    from local.runtime import LambdaContext

    app = bootstrap.FunctionApp("config")  # not configured: building its service would fail here
    handler = api_handler(app, {"read_config": lambda e, s: s.read(), "openapi": lambda e, s: {"service": s}},
                          Logger(), "retry")
    answer = handler(_event("GET", "/v1/openapi.json"), LambdaContext("config", 29))
    assert (answer["statusCode"], json.loads(answer["body"])) == (200, {"service": None})


def test_a_handler_must_serve_exactly_the_operations_its_routes_name():
    import pytest
    from aws_lambda_powertools import Logger
    from mlaudit import bootstrap
    from mlaudit.http import api_handler

    app = bootstrap.FunctionApp("config")
    with pytest.raises(ValueError, match=r"routes name operations \['openapi', 'read_config'\]"):
        api_handler(app, {"read_config": lambda e, s: {}}, Logger(), "retry")


def test_every_function_has_a_builder_typed_by_its_environment():
    import inspect

    from mlaudit import bootstrap
    from mlaudit.functions import FUNCTIONS

    for spec in FUNCTIONS:
        build = bootstrap.builder(spec.name)
        env = next(iter(inspect.signature(build).parameters.values())).annotation
        assert env in (spec.environment.__name__, spec.environment), (spec.name, env)
