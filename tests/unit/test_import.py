"""Batch import from files: the same contract and rules as the API, one report per file,
every good line stored once, every bad line reported, and a re-drop stores nothing."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlaudit.adapters.memory import MemoryIdempotencyStore, MemoryQueue
from mlaudit.errors import masked_name
from mlaudit.imports import (
    FileImporter,
    ImportLimits,
    ImportSource,
    format_of,
    import_key,
    line_event_id,
    read_jsonl,
)
from mlaudit.ingest.request import IngestLimits
from mlaudit.ingest.service import Claim, EventRecorder
from mlaudit.principal import Principal

from tests.unit.moto_pipeline import Pipeline

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
IMPORTER = Principal(kind="workload", actor_id="svc-import", client_id="svc-import", scopes=("events.write",))
GOOD = {"event_type": "prediction", "occurred_at": "2026-11-28T06:00:00Z", "model_id": "churn",
        "model_version": "7", "prediction_score": 0.25, "latency_ms": 4.5}


def importer(queue: MemoryQueue, store: MemoryIdempotencyStore | None = None, **limits: Any) -> FileImporter:
    recorder = EventRecorder(queue=queue, limits=IngestLimits(), clock=lambda: NOW)
    return FileImporter(recorder=recorder, store=store or MemoryIdempotencyStore(), limits=ImportLimits(**limits),
                        clock=lambda: NOW)


def jsonl(rows: list[Any]) -> io.BytesIO:
    return io.BytesIO(b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows))


# Bad lines, each with the path and rule the report must give.
BAD: list[tuple[bytes | dict, str, str]] = [
    ({**GOOD, "occurred_at": None}, "occurred_at", "datetime_type"),
    ({k: v for k, v in GOOD.items() if k != "occurred_at"}, "occurred_at", "missing"),
    ({**GOOD, "colour": "red"}, masked_name("colour"), "unknown_field"),
    ({**GOOD, "actor_id": "someone"}, "actor_id", "server_owned_field"),
    ({**GOOD, "event_type": "model_exploded"}, "event_type", "unknown_value"),
    (json.dumps({**GOOD, "prediction_score": 1}).replace(": 1", ": NaN").encode(), "prediction_score",
     "finite_number"),
    (b'{"event_type": "prediction", "occurred_at": ', "$", "malformed_json"),
    (json.dumps(GOOD).encode() + b", " + json.dumps(GOOD).encode(), "$", "one_event_per_line"),
    (json.dumps([GOOD, GOOD]).encode(), "$", "model_type"),  # not an object
    ({**GOOD, "subject_ref": "person-1"}, "subject_ref", "privacy_not_configured"),
    ({**GOOD, "personal_data": {"name": "x"}}, "personal_data", "requires_subject_ref"),
    ({**GOOD, "details": {"k" * 300: 1}}, "details", "bounded_json"),
]


def test_a_100000_line_file_is_imported_once_with_every_bad_line_reported() -> None:
    # Given 100,000 lines, one in 50 bad in one of a dozen ways,
    lines: list[Any] = []
    expected_bad: dict[int, tuple[str, str]] = {}
    for number in range(1, 100_001):
        if number % 50 == 0:
            body, path, rule = BAD[(number // 50) % len(BAD)]
            lines.append(body)
            expected_bad[number] = (path, rule)
        else:
            lines.append({**GOOD, "prediction_id": f"p-{number}", "latency_ms": float(number % 997)})
    data = jsonl(lines)
    queue, store = MemoryQueue(), MemoryIdempotencyStore()
    source = ImportSource("sha256:" + "ab" * 32, "imports/2026-11-29/scores.jsonl", "jsonl")
    seen: list[int] = []
    # When the file is imported,
    started = time.perf_counter()
    report = importer(queue, store).run(data, source, IMPORTER, progress=seen.append)
    elapsed = time.perf_counter() - started
    # Then every good line is sent once, under its line's id,
    good = [n for n in range(1, 100_001) if n not in expected_bad]
    assert (report.lines, report.accepted, report.rejected) == (100_000, len(good), len(expected_bad))
    ids = queue.event_ids()
    assert ids == [line_event_id(source.file_id, n) for n in good]
    assert report.dq["pass"] + report.dq["warn"] + report.dq["fail"] == len(good)
    # every bad line is in the report with its reason,
    got = {r["line"]: (r["errors"][0]["path"], r["errors"][0]["rule"]) for r in report.rejections}
    assert got == expected_bad
    assert all(e["message"] for r in report.rejections for e in r["errors"])
    assert seen[-1] == 100_000 and len(seen) > 100  # progress, per batch
    body = json.loads(json.dumps(report.body()))
    assert body["accepted"] == len(good) and len(body["rejections"]) == len(expected_bad)
    # and dropping the same file again sends nothing and answers the first summary.
    again = importer(queue, store).run(jsonl(lines), source, IMPORTER)
    assert again.state == "already_imported" and again.accepted == report.accepted
    assert len(queue.event_ids()) == len(good)
    # The record outlives the ingest's one day, and a claim stays in flight for an import's run.
    assert store.limits.idempotency_ttl == timedelta(days=400) and store.limits.in_flight == timedelta(minutes=15)
    print(f"imported 100,000 lines in {elapsed:.2f} s: {100_000 / elapsed:,.0f} lines/s")


def test_a_rerun_after_a_failure_resends_exactly_the_same_packs() -> None:
    lines = [{**GOOD, "prediction_id": f"p-{n}"} for n in range(2_000)]
    source = ImportSource("s3://landing/imports/a.jsonl@v1", "imports/a.jsonl", "jsonl")
    clean = MemoryQueue()
    importer(clean, batch_events=300).run(jsonl(lines), source, IMPORTER)
    failing, store = MemoryQueue(fail_after=3), MemoryIdempotencyStore()
    with pytest.raises(ConnectionError):
        importer(failing, store, batch_events=300).run(jsonl(lines), source, IMPORTER)
    assert store.items[import_key(source.file_id)]["state"] == "FAILED"
    retry = MemoryQueue()
    later = FileImporter(recorder=EventRecorder(queue=retry, limits=IngestLimits(), clock=lambda: NOW),
                         store=store, limits=ImportLimits(batch_events=300),
                         clock=lambda: NOW + timedelta(minutes=5))
    report = later.run(jsonl(lines), source, IMPORTER)
    # Same received_at as the first attempt, same pack ids, same bytes: the writer's
    # ledger drops the packs it already stored.
    assert [(p.pack_id, p.body) for p in retry.packs] == [(p.pack_id, p.body) for p in clean.packs]
    assert [p.pack_id for p in failing.packs] == [p.pack_id for p in clean.packs[:3]]
    assert report.accepted == 2_000


def test_another_file_or_version_gets_other_ids() -> None:
    assert line_event_id("s3://b/k@v1", 1) != line_event_id("s3://b/k@v2", 1) != line_event_id("s3://b/k@v1", 2)
    assert import_key("a") != import_key("b")


def test_event_ids_in_lines_are_kept_and_must_be_unique_in_the_file() -> None:
    queue = MemoryQueue()
    report = importer(queue).run(jsonl([{**GOOD, "event_id": "e-1"}, {**GOOD, "event_id": "e-1"}, GOOD]),
                                 ImportSource("f", "f.jsonl", "jsonl"), IMPORTER)
    assert queue.event_ids() == ["e-1", line_event_id("f", 3)]
    duplicate = {"path": "event_id", "rule": "duplicate_in_file",
                 "message": "another line of this file has the same event_id"}
    assert report.rejections == [{"line": 2, "errors": [duplicate]}]


def test_long_lines_blank_lines_and_a_byte_order_mark() -> None:
    data = io.BytesIO(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n\n   \n"
                      + b'{"x": "' + b"y" * 5000 + b'"}\n' + json.dumps(GOOD).encode())
    lines = list(read_jsonl(data, max_line_bytes=1000))
    assert [n for n, _ in lines] == [1, 4, 5]
    assert lines[1][1].rule == "max_line_bytes"
    report = importer(MemoryQueue(), max_line_bytes=1000).run(
        io.BytesIO(data.getvalue()), ImportSource("g", "g.jsonl", "jsonl"), IMPORTER)
    assert (report.lines, report.accepted, [r["line"] for r in report.rejections]) == (3, 2, [4])


def test_a_line_longer_than_a_request_body_is_rejected_unread() -> None:
    limits = IngestLimits()
    # Shorter than max_line_bytes, but not once wrapped as a request of one event.
    base = len(json.dumps({**GOOD, "details": {"x": ""}}))
    line = json.dumps({**GOOD, "details": {"x": "y" * (limits.max_body_bytes - 5 - base)}}).encode()
    assert len(line) == limits.max_body_bytes - 5 <= ImportLimits().max_line_bytes
    recorder = EventRecorder(queue=MemoryQueue(), limits=limits, clock=lambda: NOW)
    report = FileImporter(recorder=recorder, store=MemoryIdempotencyStore(), clock=lambda: NOW).run(
        io.BytesIO(line + b"\n" + json.dumps(GOOD).encode()), ImportSource("l", "l.jsonl", "jsonl"), IMPORTER)
    assert report.accepted == 1 and report.rejections[0]["errors"][0]["rule"] == "max_line_bytes"


def test_an_event_too_large_for_a_queue_message_is_one_rejected_line() -> None:
    huge = {**GOOD, "details": {f"k{i}": "x" * 120_000 for i in range(1)}, "metrics": {"m": "y" * 120_000}}
    queue = MemoryQueue()
    report = importer(queue, batch_events=10).run(jsonl([GOOD, huge, GOOD]), ImportSource("h", "h.jsonl", "jsonl"),
                                                  IMPORTER)
    assert report.accepted == 2 and [(r["line"], r["errors"][0]["rule"]) for r in report.rejections] == [
        (2, "event_too_large")]
    assert queue.event_ids() == [line_event_id("h", 1), line_event_id("h", 3)]


def test_parquet_rows_are_read_row_group_by_row_group_as_events() -> None:
    at = datetime(2026, 11, 28, 6, tzinfo=UTC)
    table = pa.table({
        "event_type": ["prediction"] * 5,
        "occurred_at": pa.array([at, at, None, at, at], pa.timestamp("ms", tz="UTC")),
        "model_id": ["churn"] * 5,
        "prediction_score": [0.5, float("nan"), 0.1, 0.2, 0.3],
        "features": ['{"age": 41}', '{"age": 42}', None, "not json", '{"age": 44}'],
        "inputs": [["s3://a"], [], None, ["s3://b"], ["s3://c"]],
    })
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=2)
    buffer.seek(0)
    queue = MemoryQueue()
    report = importer(queue, parquet_batch_rows=2).run(buffer, ImportSource("p", "p.parquet", "parquet"), IMPORTER)
    assert (report.lines, report.accepted) == (5, 2)
    assert [(r["line"], r["errors"][0]["path"], r["errors"][0]["rule"]) for r in report.rejections] == [
        (2, "prediction_score", "finite_number"), (3, "occurred_at", "missing"), (4, "features", "dict_type")]
    assert queue.event_ids() == [line_event_id("p", 1), line_event_id("p", 5)]
    naive = pa.table({"event_type": ["prediction"],
                      "occurred_at": pa.array([datetime(2026, 11, 28)], pa.timestamp("s"))})
    buffer = io.BytesIO()
    pq.write_table(naive, buffer)
    buffer.seek(0)
    report = importer(MemoryQueue()).run(buffer, ImportSource("n", "n.parquet", "parquet"), IMPORTER)
    assert [(r["errors"][0]["path"], r["errors"][0]["rule"]) for r in report.rejections] == [
        ("occurred_at", "timezone_aware")]


def test_a_file_that_is_not_parquet_is_one_rejected_line() -> None:
    report = importer(MemoryQueue()).run(io.BytesIO(b"not parquet"), ImportSource("x", "x.parquet", "parquet"),
                                         IMPORTER)
    assert (report.accepted, report.rejections[0]["errors"][0]["rule"]) == (0, "not_parquet")


def test_formats_come_from_the_name() -> None:
    assert [format_of(n) for n in ("a.jsonl", "b.NDJSON", "c.parquet", "d.csv", "e.jsonl.gz")] == [
        "jsonl", "jsonl", "parquet", None, None]


def test_an_import_through_the_real_queue_and_writer_stores_each_line_once(aws) -> None:
    pipeline = Pipeline(clock=lambda: NOW)
    from mlaudit.adapters.idempotency import DynamoIdempotencyStore  # noqa: PLC0415

    store = DynamoIdempotencyStore(pipeline.ddb, "idempotency")
    lines = [{**GOOD, "prediction_id": f"p-{n}"} for n in range(300)] + [{**GOOD, "colour": "red"}]
    source = ImportSource("sha256:" + "cd" * 32, "imports/b.jsonl", "jsonl")
    run = FileImporter(recorder=pipeline.ingest.recorder, store=store, limits=ImportLimits(batch_events=100),
                       clock=lambda: NOW)
    report = run.run(jsonl(lines), source, IMPORTER)
    assert (report.accepted, report.rejected) == (300, 1)
    assert pipeline.drain() == []
    rows = pipeline.rows()
    assert sorted(r["event_id"] for r in rows) == sorted(line_event_id(source.file_id, n) for n in range(1, 301))
    assert {r["actor_id"] for r in rows} == {"svc-import"} and {r["user_agent"] for r in rows} == {"mlaudit-import"}
    # A re-drop sends nothing; and packs resent after a lost completion are dropped by the writer.
    again = run.run(jsonl(lines), source, IMPORTER)
    assert again.state == "already_imported" and pipeline.receive() == []
    pipeline.ddb.delete_item(TableName="idempotency", Key={"pk": {"S": import_key(source.file_id)}})
    FileImporter(recorder=pipeline.ingest.recorder, store=_Replaying(store, NOW),
                 limits=ImportLimits(batch_events=100), clock=lambda: NOW).run(jsonl(lines), source, IMPORTER)
    assert pipeline.drain() == []
    assert len(pipeline.rows()) == 300


class _Replaying:
    """A store whose record was lost: claims anew, with the first attempt's received_at."""

    def __init__(self, store: Any, received_at: datetime) -> None:
        self.store, self.received_at = store, received_at

    def claim(self, key, fingerprint, now, limits) -> Claim:
        self.store.claim(key, fingerprint, now, limits)
        return Claim("new", self.received_at)

    def complete(self, *args) -> None:
        self.store.complete(*args)

    def release(self, key) -> None:
        self.store.release(key)


def test_a_time_with_no_utc_year_is_one_rejected_line_not_a_failed_import() -> None:
    late = {**GOOD, "occurred_at": "9999-12-31T23:59:59-01:00"}  # the year 10000 in UTC
    report = importer(MemoryQueue()).run(jsonl([late, GOOD]), ImportSource("t", "t.jsonl", "jsonl"), IMPORTER)
    assert report.accepted == 1
    assert [(r["line"], r["errors"][0]["rule"]) for r in report.rejections] == [(1, "timestamp_range")]


def test_the_import_benchmark_runs_end_to_end() -> None:
    from bench import imports  # noqa: PLC0415

    result = imports.main(300, rounds=1)  # run_once asserts every line was read and every bad line rejected
    assert result["jsonl"]["lines_per_s"] > 0 and result["parquet"]["lines_per_s"] > 0
    assert result["bad_lines"] == 6
