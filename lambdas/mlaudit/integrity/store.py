"""The bucket as the integrity code sees it (`adapters.bucket.S3Bucket` on AWS,
`adapters.memory.MemoryBucket` in tests). Everything under integrity/ is written once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol


class Store(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def exists(self, key: str) -> bool: ...
    def create(self, key: str, body: bytes) -> bool:
        """Write only if no object has the key; False if one does (atomic in S3)."""
        ...

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]: ...
    def modified(self, key: str) -> datetime | None: ...
