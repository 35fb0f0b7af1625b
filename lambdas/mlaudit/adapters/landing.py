"""The landing bucket: files dropped for import, and the reports written beside them."""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterator
from typing import IO, Any


class LandingFiles:
    def __init__(self, client: Any, bucket: str, kms_key_id: str) -> None:
        self.client = client
        self.bucket = bucket
        self.kms_key_id = kms_key_id

    @contextlib.contextmanager
    def open(self, key: str, version_id: str | None) -> Iterator[tuple[IO[bytes], str]]:
        """The object's bytes as a local file, and their SHA-256: read in a stream of lines
        or row groups, whatever the file's size, within the function's memory (Lambda's
        /tmp holds it)."""
        extra = {"VersionId": version_id} if version_id else None
        with tempfile.TemporaryFile() as local:
            self.client.download_fileobj(self.bucket, key, local, ExtraArgs=extra)
            local.seek(0)
            digest = hashlib.file_digest(local, "sha256").hexdigest()
            local.seek(0)
            yield local, digest

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="application/json",
            ServerSideEncryption="aws:kms", SSEKMSKeyId=self.kms_key_id, BucketKeyEnabled=True,
        )
