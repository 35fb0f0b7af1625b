"""The benchmark commands still run end to end (small sizes; no speed is asserted)."""

from __future__ import annotations

import gc

import pytest
from mlaudit.handlers import ingest as ingest_handler

from bench import pipeline, sizes


@pytest.fixture(autouse=True)
def restore_what_the_benches_change():
    # The benches swap the ingest handler's service for in-memory adapters and freeze
    # the garbage collector's generations, as a benchmark process may: undo both here.
    yield
    ingest_handler.APP.reset()
    gc.unfreeze()


def test_pipeline_bench_runs_every_event_through_ingest_and_writer():
    result = pipeline.main(1_000)
    # bench_ingest and bench_writer assert that every event was accepted and stored
    assert result["events"] == 1_000
    assert 0 < result["parquet_to_gzip"] < 1
    assert result["ingest_imports_pyarrow_or_duckdb"] is False


def test_sizes_bench_measures_the_demo_workload_too():
    result = sizes.main(200)
    demo = result["demo_mix"]
    assert demo["events"] > 200  # the lifecycle events and most labels come with the predictions
    # (tiny files are mostly Parquet footer: no ratio is meaningful at this size)
    assert demo["parquet_bytes_per_event"] > 0 and demo["gzip_json_bytes_per_event"] > 0
