"""Scheduled: evaluate every monitor (logic in mlaudit.monitors; environment and grants in
mlaudit.functions). Each evaluation is an audit event and an EMF metric; a transition to
ALARM is published on the monitors' alarm topic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap
from mlaudit.monitors.service import MonitorService, MonitorsFailed

if TYPE_CHECKING:
    from mlaudit.bootstrap import FunctionApp


logger = Logger(service="mlaudit-monitors")

APP: FunctionApp[MonitorService] = bootstrap.app("monitors")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        evaluations = APP.service().run()
    except MonitorsFailed as exc:
        for key, error in exc.failures:
            logger.error("monitor failed", extra={"monitor": key, "error": type(error).__name__})
        raise
    for evaluation in evaluations:
        # Names, states and numbers only: never a value from an event.
        logger.info("monitor evaluated", extra=evaluation.summary())
    return {"evaluated": len(evaluations), "alarms": sum(e.state == "ALARM" for e in evaluations),
            "raised": sum(e.raised for e in evaluations)}
