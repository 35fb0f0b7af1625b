"""The offline verifier's checks (the command line is `mlaudit.integrity.verify`).

Read-only. Needs the objects and the checkpoint public key, nothing else: it trusts
no lookup aid, cache or index the stack writes, only the log entries, manifests,
Parquet objects and signed checkpoints. Every problem names what and where; the
exit status is 1 when there is any (2 for a usage error).

Checks, in order (docs/integrity.md, "Verifying"):
1. the log: entries 0..n-1 with no gap, each canonical, its index in its name, each
   ``prev`` the leaf hash of the entry before (no fork, no reorder), each file once;
2. checkpoints: 0..k with no gap, signature valid, ``prev`` chained, tree size and
   time never going back, root equal to the log's root at that size, the latest
   covering the log (and a caller's trusted checkpoint still present: no rollback);
3. files: every logged object exists with the logged SHA-256; its manifest is the
   logged one and agrees; every row's values hash to its leaf_hash; the leaves give
   the logged root; every events/ object is in the log (no foreign file);
4. the witness (trusted checkpoints kept outside the bucket): each one is still in the
   bucket and still given by its log (no rollback, restart, truncation or empty lake);
5. versions: no delete marker and no second version of any write-once object.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mlaudit.codec import format_timestamp
from mlaudit.integrity import merkle, records
from mlaudit.integrity.checkpoint import SignedCheckpoint
from mlaudit.integrity.signing import entry_authentic, verify_signature
from mlaudit.integrity.store import Store
from mlaudit.layout import EVENTS_PREFIX, parse_partition

FETCH_THREADS = 16


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

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, where: str, detail: str) -> None:
        self.problems.append(Problem(kind, where, detail))

    def kinds(self) -> set[str]:
        return {p.kind for p in self.problems}

    def text(self) -> str:
        lines = [
            f"log entries: {self.log_size}; files checked: {self.files_checked}; events checked: {self.events_checked}",
            "latest checkpoint: "
            + (
                f"seq {self.checkpoint['seq']}, tree size {self.checkpoint['tree_size']}, "
                f"time {self.checkpoint['time']}"
                if self.checkpoint
                else "none"
            ),
            *(f"note: {n}" for n in self.notes),
            *(str(p) for p in self.problems),
            "OK: no problem found" if self.ok else f"FAILED: {len(self.problems)} problem(s)",
        ]
        return "\n".join(lines)


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
    # Each row's (actor_id, event_id), hashed to 16 bytes, with its event id: duplicates.
    identities: tuple[bytes, ...] = ()
    event_ids: tuple[str, ...] = ()


def digest_file(data: bytes, event_type: str) -> FileDigest:
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
    who = {"identities": tuple(_identity(a, e) for a, e in zip(actors, ids, strict=True)),
           "event_ids": tuple(map(str, ids))}
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
    return FileDigest(
        sha,
        len(ids),
        merkle.root(stored_bytes).hex(),
        merkle.root(computed).hex(),
        _first(ids),
        _last(ids),
        tuple(mismatched),
        **who,
    )


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
        witness: list[SignedCheckpoint] | None = None,
        history: Any = None,
    ) -> None:
        """``log_id``: this bucket's (`records.log_id`); a checkpoint of another log is a finding.
        ``entry_key``: the writer's public key; every log entry must carry its signature.
        ``witness``: the checkpoints the witness holds for this log (None: no witness given).
        ``history``: the bucket's object versions (`versions.S3History`)."""
        self.store = store
        self.history = history
        self.log_id = log_id
        self.entry_key = entry_key
        self.witness = witness
        self.max_age = max_checkpoint_age
        self.now = now or datetime.now(UTC)
        self._manifests: dict[str, dict[str, Any]] = {}
        self._stored: dict[bytes, str] = {}  # each (sender, event_id) seen -> the file holding it
        self.public_key = public_key
        self.from_date = from_date
        self.to_date = to_date
        self.trusted = trusted_checkpoint
        self.jobs = jobs

    def run(self) -> Report:
        report = Report()
        entries, leaves = self._check_log(report)
        held = self._check_checkpoints(report, leaves)
        if self.witness is not None:
            self._check_witness(report, leaves, held)
        if self.entry_key is None:
            report.notes.append("log entries' writer signatures not checked (no entry public key given)")
        self._check_versions(report)
        self._check_files(report, entries)
        return report

    def _numbered(
        self, report: Report, prefix: str, number: Callable[[str], int | None], foreign: str, detail: str,
    ) -> list[int]:
        """The numbers of the objects under a prefix (log entries, checkpoints), sorted;
        anything else there is a finding."""
        numbers = []
        for key in self.store.list(prefix):
            value = number(key)
            if value is None:
                report.add(foreign, key, detail)
            else:
                numbers.append(value)
        return sorted(numbers)

    # -- 1. the log ---------------------------------------------------------------------------

    def _check_log(self, report: Report) -> tuple[dict[int, dict[str, Any]], list[bytes] | None]:
        """Entries by index, and the tree leaves if the log has no gap."""
        indices = self._numbered(report, records.LOG, records.log_index, "log_foreign_object",
                                 "an object in the log area that is no log entry")
        entries: dict[int, dict[str, Any]] = {}
        leaves: list[bytes] | None = []
        seen: dict[str, int] = {}
        previous_leaf: bytes | None = merkle.EMPTY_ROOT  # sentinel: index 0 expects ZERO_HASH
        for (expected, index), body in zip(
            enumerate(indices), self._get_all(map(records.log_key, indices)), strict=True
        ):
            if index != expected and leaves is not None:
                report.add(
                    "log_gap",
                    f"log index {expected}",
                    f"entries {expected}..{index - 1} are missing (deleted or never written)",
                )
                leaves, previous_leaf = None, None
            where = f"log index {index} ({records.log_key(index)})"
            body = body or b""
            leaf = records.entry_leaf(body)
            try:
                entry = records.decode(body, where)
                if entry.get("type") != "mlaudit.log_entry" or entry.get("v") != records.FORMAT_VERSION:
                    raise records.FormatError("not a v1 log entry")
            except records.FormatError as exc:
                report.add("log_entry_invalid", where, str(exc))
                entry = None
            if entry is not None:
                if entry["index"] != index:
                    report.add("log_reordered", where, f"the entry says it is index {entry['index']}")
                if self.entry_key is not None and not entry_authentic(self.entry_key, entry):
                    report.add("log_entry_unauthenticated", where,
                               "not signed with the writer's entry key (written by someone else, or altered)")
                want_prev = records.ZERO_HASH if index == 0 else (previous_leaf.hex() if previous_leaf else None)
                if want_prev is not None and entry["prev"] != want_prev:
                    report.add(
                        "log_chain_broken",
                        where,
                        "prev is not the hash of the entry before it (reordered, replaced or forked)",
                    )
                if entry["object_key"] in seen:
                    report.add(
                        "log_duplicate_file",
                        where,
                        f"{entry['object_key']} is already at log index {seen[entry['object_key']]}",
                    )
                seen.setdefault(entry["object_key"], index)
                entries[index] = entry
            previous_leaf = leaf
            if leaves is not None:
                leaves.append(leaf)
        report.log_size = len(indices)
        return entries, leaves

    def _get_all(self, keys: Iterable[str]) -> Iterator[bytes | None]:
        """GETs in parallel threads (I/O bound), answers in order."""
        with ThreadPoolExecutor(FETCH_THREADS) as pool:
            yield from pool.map(self.store.get, keys)

    # -- 2. checkpoints -------------------------------------------------------------------------

    def _check_checkpoints(self, report: Report, leaves: list[bytes] | None) -> dict[int, SignedCheckpoint]:
        """Returns the checkpoints that decode, by the sequence number in their key."""
        held: dict[int, SignedCheckpoint] = {}
        seqs = self._numbered(report, records.CHECKPOINTS, records.checkpoint_seq, "checkpoint_foreign_object",
                              "not a checkpoint")
        previous: SignedCheckpoint | None = None
        latest: SignedCheckpoint | None = None
        tree = merkle.Tree(leaves) if leaves is not None else None  # prefix roots in O(log n) each
        for expected, seq in enumerate(seqs):
            where = f"checkpoint {seq} ({records.checkpoint_key(seq)})"
            if seq != expected:
                report.add(
                    "checkpoint_gap",
                    f"checkpoint {expected}",
                    f"checkpoints {expected}..{seq - 1} are missing",
                )
                previous = None
            try:
                signed = SignedCheckpoint.decode(self.store.get(records.checkpoint_key(seq)) or b"", where)
                body = signed.body
                if body.get("type") != "mlaudit.checkpoint" or body.get("v") != records.FORMAT_VERSION:
                    raise records.FormatError("not a v1 checkpoint")
            except records.FormatError as exc:
                report.add("checkpoint_invalid", where, str(exc))
                previous = None
                continue
            held[seq] = signed
            if self.log_id is not None and body.get("log_id") != self.log_id:
                report.add("checkpoint_other_log", where,
                           f"signed for log {body.get('log_id')}, not {self.log_id} (a copy of another bucket?)")
            if not verify_signature(self.public_key, signed.message, signed.signature):
                report.add("checkpoint_bad_signature", where, "the signature does not verify with the public key")
                previous = None
                continue
            if body["seq"] != seq:
                report.add("checkpoint_replayed", where, f"the signed body is checkpoint {body['seq']}")
            if previous is not None:
                prior = previous.body
                if body["prev"] != previous.sha256:
                    report.add("checkpoint_chain_broken", where, "prev is not the hash of the checkpoint before it")
                if body["tree_size"] < prior["tree_size"]:
                    report.add(
                        "checkpoint_rollback",
                        where,
                        f"tree size went back from {prior['tree_size']} to {body['tree_size']}",
                    )
                if body["time"] < prior["time"]:
                    report.add("checkpoint_rollback", where, f"time went back from {prior['time']} to {body['time']}")
                if body["log_id"] != prior["log_id"]:
                    report.add("checkpoint_other_log", where, f"log id {body['log_id']} after {prior['log_id']}")
            elif seq == 0 and body["prev"] != records.ZERO_HASH:
                report.add("checkpoint_chain_broken", where, "the first checkpoint must have prev = 0…0")
            size = body["tree_size"]
            if tree is not None and leaves is not None:
                if size > len(leaves):
                    report.add(
                        "log_truncated",
                        where,
                        f"the checkpoint signs {size} log entries; the log has {len(leaves)}",
                    )
                elif tree.root_at(size).hex() != body["root"]:
                    report.add(
                        "checkpoint_root_mismatch",
                        where,
                        f"the log's first {size} entries do not hash to the signed root",
                    )
            previous = latest = signed
        if latest is None:
            if report.log_size:
                report.add("log_unsigned", records.CHECKPOINTS, "no valid signed checkpoint covers the log")
            if self.max_age is not None:
                report.add("checkpoint_stale", records.CHECKPOINTS,
                           "no checkpoint at all: the signer never ran, or every checkpoint was removed")
        else:
            report.checkpoint = latest.body
            if self.max_age is not None and latest.body["time"] < format_timestamp(self.now - self.max_age):
                report.add(
                    "checkpoint_stale",
                    f"checkpoint {latest.body['seq']}",
                    f"the latest checkpoint ({latest.body['time']}) is older than {self.max_age}: "
                    "the signer stopped, or newer checkpoints were removed",
                )
            pending = report.log_size - latest.body["tree_size"]
            if pending > 0:
                report.notes.append(f"{pending} log entries after the latest checkpoint are not signed yet")
        if self.trusted is not None:
            self._check_trusted(report)
        return held

    def _check_witness(
        self, report: Report, leaves: list[bytes] | None, held: dict[int, SignedCheckpoint],
    ) -> None:
        """Each checkpoint the witness holds must still be in the bucket, identical, and
        still be given by the log: otherwise checkpoints were removed, the chain restarted,
        or the log shrank or was rewritten."""
        witnessed = sorted(self.witness or [], key=lambda c: c.body.get("seq", -1))
        if not witnessed:
            if held or report.log_size:
                report.add("witness_missing", self.log_id or "witness",
                           "the witness holds no checkpoint of this log, yet the bucket holds a log "
                           "(a copy of another bucket, or checkpoints never published)")
            return
        tree = merkle.Tree(leaves) if leaves is not None else None
        for checkpoint in witnessed:
            body = checkpoint.body
            where = f"witness checkpoint {body.get('seq')}"
            if not verify_signature(self.public_key, checkpoint.message, checkpoint.signature):
                report.add("witness_bad_signature", where, "the signature does not verify with the public key")
                continue
            if self.log_id is not None and body["log_id"] != self.log_id:
                report.add("checkpoint_other_log", where, f"signed for log {body['log_id']}, not {self.log_id}")
                continue
            mine = held.get(body["seq"])
            if mine is None:
                report.add("witness_checkpoint_missing", where, "the bucket no longer holds this checkpoint")
            elif mine.body != body:
                report.add("witness_checkpoint_replaced", where,
                           "the bucket holds another checkpoint under this number (the chain restarted)")
            if body["tree_size"] > report.log_size:
                report.add("log_shrunk", where,
                           f"the witness signed {body['tree_size']} log entries; the bucket holds {report.log_size}")
            elif tree is not None and tree.root_at(body["tree_size"]).hex() != body["root"]:
                report.add("witness_root_mismatch", where,
                           f"the log's first {body['tree_size']} entries no longer give the witnessed root")

    def _check_versions(self, report: Report) -> None:
        """Write-once objects have exactly one version and no delete marker."""
        if self.history is None:
            report.notes.append("object versions not checked (no version history given)")
            return
        for prefix in (EVENTS_PREFIX, records.INTEGRITY_PREFIX):
            for key, count, markers in self.history.versions(prefix):
                if markers:
                    report.add("delete_marker", key,
                               f"{markers} delete marker(s): someone deleted a write-once object")
                if count > 1:
                    report.add("object_rewritten", key,
                               f"{count} versions: a write-once object was written again")

    def _check_trusted(self, report: Report) -> None:
        trusted = self.trusted
        seq = trusted.body.get("seq")
        where = f"checkpoint {seq} (trusted copy)"
        if not verify_signature(self.public_key, trusted.message, trusted.signature):
            report.add("checkpoint_bad_signature", where, "the trusted checkpoint's signature does not verify")
            return
        held = self.store.get(records.checkpoint_key(seq))
        if held is None or SignedCheckpoint.decode(held).body != trusted.body:
            report.add("checkpoint_rollback", where, "the lake no longer holds this signed checkpoint")

    # -- 3. files ----------------------------------------------------------------------------------

    def _in_range(self, key: str) -> bool:
        try:
            event_date, _ = parse_partition(key)
        except (KeyError, ValueError):
            return True
        return (not self.from_date or event_date >= self.from_date) and (not self.to_date or event_date <= self.to_date)

    def _executor(self, count: int) -> Executor:
        jobs = self.jobs if self.jobs is not None else (os.cpu_count() or 1) if count >= 8 else 1
        return ProcessPoolExecutor(jobs) if jobs > 1 else _Serial()

    def _check_files(self, report: Report, entries: dict[int, dict[str, Any]]) -> None:
        logged = {e["object_key"]: (i, e) for i, e in sorted(entries.items(), reverse=True)}
        for key in self.store.list(EVENTS_PREFIX):
            if key not in logged and self._in_range(key):
                report.add("foreign_file", key, "object under events/ that is not in the log")
        todo = [(key, i, e) for key, (i, e) in sorted(logged.items(), key=lambda kv: kv[1][0]) if self._in_range(key)]
        with self._executor(len(todo)) as pool:
            pending: list[tuple[str, int, dict[str, Any], Future]] = []
            for key, index, entry, data in self._fetch(todo, report):
                event_type = _event_type(key)
                pending.append((key, index, entry, pool.submit(digest_file, data, event_type)))
                if len(pending) >= 16:
                    self._judge(report, *pending.pop(0))
            for item in pending:
                self._judge(report, *item)

    def _fetch(self, todo, report: Report) -> Iterator[tuple[str, int, dict[str, Any], bytes]]:
        for start in range(0, len(todo), FETCH_THREADS):  # bounded: objects can be large
            chunk = todo[start : start + FETCH_THREADS]
            yield from self._fetched(chunk, list(self._get_all(key for key, _, _ in chunk)), report)

    def _fetched(self, chunk, bodies, report: Report) -> Iterator[tuple[str, int, dict[str, Any], bytes]]:
        for (key, index, entry), data in zip(chunk, bodies, strict=True):
            if data is None:
                report.add("deleted_file", key, f"logged at index {index} but the object is gone")
                continue
            self._check_manifest(report, key, index, entry)
            yield key, index, entry, data

    def _check_manifest(self, report: Report, key: str, index: int, entry: dict[str, Any]) -> None:
        manifest_key = records.manifest_key(key)
        data = self.store.get(manifest_key)
        if data is None:
            report.add("manifest_missing", manifest_key, f"the manifest of {key} (log index {index}) is gone")
            return
        if records.sha256_hex(data) != entry["manifest_sha256"]:
            report.add("manifest_modified", manifest_key, f"differs from the manifest logged at index {index}")
        try:
            manifest = records.decode(data, manifest_key)
        except records.FormatError as exc:
            report.add("manifest_modified", manifest_key, str(exc))
            return
        for name in ("object_key", "object_sha256", "record_count", "merkle_root"):
            if manifest.get(name) != entry.get(name):
                report.add("manifest_mismatch", manifest_key, f"{name} disagrees with log index {index}")
        self._manifests[key] = manifest

    def _judge(self, report: Report, key: str, index: int, entry: dict[str, Any], future: Future) -> None:
        digest: FileDigest = future.result()
        report.files_checked += 1
        report.events_checked += digest.record_count
        where = f"{key} (log index {index})"
        if digest.object_sha256 != entry["object_sha256"]:
            report.add("modified_file", where, "the object's SHA-256 differs from the logged one")
        if digest.error:
            report.add("unreadable_file", where, digest.error)
            return
        manifest = self._manifests.pop(key, {})
        for name, value in (("first_event_id", digest.first_event_id), ("last_event_id", digest.last_event_id)):
            if name in manifest and manifest[name] != value:
                report.add("manifest_mismatch", records.manifest_key(key), f"{name} is not the file's ({value})")
        self._check_duplicates(report, key, digest)
        for event_id in digest.mismatched_events[:100]:
            report.add("event_modified", f"{key} event {event_id}", "the row's values do not hash to its leaf_hash")
        if len(digest.mismatched_events) > 100:
            report.add("event_modified", key, f"{len(digest.mismatched_events) - 100} more events differ")
        if digest.record_count != entry["record_count"]:
            report.add(
                "record_count_mismatch",
                where,
                f"{digest.record_count} rows, the log says {entry['record_count']}",
            )
        if digest.stored_root != entry["merkle_root"]:
            report.add("file_root_mismatch", where, "the leaf_hash column does not give the logged Merkle root")
        elif digest.computed_root != entry["merkle_root"] and not digest.mismatched_events:
            report.add("file_root_mismatch", where, "recomputed leaves do not give the logged Merkle root")


    def _check_duplicates(self, report: Report, key: str, digest: FileDigest) -> None:
        """Exactly once: a (sender, event_id) stored twice, in one file or two, is a finding."""
        found = 0
        for identity, event_id in zip(digest.identities, digest.event_ids, strict=True):
            first = self._stored.get(identity)
            if first is None:
                self._stored[identity] = key
                continue
            found += 1
            if found <= 100:
                report.add("duplicate_event", f"{key} event {event_id}",
                           f"the same sender and event_id are stored in {first}")
        if found > 100:
            report.add("duplicate_event", key, f"{found - 100} more duplicated events")


def _event_type(key: str) -> str:
    try:
        return parse_partition(key)[1]
    except (KeyError, ValueError):
        return ""
