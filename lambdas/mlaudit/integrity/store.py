"""Object storage for the integrity records: S3, with conditional create (an in-memory
stand-in is `adapters.memory.MemoryBucket`). Everything under integrity/ is written once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol


class Store(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def exists(self, key: str) -> bool: ...
    def create(self, key: str, body: bytes) -> bool:
        """Write only if no object has the key; False if one does (atomic in S3)."""
        ...

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]: ...
    def modified(self, key: str) -> datetime | None: ...


_MISSING = ("404", "NoSuchKey", "NotFound")


class S3Store:
    """The audit bucket. Creates use If-None-Match: "*" (S3 conditional writes): of
    two writers racing for one key, exactly one wins. The bucket's default Object
    Lock retention applies to every object written here."""

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
        extra: dict[str, Any] = {}
        if self.kms_key_id:
            extra = {
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": self.kms_key_id,
                "BucketKeyEnabled": True,
            }
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                IfNoneMatch="*",
                ChecksumAlgorithm="SHA256",
                ContentType=_content_type(key),
                **extra,
            )
            return True
        except self.client.exceptions.ClientError as error:
            # 409 ConditionalRequestConflict: a concurrent write to the key is in flight.
            if error.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        for page in paginator.paginate(**kwargs):
            for item in page.get("Contents", []):
                yield item["Key"]


def _content_type(key: str) -> str:
    return "application/json" if key.endswith(".json") else "application/octet-stream"
