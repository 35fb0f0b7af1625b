"""GET /v1/config: the settings this deployment runs with (admins and auditors).

Settings change only through a deploy (`cdk deploy -c name=value`); this route lets an
auditor confirm what is in force (retention, Object Lock mode, limits) without reading
the template. Each read is itself an audit event.
"""

from __future__ import annotations

import functools
import json
import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from mlaudit.http import answers_errors, json_response
from mlaudit.ingest import EventRecorder
from mlaudit.principal import principal_from_event
from mlaudit.settings import Env

logger = Logger(service="mlaudit-config")


@functools.cache
def recorder() -> EventRecorder:
    from mlaudit.adapters.aws import client  # noqa: PLC0415
    from mlaudit.adapters.queue import SqsQueue  # noqa: PLC0415
    from mlaudit.ingest import IngestLimits  # noqa: PLC0415

    return EventRecorder(queue=SqsQueue(client("sqs"), os.environ[Env.EVENTS_QUEUE_URL]), limits=IngestLimits())


@logger.inject_lambda_context(clear_state=True)
@answers_errors(logger, "The configuration could not be read; retry later.")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    principal = principal_from_event(event)
    settings = json.loads(os.environ[Env.SETTINGS])
    recorder().record(principal, [{
        "event_type": "audit_access", "occurred_at": datetime.now(UTC).isoformat(), "action": "read",
        "resource": "config",
    }])
    return json_response(200, {"settings": settings})
