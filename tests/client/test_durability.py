"""What the spool promises: an event `emit` took survives the process being killed, is
sent by the next process on the same spool, once; memory stays bounded in an outage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

from mlaudit_client import Auditor

from tests.client.conftest import flushed, prediction, settings, stored_ids, wait_until

REPO = Path(__file__).resolve().parents[2]

# Emits n events, prints their ids once the last emit returned, then waits to be killed.
CHILD = """
import json, sys, time
from mlaudit_client import Auditor
settings, workload, n = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
audit = Auditor(**settings)
ids = []
for i in range(n):
    ids.append(audit.emit({"event_type": "prediction", "occurred_at": "2026-11-29T10:00:00+00:00",
                           "workload": workload, "model_id": "churn", "prediction_id": f"p-{i}",
                           "prediction_score": 0.5, "features": {"tenure": i}}))
    time.sleep(0.0005)
print(json.dumps(ids), flush=True)
time.sleep(600)
"""


def test_sigkill_right_after_the_last_emit_loses_nothing(local_stack, workload, tmp_path):
    # No flush by time: a batch is sealed and sent only when 500 events wait, so the
    # 450-odd emitted after the third seal are certainly unsent when the process dies
    # (and a batch may be in flight).
    child_settings = settings(local_stack, tmp_path, flush_interval=3600)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(child_settings), workload, "1950"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "client")},
    )
    ids = json.loads(child.stdout.readline())
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL and len(ids) == 1950 and None not in ids

    audit = Auditor(**settings(local_stack, tmp_path))  # the same spool directory
    assert flushed(audit)
    stats = audit.stats()
    audit.close()
    assert stats["sent"] > 0 and stats["emitted"] == stats["spooled"] == 0, "it sent what was left"
    assert stored_ids(local_stack, workload) == dict.fromkeys(ids, 1)


def test_memory_stays_bounded_while_the_api_is_down(local_stack, api_proxy, workload, tmp_path):
    api_proxy.down()
    audit = Auditor(**settings(local_stack, tmp_path, api_url=api_proxy.url))
    wide = {f"feature_{k:03d}": k / 7 for k in range(80)}  # ~2 KB events: 500-event batches near 1 MB
    tracemalloc.start()
    ids = [audit.emit({**prediction(workload, i), "features": wide}) for i in range(6000)]
    # The worker reads and retries its first batch meanwhile (counted in the peak).
    assert wait_until(lambda: audit.stats()["retries"] > 0, 120)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    on_disk = sum(p.stat().st_size for p in (tmp_path / "spool").rglob("seg-*.log"))
    # The bound (docs/client.md): one batch read (up to 1.24 MB), its lines and its
    # request body (up to 1 MB each); the test's own list of ids is not the SDK's.
    ids_bytes = sum(sys.getsizeof(i) for i in ids) + sys.getsizeof(ids)
    assert on_disk > 12_000_000
    assert held - ids_bytes < 3_500_000 and peak - ids_bytes < 4_000_000, (held, peak, ids_bytes)
    assert audit.stats()["spooled"] == 6000 and audit.stats()["retries"] > 0

    api_proxy.up()
    assert flushed(audit)
    audit.close()
    assert stored_ids(local_stack, workload) == dict.fromkeys(ids, 1)


def test_memory_durability_holds_at_most_its_bound_and_counts_what_it_drops(
        local_stack, api_proxy, workload, tmp_path):
    api_proxy.down()
    audit = Auditor(**settings(local_stack, tmp_path, api_url=api_proxy.url, durability="memory",
                               max_memory_events=2000, when_full="drop"))
    tracemalloc.start()
    ids = [audit.emit(prediction(workload, i)) for i in range(10_000)]
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert ids[2000:] == [None] * 8000
    assert audit.stats()["dropped"] == 8000 and audit.stats()["spooled"] == 2000
    assert held < 2000 * 1500, held  # about 1 KB an event held, none for those dropped
    api_proxy.up()
    assert flushed(audit)
    audit.close()
    assert stored_ids(local_stack, workload) == dict.fromkeys(ids[:2000], 1)


def test_a_full_spool_blocks_emit_for_its_timeout_then_drops_and_counts(local_stack, api_proxy, workload, tmp_path):
    api_proxy.down()
    audit = Auditor(**settings(local_stack, tmp_path, api_url=api_proxy.url, max_spool_bytes=30_000,
                               when_full="block", block_timeout=0.05))
    ids = [audit.emit(prediction(workload, i)) for i in range(150)]  # ~230 bytes each: ~130 fit
    kept = [i for i in ids if i is not None]
    assert 100 < len(kept) < 150 and ids[len(kept):] == [None] * (150 - len(kept))
    assert audit.stats()["dropped"] == 150 - len(kept)
    api_proxy.up()
    assert flushed(audit)
    assert audit.emit(prediction(workload, 999)) is not None, "room again once sent"
    assert flushed(audit)
    audit.close()
    assert len(stored_ids(local_stack, workload)) == len(kept) + 1


EXITS = """
import json, sys
from mlaudit_client import Auditor
settings, workload = json.loads(sys.argv[1]), sys.argv[2]
audit = Auditor(**settings)
print(json.dumps([audit.emit({"event_type": "model_deployed", "workload": workload, "model_id": "churn",
                              "model_version": str(i)}) for i in range(10)]))
"""


def test_events_are_flushed_when_the_process_exits(local_stack, workload, tmp_path):
    # Only the exit hook sends; it may take its time on a busy machine (exit_timeout is its bound).
    child_settings = settings(local_stack, tmp_path, flush_interval=3600, exit_timeout=120)
    done = subprocess.run([sys.executable, "-c", EXITS, json.dumps(child_settings), workload], check=True,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "client")},
                          timeout=300)
    ids = json.loads(done.stdout)
    assert stored_ids(local_stack, workload) == dict.fromkeys(ids, 1)
    assert not list((tmp_path / "spool").rglob("seg-*.log")), "all sent: the lane was removed"
