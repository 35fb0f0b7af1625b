"""GET /v1/config: the settings this deployment runs with (admins and auditors).

Settings change only through a deploy (`cdk deploy -c name=value`); this route lets an
auditor confirm what is in force (retention, Object Lock mode, limits) without reading
the template. Each read is itself an audit event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap
from mlaudit.http import answers_errors, json_response
from mlaudit.principal import principal_from_event

logger = Logger(service="mlaudit-config")

APP = bootstrap.app("config")


@logger.inject_lambda_context(clear_state=True)
@answers_errors(logger, "The configuration could not be read; retry later.")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    principal = principal_from_event(event)
    config = APP.service()
    config.audit.record(principal, [{
        "event_type": "audit_access", "occurred_at": datetime.now(UTC).isoformat(), "action": "read",
        "resource": "config",
    }])
    return json_response(200, {"settings": config.settings})
