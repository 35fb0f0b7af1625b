"""Scheduled: sign the integrity log's head (logic in mlaudit.integrity.checkpoint;
environment and grants in mlaudit.functions)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap

logger = Logger(service="mlaudit-checkpoint")


APP = bootstrap.app("checkpoint")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    signed = APP.service().run()
    body = signed.body
    logger.info("checkpoint signed", extra={"seq": body["seq"], "tree_size": body["tree_size"]})
    return {"seq": body["seq"], "tree_size": body["tree_size"], "root": body["root"], "time": body["time"]}
