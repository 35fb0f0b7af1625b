"""The offline verifier's checks (the command line, `mlaudit-verify`: `command`).

Read-only. Needs the objects and the public keys, nothing else: it trusts no lookup aid,
cache or index the stack writes (tiles only give hashes it checks against a signed root),
only the log entries, manifests, seals, Parquet objects, signed checkpoints and the
witness. Every problem names what and where; the exit status is 1 when there is any.

Two modes (docs/integrity.md, section 10):

- **whole lake**: every log entry, file and event, streamed (memory does not grow with the
  lake: a frontier of the log tree, files a few at a time, and the sets of keys and events
  spilled to disk by hash); checkpoints through their listings plus a bounded sample read
  in full (``all_checkpoints`` reads every one);
- **since a trusted checkpoint**: the log from that checkpoint's frontier (from tiles,
  checked against its signed root) to the latest, every new checkpoint, entry and file,
  the partitions written since, and the versions of what is new: time proportional to what
  is new, not to the lake.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import struct
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mlaudit.codec import format_timestamp
from mlaudit.integrity.primitives import merkle, records, tiles
from mlaudit.integrity.primitives.records import SignedCheckpoint
from mlaudit.integrity.primitives.signing import entry_authentic, load_public_key, verify_signature
from mlaudit.integrity.primitives.store import KeyHistory, Store, histories
from mlaudit.integrity.services import seals
from mlaudit.integrity.verifier.spill import Spill, digest16, pack_records, record_size
from mlaudit.layout import COMPACTED_DAYS_PREFIX, COMPACTED_PREFIX, EVENTS_PREFIX, parse_partition

FETCH_THREADS = 16
LOG_CHUNK = 512  # log entries fetched and checked at a time
PENDING_BYTES = 64 << 20  # file bytes held at once (fetched, hashing in a worker)
MAX_REPORTED = 100  # per kind of repeated finding in one file, and anomalous witness versions read
MAX_KEPT = 1000  # problems of one kind kept in a report (the rest counted)
_INDEX_ROW = struct.Struct(">QI")
# A file's place in the log as a compaction names it: (compaction's index, the file's index, rows, root).
_SOURCE = struct.Struct(">QQQ32s")


def _is_hash(value: Any) -> bool:
    try:
        return isinstance(value, str) and len(bytes.fromhex(value)) == 32
    except ValueError:
        return False


def parse_date(text: str | None, what: str) -> str | None:
    """A YYYY-MM-DD date or None; anything else is refused (ValueError naming the option)."""
    if text is None:
        return None
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a date (YYYY-MM-DD)") from None


@dataclass(frozen=True)
class Problem:
    kind: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.where}: {self.detail}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    log_size: int = 0
    checkpoint: dict[str, Any] | None = None
    files_checked: int = 0
    events_checked: int = 0
    mode: str = "whole lake"
    since: dict[str, Any] | None = None  # the trusted checkpoint an incremental run started from
    entries_checked: int = 0
    checkpoints_checked: int = 0
    # Problems past MAX_KEPT of one kind are counted, not kept: a lake emptied of ten million
    # objects makes ten million delete markers, and the report stays a bounded size.
    suppressed: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, where: str, detail: str) -> None:
        kept = self._kept.get(kind, 0)
        if kept >= MAX_KEPT:
            self.suppressed[kind] = self.suppressed.get(kind, 0) + 1
            return
        self._kept[kind] = kept + 1
        self.problems.append(Problem(kind, where, detail))

    @property
    def _kept(self) -> dict[str, int]:
        if not hasattr(self, "_counts"):
            self._counts: dict[str, int] = {}
        return self._counts

    def kinds(self) -> set[str]:
        return {p.kind for p in self.problems}

    def text(self) -> str:
        scope = self.mode if self.since is None else (
            f"since checkpoint {self.since['seq']} (tree size {self.since['tree_size']})")
        lines = [
            f"{scope}: log entries: {self.log_size}; entries checked: {self.entries_checked}; "
            f"checkpoints checked: {self.checkpoints_checked}; files checked: {self.files_checked}; "
            f"events checked: {self.events_checked}",
            *(f"note: {n}" for n in self.notes),
            *(str(p) for p in self.problems),
            *(f"[{kind}] … and {count} more not shown" for kind, count in sorted(self.suppressed.items())),
            "OK: no problem found" if self.ok else
            f"FAILED: {len(self.problems) + sum(self.suppressed.values())} problem(s)",
        ]
        return "\n".join(lines)


# -- one file, in a worker process ---------------------------------------------------------------


@dataclass(frozen=True)
class FileDigest:
    """What one Parquet object says about itself (computed in a worker process)."""

    object_sha256: str
    record_count: int = 0
    stored_root: str = ""  # over the leaf_hash column
    computed_root: str = ""  # over leaves recomputed from the values
    first_event_id: str = ""
    last_event_id: str = ""
    mismatched_events: tuple[str, ...] = ()
    error: str = ""
    # Each row's (actor_id, event_id), hashed to 16 bytes, as spill records by bucket (with
    # the file's log index and the row): duplicates across the lake, packed in the worker.
    identities: dict[int, bytes] = field(default_factory=dict)
    seal_problems: tuple[str, ...] | None = None  # None: seals not checked
    compaction_problems: tuple[str, ...] = ()  # a compacted file: where its rows are not its sources'


_CHECKERS: dict[bytes, seals.SealChecker] = {}


def digest_file(
    data: bytes, event_type: str, object_key: str = "", seals_object: bytes | None = None,
    seal_key_pem: bytes | None = None, certificates: dict[str, bytes] | None = None, log_index: int = 0,
    sources: list[tuple[str, int, str]] | None = None,
) -> FileDigest:
    """``sources``: for a compacted file, (key, row count, Merkle root) of each file it
    replaces, in row order: its leaves must be exactly theirs."""
    sha = hashlib.sha256(data).hexdigest()
    try:
        from mlaudit.leaf import table_leaf_hashes
        from mlaudit.parquet import read_for_hashing

        table = read_for_hashing(data)
        ids = table.column("event_id").to_pylist()
        stored = table.column("leaf_hash").to_pylist()
        computed = table_leaf_hashes(table, event_type)
        actors = table.column("actor_id").to_pylist()
    except Exception as exc:  # noqa: BLE001 - a damaged object is a finding, not a crash
        return FileDigest(sha, error=f"unreadable as an mlaudit Parquet file: {type(exc).__name__}: {exc}")
    sealed: tuple[str, ...] | None = None
    if seal_key_pem is not None:
        if seals_object is None:
            sealed = (f"rows 0..{len(ids) - 1} have no seal (no seals object)",)
        else:
            checker = _CHECKERS.get(seal_key_pem)
            if checker is None:
                checker = _CHECKERS[seal_key_pem] = seals.SealChecker(load_public_key(seal_key_pem))
            sealed = tuple(seals.check_file_seals(seals_object, object_key, computed, checker,
                                                  (certificates or {}).get))
    if sources is not None:
        return FileDigest(sha, len(ids), merkle.root([bytes.fromhex(t) if isinstance(t, str) and len(t) == 64
                                                      else b"\0" * 32 for t in stored]).hex(),
                          merkle.root(computed).hex(), _first(ids), _last(ids),
                          tuple(str(e) for e, t, c in zip(ids, stored, computed, strict=True) if t != c.hex()),
                          seal_problems=sealed, compaction_problems=tuple(compaction_problems(computed, sources)))
    who = {"identities": pack_records([_identity(a, e) for a, e in zip(actors, ids, strict=True)], b"E",
                                      [_INDEX_ROW.pack(log_index, row) for row in range(len(ids))]),
           "seal_problems": sealed}
    # Fast path: the leaf_hash column equals the recomputed leaves (one comparison).
    if _same_leaves(stored, computed):
        root = merkle.root(computed).hex()
        return FileDigest(sha, len(ids), root, root, _first(ids), _last(ids), **who)
    stored_bytes = []
    mismatched = []
    for event_id, text, leaf in zip(ids, stored, computed, strict=True):
        try:
            value = bytes.fromhex(text or "")
        except ValueError:
            value = b""
        stored_bytes.append(value if len(value) == 32 else b"\0" * 32)
        if value != leaf:
            mismatched.append(str(event_id))
    return FileDigest(sha, len(ids), merkle.root(stored_bytes).hex(), merkle.root(computed).hex(),
                      _first(ids), _last(ids), tuple(mismatched), **who)


def compaction_problems(leaves: list[bytes], sources: list[tuple[str, int, str]]) -> list[str]:
    """Where a compacted file's leaves (recomputed from its rows) are not exactly its
    sources' leaves in order: a row lost, added or stored twice."""
    problems = []
    seen: set[bytes] = set()
    twice = [i for i, leaf in enumerate(leaves) if leaf in seen or seen.add(leaf)]  # type: ignore[func-returns-value]
    if twice:
        problems.append(f"{len(twice)} row(s) stored twice (first at row {twice[0]})")
    total = sum(count for _, count, _ in sources)
    if total != len(leaves):
        problems.append(f"{len(leaves)} rows, the files it replaces hold {total}: "
                        f"{abs(total - len(leaves))} row(s) {'lost' if total > len(leaves) else 'added'}")
    start = 0
    for key, count, root in sources:
        if merkle.root(leaves[start:start + count]).hex() != root:
            problems.append(f"rows {start}..{start + count - 1} are not the events of {key} (its logged root differs)")
            break  # every later segment is shifted too: one finding says where it starts
        start += count
    return problems


def _identity(actor_id: Any, event_id: Any) -> bytes:
    return hashlib.sha256(f"{actor_id}\n{event_id}".encode("utf-8", "surrogatepass")).digest()[:16]


def _same_leaves(stored: list[Any], computed: list[bytes]) -> bool:
    if len(stored) != len(computed) or not all(isinstance(text, str) and len(text) == 64 for text in stored):
        return False
    try:
        return bytes.fromhex("".join(stored)) == b"".join(computed)
    except ValueError:
        return False


def _first(ids: list[Any]) -> str:
    return str(ids[0]) if ids else ""


def _last(ids: list[Any]) -> str:
    return str(ids[-1]) if ids else ""


class _Serial(Executor):
    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def _event_type(key: str) -> str:
    try:
        return parse_partition(key)[1]
    except (KeyError, ValueError):
        return ""


def _event_date(key: str) -> str | None:
    try:
        return parse_partition(key)[0]
    except (KeyError, ValueError):
        return None


# -- checkpoints -------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Target:
    """A checkpoint whose root the log must give at its size."""

    size: int
    root: str = field(compare=False)
    where: str = field(compare=False)
    mismatch: str = field(compare=False)  # the finding when the root differs
    short: str = field(compare=False)  # the finding when the log is shorter


@dataclass
class WitnessView:
    """What the witness's version history showed (bounded: no list of every checkpoint)."""

    keys: int = 0
    latest_visible: int | None = None
    highest: int | None = None
    targets: list[Target] = field(default_factory=list)  # hidden or replaced checkpoints read in full


class Verifier:
    def __init__(
        self,
        store: Store,
        public_key: Any,
        *,
        from_date: str | None = None,
        to_date: str | None = None,
        trusted_checkpoint: SignedCheckpoint | None = None,
        max_checkpoint_age: timedelta | None = None,
        now: datetime | None = None,
        jobs: int | None = None,
        log_id: str | None = None,
        entry_key: Any = None,
        witness: Any = None,
        history: Any = None,
        seal_key_pem: bytes | None = None,
        since: SignedCheckpoint | None = None,
        all_checkpoints: bool = False,
    ) -> None:
        """``log_id``: this bucket's (`records.log_id`); a checkpoint of another log is a finding.
        ``entry_key``: the writer's public key; every log entry must carry its signature.
        ``witness``: a `witness.Witness` over the witness bucket (versions listed when its
        store can). ``history``: the bucket's object versions (a `store.Versioned`).
        ``seal_key_pem``: ingest's seal key; every stored event must be sealed with it.
        ``since``: a checkpoint the caller trusts: verify only what came after it.
        ``all_checkpoints``: in a whole-lake run, read every checkpoint, not a sample."""
        self.store = store
        self.history = history
        self.log_id = log_id
        self.entry_key = entry_key
        self.witness = witness
        self.seal_key_pem = seal_key_pem
        self.max_age = max_checkpoint_age
        self.now = now or datetime.now(UTC)
        self.public_key = public_key
        self.from_date = parse_date(from_date, "--from")
        self.to_date = parse_date(to_date, "--to")
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise ValueError(f"--from {self.from_date} is after --to {self.to_date}")
        self.trusted = trusted_checkpoint
        self.since = since
        self.all_checkpoints = all_checkpoints
        self.jobs = jobs
        self._manifests: dict[str, dict[str, Any]] = {}
        self._certificates: dict[str, bytes] = {}
        self._new_dates: set[str] = set()  # event_date partitions of the entries checked
        self._tile_tree: int | None = None  # the tree whose tiles gave the trusted frontier
        self._aborted = False  # the trusted checkpoint failed: the run stopped there

    # -- the two modes ---------------------------------------------------------------------------

    def run(self) -> Report:
        report = Report()
        with tempfile.TemporaryDirectory(prefix="mlaudit-verify-") as workdir:
            self._keys, self._events = Spill(workdir, "keys"), Spill(workdir, "events")
            if self.since is not None:
                self._incremental(report)
            else:
                self._whole(report)
            self._keys_pass(report)
            self._events_pass(report)
        self._notes(report)
        return report

    def _whole(self, report: Report) -> None:
        view = self._witness_history(report, None)
        latest = self._bucket_checkpoints(report, None)
        if self.witness is not None and not view.keys and hasattr(self.witness.store, "versions") and (
                latest is not None or self.store.exists(records.log_key(0))):
            report.add("witness_missing", self.log_id or "witness",
                       "the witness holds no checkpoint of this log, yet the bucket holds a log "
                       "(a copy of another bucket, or checkpoints never published)")
        highest = max((s for s in (latest, view.latest_visible) if s is not None), default=None)
        if highest is None:
            seqs: Iterable[int] = []
        elif self.all_checkpoints:
            seqs = range(highest + 1)
        else:
            seqs = self._sample(highest)
        targets = heapq.merge(self._checkpoints(report, seqs, None), sorted(view.targets))
        # Objects first, the log after: a file stored while this runs is logged by the time
        # the log's listing reaches its end (the writer logs each file as soon as it is stored).
        self._foreign_files(self.store.list(EVENTS_PREFIX))
        self._foreign_files(k for k in self.store.list(COMPACTED_PREFIX) if not k.startswith(COMPACTED_DAYS_PREFIX))
        self._stream_log(report, 0, merkle.CompactRange(), None, targets)
        self._versions(report, [(EVENTS_PREFIX, ""), (records.INTEGRITY_PREFIX, ""), (COMPACTED_PREFIX, "")])

    def _incremental(self, report: Report) -> None:
        trusted = self.since
        assert trusted is not None
        seq, size = trusted.body.get("seq"), trusted.body.get("tree_size")
        report.mode, report.since = "since", trusted.body
        where = f"checkpoint {seq} (trusted)"
        self._aborted = True  # until the trusted checkpoint is known good: nothing else is read
        if not verify_signature(self.public_key, trusted.message, trusted.signature):
            report.add("checkpoint_bad_signature", where, "the trusted checkpoint's signature does not verify")
            return
        if self.log_id is not None and trusted.body.get("log_id") != self.log_id:
            report.add("checkpoint_other_log", where, f"signed for log {trusted.body.get('log_id')}, not {self.log_id}")
            return
        if not isinstance(seq, int) or not isinstance(size, int):
            report.add("checkpoint_invalid", where, "no sequence number or tree size")
            return
        self._aborted = False
        held = self.store.get(records.checkpoint_key(seq))
        if held is None or _body(held) != trusted.body:
            report.add("checkpoint_rollback", where, "the lake no longer holds this signed checkpoint")
        if self.witness is not None:
            witnessed = self.witness.store.get(self.witness.key(seq))
            if witnessed is None or _body(witnessed) != trusted.body:
                report.add("witness_checkpoint_missing", where, "the witness does not hold this checkpoint")
        view = self._witness_history(report, seq - 1)
        latest = self._bucket_checkpoints(report, seq)
        highest = max(s for s in (latest, view.latest_visible, seq) if s is not None)
        targets = heapq.merge(self._checkpoints(report, range(seq + 1, highest + 1), trusted), sorted(view.targets))
        # The log tree at the trusted size: its frontier from the tiles, checked against the trusted root.
        frontier, last_leaf = self._frontier(report, size, trusted.body["root"], highest)
        if frontier is None:
            self._aborted = True
            return
        scanned = self._since_dates(trusted.body["time"])
        self._foreign_files(k for d in sorted(scanned) for k in self._day_files(d))
        self._stream_log(report, size, frontier, last_leaf, targets)
        older = sorted(self._new_dates - scanned)  # new entries' partitions before the trusted day
        self._foreign_files(k for d in older for k in self._day_files(d))
        dates = sorted(scanned | self._new_dates)
        self._versions(report, [
            (records.CHECKPOINTS, records.checkpoint_key(seq)),
            (records.LOG, records.log_key(size - 1) if size else ""),
            *((f"{p}event_date={d}/", "") for d in dates
              for p in (EVENTS_PREFIX, COMPACTED_PREFIX, records.COMPACTIONS,
                        *(f"{area}{root}" for area in (records.MANIFESTS, records.SEALS)
                          for root in (EVENTS_PREFIX, COMPACTED_PREFIX)))),
        ])

    def _day_files(self, day: str) -> Iterator[str]:
        for root in (EVENTS_PREFIX, COMPACTED_PREFIX):
            yield from self.store.list(f"{root}event_date={day}/")

    def _since_dates(self, signed_at: str) -> set[str]:
        """The event_date partitions written to since a checkpoint: its day to today."""
        first = date.fromisoformat(signed_at[:10])
        last = max(first, self.now.date())
        return {(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)}

    def _frontier(
        self, report: Report, size: int, root: str, highest: int,
    ) -> tuple[merkle.CompactRange | None, bytes | None]:
        """The compact range of the trusted tree and its last leaf: from the tiles (of the
        latest checkpoint's tree, or the trusted one's), checked against the trusted root;
        without usable tiles, from the log's first ``size`` entries (a note: O(n))."""
        if size == 0:
            return merkle.CompactRange(), None
        latest = self.store.get(records.checkpoint_key(highest))
        if latest is None and self.witness is not None:
            latest = self.witness.store.get(self.witness.key(highest))
        latest_size = (_body(latest) or {}).get("tree_size") if latest is not None else None
        for tree in sorted({size, latest_size if isinstance(latest_size, int) and latest_size >= size else size}):
            reader = tiles.TileReader(self.store, tree)
            try:
                frontier = merkle.CompactRange(size, [reader.node(h, i) for h, i in merkle.decomposition(size)])
                last = reader.node(0, size - 1)
                path = merkle.inclusion_path(size - 1, size, reader.node)
            except (tiles.TileMissing, ValueError):
                continue
            if frontier.root().hex() == root and merkle.verify_inclusion(size - 1, size, last, path,
                                                                         bytes.fromhex(root)):
                self._tile_tree = tree
                return frontier, last
        report.notes.append(f"the tiles do not give the trusted tree of {size} entries: read from the log instead")
        frontier, leaf = merkle.CompactRange(), None
        for index, body in self._entries(0, size, report):
            leaf = records.entry_leaf(body or b"")
            frontier.append(leaf)
            try:  # the files these entries name are logged (if the tree proves them)
                key = str(records.decode(body or b"", "entry")["object_key"])
                self._keys.add(digest16(key), b"L", struct.pack(">Q", index))
            except (KeyError, records.FormatError):
                pass
        if frontier.size != size or frontier.root().hex() != root:
            report.add("checkpoint_root_mismatch", f"checkpoint {self.since.body.get('seq') if self.since else ''} "
                       "(trusted)", f"the log's first {size} entries no longer give the trusted root: the signed "
                       "history was rewritten")
            return None, None
        return frontier, leaf

    @staticmethod
    def _sample(latest: int) -> list[int]:
        """Checkpoint 0, the latest, and those 1, 3, 7, 15 ... before it: O(log s) reads
        that include the newest few, where a rollback or a restart shows first."""
        found, step = {0, latest}, 1
        while latest - step >= 0:
            found.add(latest - step)
            step = step * 2 + 1
        return sorted(found)

    # -- 1. the witness's history -----------------------------------------------------------------

    def _witness_history(self, report: Report, after_seq: int | None) -> WitnessView:
        view = WitnessView()
        if self.witness is None:
            report.notes.append("no witness given: checkpoints are not checked against it")
            return view
        if not hasattr(self.witness.store, "versions"):
            report.notes.append("the witness's versions were not listed (its store cannot): hidden checkpoints "
                                "and second versions are not seen")
            return view
        read = 0
        prefix = self.witness.prefix
        for history in self.witness.histories(after_seq):
            view.keys += 1
            seq = records.checkpoint_seq(records.CHECKPOINTS + history.key[len(prefix):])
            if seq is None:
                report.add("witness_foreign_object", history.key, "not a checkpoint of this log")
                continue
            view.highest = seq
            if not history.hidden and history.versions:
                view.latest_visible = seq
            if history.delete_markers:
                report.add("witness_delete_marker", history.key,
                           f"{history.delete_markers} delete marker(s) on a witnessed checkpoint: hidden from "
                           "whoever lists current objects (a rollback or an emptied lake hides its trace so)")
            if len(history.versions) > 1:
                report.add("witness_checkpoint_replaced", history.key,
                           f"{len(history.versions)} versions of one witnessed checkpoint: it was written again")
            if history.delete_markers or len(history.versions) > 1:
                for version_id in history.versions:
                    if read >= MAX_REPORTED:
                        break
                    read += 1
                    view.targets += self._witness_version(report, seq, history, version_id)
        return view

    def _witness_version(self, report: Report, seq: int, history: KeyHistory, version_id: str) -> list[Target]:
        """A hidden or replaced witness version, read in full: what it signed still counts."""
        where = f"witness checkpoint {seq} (version {version_id})"
        data = self.witness.store.get_version(history.key, version_id)
        if data is None:
            return []
        try:
            signed = SignedCheckpoint.decode(data, where)
        except records.FormatError as exc:
            report.add("checkpoint_invalid", where, str(exc))
            return []
        if not verify_signature(self.public_key, signed.message, signed.signature):
            report.add("witness_bad_signature", where, "the signature does not verify with the public key")
            return []
        if signed.body.get("seq") != seq:
            report.add("checkpoint_replayed", where, f"the signed body is checkpoint {signed.body.get('seq')}")
        held = self.store.get(records.checkpoint_key(seq))
        if held is None:
            report.add("witness_checkpoint_missing", where, "the bucket no longer holds this checkpoint")
        elif _body(held) != signed.body and signed.body.get("seq") == seq:
            report.add("witness_checkpoint_replaced", where, "the bucket holds another checkpoint under this number")
        return [Target(signed.body["tree_size"], signed.body["root"], where, "witness_root_mismatch", "log_shrunk")]

    # -- 2. checkpoints ------------------------------------------------------------------------------

    def _bucket_checkpoints(self, report: Report, after_seq: int | None) -> int | None:
        """The bucket's checkpoint keys (streamed): numbered without a gap, nothing else there."""
        start_after = records.checkpoint_key(after_seq) if after_seq is not None else ""
        expected = 0 if after_seq is None else after_seq + 1
        latest = after_seq
        for key in self.store.list(records.CHECKPOINTS, start_after):
            seq = records.checkpoint_seq(key)
            if seq is None:
                report.add("checkpoint_foreign_object", key, "not a checkpoint")
                continue
            if seq != expected:
                report.add("checkpoint_gap", f"checkpoint {expected}", f"checkpoints {expected}..{seq - 1} are missing")
            expected, latest = seq + 1, seq
        return latest

    def _checkpoints(self, report: Report, seqs: Iterable[int], before: SignedCheckpoint | None) -> Iterator[Target]:
        """Read each of ``seqs`` (ascending) from the bucket and the witness and check it;
        yields the roots the log must give. ``before``: the checkpoint just before the first."""
        previous = before
        latest: SignedCheckpoint | None = None
        with ThreadPoolExecutor(FETCH_THREADS) as pool:
            for chunk in _chunks(iter(seqs), 256):
                bucket = pool.map(lambda s: self.store.get(records.checkpoint_key(s)), chunk)
                witness = pool.map(lambda s: self.witness.store.get(self.witness.key(s)) if self.witness else None,
                                   chunk) if self.witness is not None else iter([None] * len(chunk))
                for seq, held, witnessed in zip(chunk, list(bucket), list(witness), strict=True):
                    report.checkpoints_checked += 1
                    checked = self._checkpoint(report, seq, held, previous)
                    if checked is not None:
                        yield Target(checked.body["tree_size"], checked.body["root"],
                                     f"checkpoint {seq} ({records.checkpoint_key(seq)})",
                                     "checkpoint_root_mismatch", "log_truncated")
                        latest = checked
                    previous = checked
                    yield from self._witnessed(report, seq, held, witnessed, checked)
        if latest is not None and (report.checkpoint is None or latest.body["seq"] >= report.checkpoint["seq"]):
            report.checkpoint = latest.body

    def _checkpoint(
        self, report: Report, seq: int, data: bytes | None, previous: SignedCheckpoint | None,
    ) -> SignedCheckpoint | None:
        where = f"checkpoint {seq} ({records.checkpoint_key(seq)})"
        if data is None:
            return None  # a gap, a delete marker or a checkpoint only the witness has: reported elsewhere
        try:
            signed = SignedCheckpoint.decode(data, where)
            body = signed.body
            if body.get("type") != "mlaudit.checkpoint" or body.get("v") != records.FORMAT_VERSION:
                raise records.FormatError("not a v1 checkpoint")
        except records.FormatError as exc:
            report.add("checkpoint_invalid", where, str(exc))
            return None
        if self.log_id is not None and body.get("log_id") != self.log_id:
            report.add("checkpoint_other_log", where,
                       f"signed for log {body.get('log_id')}, not {self.log_id} (a copy of another bucket?)")
        if not verify_signature(self.public_key, signed.message, signed.signature):
            report.add("checkpoint_bad_signature", where, "the signature does not verify with the public key")
            return None
        if body["seq"] != seq:
            report.add("checkpoint_replayed", where, f"the signed body is checkpoint {body['seq']}")
        if previous is not None and previous.body.get("seq") == seq - 1:
            prior = previous.body
            if body["prev"] != previous.sha256:
                report.add("checkpoint_chain_broken", where, "prev is not the hash of the checkpoint before it")
            if body["tree_size"] < prior["tree_size"]:
                report.add("checkpoint_rollback", where,
                           f"tree size went back from {prior['tree_size']} to {body['tree_size']}")
            if body["time"] < prior["time"]:
                report.add("checkpoint_rollback", where, f"time went back from {prior['time']} to {body['time']}")
            if body["log_id"] != prior["log_id"]:
                report.add("checkpoint_other_log", where, f"log id {body['log_id']} after {prior['log_id']}")
        elif seq == 0 and body["prev"] != records.ZERO_HASH:
            report.add("checkpoint_chain_broken", where, "the first checkpoint must have prev = 0…0")
        return signed

    def _witnessed(
        self, report: Report, seq: int, held: bytes | None, data: bytes | None, checked: SignedCheckpoint | None,
    ) -> Iterator[Target]:
        """The witness's copy of checkpoint ``seq``: valid, and the bucket's, byte for byte."""
        if self.witness is None:
            return
        where = f"witness checkpoint {seq}"
        if data is None:
            if held is not None:
                report.add("checkpoint_unwitnessed", f"checkpoint {seq}",
                           "the witness does not hold this checkpoint (the signer publishes there first)")
            return
        try:
            signed = SignedCheckpoint.decode(data, where)
        except records.FormatError as exc:
            report.add("checkpoint_invalid", where, str(exc))
            return
        if not verify_signature(self.public_key, signed.message, signed.signature):
            report.add("witness_bad_signature", where, "the signature does not verify with the public key")
            return
        body = signed.body
        if self.log_id is not None and body.get("log_id") != self.log_id:
            report.add("checkpoint_other_log", where, f"signed for log {body.get('log_id')}, not {self.log_id}")
            return
        if body.get("seq") != seq:
            report.add("checkpoint_replayed", where, f"the signed body is checkpoint {body.get('seq')}")
        if held is None:
            report.add("witness_checkpoint_missing", where, "the bucket no longer holds this checkpoint")
        elif data != held:
            report.add("witness_checkpoint_replaced", where,
                       "the bucket holds another checkpoint under this number (the chain restarted)")
        if checked is None or checked.body != body:
            yield Target(body["tree_size"], body["root"], where, "witness_root_mismatch", "log_shrunk")

    # -- 3. the log --------------------------------------------------------------------------------

    def _entries(self, start: int, end: int | None, report: Report) -> Iterator[tuple[int, bytes | None]]:
        """Log entries from ``start`` in index order, as the listing names them (``end``: stop
        before it); keys that are no entry are findings. Listed and fetched a chunk at a time."""
        start_after = records.log_key(start - 1) if start else ""

        def indices() -> Iterator[int]:
            for key in self.store.list(records.LOG, start_after):
                index = records.log_index(key)
                if index is None:
                    report.add("log_foreign_object", key, "an object in the log area that is no log entry")
                elif end is not None and index >= end:
                    return
                else:
                    yield index

        with ThreadPoolExecutor(FETCH_THREADS) as pool:
            for chunk in _chunks(indices(), LOG_CHUNK):
                yield from zip(chunk, pool.map(lambda i: self.store.get(records.log_key(i)), chunk), strict=True)

    def _stream_log(
        self, report: Report, start: int, frontier: merkle.CompactRange, last_leaf: bytes | None,
        targets: Iterator[Target],
    ) -> None:
        """Entries from ``start``: each checked and appended to the tree; each checkpoint's root
        compared when the tree reaches its size; each file in range checked."""
        pending = _Peek(targets)
        broken = False  # a gap: no root can be compared past it
        expected = start
        previous_leaf = last_leaf
        files = _Files(self, report)
        self._match_targets(report, pending, frontier)
        for index, body in self._entries(start, None, report):
            if index != expected and not broken:
                report.add("log_gap", f"log index {expected}",
                           f"entries {expected}..{index - 1} are missing (deleted or never written)")
                broken = True
            expected = index + 1
            report.entries_checked += 1
            where = f"log index {index} ({records.log_key(index)})"
            data = body or b""
            leaf = records.entry_leaf(data)
            entry = self._entry(report, index, where, data, previous_leaf)
            previous_leaf = leaf
            if not broken:
                frontier.append(leaf)
                self._match_targets(report, pending, frontier)
            if entry is None:
                continue
            key = entry["object_key"]
            self._keys.add(digest16(str(key)), b"L", struct.pack(">Q", index))
            if isinstance(entry.get("record_count"), int) and _is_hash(entry.get("merkle_root")):
                self._keys.add(digest16(str(key)), b"R", _SOURCE.pack(index, index, entry["record_count"],
                                                                      bytes.fromhex(entry["merkle_root"])))
            date_ = _event_date(str(key))
            if date_ is not None:
                self._new_dates.add(date_)
            if self._in_range(str(key)):
                files.check(str(key), index, entry)
        files.finish()
        report.log_size = expected
        for target in pending.rest():
            report.add(target.short, target.where,
                       f"the checkpoint signs {target.size} log entries; the log has {expected}")

    def _match_targets(self, report: Report, pending: _Peek, frontier: merkle.CompactRange) -> None:
        while pending.head is not None and pending.head.size <= frontier.size:
            target = pending.pop()
            if target.size < frontier.size:
                continue  # out of order (already a checkpoint_rollback): the tree went past it
            if frontier.root().hex() != target.root:
                report.add(target.mismatch, target.where,
                           f"the log's first {target.size} entries do not hash to the signed root")

    def _entry(
        self, report: Report, index: int, where: str, data: bytes, previous_leaf: bytes | None,
    ) -> dict[str, Any] | None:
        try:
            entry = records.decode(data, where)
            if entry.get("type") != "mlaudit.log_entry" or entry.get("v") != records.FORMAT_VERSION:
                raise records.FormatError("not a v1 log entry")
            if not isinstance(entry.get("object_key"), str):
                raise records.FormatError("no object key")
        except records.FormatError as exc:
            report.add("log_entry_invalid", where, str(exc))
            return None
        if entry.get("index") != index:
            report.add("log_reordered", where, f"the entry says it is index {entry.get('index')}")
        if self.log_id is not None and entry.get("log_id") != self.log_id:
            report.add("log_entry_other_log", where,
                       f"the entry names log {entry.get('log_id')}, not {self.log_id} (copied from another log?)")
        if self.entry_key is not None and not entry_authentic(self.entry_key, entry):
            report.add("log_entry_unauthenticated", where,
                       "not signed with the writer's entry key (written by someone else, or altered)")
        want_prev = records.ZERO_HASH if index == 0 else (previous_leaf.hex() if previous_leaf else None)
        if want_prev is not None and entry.get("prev") != want_prev:
            report.add("log_chain_broken", where, "prev is not the hash of the entry before it (reordered, replaced "
                       "or forked)")
        return entry

    # -- 4. files ------------------------------------------------------------------------------------

    def _in_range(self, key: str) -> bool:
        event_date = _event_date(key)
        if event_date is None:
            return True
        return (not self.from_date or event_date >= self.from_date) and (not self.to_date or event_date <= self.to_date)

    def _executor(self) -> Executor:
        jobs = self.jobs if self.jobs is not None else (os.cpu_count() or 1)
        return ProcessPoolExecutor(jobs) if jobs > 1 else _Serial()

    def _certificates_for(self, seals_object: bytes) -> dict[str, bytes]:
        found = {}
        for name in seals.seal_names(seals_object):
            if name not in self._certificates:
                data = self.store.get(seals.seal_key_object_key(name))
                if data is None:
                    continue
                if len(self._certificates) >= 4096:
                    self._certificates.clear()
                self._certificates[name] = data
            found[name] = self._certificates[name]
        return found

    def _foreign_files(self, listed: Iterable[str]) -> None:
        for key in listed:
            if self._in_range(key):
                self._keys.add(digest16(key), b"S", key.encode("utf-8", "surrogatepass"))

    def _keys_pass(self, report: Report) -> None:
        """Each logged key once; each listed object logged (or, since a checkpoint, logged before it)."""
        doubles = _Smallest(MAX_REPORTED)
        for group in self._keys.groups():
            for items in group.values():
                self._replaced(report, items)
                logged = [struct.unpack(">Q", payload)[0] for tag, payload in items if tag == b"L"]
                for later in logged[1:]:
                    doubles.add((later, logged[0]))
                if not logged:
                    for tag, payload in items:
                        if tag == b"S":
                            key = payload.decode("utf-8", "surrogatepass")
                            if not self._logged_before(key):
                                report.add("foreign_file", key, "object under events/ or compacted/ that is not in "
                                           "the log")
        for later, first in doubles.sorted():
            entry = records.decode(self.store.get(records.log_key(later)) or b"{}", "entry")
            report.add("log_duplicate_file", f"log index {later} ({records.log_key(later)})",
                       f"{entry.get('object_key')} is already at log index {first}")
        if doubles.count > MAX_REPORTED:
            report.add("log_duplicate_file", records.LOG, f"{doubles.count - MAX_REPORTED} more entries name a "
                       "file already logged")

    def _replaced(self, report: Report, items: list[tuple[bytes, bytes]]) -> None:
        """A file a compaction replaces: logged (as the compaction says: rows and root), and
        replaced by one compaction only."""
        named = [(_SOURCE.unpack(p[:_SOURCE.size]), p[_SOURCE.size:].decode("utf-8", "surrogatepass"))
                 for tag, p in items if tag == b"C"]
        if not named:
            return
        own = [_SOURCE.unpack(p) for tag, p in items if tag == b"R"]
        (first, source_index, count, root), key = named[0]
        for (later, *_), _ in named[1:]:
            report.add("compaction_source_twice", key, f"replaced by the compacted files at log index {first} "
                       f"and {later}: its events would be read twice")
        if not own:
            own = self._entry_before(key, source_index)
        if not own:
            report.add("compaction_source_unlogged", key,
                       f"the compaction at log index {first} replaces a file that is not in the log at index "
                       f"{source_index}")
        elif (own[0][1], own[0][2], own[0][3]) != (source_index, count, root):
            report.add("compaction_source_mismatch", key,
                       f"the compaction at log index {first} says log index {source_index}, {count} rows and root "
                       f"{root.hex()[:16]}…; the log says index {own[0][1]}, {own[0][2]} rows, "
                       f"root {own[0][3].hex()[:16]}…")

    def _entry_before(self, key: str, index: int) -> list[tuple[int, int, int, bytes]]:
        """Since a checkpoint: a replaced file's entry under the trusted tree (not streamed)."""
        if self.since is None or not 0 <= index < self.since.body.get("tree_size", 0):
            return []
        try:
            entry = records.decode(self.store.get(records.log_key(index)) or b"", "entry")
            if entry.get("object_key") != key or not _is_hash(entry.get("merkle_root")):
                return []
            return [(index, index, int(entry["record_count"]), bytes.fromhex(entry["merkle_root"]))]
        except (KeyError, TypeError, ValueError, records.FormatError):
            return []

    def _logged_before(self, key: str) -> bool:
        """Since a checkpoint: is this file logged in the trusted tree (its log-by-file
        pointer names an entry for it, and that entry is in the trusted tree)?"""
        if self.since is None or self._tile_tree is None:
            return False
        size, root = self.since.body["tree_size"], bytes.fromhex(self.since.body["root"])
        try:
            index = int(records.decode(self.store.get(records.log_by_file_key(key)) or b"", "log-by-file")["index"])
            body = self.store.get(records.log_key(index)) if 0 <= index < size else None
            if body is None or records.decode(body, "entry").get("object_key") != key:
                return False
            path = merkle.inclusion_path(index, size, tiles.TileReader(self.store, self._tile_tree).node)
        except (KeyError, TypeError, ValueError, records.FormatError, tiles.TileMissing):
            return False
        return merkle.verify_inclusion(index, size, records.entry_leaf(body), path, root)

    def _events_pass(self, report: Report) -> None:
        """Exactly once: a (sender, event_id) stored twice, in one file or two, is a finding."""
        doubles = _Smallest(MAX_REPORTED)
        for group in self._events.groups(record_size(_INDEX_ROW.size)):
            for items in group.values():
                if len(items) > 1:
                    places = [_INDEX_ROW.unpack(payload) for _, payload in items]
                    for later in places[1:]:
                        doubles.add((later, places[0]))
        names = _FileNames(self.store)
        for (index, row), (first, _) in doubles.sorted():
            report.add("duplicate_event", f"{names.key(index)} event {names.event_id(index, row)}",
                       f"the same sender and event_id are stored in {names.key(first)}")
        if doubles.count > MAX_REPORTED:
            report.add("duplicate_event", "events/", f"{doubles.count - MAX_REPORTED} more duplicated events")

    # -- 5. versions ---------------------------------------------------------------------------------

    def _versions(self, report: Report, listings: list[tuple[str, str]]) -> None:
        """Write-once objects have exactly one version and no delete marker. ``listings``:
        (prefix, key after which to start: one that exists)."""
        if self.history is None:
            report.notes.append("object versions not checked (no version history given)")
            return
        for prefix, start in listings:
            for history in histories(self.history.versions(prefix, start)):
                if history.delete_markers:
                    report.add("delete_marker", history.key,
                               f"{history.delete_markers} delete marker(s): someone deleted a write-once object")
                if len(history.versions) > 1:
                    report.add("object_rewritten", history.key,
                               f"{len(history.versions)} versions: a write-once object was written again")

    # -- the verdict ---------------------------------------------------------------------------------

    def _notes(self, report: Report) -> None:
        latest = report.checkpoint
        if latest is None:
            if report.log_size and self.since is None:
                report.add("log_unsigned", records.CHECKPOINTS, "no valid signed checkpoint covers the log")
            if self.max_age is not None:
                report.add("checkpoint_stale", records.CHECKPOINTS,
                           "no checkpoint at all: the signer never ran, or every checkpoint was removed")
        else:
            if self.max_age is not None and latest["time"] < format_timestamp(self.now - self.max_age):
                report.add("checkpoint_stale", f"checkpoint {latest['seq']}",
                           f"the latest checkpoint ({latest['time']}) is older than {self.max_age}: "
                           "the signer stopped, or newer checkpoints were removed")
            waiting = report.log_size - latest["tree_size"]
            if waiting > 0:
                report.notes.append(f"{waiting} log entries after the latest checkpoint are not signed yet")
        if self.trusted is not None:
            self._check_trusted(report)
        if self.entry_key is None:
            report.notes.append("log entries' writer signatures not checked (no entry public key given)")
        if self.seal_key_pem is None:
            report.notes.append("ingest seals not checked (no seal public key given): events the writer "
                                "invented would pass")
        if self.since is None and not self.all_checkpoints:
            report.notes.append(f"{report.checkpoints_checked} checkpoints read in full (a sample; each is also "
                                "listed with its versions); --all-checkpoints reads every one")
        if not report.files_checked and not self._aborted and not (self.since is not None
                                                                   and report.checkpoints_checked):
            scope = (f"event_date {self.from_date or '…'}..{self.to_date or '…'}" if self.from_date or self.to_date
                     else "the lake")
            report.add("nothing_verified", scope,
                       "no file or event to check: an empty range is not evidence of anything "
                       "(wrong dates, or an empty or emptied lake)")

    def _check_trusted(self, report: Report) -> None:
        trusted = self.trusted
        assert trusted is not None
        seq = trusted.body.get("seq")
        where = f"checkpoint {seq} (trusted copy)"
        if not verify_signature(self.public_key, trusted.message, trusted.signature):
            report.add("checkpoint_bad_signature", where, "the trusted checkpoint's signature does not verify")
            return
        held = self.store.get(records.checkpoint_key(seq)) if isinstance(seq, int) else None
        if held is None or _body(held) != trusted.body:
            report.add("checkpoint_rollback", where, "the lake no longer holds this signed checkpoint")


def _body(data: bytes) -> dict[str, Any] | None:
    try:
        return SignedCheckpoint.decode(data).body
    except records.FormatError:
        return None


def _chunks(items: Iterator[int], size: int) -> Iterator[list[int]]:
    chunk: list[int] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Smallest:
    """The ``limit`` smallest items added (a bounded heap), and how many were added."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self._heap: list[Any] = []  # negated order: the largest kept item on top

    def add(self, item: Any) -> None:
        self.count += 1
        entry = _Reverse(item)
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, entry)
        elif item < self._heap[0].item:
            heapq.heapreplace(self._heap, entry)

    def sorted(self) -> list[Any]:
        return sorted(e.item for e in self._heap)


@dataclass(frozen=True)
class _Reverse:
    item: Any

    def __lt__(self, other: _Reverse) -> bool:
        return self.item > other.item


class _Peek:
    """An iterator with its next item visible."""

    def __init__(self, items: Iterator[Target]) -> None:
        self._items = items
        self.head: Target | None = next(items, None)

    def pop(self) -> Target:
        assert self.head is not None
        item, self.head = self.head, next(self._items, None)
        return item

    def rest(self) -> Iterator[Target]:
        while self.head is not None:
            yield self.pop()


class _FileNames:
    """Log index -> file key and row -> event id, for the few findings that name them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._keys: dict[int, str] = {}
        self._ids: dict[int, list[Any]] = {}

    def key(self, index: int) -> str:
        if index not in self._keys:
            body = self.store.get(records.log_key(index)) or b"{}"
            self._keys[index] = str(records.decode(body, "entry").get("object_key"))
        return self._keys[index]

    def event_id(self, index: int, row: int) -> str:
        if index not in self._ids:
            from mlaudit.parquet import read_parquet_bytes  # noqa: PLC0415

            data = self.store.get(self.key(index))
            self._ids[index] = read_parquet_bytes(data).column("event_id").to_pylist() if data else []
        ids = self._ids[index]
        return str(ids[row]) if row < len(ids) else f"row {row}"


class _Files:
    """The files of the log entries in range: fetched a few at a time (threads), hashed in
    worker processes, judged in log order; the bytes held at once stay under a bound."""

    def __init__(self, verifier: Verifier, report: Report) -> None:
        self.v = verifier
        self.report = report
        self.pool = verifier._executor()
        self.fetch = ThreadPoolExecutor(FETCH_THREADS)
        self.todo: list[tuple[str, int, dict[str, Any]]] = []
        self.sources: dict[str, list[tuple[str, int, str]] | None] = {}  # compacted file -> what it replaces
        self.pending: list[tuple[str, int, dict[str, Any], int, Future]] = []
        self.held = 0

    def check(self, key: str, index: int, entry: dict[str, Any]) -> None:
        self.todo.append((key, index, entry))
        if len(self.todo) >= FETCH_THREADS:
            self._fetch()

    def finish(self) -> None:
        self._fetch()
        while self.pending:
            self._judge(*self.pending.pop(0))
        self.fetch.shutdown()
        self.pool.shutdown()

    def _fetch(self) -> None:
        chunk, self.todo = self.todo, []
        bodies = list(self.fetch.map(lambda item: self._read(item[0]), chunk))
        for (key, index, entry), (data, manifest, sealed) in zip(chunk, bodies, strict=True):
            if data is None:
                self.report.add("deleted_file", key, f"logged at index {index} but the object is gone")
                continue
            self._check_manifest(key, index, entry, manifest)
            seals_object = self._seals(key, sealed)
            certificates = self.v._certificates_for(seals_object) if seals_object is not None else {}
            sources = self._compaction(key, index, entry) if "replaces" in entry else None
            future = self.pool.submit(digest_file, data, _event_type(key), key, seals_object,
                                      self.v.seal_key_pem, certificates, index, sources)
            self.pending.append((key, index, entry, len(data), future))
            self.held += len(data)
            while self.pending and (self.held > PENDING_BYTES or len(self.pending) > 2 * FETCH_THREADS):
                self._judge(*self.pending.pop(0))

    def _compaction(self, key: str, index: int, entry: dict[str, Any]) -> list[tuple[str, int, str]]:
        """A compacted file's sources, from the record its entry names (checked: its hash,
        its partition, its name); each source noted for the keys pass."""
        where = f"{key} (log index {index})"
        replaces = entry.get("replaces")
        record_key = replaces.get("record") if isinstance(replaces, dict) else None
        if not isinstance(record_key, str) or not record_key.startswith(records.COMPACTIONS):
            self.report.add("compaction_invalid", where, "its replaces field names no compaction record")
            return []
        body = self.v.store.get(record_key)
        if body is None:
            self.report.add("compaction_record_missing", record_key, f"named by {where}, and gone")
            return []
        if records.sha256_hex(body) != replaces.get("sha256"):
            self.report.add("compaction_record_modified", record_key, f"differs from the record {where} names")
            return []
        try:
            record = records.decode(body, record_key)
            sources = record["sources"]
            partition = (record["event_date"], record["event_type"])
            found = [(str(s["object_key"]), int(s["log_index"]), int(s["record_count"]), str(s["merkle_root"]))
                     for s in sources]
        except (KeyError, TypeError, ValueError, records.FormatError) as exc:
            self.report.add("compaction_invalid", record_key, f"not a v1 compaction record ({exc})")
            return []
        if records.compacted_object_key(record_key, body) != key or replaces.get("count") != len(found) or (
                _event_date(key), _event_type(key)) != partition:
            self.report.add("compaction_invalid", where, f"is not the file {record_key} describes")
        for source_key, source_index, count, root in found:
            if not source_key.startswith(EVENTS_PREFIX) or (
                    _event_date(source_key), _event_type(source_key)) != partition:
                self.report.add("compaction_invalid", record_key, f"{source_key} is not an events/ file of {partition}")
            if _is_hash(root):
                payload = _SOURCE.pack(index, source_index, count, bytes.fromhex(root))
                self.v._keys.add(digest16(source_key), b"C", payload + source_key.encode("utf-8", "surrogatepass"))
        return [(k, c, r) for k, _, c, r in found]

    def _read(self, key: str) -> tuple[bytes | None, bytes | None, bytes | None]:
        store = self.v.store
        return store.get(key), store.get(records.manifest_key(key)), store.get(seals.seals_key(key))

    def _seals(self, key: str, sealed: bytes | None) -> bytes | None:
        manifest = self.v._manifests.get(key, {})
        want = manifest.get("seals_sha256")
        if want is None:
            return None
        where = seals.seals_key(key)
        if sealed is None:
            self.report.add("seals_missing", where, f"the manifest of {key} names a seals object that is gone")
            return None
        if records.sha256_hex(sealed) != want:
            self.report.add("seals_modified", where, f"differs from the seals object the manifest of {key} names")
            return None
        return sealed

    def _check_manifest(self, key: str, index: int, entry: dict[str, Any], data: bytes | None) -> None:
        manifest_key = records.manifest_key(key)
        if data is None:
            self.report.add("manifest_missing", manifest_key, f"the manifest of {key} (log index {index}) is gone")
            return
        if records.sha256_hex(data) != entry.get("manifest_sha256"):
            self.report.add("manifest_modified", manifest_key, f"differs from the manifest logged at index {index}")
        try:
            manifest = records.decode(data, manifest_key)
        except records.FormatError as exc:
            self.report.add("manifest_modified", manifest_key, str(exc))
            return
        for name in ("object_key", "object_sha256", "record_count", "merkle_root"):
            if manifest.get(name) != entry.get(name):
                self.report.add("manifest_mismatch", manifest_key, f"{name} disagrees with log index {index}")
        self.v._manifests[key] = manifest

    def _judge(self, key: str, index: int, entry: dict[str, Any], size: int, future: Future) -> None:
        digest: FileDigest = future.result()
        self.held -= size
        report = self.report
        report.files_checked += 1
        report.events_checked += digest.record_count
        where = f"{key} (log index {index})"
        if digest.object_sha256 != entry.get("object_sha256"):
            report.add("modified_file", where, "the object's SHA-256 differs from the logged one")
        if digest.error:
            report.add("unreadable_file", where, digest.error)
            return
        manifest = self.v._manifests.pop(key, {})
        for name, value in (("first_event_id", digest.first_event_id), ("last_event_id", digest.last_event_id)):
            if name in manifest and manifest[name] != value:
                report.add("manifest_mismatch", records.manifest_key(key), f"{name} is not the file's ({value})")
        if "replaces" in entry:  # its events are its sources' (checked below), stored once there
            for problem in digest.compaction_problems:
                report.add("compaction_mismatch", where, f"{problem}: it must hold exactly the events of the files "
                           "it replaces")
        else:
            self.v._events.add_packed(digest.identities, digest.record_count)
        for event_id in digest.mismatched_events[:MAX_REPORTED]:
            report.add("event_modified", f"{key} event {event_id}", "the row's values do not hash to its leaf_hash")
        if len(digest.mismatched_events) > MAX_REPORTED:
            report.add("event_modified", key, f"{len(digest.mismatched_events) - MAX_REPORTED} more events differ")
        for problem in (digest.seal_problems or ())[:MAX_REPORTED]:
            report.add("event_unsealed", key, f"{problem}: these events carry no authentication by ingest "
                       "(invented after ingest, or altered)")
        if digest.record_count != entry.get("record_count"):
            report.add("record_count_mismatch", where,
                       f"{digest.record_count} rows, the log says {entry.get('record_count')}")
        if digest.stored_root != entry.get("merkle_root"):
            report.add("file_root_mismatch", where, "the leaf_hash column does not give the logged Merkle root")
        elif digest.computed_root != entry.get("merkle_root") and not digest.mismatched_events:
            report.add("file_root_mismatch", where, "recomputed leaves do not give the logged Merkle root")
