"""boto3 clients, created on first use (keeps boto3 out of the import path)."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def client(service: str) -> Any:
    import boto3  # noqa: PLC0415 - deferred: boto3 costs ~200 ms to import
    from botocore.config import Config  # noqa: PLC0415

    return boto3.client(service, config=Config(retries={"mode": "standard", "max_attempts": 5}))
