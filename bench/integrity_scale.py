"""Integrity at a year's scale (issue 23): `python -m bench.integrity_scale [signer|since|whole|all]`.

- **signer**: one run of the checkpoint signer adding 300 entries to a log of 1M and of 10M
  entries, each size in a fresh process (its peak RSS is the run's). The store holds what a
  year-old lake would show the signer: the latest checkpoint (seq 105,120: a year of 5-minute
  runs) in the bucket and the witness, the log's right-edge tiles, its last signed entry and
  the new entries, all genuine; anything else it asked for would be missing and the run would
  fail, which is the proof that it reads nothing else. Floor, timed in the same process: reading,
  parsing, hashing and checking the signatures of the 300 new entries (work no signer avoids).
- **since**: one day of new data (96 files of 1,000 sealed events, 288 checkpoints) verified with
  ``--since`` the previous day's last checkpoint, on lakes of 1M, 4M and 16M events before it
  (1,000 events a file, written at the same daily rate: 1,000 / 4,000 / 16,000 log entries over
  10 / 42 / 167 days, every object present). Floor, timed in the same process: hashing the day's
  files alone (`digest_file`, no seals).
- **whole**: a whole-lake verify of 16M events (1,600 files of 10,000 distinct, sealed events,
  every entry signed) from a lake on disk, in a fresh process: its peak RSS and its workers'.

Stores are in-memory or on disk with S3's semantics for the calls made (sorted listing from a
key, versions): no network, so times are the verifier's and signer's own work.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlaudit.codec import format_timestamp
from mlaudit.integrity.primitives import merkle, records, tiles
from mlaudit.integrity.primitives.records import SignedCheckpoint
from mlaudit.integrity.primitives.signing import LocalSigner, entry_authentic, load_public_key
from mlaudit.integrity.primitives.store import Version
from mlaudit.integrity.services import seals
from mlaudit.integrity.services.checkpoint import Checkpointer

LOG_ID = "mlaudit/bench"
YEAR_OF_CHECKPOINTS = 105_120  # 365 days of one checkpoint every 5 minutes
T0 = datetime(2027, 1, 1, tzinfo=UTC)


class SortedStore:
    """A bucket in memory with S3's listing: keys in order from a marker, in O(log n + k)."""

    def __init__(self, exists_below: Callable[[str], bool] | None = None) -> None:
        self.objects: dict[str, bytes] = {}
        self.keys: list[str] = []
        # Keys that exist without being stored (a year of earlier checkpoints the runs
        # never read, only probe with HEAD).
        self.exists_below = exists_below or (lambda key: False)

    def get(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def exists(self, key: str) -> bool:
        return key in self.objects or self.exists_below(key)

    def modified(self, key: str) -> datetime | None:
        return T0 if key in self.objects else None

    def create(self, key: str, body: bytes) -> bool:
        if self.exists(key):
            return False
        self.put(key, body)
        return True

    def put(self, key: str, body: bytes) -> None:
        if key not in self.objects:
            bisect.insort(self.keys, key)
        self.objects[key] = body

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]:
        index = bisect.bisect_left(self.keys, prefix)
        if start_after:
            index = max(index, bisect.bisect_right(self.keys, start_after))
        while index < len(self.keys) and self.keys[index].startswith(prefix):
            yield self.keys[index]
            index += 1

    def versions(self, prefix: str, after: str = "") -> Iterator[Version]:
        return (Version(key, "v1", False) for key in self.list(prefix, after))

    def get_version(self, key: str, version_id: str) -> bytes | None:
        return self.get(key)


def synthetic_leaf(index: int) -> bytes:
    return hashlib.sha256(index.to_bytes(8, "big")).digest()


def _node(height: int, index: int, size: int, last: bytes) -> bytes:
    start = index << height
    leaves = [synthetic_leaf(i) for i in range(start, min(start + (1 << height), size - 1))]
    if start + (1 << height) >= size:
        leaves.append(last)
    return merkle.root(leaves)


def right_edge_tiles(size: int, last: bytes) -> dict[str, bytes]:
    """The right-edge tiles of a log of ``size`` leaves (synthetic ones, then ``last``)."""
    found, level = {}, 0
    while tiles.count_at(size, level):
        count = tiles.count_at(size, level)
        index = (count - 1) // tiles.WIDTH
        hashes = [_node(tiles.HEIGHT * level, j, size, last) for j in range(index * tiles.WIDTH, count)]
        found[tiles.tile_key(level, index, len(hashes))] = b"".join(hashes)
        level += 1
    return found


def _entry(signer: LocalSigner, index: int, prev: str, key: str) -> bytes:
    return records.encode(records.sign_entry(signer, records.log_entry(
        log_id=LOG_ID, index=index, prev=prev, object_key=key, object_sha256="5" * 64, record_count=1000,
        merkle_root="6" * 64, manifest_sha256="7" * 64, appended_at="2027-01-01T00:00:00.000Z")))


# -- the signer -------------------------------------------------------------------------------------


def signer_run(entries: int, new: int = 300, runs: int = 3) -> dict[str, Any]:
    """Time and memory of signer runs adding ``new`` entries to a log of ``entries`` (call in
    a fresh process: the peak RSS is this size's)."""
    signer, entry_signer = LocalSigner.generate("checkpoints"), LocalSigner.generate("entries")
    entry_key = load_public_key(entry_signer.public_key_pem())
    seq = YEAR_OF_CHECKPOINTS
    earlier = lambda prefix: (lambda key: key.startswith(prefix) and key[len(prefix):len(prefix) + 12]  # noqa: E731
                              .isdigit() and int(key[len(prefix):len(prefix) + 12]) < seq)
    store = SortedStore(earlier(records.CHECKPOINTS))
    witness_store = SortedStore(earlier(records.witness_prefix(LOG_ID)))
    last = _entry(entry_signer, entries - 1, "8" * 64,
                  "events/event_date=2026-12-31/event_type=prediction/last.parquet")
    store.put(records.log_key(entries - 1), last)
    for key, body in right_edge_tiles(entries, records.entry_leaf(last)).items():
        store.put(key, body)
    root = tiles.TileReader(store, entries).compact_range().root()
    body = records.checkpoint_body(log_id=LOG_ID, seq=seq, tree_size=entries, root=root.hex(),
                                   time="2026-12-31T23:55:00.000Z", prev="9" * 64, key_id=signer.key_id)
    head = SignedCheckpoint(body, signer.sign(records.encode(body))).encode()
    store.put(records.checkpoint_key(seq), head)
    witness_store.put(records.witness_key(LOG_ID, seq), head)
    prev = records.entry_leaf(last).hex()
    for index in range(entries, entries + new * runs):
        data = _entry(entry_signer, index, prev, f"events/event_date=2027-01-01/event_type=prediction/{index}.parquet")
        store.put(records.log_key(index), data)
        prev = records.entry_leaf(data).hex()

    from mlaudit.integrity.services.witness import Witness

    seconds, floors, peaks = [], [], []
    for run in range(runs):
        start = entries + run * new
        floor_start = time.perf_counter()  # the floor: the new entries read, parsed, hashed and checked
        for index in range(start, start + new):
            data = store.get(records.log_key(index)) or b""
            assert entry_authentic(entry_key, records.decode(data, "entry"))
            records.entry_leaf(data)
        floors.append(time.perf_counter() - floor_start)
        tracemalloc.start()
        began = time.perf_counter()
        signed = Checkpointer(store, signer, log_id=LOG_ID, entry_key=entry_key, max_new_entries=new,
                              witness=Witness(witness_store, LOG_ID),
                              clock=lambda: T0 + timedelta(minutes=5)).run()  # a new container each run
        seconds.append(time.perf_counter() - began)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert signed.body["tree_size"] == start + new and signed.body["seq"] == seq + run + 1
    best = min(range(runs), key=lambda i: seconds[i])
    return {"log_entries": entries, "new_entries": new, "run_seconds_best": seconds[best],
            "run_seconds_median": statistics.median(seconds), "floor_seconds": floors[best],
            "ratio_to_floor": seconds[best] / floors[best], "traced_peak_mb": max(peaks) / 2**20,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# -- files of sealed events ---------------------------------------------------------------------------


class Files:
    """Parquet files of distinct, sealed events as the writer stores them: one real ingest
    workload of ``per_file`` events through the writer, then the same rows under other event
    ids (leaves recomputed, Arrow kernels), each file sealed as one pack by a certified key
    and recorded through the integrity sink (manifest, seals, signed log entry)."""

    def __init__(self, per_file: int) -> None:
        import pyarrow as pa
        from mlaudit.adapters.memory import MemoryBucket, MemoryLedger
        from mlaudit.pack import pack_id_of
        from mlaudit.parquet import read_parquet_bytes
        from mlaudit.writer import Message, WriterService

        from bench.pipeline import bench_ingest

        _, packs = bench_ingest(per_file)
        objects = MemoryBucket()
        WriterService(objects=objects, ledger=MemoryLedger()).process(
            [Message(f"m{i}", pack_id_of(body), body) for i, body in enumerate(packs)])
        (body,) = objects.objects.values()
        self.table = read_parquet_bytes(body)
        self.ids = self.table.column("event_id")
        self.seal_key = LocalSigner.generate("seal-key")
        self.sealer = seals.PackSealer(self.seal_key, "ingest")
        self.pa = pa

    def make(self, n: int) -> tuple[bytes, list[bytes], str, str]:
        """File ``n``: its bytes, leaves, first and last event ids."""
        import pyarrow.compute as pc
        from mlaudit.leaf import table_leaf_hashes
        from mlaudit.parquet import to_parquet_bytes

        ids = pc.binary_join_element_wise(self.pa.scalar(f"{n:06d}-"), self.ids, "")
        table = self.table.set_column(self.table.schema.get_field_index("event_id"), "event_id", ids)
        leaves = table_leaf_hashes(table, "prediction")
        table = table.set_column(table.schema.get_field_index("leaf_hash"), "leaf_hash",
                                 self.pa.array([leaf.hex() for leaf in leaves]))
        return to_parquet_bytes(table), leaves, str(ids[0]), str(ids[-1])

    def record(self, sink: Any, store: Any, key: str, n: int) -> None:
        body, leaves, first, last = self.make(n)
        document = json.loads(self.sealer.seal(f"pack-{n:08d}", leaves))
        seal = seals.Seal(document["seal"], document["signature"], document["seal_key"])
        sink.seal_file(key, [seals.SealedPart(0, len(leaves), seal)], leaves)
        store.put(key, body)
        sink.file_written(key, body, leaves, first, last)


def since_day(history_events: int, per_file: int = 1000, day_files: int = 96, checkpoints: int = 288,
              rounds: int = 3, files: Files | None = None) -> dict[str, Any]:
    """One day verified --since the previous day's last checkpoint, after a history of
    ``history_events`` (written at the same daily rate: a lake 4x the size is 4x older)."""
    from mlaudit.integrity.services.sink import IntegritySink
    from mlaudit.integrity.services.witness import Witness
    from mlaudit.integrity.verifier import Verifier, digest_file
    from mlaudit.layout import partition_prefix

    files = files or Files(per_file)
    signer, entry_signer = LocalSigner.generate("checkpoints"), LocalSigner.generate("entries")
    store, witness_store = SortedStore(), SortedStore()
    witness = Witness(witness_store, LOG_ID)
    clock = {"now": T0 - timedelta(days=1)}
    checkpointer = Checkpointer(store, signer, log_id=LOG_ID, witness=witness, clock=lambda: clock["now"],
                                entry_key=load_public_key(entry_signer.public_key_pem()))
    checkpointer.run()  # checkpoint 0 over the empty log
    # The history: one log entry per file, every object present (nothing of it is read:
    # one placeholder body), day_files a day up to the end of the day before.
    old_files = history_events // per_file
    placeholder = b"not read by an incremental verify"
    prev = records.ZERO_HASH
    for index in range(old_files):
        date = (T0 - timedelta(days=1 + (old_files - 1 - index) // day_files)).date().isoformat()
        key = f"{partition_prefix(date, 'prediction')}old-{index:08d}.parquet"
        for area in (key, records.manifest_key(key), seals.seals_key(key)):
            store.put(area, placeholder)
        store.put(records.log_by_file_key(key), records.encode({"index": index}))
        data = _entry(entry_signer, index, prev, key)
        store.put(records.log_key(index), data)
        prev = records.entry_leaf(data).hex()
    clock["now"] = T0 - timedelta(minutes=5)
    trusted = checkpointer.run()
    # The day: its files recorded as the writer records them, a checkpoint every 5 minutes.
    sink = IntegritySink(store, log_id=LOG_ID, entry_signer=entry_signer, clock=lambda: clock["now"])
    keys = [f"{partition_prefix(T0.date().isoformat(), 'prediction')}day-{n:04d}.parquet" for n in range(day_files)]
    per_checkpoint = -(-day_files // checkpoints)
    for n in range(checkpoints):
        clock["now"] = T0 + timedelta(minutes=5 * n)
        for index in range(n * per_checkpoint, min(day_files, (n + 1) * per_checkpoint)):
            files.record(sink, store, keys[index], index)
        checkpointer.run()

    def verify() -> Any:
        return Verifier(store, load_public_key(signer.public_key_pem()), jobs=1, log_id=LOG_ID, since=trusted,
                        entry_key=load_public_key(entry_signer.public_key_pem()), witness=witness, history=store,
                        seal_key_pem=files.seal_key.public_key_pem(), now=T0 + timedelta(hours=23)).run()

    seconds, floors = [], []
    for _ in range(rounds):  # alternated: the machine's load falls on both alike
        began = time.perf_counter()
        for key in keys:
            digest_file(store.get(key) or b"", "prediction")
        floors.append(time.perf_counter() - began)
        began = time.perf_counter()
        report = verify()
        seconds.append(time.perf_counter() - began)
        assert report.ok and report.files_checked == day_files, report.text()
    best = min(range(rounds), key=lambda i: seconds[i])
    return {"history_events": history_events, "history_log_entries": old_files,
            "day_files": day_files, "day_events": report.events_checked, "day_checkpoints": checkpoints,
            "verify_seconds_best": seconds[best], "floor_seconds": floors[best],
            "ratio_to_floor": seconds[best] / floors[best], "checkpoints_checked": report.checkpoints_checked}


# -- the whole lake -----------------------------------------------------------------------------------


class DirectoryStore(SortedStore):
    """A lake on disk (one file per object): the verifier reads it as it reads S3."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        index = root / "keys.txt"
        self.keys = index.read_text().split("\n") if index.exists() else []
        self._present = set(self.keys)

    def _path(self, key: str) -> Path:
        return self.root / "objects" / hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str) -> bytes | None:
        return self._path(key).read_bytes() if key in self._present else None

    def exists(self, key: str) -> bool:
        return key in self._present

    def put(self, key: str, body: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        if key not in self._present:
            self._present.add(key)
            bisect.insort(self.keys, key)

    def save(self) -> None:
        (self.root / "keys.txt").write_text("\n".join(self.keys))


def build_lake(root: Path, files: int, per_file: int) -> dict[str, str]:
    """A signed, sealed, witnessed lake of files x per_file distinct events on disk (kept
    between runs: building it is slower than verifying it)."""
    done = root / "keys.pem.json"
    if done.exists():
        return json.loads(done.read_text())
    from mlaudit.integrity.services.sink import IntegritySink
    from mlaudit.integrity.services.witness import Witness
    from mlaudit.layout import partition_prefix

    store, witness_store = DirectoryStore(root / "lake"), DirectoryStore(root / "witness")
    maker = Files(per_file)
    signer, entry_signer = LocalSigner.generate("checkpoints"), LocalSigner.generate("entries")
    clock = {"now": T0}
    checkpointer = Checkpointer(store, signer, log_id=LOG_ID, witness=Witness(witness_store, LOG_ID),
                                clock=lambda: clock["now"], entry_key=load_public_key(entry_signer.public_key_pem()))
    checkpointer.run()
    sink = IntegritySink(store, log_id=LOG_ID, entry_signer=entry_signer, clock=lambda: clock["now"])
    for n in range(files):
        clock["now"] = T0 + timedelta(minutes=5 * n)
        date = (T0 + timedelta(days=n // 100)).date().isoformat()
        maker.record(sink, store, f"{partition_prefix(date, 'prediction')}f{n:06d}.parquet", n)
        if n % 10 == 9:
            checkpointer.run()
    checkpointer.run()
    store.save()
    witness_store.save()
    keys = {"checkpoint": signer.public_key_pem().decode(), "entry": entry_signer.public_key_pem().decode(),
            "seal": maker.seal_key.public_key_pem().decode()}
    done.write_text(json.dumps(keys))
    return keys


def whole_lake(root: Path, jobs: int) -> dict[str, Any]:
    """A whole-lake verify of the lake at ``root`` (call in a fresh process)."""
    from mlaudit.integrity.services.witness import Witness
    from mlaudit.integrity.verifier import Verifier

    keys = json.loads((root / "keys.pem.json").read_text())
    store, witness_store = DirectoryStore(root / "lake"), DirectoryStore(root / "witness")
    tracemalloc.start()
    began = time.perf_counter()
    report = Verifier(store, load_public_key(keys["checkpoint"].encode()), jobs=jobs, log_id=LOG_ID,
                      entry_key=load_public_key(keys["entry"].encode()), seal_key_pem=keys["seal"].encode(),
                      witness=Witness(witness_store, LOG_ID), history=store).run()
    seconds = time.perf_counter() - began
    traced = tracemalloc.get_traced_memory()[1]
    assert report.ok, report.text()
    return {"events": report.events_checked, "files": report.files_checked, "log_entries": report.log_size,
            "seconds": seconds, "jobs": jobs, "traced_peak_mb": traced / 2**20,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "workers_max_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def _fresh(*args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-m", "bench.integrity_scale", *args], capture_output=True, text=True,
                         check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.integrity_scale", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["signer", "since", "whole", "all", "_signer", "_whole"], default="all",
                        nargs="?")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--lake", type=Path, default=Path("/tmp/mlaudit-bench-lake-16m"))
    parser.add_argument("--files", type=int, default=1600)
    parser.add_argument("--per-file", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if args.what == "_signer":
        print(json.dumps(signer_run(args.entries)))
        return
    if args.what == "_whole":
        print(json.dumps(whole_lake(args.lake, args.jobs)))
        return
    results: dict[str, Any] = {"date": format_timestamp(datetime.now(UTC))[:10], "load": os.getloadavg()}
    if args.what in ("signer", "all"):
        results["signer"] = [_fresh("_signer", "--entries", str(n)) for n in (1_000_000, 10_000_000)]
    if args.what in ("since", "all"):
        maker = Files(1000)
        results["since"] = [since_day(n, files=maker) for n in (1_000_000, 4_000_000, 16_000_000)]
    if args.what in ("whole", "all"):
        build_lake(args.lake, args.files, args.per_file)
        results["whole"] = _fresh("_whole", "--lake", str(args.lake), "--jobs", str(args.jobs))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
