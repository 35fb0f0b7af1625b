"""S3 -> EventBridge -> the import function, as the CDK app wires it (stacks/imports.py):
a thread watches the landing bucket's imports/ prefix (and the captured sources' bedrock/ and
dms/) for new object versions and calls
the real handler with the "Object Created" event EventBridge would deliver, one file at
a time. moto sends no S3 events, so the watcher lists versions instead.

Any key S3 takes, the watcher survives: moto answers ListObjectVersions with a 500 once a
key holds a character XML cannot carry (NUL, most controls), even with encoding-type=url,
which S3 itself honours. Then it lists the current objects instead (ListObjectsV2 encodes
keys) and asks each new one's version (HeadObject)."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from mlaudit.capture.files import PREFIXES as CAPTURED_PREFIXES
from mlaudit.functions import spec

from local.periodic import Periodic
from local.runtime import LambdaContext

logger = logging.getLogger(__name__)

IMPORTS_PREFIX = "imports/"
# The rule's prefixes (stacks/imports.py): imports/, and the captured sources' files (bedrock/, dms/).
LANDED_PREFIXES = (IMPORTS_PREFIX, *CAPTURED_PREFIXES)


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
        self._listed: set[tuple[str, str, str]] = set()  # (key, ETag, LastModified) seen by the fallback
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
        versions = []
        for prefix in LANDED_PREFIXES:
            try:
                versions += [version for page in self.s3.get_paginator("list_object_versions").paginate(
                    Bucket=self.bucket, Prefix=prefix) for version in page.get("Versions", [])]
            except ClientError:  # moto cannot list a key XML cannot carry: see the module
                versions += self._current_versions(prefix)
        found = []
        for version in versions:
            ident = (version["Key"], version.get("VersionId") or version["ETag"])
            if ident not in self._seen:
                self._seen.add(ident)
                found.append(version)
        return sorted(found, key=lambda v: v["LastModified"])

    def _current_versions(self, prefix: str) -> list[dict[str, Any]]:
        """The current version of each object, from ListObjectsV2 and HeadObject (for the
        objects not seen before only): a version replaced between two ticks is missed."""
        found = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                listed = (item["Key"], item["ETag"], str(item["LastModified"]))
                if listed in self._listed:
                    continue
                self._listed.add(listed)
                head = self.s3.head_object(Bucket=self.bucket, Key=item["Key"])
                found.append({**item, "VersionId": head.get("VersionId"), "ETag": head["ETag"],
                              "Size": head["ContentLength"], "LastModified": head["LastModified"]})
        return found
