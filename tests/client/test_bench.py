"""`python -m bench.client` still runs end to end (a small size; no speed is asserted)."""

from __future__ import annotations

from bench import client as bench_client


def test_client_bench_runs_every_case_against_the_local_stack(local_stack, tmp_path):
    results = bench_client.run(local_stack, 300, tmp_path)
    assert set(results["emit"]) == {f"{d}, API {a}" for d in ("spool", "fsync", "memory") for a in ("up", "down")}
    assert all(s["median"] > 0 for s in results["emit"].values())
    assert results["sent_events_per_s"] > 0 and results["spool_mb_per_s"] > 0
