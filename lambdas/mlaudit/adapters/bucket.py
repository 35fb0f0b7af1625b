"""An mlaudit bucket on S3 (the audit bucket, the witness bucket): every object is
written once.

Writes are creates (If-None-Match: "*", which the audit bucket's policy requires: no key
gets a second version): of two writers racing for one key, exactly one wins. With a key
id, SSE-KMS with the customer key and a bucket key. The bucket's default Object Lock
retention applies to every object written here. The in-memory twin is
`adapters.memory.MemoryBucket`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from mlaudit.integrity.primitives.store import Version

_MISSING = ("404", "NoSuchKey", "NotFound")
# 412: the key exists; 409 ConditionalRequestConflict: a concurrent write to it is in flight.
_TAKEN = ("PreconditionFailed", "ConditionalRequestConflict")


class S3Bucket:
    def __init__(self, client: Any, bucket: str, kms_key_id: str | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.kms_key_id = kms_key_id

    def get(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.client.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in _MISSING:
                return None
            raise

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in _MISSING:
                return None
            raise

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def modified(self, key: str) -> datetime | None:
        head = self._head(key)
        return head["LastModified"] if head else None

    def create(self, key: str, body: bytes) -> bool:
        """Write only if no object has the key; False if one does (atomic in S3)."""
        try:
            self._create(key, body, ContentType=_content_type(key))
            return True
        except self.client.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in _TAKEN:
                return False
            raise

    def put(self, key: str, body: bytes) -> None:
        """Store an events file: a create, where the same bytes already there are a retry
        (fine); other bytes, or a write still in flight, raise S3's refusal."""
        try:
            self._create(key, body)
        except self.client.exceptions.ClientError as error:
            if error.response["Error"]["Code"] not in _TAKEN or self.get(key) != body:
                raise

    def _create(self, key: str, body: bytes, **extra: Any) -> None:
        if self.kms_key_id:
            extra.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=self.kms_key_id, BucketKeyEnabled=True)
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*", ChecksumAlgorithm="SHA256", **extra,
        )

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]:
        for key, _ in self.listing(prefix, start_after):
            yield key

    def listing(self, prefix: str, start_after: str = "") -> Iterator[tuple[str, int]]:
        """(key, size) of each object under prefix after start_after, in key order."""
        paginator = self.client.get_paginator("list_objects_v2")
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        for page in paginator.paginate(**kwargs):
            for item in page.get("Contents", []):
                yield item["Key"], item["Size"]

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of an object (one ranged GET)."""
        if end <= start:
            return b""
        answer = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}")
        return answer["Body"].read()  # type: ignore[no-any-return]


    def children(self, prefix: str) -> Iterator[str]:
        """The "folders" right under ``prefix`` (ListObjectsV2 with a delimiter): one entry
        per partition value, however many objects each holds."""
        for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            for item in page.get("CommonPrefixes", []):
                yield item["Prefix"]

    def versions(self, prefix: str, after: str = "") -> Iterator[Version]:
        """ListObjectVersions (s3:ListBucketVersions): every version and delete marker under
        ``prefix``, keys after ``after`` (give a key that exists, as a page marker is:
        moto drops the first version at or after the marker), a page at a time."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if after:
            kwargs["KeyMarker"] = after
        for page in self.client.get_paginator("list_object_versions").paginate(**kwargs):
            items = [Version(v["Key"], v.get("VersionId", "null"), False, v.get("IsLatest", True))
                     for v in page.get("Versions", [])]
            items += [Version(m["Key"], m.get("VersionId", "null"), True, m.get("IsLatest", True))
                      for m in page.get("DeleteMarkers", [])]
            items.sort(key=lambda v: v.key)  # stable: a key's versions stay together
            yield from (v for v in items if v.key > after)

    def get_version(self, key: str, version_id: str) -> bytes | None:
        """One version, hidden or not (s3:GetObjectVersion)."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key, VersionId=version_id)["Body"].read()
        except self.client.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in (*_MISSING, "NoSuchVersion", "InvalidArgument"):
                return None
            raise


def _content_type(key: str) -> str:
    return "application/json" if key.endswith(".json") else "application/octet-stream"
