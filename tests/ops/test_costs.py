"""The cost table: generated from the measured numbers, which the benchmarks page must
still state, and current in docs/deploy.md."""

from __future__ import annotations

from pathlib import Path

from mlaudit.settings import Settings

from ops import costs

BENCHMARKS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def test_the_table_in_deploy_md_is_current() -> None:
    assert costs.main(["--check"]) == 0, "python -m ops.costs --write"


def test_the_measured_inputs_are_the_benchmarks_numbers() -> None:
    page = BENCHMARKS.read_text()
    assert f"| Parquet bytes per event | {costs.PARQUET_BYTES_PER_EVENT} |" in page
    assert "**Ingest, ~40 µs an event.**" in page and costs.INGEST_CPU_SECONDS_PER_EVENT == 40e-6
    assert "**Writer, ~8-10 µs an event.**" in page and costs.WRITER_CPU_SECONDS_PER_EVENT == 10e-6


def test_every_service_is_priced_and_grows_with_volume() -> None:
    small, medium, large = (costs.monthly(n, Settings()) for n in costs.VOLUMES)
    assert set(small) == set(large) and len(small) == 9
    for service in small:
        assert 0 < small[service] <= medium[service] <= large[service], service
    # Storage is linear in events once they dominate: 60.3 B an event, a year kept.
    assert large["S3 storage (a year of events, lifecycle applied)"] > 9 * medium[
        "S3 storage (a year of events, lifecycle applied)"]


def test_settings_move_the_numbers() -> None:
    longer = costs.monthly(10**9, Settings(archive_after_days=365, object_lock_days=2190))
    default = costs.monthly(10**9, Settings())
    assert longer["S3 storage (a year of events, lifecycle applied)"] > default[
        "S3 storage (a year of events, lifecycle applied)"]
