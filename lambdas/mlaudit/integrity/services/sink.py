"""What the writer calls after it stores a Parquet file: manifest, then log entry.

Idempotent per object key. A retried writer invocation rebuilds the same manifest
bytes (same object, same leaves), finds it already stored, and gets back the log
index of the first attempt instead of appending twice. The same key with other
content is a clash, refused loudly: the object no longer matches its manifest and
the verifier would say so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlaudit.integrity.primitives import merkle, records
from mlaudit.integrity.primitives.store import Store
from mlaudit.integrity.services import seals
from mlaudit.integrity.services.log import FileLog
from mlaudit.retry import retried

if TYPE_CHECKING:
    from mlaudit.integrity.primitives.signing import Signer

# How far back a retry looks for its own log entry when the lookup aid is missing
# (the first attempt stopped between appending and writing the lookup aid).
RETRY_WINDOW = timedelta(hours=2)
# A manifest younger than this whose file is not in the log yet may belong to a call
# still running: wait for it rather than append the file twice.
CLAIM_TIMEOUT = timedelta(minutes=2)
MAX_CERTIFIED = 1024  # seal key certificates a sink remembers having stored


class IntegrityConflict(RuntimeError):
    """A file key was already recorded with different content."""


class IntegrityPending(RuntimeError):
    """Another call is recording this file right now; retry later (the writer fails the
    message, SQS redelivers it after the visibility timeout)."""


class IntegritySink:
    def __init__(
        self,
        store: Store,
        *,
        log_id: str,
        log: FileLog | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        entry_signer: Signer | None = None,
        require_genesis: bool = False,
    ) -> None:
        """``entry_signer``: the writer's entry key (deployments always give it; without it
        entries are unauthenticated and a verifier given the entry key reports them).
        ``require_genesis``: entry 0 waits for checkpoint 0 (deployments: the signer refuses
        to start a chain over a non-empty log)."""
        self.store = store
        self.log = log or FileLog(store, log_id=log_id, clock=clock, entry_signer=entry_signer,
                                  require_genesis=require_genesis)
        self.clock = clock
        self._seals: dict[str, bytes] = {}  # seals objects this process wrote, until their file is recorded
        self._certified: set[str] = set()  # seal key certificates this process stored

    def seal_file(self, key: str, parts: Sequence[seals.SealedPart], leaf_hashes: Sequence[bytes]) -> None:
        """Before the file is stored: its seals (ingest's authentication of every row) and the
        certificates of the keys that made them. A retry finds the same objects; an earlier
        attempt's seals object that covers the same rows is kept (a resent pack carries
        another, equally valid seal), one that does not is a conflict."""
        # Each create retried on its own (`mlaudit.retry`): a passing failure of any would fail
        # the file's messages, and each certificate once per process, not once per pack (a
        # file's packs mostly share one): under faults, a dozen unretried creates per file
        # failed it at nearly every receive, until its messages reached the DLQ.
        for name, certificate in {part.seal.seal_key: part.seal.certificate for part in parts}.items():
            if name not in self._certified:
                retried(lambda name=name, certificate=certificate: self.store.create(
                    seals.seal_key_object_key(name), records.encode(certificate)))
                if len(self._certified) >= MAX_CERTIFIED:  # a bound: containers come and go
                    self._certified.clear()
                self._certified.add(name)
        body = seals.file_seals(key, parts)
        where = seals.seals_key(key)
        if not retried(lambda: self.store.create(where, body)):  # (one that took effect unheard: found)
            body = retried(lambda: self.store.get(where)) or b""
            if seals.check_file_seals(body, key, leaf_hashes, None):  # signatures: checked on arrival
                raise IntegrityConflict(f"{where} already holds seals for other rows")
        self._seals[key] = body

    def store_seals(self, key: str, body: bytes) -> None:
        """Before a compacted file is stored: its seals object, made from its sources' (the
        same seals, their rows moved to where they are in the new file)."""
        where = seals.seals_key(key)
        if not self.store.create(where, body) and self.store.get(where) != body:
            raise IntegrityConflict(f"{where} already holds other seals")
        self._seals[key] = body

    def file_written(
        self,
        key: str,
        body: bytes | None = None,
        leaf_hashes: Sequence[bytes] = (),
        first_event_id: str = "",
        last_event_id: str = "",
        *,
        object_sha256: str | None = None,
        replaces: dict[str, Any] | None = None,
    ) -> int:
        """Record a stored Parquet file; returns its index in the log. ``replaces``: a
        compacted file's record (`records.compaction_replaces`), in its log entry."""
        if not records.is_event_object(key):
            raise ValueError(f"{key} is not an events/ or compacted/ Parquet object")
        if object_sha256 is None:
            if body is None:
                raise ValueError("give the object's bytes or its SHA-256")
            object_sha256 = hashlib.sha256(body).hexdigest()
        if not leaf_hashes:
            raise ValueError("a file holds at least one event")
        self.log.ensure_genesis()  # before the manifest: a retry must not look like a concurrent call
        root = merkle.root(list(leaf_hashes)).hex()
        sealed = self._seals.pop(key, None)
        if sealed is None:
            sealed = self.store.get(seals.seals_key(key))  # stored by an earlier delivery, or never (unsealed)
        manifest = records.encode(
            records.manifest(
                object_key=key,
                object_sha256=object_sha256,
                record_count=len(leaf_hashes),
                merkle_root=root,
                first_event_id=first_event_id,
                last_event_id=last_event_id,
                seals_sha256=records.sha256_hex(sealed) if sealed is not None else None,
            )
        )
        manifest_key = records.manifest_key(key)
        if not self.store.create(manifest_key, manifest):
            if self.store.get(manifest_key) != manifest:
                raise IntegrityConflict(f"{key} is already recorded with different content")
            known = self._recorded_index(key)
            if known is not None:
                return known
        appended = self.log.append(
            object_key=key,
            object_sha256=object_sha256,
            record_count=len(leaf_hashes),
            merkle_root=root,
            manifest_sha256=records.sha256_hex(manifest),
            replaces=replaces,
        )
        self.store.create(records.log_by_file_key(key), records.encode({"index": appended.index}))
        return appended.index

    def file_stored(self, key: str, body: bytes) -> int:
        """Record a file from its Parquet bytes alone (leaf_hash and event_id columns).
        For a writer that finds a file already stored by an earlier delivery: calling
        this is a no-op if that delivery recorded it, and repairs the gap if it stopped
        between storing the object and recording it."""
        import pyarrow as pa  # the writer has pyarrow; the ingest function never calls this
        import pyarrow.parquet as pq

        table = pq.read_table(pa.BufferReader(body), columns=["event_id", "leaf_hash"])
        ids = table.column("event_id").to_pylist()
        leaves = [bytes.fromhex(h) for h in table.column("leaf_hash").to_pylist()]
        return self.file_written(key, body, leaves, ids[0] if ids else "", ids[-1] if ids else "")

    def _recorded_index(self, key: str) -> int | None:
        pointer = self.store.get(records.log_by_file_key(key))
        if pointer is not None:
            return int(records.decode(pointer, "log-by-file")["index"])
        created = self.store.modified(records.manifest_key(key)) or self.clock()
        index = self.log.find(key, not_before=created - RETRY_WINDOW)
        if index is not None:
            self.store.create(records.log_by_file_key(key), records.encode({"index": index}))
        elif self.clock() - created < CLAIM_TIMEOUT:
            raise IntegrityPending(f"{key} is being recorded by another call")
        return index

