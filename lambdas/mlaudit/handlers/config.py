"""GET /v1/config: the settings this deployment runs with (admins and auditors).
GET /v1/openapi.json: the API's OpenAPI document (public: mlaudit.openapi).

Settings change only through a deploy (`cdk deploy -c name=value`); this route lets an
auditor confirm what is in force (retention, Object Lock mode, limits) without reading
the template. Each read is itself an audit event.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap
from mlaudit.http import answers_errors, dispatch, json_response
from mlaudit.principal import principal_from_event

logger = Logger(service="mlaudit-config")

APP = bootstrap.app("config")


def _read_config(event: dict[str, Any]) -> dict[str, Any]:
    principal = principal_from_event(event)
    config = APP.service()
    config.audit.record(principal, [{
        "event_type": "audit_access", "occurred_at": datetime.now(UTC).isoformat(), "action": "read",
        "resource": "config",
    }])
    return {"settings": config.settings}


@functools.cache
def _openapi_document() -> dict[str, Any]:
    from mlaudit import openapi  # noqa: PLC0415 - generated on the first request only

    return openapi.document()


def _openapi(event: dict[str, Any]) -> dict[str, Any]:
    return _openapi_document()  # public: nothing about the audit trail, no principal


OPERATIONS = {"read_config": _read_config, "openapi": _openapi}


@logger.inject_lambda_context(clear_state=True)
@answers_errors(logger, "The configuration could not be read; retry later.")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return json_response(*dispatch(event, OPERATIONS))
