"""Signed checkpoints of the log of file roots, and the log's leaves for proofs.

A checkpoint commits to (tree size, root) of the log at one time and to the one
before it (``prev`` = SHA-256 of its signed message), so checkpoints form a chain
too: dropping, reordering or replaying one breaks it. Sequence numbers are claimed
with conditional creates, like log entries, so two signer runs cannot fork it.

The signer trusts two things only: the witness (its last signed state, kept where the
bucket's writers cannot change it) and the writer's entry key. It never signs over an
entry the writer did not sign, never starts a new chain while the witness holds one,
and publishes each checkpoint to the witness before the audit bucket.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlaudit.codec import format_timestamp
from mlaudit.integrity import merkle, records
from mlaudit.integrity.log import FileLog
from mlaudit.integrity.signing import Signer, entry_authentic
from mlaudit.integrity.store import Store

if TYPE_CHECKING:
    from mlaudit.integrity.witness import Witness


FETCH_THREADS = 16  # log entries read at once by a signer run


class LogRewritten(RuntimeError):
    """The log no longer extends the last signed checkpoint: tampering, never signed over."""


class ChainRestarted(LogRewritten):
    """The audit bucket's checkpoints do not end where the witness says the chain is:
    checkpoints were removed or replaced. The signer never starts a second chain."""


class UnauthenticatedEntry(LogRewritten):
    """A log entry the writer did not sign (or that does not chain): the signer signed the
    authenticated prefix before it and refuses everything from it on."""


@dataclass(frozen=True)
class SignedCheckpoint:
    body: dict[str, Any]
    signature: bytes

    @property
    def message(self) -> bytes:
        """The exact bytes that were signed."""
        return records.encode(self.body)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.message).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {"checkpoint": self.body, "signature": base64.b64encode(self.signature).decode("ascii")}

    def encode(self) -> bytes:
        return records.encode(self.to_json())

    @classmethod
    def decode(cls, data: bytes, what: str = "checkpoint") -> SignedCheckpoint:
        document = records.decode(data, what)
        try:
            return cls(document["checkpoint"], base64.b64decode(document["signature"], validate=True))
        except (KeyError, TypeError, ValueError):
            raise records.FormatError(f"{what} lacks a checkpoint body or a base64 signature") from None


def latest_seq(store: Store) -> int | None:
    """Highest checkpoint sequence number (galloping search: checkpoints are gap-free)."""
    return gallop_latest(lambda s: store.exists(records.checkpoint_key(s)))


def gallop_latest(exists: Callable[[int], bool]) -> int | None:
    """The last of a gap-free run 0..k of numbered objects, in O(log k) probes."""
    if not exists(0):
        return None
    low, step = 0, 1
    while exists(low + step):
        low += step
        step *= 2
    high = low + step
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if exists(middle) else (low, middle)
    return low


def load_checkpoint(store: Store, seq: int) -> SignedCheckpoint | None:
    data = store.get(records.checkpoint_key(seq))
    return None if data is None else SignedCheckpoint.decode(data, records.checkpoint_key(seq))


def latest_checkpoint(store: Store) -> SignedCheckpoint | None:
    seq = latest_seq(store)
    return None if seq is None else load_checkpoint(store, seq)


class LogLeaves:
    """The log tree's leaves, from immutable segments (32 bytes per leaf) plus the entries
    after them. Cached: segments never change.

    Checkpoint ``s`` writes one segment covering the checkpoints ``s+1-lowbit(s+1) .. s``
    (a Fenwick layout): any prefix of the log is then O(log s) segments, and each leaf is
    stored O(log s) times, so a cold start reads a handful of objects, not one per checkpoint.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._leaves: list[bytes] = []

    def upto(self, size: int) -> list[bytes]:
        if len(self._leaves) < size:
            self._load_segments(size)
        for index in range(len(self._leaves), size):
            body = self.store.get(records.log_key(index))
            if body is None:
                raise LookupError(f"log entry {index} is missing")
            self._leaves.append(records.entry_leaf(body))
        return self._leaves[:size]

    def _load_segments(self, size: int) -> None:
        ends: dict[int, int] = {}  # segment start -> furthest end
        for key in self.store.list(records.LOG_LEAVES):
            span = records.parse_log_leaves_key(key)
            if span is not None and span[1] > ends.get(span[0], -1):
                ends[span[0]] = span[1]
        while len(self._leaves) < size and ends.get(len(self._leaves), 0) > len(self._leaves):
            start, end = len(self._leaves), ends[len(self._leaves)]
            data = self.store.get(records.log_leaves_key(start, end)) or b""
            if len(data) != (end - start) * merkle.HASH_SIZE:
                return  # damaged or missing: the entries fill in
            self._leaves.extend(data[i : i + 32] for i in range(0, len(data), 32))

    def extend(self, start: int, leaves: list[bytes]) -> None:
        """Leaves the caller read and checked itself, for entries from ``start`` on."""
        if len(self._leaves) == start:
            self._leaves.extend(leaves)

    def write_segment(self, start: int, end: int) -> None:
        if end > start:
            self.store.create(records.log_leaves_key(start, end), b"".join(self.upto(end)[start:end]))


class Checkpointer:
    def __init__(
        self,
        store: Store,
        signer: Signer,
        *,
        log_id: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        leaves: LogLeaves | None = None,
        entry_key: Any = None,
        witness: Witness | None = None,
    ) -> None:
        """``entry_key``: the writer's public key; each entry is checked against it before it
        is signed over. ``witness``: where each checkpoint is published first and the last
        signed state is read back from. Deployments give both (mlaudit.bootstrap)."""
        self.store = store
        self.signer = signer
        self.log_id = log_id
        self.clock = clock
        self.log = FileLog(store, clock=clock)
        self.leaves = leaves or LogLeaves(store)
        self.entry_key = entry_key
        self.witness = witness
        # When the checkpoint before the last one `run` signed was signed (None: there was
        # none): how old the chain's head had grown, read from the chain, not remembered.
        self.previous_time: str | None = None

    def run(self) -> SignedCheckpoint:
        """Sign the log's head (also when nothing changed: a fresh time shows liveness), as
        far as every entry is authenticated and chained; raise after signing if one is not."""
        previous = self._previous()
        self.previous_time = previous.body["time"] if previous is not None else None
        size = self.log.size()
        if previous is None and size and self.witness is not None:
            raise ChainRestarted(
                f"no checkpoint of {self.log_id} anywhere, yet the log holds {size} entries: the first "
                "checkpoint is signed over the empty log (the writer waits for it), so this log was "
                "written around the chain or its checkpoints and witness were replaced; never signed over")
        signed_size = previous.body["tree_size"] if previous is not None else 0
        if size < signed_size:
            raise LogRewritten(f"the log has {size} entries; checkpoint {previous.body['seq']} signed {signed_size}")
        leaves = list(self.leaves.upto(signed_size))
        if previous is not None:
            self._check_extends(previous.body, merkle.Tree(leaves))
        fresh, refused = self._new_entries(signed_size, size, leaves[-1] if leaves else None)
        self.leaves.extend(signed_size, fresh)
        tree = merkle.Tree(leaves + fresh)
        body = records.checkpoint_body(
            log_id=self.log_id,
            seq=0 if previous is None else previous.body["seq"] + 1,
            tree_size=tree.size,
            root=tree.root.hex(),
            time=format_timestamp(self.clock()),
            prev=previous.sha256 if previous else records.ZERO_HASH,
            key_id=self.signer.key_id,
        )
        signed = SignedCheckpoint(body, self.signer.sign(records.encode(body)))
        if self.witness is not None:
            self.witness.publish(signed)  # first: the witness is never behind the bucket
        if not self.store.create(records.checkpoint_key(body["seq"]), signed.encode()):
            raise RuntimeError(f"checkpoint {body['seq']} was written by a concurrent run")
        self.leaves.write_segment(self._segment_start(body["seq"]), tree.size)
        if self.witness is not None:
            self.witness.announce(signed)
        if refused:
            raise UnauthenticatedEntry(refused)
        return signed

    def _previous(self) -> SignedCheckpoint | None:
        """The last signed checkpoint, as the witness knows it; the bucket must agree."""
        seq = latest_seq(self.store)
        held = None if seq is None else load_checkpoint(self.store, seq)
        if held is not None and held.body.get("log_id") != self.log_id:
            raise ChainRestarted(f"checkpoint {seq} belongs to log {held.body.get('log_id')}, not {self.log_id}")
        if self.witness is None:
            return held
        trusted = self.witness.latest()
        if trusted is None:
            if held is not None:
                raise ChainRestarted(
                    f"the witness holds no checkpoint of {self.log_id} but the bucket holds {seq}: "
                    "publish the bucket's chain to the witness before signing on")
            return None  # the first checkpoint of this log
        want = trusted.body["seq"]
        if held is not None and seq == want and held.body == trusted.body:
            return held
        before = -1 if held is None else seq
        if before == want - 1 and (held.sha256 if held else records.ZERO_HASH) == trusted.body["prev"]:
            # A run stopped between publishing to the witness and writing the bucket: repair.
            self.store.create(records.checkpoint_key(want), trusted.encode())
            return trusted
        raise ChainRestarted(
            f"the witness holds checkpoint {want} of {self.log_id}; the bucket's checkpoints "
            + ("are gone" if held is None else f"end at {seq} with another chain" if seq != want
               else f"hold another checkpoint {seq}")
            + ": checkpoints were removed or replaced, never signed over")

    def _new_entries(self, start: int, size: int, last_leaf: bytes | None) -> tuple[list[bytes], str]:
        """Leaves of entries start..size-1 up to the first that is not canonical, not at its
        index, not chained to the one before or (with an entry key) not signed by the writer."""
        leaves: list[bytes] = []
        prev = last_leaf.hex() if last_leaf is not None else records.ZERO_HASH
        with ThreadPoolExecutor(FETCH_THREADS) as pool:  # GETs in parallel, checked in order
            bodies = list(pool.map(self.log.entry, range(start, size)))
        for index, body in enumerate(bodies, start):
            where = records.log_key(index)
            if body is None:
                return leaves, f"log entry {index} is missing"
            try:
                entry = records.decode(body, where)
            except records.FormatError as exc:
                return leaves, str(exc)
            if entry.get("type") != "mlaudit.log_entry" or entry.get("index") != index or entry.get("prev") != prev:
                return leaves, f"log entry {index} is not the entry chained after {index - 1}"
            if self.entry_key is not None and not entry_authentic(self.entry_key, entry):
                return leaves, f"log entry {index} is not signed with the writer's entry key: refused"
            leaves.append(records.entry_leaf(body))
            prev = leaves[-1].hex()
        return leaves, ""

    def _check_extends(self, previous: dict[str, Any], tree: merkle.Tree) -> None:
        """Never sign a log that does not extend the last signed one: a shrunk or rewritten
        log is an incident to raise, not a head to certify. Old leaves come from the
        segment cache, so the signer re-reads the last signed entry itself (truncating
        and re-appending shows there); the verifier checks every entry."""
        signed_size = previous["tree_size"]
        if tree.root.hex() != previous["root"]:
            raise LogRewritten(
                f"the log's first {signed_size} entries no longer give checkpoint {previous['seq']}'s root"
            )
        if signed_size:
            last = self.store.get(records.log_key(signed_size - 1)) or b""
            if records.entry_leaf(last) != tree.levels[0][signed_size - 1]:
                raise LogRewritten(f"log entry {signed_size - 1}, signed in checkpoint {previous['seq']}, changed")

    def _segment_start(self, seq: int) -> int:
        """Tree size at checkpoint ``seq - lowbit(seq+1)`` (0 before the first)."""
        first = seq + 1 - ((seq + 1) & -(seq + 1))
        if first == 0:
            return 0
        before = load_checkpoint(self.store, first - 1)
        return before.body["tree_size"] if before else 0
