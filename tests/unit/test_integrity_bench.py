"""Opt-in benchmark (MLAUDIT_BENCH=1): verifying 1,000,000 events takes <= 10 s.

MLAUDIT_BENCH=1 PYTHONPATH=lambdas:. .venv/bin/python -m pytest -q -s tests/unit/test_integrity_bench.py
"""

from __future__ import annotations

import os
import time

import pytest
from mlaudit import leaf
from mlaudit.integrity import merkle
from mlaudit.integrity.checkpoint import Checkpointer
from mlaudit.integrity.signing import load_public_key
from mlaudit.integrity.sink import IntegritySink
from mlaudit.integrity.store import MemoryStore
from mlaudit.integrity.verifier import Verifier
from mlaudit.layout import partition_prefix

from tests.unit.test_integrity_support import SIGNER, event, parquet_file

pytestmark = pytest.mark.skipif(not os.environ.get("MLAUDIT_BENCH"), reason="benchmark: set MLAUDIT_BENCH=1")

FILES, PER_FILE = 100, 10_000  # the writer's largest batch is 10,000 events per file


def test_verifying_a_million_events_takes_at_most_ten_seconds():
    events = [event(i, "prediction", "2026-11-26") for i in range(PER_FILE)]
    leaves = [bytes.fromhex(e["leaf_hash"]) for e in events]
    body = parquet_file(events)
    store = MemoryStore()
    sink = IntegritySink(store)
    for n in range(FILES):  # same rows in every file: the verifier's work is the same
        key = f"{partition_prefix('2026-11-26', 'prediction')}bench-{n:03d}.parquet"
        store.put(key, body)
        sink.file_written(key, body, leaves, events[0]["event_id"], events[-1]["event_id"])
    Checkpointer(store, SIGNER, log_id="bench").run()

    start = time.perf_counter()
    report = Verifier(store, load_public_key(SIGNER.public_key_pem())).run()
    elapsed = time.perf_counter() - start
    print(f"\nverified {report.events_checked:,} events in {elapsed:.2f} s (load {os.getloadavg()[0]:.1f})")
    assert report.ok and report.events_checked == FILES * PER_FILE
    assert elapsed <= 10.0


def test_leaf_and_tree_hashing_cost_per_event_in_the_writer():
    canonical = [
        leaf.canonical_json({k: v for k, v in e.items() if k != "leaf_hash"}).encode()
        for e in (event(i, "prediction", "2026-11-26") for i in range(PER_FILE))
    ]
    start = time.perf_counter()
    merkle.root([leaf.leaf_hash_bytes(c) for c in canonical])
    per_event = (time.perf_counter() - start) / PER_FILE
    print(f"\nleaf + tree hashing: {per_event * 1e6:.2f} us per event")
    assert per_event < 10e-6  # a writer spends tens of microseconds per event
