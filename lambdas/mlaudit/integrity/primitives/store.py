"""The bucket as the integrity code sees it (`adapters.bucket.S3Bucket` on AWS,
`adapters.memory.MemoryBucket` in tests). Everything under integrity/ is written once.

A write-once object has one version and no delete marker; `Versioned` is how the signer
and the verifier see the rest (ListObjectVersions, s3:ListBucketVersions): what a
delete marker hides, and a second version under a key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Version:
    key: str
    version_id: str
    delete_marker: bool
    latest: bool = True  # the key's current version (a delete marker here hides the key)


class Versioned(Protocol):
    def versions(self, prefix: str, after: str = "") -> Iterator[Version]:
        """Every version and delete marker of the keys under ``prefix`` after ``after``,
        in key order (a key's versions together)."""
        ...

    def get_version(self, key: str, version_id: str) -> bytes | None: ...


@dataclass(frozen=True)
class KeyHistory:
    key: str
    versions: tuple[str, ...]  # version ids of the object versions, newest first
    delete_markers: int
    hidden: bool = False  # the current version is a delete marker


def histories(versions: Iterator[Version]) -> Iterator[KeyHistory]:
    """Each key's versions, grouped (the listing keeps a key's versions together): memory
    for one key at a time, however long the listing."""
    key: str | None = None
    ids: list[str] = []
    markers, hidden = 0, False
    for version in versions:
        if version.key != key:
            if key is not None:
                yield KeyHistory(key, tuple(ids), markers, hidden)
            key, ids, markers, hidden = version.key, [], 0, False
        if version.delete_marker:
            markers += 1
            hidden = hidden or version.latest
        else:
            ids.append(version.version_id)
    if key is not None:
        yield KeyHistory(key, tuple(ids), markers, hidden)
