"""Scheduled: sign the integrity log's head (logic in mlaudit.integrity.checkpoint).

Environment: MLAUDIT_AUDIT_BUCKET, MLAUDIT_KMS_KEY_ID (SSE for the objects it writes),
MLAUDIT_SIGNING_KEY_ID (the asymmetric KMS key; kms:Sign is granted to this function
alone), MLAUDIT_LOG_ID (optional name of the log inside signed checkpoints).
"""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools import Logger

from mlaudit.integrity.checkpoint import Checkpointer
from mlaudit.settings import Env

logger = Logger(service="mlaudit-checkpoint")


@functools.cache
def service() -> Checkpointer:
    from mlaudit.adapters.aws import client  # noqa: PLC0415
    from mlaudit.integrity.signing import KmsSigner  # noqa: PLC0415
    from mlaudit.integrity.store import S3Store  # noqa: PLC0415

    bucket = os.environ[Env.AUDIT_BUCKET]
    return Checkpointer(
        S3Store(client("s3"), bucket, os.environ.get(Env.KMS_KEY_ID)),
        KmsSigner(client("kms"), os.environ[Env.SIGNING_KEY_ID]),
        log_id=os.environ.get(Env.LOG_ID) or f"mlaudit/{bucket}",
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    signed = service().run()
    body = signed.body
    logger.info("checkpoint signed", extra={"seq": body["seq"], "tree_size": body["tree_size"]})
    return {"seq": body["seq"], "tree_size": body["tree_size"], "root": body["root"], "time": body["time"]}
