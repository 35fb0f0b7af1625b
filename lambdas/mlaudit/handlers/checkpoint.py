"""Scheduled: sign the integrity log's head (logic in mlaudit.integrity.services.checkpoint;
environment and grants in mlaudit.functions)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap, metrics

if TYPE_CHECKING:
    from mlaudit.bootstrap import FunctionApp
    from mlaudit.integrity.services.checkpoint import Checkpointer


logger = Logger(service="mlaudit-checkpoint")


APP: FunctionApp[Checkpointer] = bootstrap.app("checkpoint")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    signer = APP.service()
    signed = signer.run()
    body = signed.body
    logger.info("checkpoint signed", extra={"seq": body["seq"], "tree_size": body["tree_size"]})
    # How old the previous checkpoint had grown (from the chain: right after a cold start
    # too) and the log's size.
    metrics.checkpoint_signed(signer.previous_time, datetime.now(UTC), body["tree_size"])
    return {"seq": body["seq"], "tree_size": body["tree_size"], "root": body["root"], "time": body["time"]}
