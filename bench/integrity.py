"""Integrity numbers: the cost of leaf and tree hashing in the writer, and the time to
verify a million events. `python -m bench.integrity` (CPU time; one process).

- writer: the same packs written with and without the integrity sink (in-memory
  store), plus the leaf hashing the writer always does; overhead as a share of the
  writer's time per event without any of it.
- verifier: 100 files of 10,000 events (the writer's largest batch) in an in-memory
  store, one signed checkpoint, then a full verification with only the public key.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time

from mlaudit.integrity.checkpoint import Checkpointer
from mlaudit.integrity.signing import LocalSigner, load_public_key
from mlaudit.integrity.sink import IntegritySink
from mlaudit.integrity.store import MemoryStore
from mlaudit.integrity.verifier import Verifier
from mlaudit.layout import partition_prefix
from mlaudit.writer import Message, WriterService

from bench.fakes import MemoryLedger, MemoryObjects
from bench.pipeline import bench_ingest


class TimedSink:
    """The real sink, with the CPU time spent inside it added up."""

    def __init__(self) -> None:
        self.sink = IntegritySink(MemoryStore())
        self.seconds = 0.0

    def file_written(self, *args, **kwargs):
        start = time.process_time()
        try:
            return self.sink.file_written(*args, **kwargs)
        finally:
            self.seconds += time.process_time() - start

    def file_stored(self, key, body):
        return self.sink.file_stored(key, body)


def writer_overhead(n_events: int) -> dict[str, float]:
    """Integrity work (leaf hashes + file tree, manifest and log append) against the rest
    of the writer's work, timed inside one run (robust to other load on the machine)."""
    _, packs = bench_ingest(n_events)
    messages = [Message(f"m{i}", f"pack{i}", body) for i, body in enumerate(packs)]
    lines = [line.encode() for body in packs for line in body.split("\n")]
    best = None
    for _ in range(3):
        sink = TimedSink()
        service = WriterService(objects=MemoryObjects(), ledger=MemoryLedger(), integrity=sink)
        start = time.process_time()
        service.process(messages)
        total = time.process_time() - start
        start = time.process_time()
        for line in lines:  # what the writer's leaf hashing costs, on the same lines
            hashlib.sha256(b"\x00" + line).digest()
        leaves = time.process_time() - start
        integrity = leaves + sink.seconds
        share = integrity / (total - integrity)
        if best is None or share < best["integrity_overhead_share"]:
            best = {
                "writer_us_per_event_without_integrity": (total - integrity) / n_events * 1e6,
                "leaf_hashing_us_per_event": leaves / n_events * 1e6,
                "tree_manifest_log_us_per_event": sink.seconds / n_events * 1e6,
                "integrity_overhead_share": share,
            }
    assert best is not None
    return best


def verify_million(files: int = 100, per_file: int = 10_000) -> dict[str, float]:
    _, packs = bench_ingest(per_file)
    objects = MemoryObjects()
    WriterService(objects=objects, ledger=MemoryLedger()).process(
        [Message(f"m{i}", f"pack{i}", body) for i, body in enumerate(packs)]
    )
    (body,) = objects.objects.values()
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(body), columns=["event_id", "leaf_hash"])
    ids = table.column("event_id").to_pylist()
    leaves = [bytes.fromhex(h) for h in table.column("leaf_hash").to_pylist()]
    store, signer = MemoryStore(), LocalSigner.generate()
    sink = IntegritySink(store)
    for n in range(files):  # the same rows in every file: the verifier's work is the same
        key = f"{partition_prefix('2026-11-26', 'prediction')}bench-{n:03d}.parquet"
        store.put(key, body)
        sink.file_written(key, body, leaves, ids[0], ids[-1])
    Checkpointer(store, signer, log_id="bench").run()
    start = time.perf_counter()
    report = Verifier(store, load_public_key(signer.public_key_pem())).run()
    elapsed = time.perf_counter() - start
    assert report.ok and report.events_checked == files * per_file, report
    return {"events_verified": report.events_checked, "verify_seconds": elapsed}


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    print(json.dumps({**writer_overhead(n), **verify_million()}, indent=2))
