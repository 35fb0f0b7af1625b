"""The append-only log of file roots, sequenced by conditional creates.

Entry n lives at ``integrity/log/<n:012d>.json`` and is created with If-None-Match,
so two writers can never both own index n. A writer only tries n after reading
entry n-1 (it needs its hash for ``prev``), so entries always form a gap-free
prefix 0..size-1. Losing a race just means trying n+1: the log stays linear with
any number of concurrent writers and no lock, table or head pointer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlaudit.codec import format_timestamp
from mlaudit.integrity.primitives import records
from mlaudit.integrity.primitives.store import Store

if TYPE_CHECKING:
    from mlaudit.integrity.primitives.signing import Signer


class LogError(RuntimeError):
    pass


class AwaitingGenesis(LogError):
    """Entry 0 waits for checkpoint 0 (signed over the empty log): the signer never starts a
    chain over a non-empty log, so the first file is logged only once the chain exists. The
    writer's message is retried; the first scheduled run signs checkpoint 0."""


@dataclass(frozen=True)
class Appended:
    index: int
    entry: bytes

    @property
    def leaf(self) -> bytes:
        return records.entry_leaf(self.entry)


class FileLog:
    def __init__(
        self,
        store: Store,
        *,
        log_id: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_attempts: int = 1000,
        sleep: Callable[[float], None] = time.sleep,
        entry_signer: Signer | None = None,
        require_genesis: bool = False,
    ) -> None:
        self.store = store
        self.log_id = log_id  # in every entry, under the writer's signature
        self.require_genesis = require_genesis
        self._genesis_seen = False
        # The writer's entry key: only its role may sign, so S3 write access alone cannot
        # create an entry the checkpoint signer or a verifier accepts.
        self.entry_signer = entry_signer
        self.clock = clock
        self.max_attempts = max_attempts
        self.sleep = sleep
        self._known_size = 0  # every entry below this index exists (a warm container's hint)

    def size(self, at_least: int = 0) -> int:
        """Number of entries: galloping search for the first missing index, O(log n) HEADs
        (``at_least``: a size the caller knows the log reached, where the search starts)."""
        exists = lambda i: self.store.exists(records.log_key(i))  # noqa: E731
        low = max(self._known_size, at_least)  # entries < low exist
        if not exists(low):
            return low
        step = 1
        while exists(low + step):
            low += step
            step *= 2
        high = low + step  # low exists, high does not
        while high - low > 1:
            middle = (low + high) // 2
            if exists(middle):
                low = middle
            else:
                high = middle
        self._known_size = high
        return high

    def ensure_genesis(self) -> None:
        """With ``require_genesis``: raise `AwaitingGenesis` until checkpoint 0 exists (one
        HEAD until it is seen, then none: checkpoints are never removed)."""
        if self.require_genesis and not self._genesis_seen:
            if not self.store.exists(records.checkpoint_key(0)):
                raise AwaitingGenesis("the first log entry waits for checkpoint 0 (the next scheduled signer run)")
            self._genesis_seen = True

    def entry(self, index: int) -> bytes | None:
        return self.store.get(records.log_key(index))

    def append(
        self,
        *,
        object_key: str,
        object_sha256: str,
        record_count: int,
        merkle_root: str,
        manifest_sha256: str,
        replaces: dict[str, Any] | None = None,
    ) -> Appended:
        self.ensure_genesis()
        index = self.size()
        for _ in range(self.max_attempts):
            prev = records.ZERO_HASH
            if index > 0:
                previous = self.entry(index - 1)
                if previous is None:  # cannot happen with a gap-free prefix; refuse to make a gap
                    raise LogError(f"log entry {index - 1} is missing")
                prev = records.entry_leaf(previous).hex()
            entry = records.log_entry(
                log_id=self.log_id,
                index=index,
                prev=prev,
                object_key=object_key,
                object_sha256=object_sha256,
                record_count=record_count,
                merkle_root=merkle_root,
                manifest_sha256=manifest_sha256,
                appended_at=format_timestamp(self.clock()),
                replaces=replaces,
            )
            if self.entry_signer is not None:
                entry = records.sign_entry(self.entry_signer, entry)  # one signature per file, per attempt
            body = records.encode(entry)
            if self.store.create(records.log_key(index), body):
                self._known_size = index + 1
                return Appended(index, body)
            if self.store.exists(records.log_key(index)):
                index += 1  # another writer took it; n+1 follows its entry
            else:
                # S3 answers 409 while a competing write to the key is in flight; that write
                # may still fail, so retry the same index rather than leave a gap.
                self.sleep(random.uniform(0.05, 0.2))  # noqa: S311 - jitter, not security
        raise LogError(f"no free log index after {self.max_attempts} attempts")

    def find(self, object_key: str, *, not_before: datetime, size: int | None = None) -> int | None:
        """Index of the entry for ``object_key``, searching back from the head and stopping
        at entries appended before ``not_before`` (a retry's first attempt is recent)."""
        index = (self.size() if size is None else size) - 1
        cutoff = format_timestamp(not_before)
        while index >= 0:
            body = self.entry(index)
            if body is None:
                return None
            entry = records.decode(body, records.log_key(index))
            if entry["object_key"] == object_key:
                return index
            if entry["appended_at"] < cutoff:
                return None
            index -= 1
        return None
