"""S3 -> EventBridge -> the import function, as the CDK app wires it (stacks/imports.py):
a thread watches the landing bucket's imports/ prefix for new object versions and calls
the real handler with the "Object Created" event EventBridge would deliver, one file at
a time. moto sends no S3 events, so the watcher lists versions instead."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from typing import Any

from mlaudit.functions import spec

from local.periodic import Periodic
from local.runtime import LambdaContext

logger = logging.getLogger(__name__)

IMPORTS_PREFIX = "imports/"


def object_created(bucket: str, key: str, version_id: str | None, size: int, etag: str, region: str) -> dict:
    """The event EventBridge delivers for an S3 object creation."""
    return {
        "version": "0", "source": "aws.s3", "detail-type": "Object Created", "region": region,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "detail": {"version": "0", "bucket": {"name": bucket},
                   "object": {"key": key, "size": size, "etag": etag.strip('"'), "version-id": version_id},
                   "reason": "PutObject"},
    }


class LandingWatcher(Periodic):
    def __init__(self, s3: Any, bucket: str, *, region: str, interval: float = 0.5,
                 deliver: Callable[[dict], None] | None = None,
                 load_handler: Callable[[str], Callable[[Any, Any], Any]] | None = None) -> None:
        super().__init__("landing-watcher", interval)
        self.s3 = s3  # the stack's own client: S3 tells EventBridge, not the function
        self.bucket = bucket
        self.region = region
        # EventBridge's rule target (local/services.py: permission, retries, dead letters);
        # by default the handler, called once.
        self.deliver = deliver or self._call_handler
        self.delivered = 0
        self._seen: set[tuple[str, str]] = set()
        self.load_handler = load_handler or (lambda name: importlib.import_module(f"mlaudit.handlers.{name}").handler)

    def tick(self) -> None:
        for version in self._new_versions():
            event = object_created(self.bucket, version["Key"], version.get("VersionId"), version["Size"],
                                   version["ETag"], self.region)
            self.deliver(event)
            self.delivered += 1

    def _call_handler(self, event: dict) -> None:
        handler = self.load_handler("imports")
        try:
            handler(event, LambdaContext("imports", int(spec("imports").timeout_seconds), region=self.region))
        except Exception:
            logger.exception("import of a landed file failed")

    def _new_versions(self) -> list[dict[str, Any]]:
        found = []
        pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=IMPORTS_PREFIX)
        for page in pages:
            for version in page.get("Versions", []):
                ident = (version["Key"], version.get("VersionId") or version["ETag"])
                if ident not in self._seen:
                    self._seen.add(ident)
                    found.append(version)
        return sorted(found, key=lambda v: v["LastModified"])
