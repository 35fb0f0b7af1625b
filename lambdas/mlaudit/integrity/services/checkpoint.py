"""Signed checkpoints of the log of file roots, signed by an incremental signer.

A checkpoint commits to (tree size, root) of the log at one time and to the one
before it (``prev`` = SHA-256 of its signed message), so checkpoints form a chain
too: dropping, reordering or replaying one breaks it. Sequence numbers are claimed
with conditional creates, like log entries, so two signer runs cannot fork it.

The signer trusts two things only: the witness (its last signed state, kept where the
bucket's writers cannot change it) and the writer's entry key. It never signs over an
entry the writer did not sign, never starts a new chain while the witness holds one,
hidden or not, and publishes each checkpoint to the witness before the audit bucket.

Its state is the Merkle frontier of the signed log (RFC 9162's compact range: one hash per
set bit of the tree size), read at each start from the log's right-edge tiles and checked
against the signed root, so a run reads and hashes the entries added since the last one,
plus a handful of objects, whatever the log's length (`tiles`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlaudit.codec import format_timestamp
from mlaudit.integrity.primitives import merkle, records, tiles
from mlaudit.integrity.primitives.records import SignedCheckpoint, gallop_latest
from mlaudit.integrity.primitives.signing import Signer, entry_authentic
from mlaudit.integrity.primitives.store import Store
from mlaudit.integrity.services.log import FileLog

if TYPE_CHECKING:
    from mlaudit.integrity.services.witness import Witness

__all__ = ["ChainRestarted", "Checkpointer", "LogLeaves", "LogRewritten", "SignedCheckpoint", "UnauthenticatedEntry",
           "gallop_latest", "latest_checkpoint", "latest_seq", "load_checkpoint"]

FETCH_THREADS = 16  # log entries read at once by a signer run
FETCH_CHUNK = 512  # entries fetched, checked and dropped at a time: memory stays flat
# Entries checked by one run at most: a backlog (the signer was stopped) is signed over a
# few runs, each within the function's time and memory.
MAX_NEW_ENTRIES = 20_000


class LogRewritten(RuntimeError):
    """The log no longer extends the last signed checkpoint: tampering, never signed over."""


class ChainRestarted(LogRewritten):
    """The audit bucket's checkpoints do not end where the witness says the chain is, or the
    witness's own history was tampered with: the signer never starts a second chain."""


class UnauthenticatedEntry(LogRewritten):
    """A log entry the writer did not sign (or that does not chain): the signer signed the
    authenticated prefix before it and refuses everything from it on."""


def latest_seq(store: Store) -> int | None:
    """Highest checkpoint sequence number (galloping search: checkpoints are gap-free)."""
    return gallop_latest(lambda s: store.exists(records.checkpoint_key(s)))


def load_checkpoint(store: Store, seq: int) -> SignedCheckpoint | None:
    data = store.get(records.checkpoint_key(seq))
    return None if data is None else SignedCheckpoint.decode(data, records.checkpoint_key(seq))


def latest_checkpoint(store: Store) -> SignedCheckpoint | None:
    seq = latest_seq(store)
    return None if seq is None else load_checkpoint(store, seq)


class LogLeaves:
    """The log's leaves from the log itself, for a lake whose tiles are missing (written
    before tiles, or damaged): the leaf-hash segments older signers wrote, then the entries.
    O(n): the signer uses it once to write the tiles, the proof API only without tiles."""

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
            start, end = len(self._leaves), min(ends[len(self._leaves)], size)
            data = self.store.get(records.log_leaves_key(start, ends[start])) or b""
            if len(data) < (end - start) * merkle.HASH_SIZE:
                return  # damaged or missing: the entries fill in
            self._leaves.extend(data[i:i + 32] for i in range(0, (end - start) * 32, 32))


class Checkpointer:
    def __init__(
        self,
        store: Store,
        signer: Signer,
        *,
        log_id: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        entry_key: Any = None,
        witness: Witness | None = None,
        max_new_entries: int = MAX_NEW_ENTRIES,
    ) -> None:
        """``entry_key``: the writer's public key; each entry is checked against it before it
        is signed over. ``witness``: where each checkpoint is published first and the last
        signed state is read back from. Deployments give both (mlaudit.bootstrap)."""
        self.store = store
        self.signer = signer
        self.log_id = log_id
        self.clock = clock
        self.log = FileLog(store, log_id=log_id, clock=clock)
        self.entry_key = entry_key
        self.witness = witness
        self.max_new_entries = max_new_entries
        # When the checkpoint before the last one `run` signed was signed (None: there was
        # none): how old the chain's head had grown, read from the chain, not remembered.
        self.previous_time: str | None = None
        self.tile_clashes: list[str] = []  # tiles another object held with other bytes (the last run)
        self.rebuilt = False  # the last run rebuilt the tiles from the log (a lake from before tiles)

    def run(self) -> SignedCheckpoint:
        """Sign the log's head (also when nothing changed: a fresh time shows liveness), as
        far as every entry is authenticated and chained; raise after signing if one is not."""
        self.tile_clashes, self.rebuilt = [], False
        previous = self._previous()
        self.previous_time = previous.body["time"] if previous is not None else None
        if previous is None:
            written = self.log.size() if self.witness is not None else 0
            if written:
                raise ChainRestarted(
                    f"no checkpoint of {self.log_id} anywhere, yet the log holds {written} entries: the first "
                    "checkpoint is signed over the empty log (the writer waits for it), so this log was "
                    "written around the chain or its checkpoints and witness were replaced; never signed over")
            state, reader, last_leaf = merkle.CompactRange(), tiles.TileReader(self.store, 0), None
        else:
            state, reader, last_leaf = self._signed_state(previous)
        size = self.log.size(at_least=state.size)
        end = min(size, state.size + self.max_new_entries)
        fresh, refused = self._new_entries(state.size, end, last_leaf)
        grown = state.copy()
        grown.extend(fresh)
        # The tiles of the grown tree first: the next run and the proof API start from them.
        self.tile_clashes += tiles.extend(self.store, reader, fresh)
        body = records.checkpoint_body(
            log_id=self.log_id,
            seq=0 if previous is None else previous.body["seq"] + 1,
            tree_size=grown.size,
            root=grown.root().hex(),
            time=format_timestamp(self.clock()),
            prev=previous.sha256 if previous else records.ZERO_HASH,
            key_id=self.signer.key_id,
        )
        signed = SignedCheckpoint(body, self.signer.sign(records.encode(body)))
        if self.witness is not None:
            self.witness.publish(signed)  # first: the witness is never behind the bucket
        if not self.store.create(records.checkpoint_key(body["seq"]), signed.encode()):
            raise RuntimeError(f"checkpoint {body['seq']} was written by a concurrent run")
        if self.witness is not None:
            self.witness.announce(signed)
        if refused:
            raise UnauthenticatedEntry(refused)
        return signed

    # -- the last signed state -------------------------------------------------------------

    def _previous(self) -> SignedCheckpoint | None:
        """The last signed checkpoint, as the witness knows it; the bucket must agree."""
        seq = latest_seq(self.store)
        held = None if seq is None else load_checkpoint(self.store, seq)
        if held is not None and held.body.get("log_id") != self.log_id:
            raise ChainRestarted(f"checkpoint {seq} belongs to log {held.body.get('log_id')}, not {self.log_id}")
        if self.witness is None:
            return held
        trusted = self._witnessed()
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

    def _witnessed(self) -> SignedCheckpoint | None:
        """The witness's latest checkpoint, after checking its history around it: the latest
        visible key has one version, and nothing (no version, no delete marker) follows it,
        so neither a replaced nor a hidden newer checkpoint passes (two version listings)."""
        assert self.witness is not None
        visible = self.witness.latest_seq()
        following = self.witness.history(0 if visible is None else visible + 1)
        if following.versions or following.delete_markers:
            raise ChainRestarted(
                f"the witness holds checkpoint {0 if visible is None else visible + 1} of {self.log_id} "
                f"behind a delete marker: newer checkpoints were hidden, never signed over")
        if visible is None:
            return None
        latest = self.witness.history(visible)
        if len(latest.versions) != 1 or latest.delete_markers:
            raise ChainRestarted(
                f"the witness's checkpoint {visible} of {self.log_id} has {len(latest.versions)} versions and "
                f"{latest.delete_markers} delete markers: it was replaced, never signed over")
        trusted = self.witness.load(visible)
        if trusted is None or trusted.body.get("seq") != visible or trusted.body.get("log_id") != self.log_id:
            raise ChainRestarted(f"the witness's checkpoint {visible} is not checkpoint {visible} of {self.log_id}")
        return trusted

    def _signed_state(self, previous: SignedCheckpoint) -> tuple[merkle.CompactRange, tiles.TileReader, bytes | None]:
        """The frontier of the signed log and its last leaf, from the right-edge tiles and
        checked against the signed root; the log's last signed entry must still be that leaf."""
        size, root = previous.body["tree_size"], bytes.fromhex(previous.body["root"])
        reader = tiles.TileReader(self.store, size)
        try:
            state = reader.compact_range()
            last = None
            if size:
                last, path = reader.last_leaf()
                if not merkle.verify_inclusion(size - 1, size, last, path, root):
                    raise tiles.TileMissing("the tiles do not give the signed root")
            if state.root() != root:
                raise tiles.TileMissing("the tiles do not give the signed root")
        except tiles.TileMissing:
            state, reader, last = self._rebuild(previous)
        if size:
            body = self.store.get(records.log_key(size - 1))
            if body is None or records.entry_leaf(body) != last:
                raise LogRewritten(f"log entry {size - 1}, signed in checkpoint {previous.body['seq']}, changed")
        return state, reader, last

    def _rebuild(self, previous: SignedCheckpoint) -> tuple[merkle.CompactRange, tiles.TileReader, bytes | None]:
        """No usable tiles (a lake from before them, or damaged ones): the leaves from the log,
        checked against the signed root, then every tile written. O(n), once."""
        size = previous.body["tree_size"]
        try:
            leaves = LogLeaves(self.store).upto(size)
        except LookupError as exc:
            raise LogRewritten(f"{exc}, yet checkpoint {previous.body['seq']} signed {size} entries") from None
        state = merkle.CompactRange()
        state.extend(leaves)
        if state.root().hex() != previous.body["root"]:
            raise LogRewritten(
                f"the log's first {size} entries no longer give checkpoint {previous.body['seq']}'s root")
        self.tile_clashes += tiles.extend(self.store, tiles.TileReader(self.store, 0), leaves)
        self.rebuilt = True
        return state, tiles.TileReader(self.store, size), leaves[-1] if leaves else None

    # -- what is new -------------------------------------------------------------------------

    def _bodies(self, start: int, end: int) -> Iterator[tuple[int, bytes | None]]:
        """Entries start..end-1, fetched in parallel a chunk at a time, in order."""
        with ThreadPoolExecutor(FETCH_THREADS) as pool:
            for first in range(start, end, FETCH_CHUNK):
                indices = range(first, min(end, first + FETCH_CHUNK))
                yield from zip(indices, pool.map(self.log.entry, indices), strict=True)

    def _new_entries(self, start: int, end: int, last_leaf: bytes | None) -> tuple[list[bytes], str]:
        """Leaves of entries start..end-1 up to the first that is not canonical, not at its
        index, not of this log, not chained to the one before or (with an entry key) not
        signed by the writer."""
        leaves: list[bytes] = []
        prev = last_leaf.hex() if last_leaf is not None else records.ZERO_HASH
        for index, body in self._bodies(start, end):
            where = records.log_key(index)
            if body is None:
                return leaves, f"log entry {index} is missing"
            try:
                entry = records.decode(body, where)
            except records.FormatError as exc:
                return leaves, str(exc)
            if entry.get("type") != "mlaudit.log_entry" or entry.get("index") != index or entry.get("prev") != prev:
                return leaves, f"log entry {index} is not the entry chained after {index - 1}"
            if entry.get("log_id") != self.log_id:
                return leaves, f"log entry {index} belongs to log {entry.get('log_id')}, not {self.log_id}: refused"
            if self.entry_key is not None and not entry_authentic(self.entry_key, entry):
                return leaves, f"log entry {index} is not signed with the writer's entry key: refused"
            leaves.append(records.entry_leaf(body))
            prev = leaves[-1].hex()
        return leaves, ""
