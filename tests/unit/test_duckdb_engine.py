"""The local Athena stand-in: partition pruning, the S3-backed lake, limits and paging."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import boto3
import duckdb
import pytest
from mlaudit.queries.engine import ExecutionNotFound

from bench.synthetic import generate, write_lake
from local.athena import DuckDbEngine, LocalLake, S3Lake
from local.athena.engine import events_relation, render


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A 30-day lake of about 3,000 events.
    root = tmp_path_factory.mktemp("lake30")
    write_lake(generate(3000, days=30, seed=5), root)
    return root


ONE_DAY = {"from_date": "2026-10-15", "to_date": "2026-10-15"}
ALL_DAYS = {"from_date": "2026-10-01", "to_date": "2026-10-30"}


def total_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / "events").rglob("*.parquet"))


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("events_deduplicated", {}),
        ("dq_violation_rate", {}),
        ("prediction_volume_latency", {}),
        ("accuracy", {"positive_label": "pos"}),
    ],
)
def test_a_one_day_query_reads_at_most_a_25th_of_the_full_scan(lake: Path, name: str, extra: dict) -> None:
    engine = DuckDbEngine(LocalLake(lake), threads=1)
    # Given the same query over one day and over the whole 30-day lake,
    one, rows_one = engine.run(name, {**ONE_DAY, **extra})
    full, rows_full = engine.run(name, {**ALL_DAYS, **extra})
    assert one.state == full.state == "SUCCEEDED" and rows_one and rows_full
    # Then the one-day run opened at most 1/25 of the bytes of the full scan.
    assert one.bytes_scanned * 25 <= full.bytes_scanned
    assert one.bytes_scanned > 0


def test_the_full_scan_opens_every_file_of_the_lake(lake: Path) -> None:
    engine = DuckDbEngine(LocalLake(lake), threads=1)
    status, _ = engine.run("lineage", {**ALL_DAYS, "model_id": "fraud", "model_version": "v1"})
    assert status.bytes_scanned == total_bytes(lake)


def test_declared_event_types_prune_partitions_too(lake: Path) -> None:
    engine = DuckDbEngine(LocalLake(lake), threads=1)
    predictions, _ = engine.run("prediction_volume_latency", ALL_DAYS)
    everything, _ = engine.run("lineage", {**ALL_DAYS, "model_id": "fraud", "model_version": "v1"})
    prediction_bytes = sum(
        p.stat().st_size for p in (lake / "events").rglob("event_type=prediction/*.parquet")
    )
    assert predictions.bytes_scanned == prediction_bytes < everything.bytes_scanned


def test_pruned_results_equal_filtered_full_results(lake: Path) -> None:
    engine = DuckDbEngine(LocalLake(lake), threads=1)
    _, one = engine.run("events_deduplicated", ONE_DAY)
    _, full = engine.run("events_deduplicated", ALL_DAYS)
    date_col = 2
    # (copies of an event across midnight would differ; this lake's day has none)
    assert one == [r for r in full if r[date_col] == "2026-10-15"]


def test_partition_columns_have_glue_types(lake: Path) -> None:
    files = LocalLake(lake).files(["2026-10-02"], None)
    described = dict(
        (r[0], r[1]) for r in duckdb.connect().execute(f"DESCRIBE {events_relation(files)}").fetchall()
    )
    assert described["event_date"] == "VARCHAR" and described["event_type"] == "VARCHAR"
    empty = dict((r[0], r[1]) for r in duckdb.connect().execute(f"DESCRIBE {events_relation([])}").fetchall())
    assert {k: v for k, v in empty.items()} == described  # same table shape with no files


def test_a_range_with_no_data_answers_no_rows(lake: Path) -> None:
    engine = DuckDbEngine(LocalLake(lake), threads=1)
    status, rows = engine.run(
        "accuracy", {"from_date": "2030-01-01", "to_date": "2030-01-02", "positive_label": "pos"}
    )
    assert (status.state, status.bytes_scanned, rows) == ("SUCCEEDED", 0, [])


def test_the_bytes_scanned_cutoff_cancels_like_athena(lake: Path) -> None:
    engine = DuckDbEngine(LocalLake(lake), threads=1, bytes_scanned_cutoff=10_000)
    status, rows = engine.run("events_deduplicated", ALL_DAYS)
    assert status.state == "CANCELLED" and "bytes-scanned limit" in status.reason and rows == []


def test_paging_is_bounded_and_complete(lake: Path) -> None:
    engine = DuckDbEngine(LocalLake(lake), threads=1)
    spec = engine.catalog.get("events_deduplicated")
    execution_id = engine.start("events_deduplicated", spec.check(ONE_DAY), owner="ab")
    _, every_row = engine.run("events_deduplicated", ONE_DAY)
    pages, token = [], None
    while True:
        page = engine.results(execution_id, token, 7)
        assert len(page.rows) <= 7
        pages += page.rows
        token = page.next_token
        if token is None:
            break
    assert pages == every_row and len(every_row) > 7
    assert len(engine.results(execution_id, None, 10**9).rows) == min(1000, len(every_row))
    assert engine.status(execution_id).owner == "ab"


def test_unknown_executions(lake: Path) -> None:
    engine = DuckDbEngine(LocalLake(lake), threads=1)
    with pytest.raises(ExecutionNotFound):
        engine.status("00000000-0000-0000-0000-000000000000")
    with pytest.raises(ExecutionNotFound):
        engine.results("nope", None, 10)


def test_render_matches_athena_text() -> None:
    from datetime import datetime

    assert render(datetime(2026, 10, 1, 5, 6, 7, 891000, tzinfo=UTC)) == "2026-10-01 05:06:07.891"
    assert (render(True), render(None), render(2), render(0.5)) == ("true", None, "2", "0.5")


def test_s3_lake_reads_the_local_stack_bucket(aws: None, lake: Path, tmp_path: Path) -> None:
    # Given the lake's objects in the (moto) audit bucket,
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="audit")
    for path in (lake / "events").rglob("*.parquet"):
        s3.upload_file(str(path), "audit", str(path.relative_to(lake)))
    s3_engine = DuckDbEngine(S3Lake(s3, "audit", tmp_path / "cache"), threads=1)
    local_engine = DuckDbEngine(LocalLake(lake), threads=1)
    params = {**ONE_DAY, "positive_label": "pos"}
    # When a query runs over the bucket, Then it answers as over the files, reading the same bytes,
    s3_status, s3_rows = s3_engine.run("accuracy", params)
    local_status, local_rows = local_engine.run("accuracy", params)
    assert s3_rows == local_rows and s3_status.bytes_scanned == local_status.bytes_scanned > 0
    # and it fetched only that day's objects, once.
    cached = list((tmp_path / "cache").rglob("*.parquet"))
    assert cached and all("event_date=2026-10-15" in str(p) for p in cached)
    assert {p.parent.name for p in cached} == {"event_type=prediction", "event_type=ground_truth"}
    before = {p: p.stat().st_mtime_ns for p in cached}
    s3_engine.run("accuracy", params)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.parquet")} == before
