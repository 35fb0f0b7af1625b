"""The audit bucket's version history, for the verifier: a write-once object has exactly
one version and no delete marker. Object Lock lets anyone with s3:DeleteObject add a
delete marker (it hides an object without removing its locked version), and a plain
PutObject adds a second version; both leave a trace only here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class S3History:
    """Needs s3:ListBucketVersions on the bucket."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def versions(self, prefix: str) -> Iterator[tuple[str, int, int]]:
        """(key, object versions, delete markers) for each key under ``prefix`` that has
        more than one version or any delete marker."""
        counts: dict[str, list[int]] = {}
        for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Versions", []):
                counts.setdefault(item["Key"], [0, 0])[0] += 1
            for item in page.get("DeleteMarkers", []):
                counts.setdefault(item["Key"], [0, 0])[1] += 1
        for key, (versions, markers) in sorted(counts.items()):
            if versions > 1 or markers:
                yield key, versions, markers
