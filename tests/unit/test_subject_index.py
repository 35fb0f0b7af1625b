"""The subject index: its objects (records, fences, range reads), merges by hour and day, and
what subject access reads with it: with 10x more files that do not hold the subject, the
same number of S3 requests (counted on moto)."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlaudit import subject_index
from mlaudit.adapters.bucket import S3Bucket
from mlaudit.adapters.memory import MemoryBucket
from mlaudit.adapters.subject_lake import S3SubjectEvents
from mlaudit.contract import EventType
from mlaudit.layout import partition_prefix
from mlaudit.subject_index import DAYS, HOURS, RUNS, SubjectIndex, day_key

from local.usage import Usage

T0 = datetime(2026, 11, 20, 0, 5, tzinfo=UTC)


def file_key(day: str, event_type: str, n: int) -> str:
    name = hashlib.sha256(f"{day}{event_type}{n}".encode()).hexdigest()[:32]
    return f"{partition_prefix(day, event_type)}{name}.parquet"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_every_event_type_has_its_own_code() -> None:
    codes = {subject_index.type_code(t.value): t.value for t in EventType}
    assert len(codes) == len(EventType)


def test_a_record_names_its_file_back() -> None:
    key = file_key("2026-11-20", "prediction", 1)
    raw, event_type = subject_index.record("sp1." + "a" * 32, key)
    assert len(raw) == subject_index.RECORD and event_type == "prediction"
    assert subject_index.file_of(raw, {subject_index.type_code("prediction"): "prediction"}) == key
    with pytest.raises(ValueError, match="events file key"):
        subject_index.record("sp1.x", "events/event_date=2026-11-20/event_type=prediction/other.parquet")


@pytest.mark.parametrize("pairs", [10, 3 * subject_index.BLOCK_RECORDS + 17])
def test_lookup_finds_exactly_the_files_of_a_pseudonym_whatever_the_object_size(pairs: int) -> None:
    # Given one run object holding `pairs` (pseudonym, file) pairs, one subject in 40 files
    # (so its records straddle block boundaries in the large object)
    files: dict[str, list[str]] = {}
    for n in range(pairs):
        files.setdefault(file_key("2026-11-20", "prediction", n % 5000), []).append(f"sp1.other-{n}")
    theirs = sorted(file_key("2026-11-21", "ground_truth", n) for n in range(40))
    for key in theirs:
        files.setdefault(key, []).append("sp1.subject")
    store = MemoryBucket()
    index = SubjectIndex(store, clock=Clock(T0))
    written = index.add(files)
    size = len(store.objects[written])
    # When the subject is looked up, Then exactly its files come back, in few requests
    found = index.files("sp1.subject", workers=1)
    assert found.files == theirs
    assert found.objects == 1
    assert found.requests == 3 + (1 if size <= subject_index.WHOLE_READ else 2)
    assert index.files("sp1.nobody", workers=1).files == []
    assert index.add(files) == written  # the same files again: the same object (idempotent)


def test_a_header_larger_than_the_first_read_is_read_in_full(monkeypatch) -> None:
    # Given an object whose fences alone exceed the first range read (made small here)
    monkeypatch.setattr(subject_index, "HEAD_READ", 256)
    monkeypatch.setattr(subject_index, "WHOLE_READ", 1024)
    monkeypatch.setattr(subject_index, "BLOCK_RECORDS", 16)
    blocks = 256 // subject_index.KEY_BYTES + 10
    records = sorted(hashlib.sha256(str(n % 1000).encode()).digest()[:8] + bytes(4) + n.to_bytes(16, "big")
                     for n in range(blocks * 16))
    body = subject_index.encode(b"".join(records), len(records), {0: "prediction"})
    store = MemoryBucket({f"{RUNS}2026-11-20T00/{'0' * 32}.idx": body})
    # When a record near the end is looked up, Then it is found
    target = records[-5][:8]
    files, requests = SubjectIndex(store)._find(f"{RUNS}2026-11-20T00/{'0' * 32}.idx", len(body), target)
    assert len(files) == sum(1 for r in records if r[:8] == target) and requests == 3


def test_merge_keeps_every_record_once_sorted() -> None:
    a = subject_index.build({file_key("2026-11-20", "prediction", 1): ["sp1.a", "sp1.b"]})
    b = subject_index.build({file_key("2026-11-20", "prediction", 1): ["sp1.b"],
                             file_key("2026-11-20", "ground_truth", 2): ["sp1.c"]})
    records, count, types = subject_index.decode(subject_index.merge([a, b]))
    assert count == 3 and set(types.values()) == {"prediction", "ground_truth"}
    chunks = [records[i:i + subject_index.RECORD] for i in range(0, len(records), subject_index.RECORD)]
    assert chunks == sorted(chunks)


def test_maintain_merges_closed_hours_then_closed_days_and_lookups_see_the_same_files() -> None:
    store = MemoryBucket()
    clock = Clock(T0)
    index = SubjectIndex(store, clock=clock)
    expected = []
    # Given runs over two days, a few an hour, the subject in some of them
    for step in range(48 * 2):
        clock.at = T0 + timedelta(minutes=30 * step)
        day = clock.at.date().isoformat()
        key = file_key(day, "prediction", step)
        pseudonyms = ["sp1.other"] + (["sp1.subject"] if step % 7 == 0 else [])
        index.add({key: pseudonyms})
        expected += [key] if step % 7 == 0 else []
    before = index.files("sp1.subject", workers=1)
    assert before.files == sorted(expected) and before.objects == 96
    # When maintained just after the last run: nothing is closed yet beyond the grace
    assert index.maintain(force=True) != []  # hours long closed are merged...
    assert not any(k.startswith(DAYS) for k in store.objects)  # ...but a day only once all its hours are
    # When maintained again and again, a day later
    clock.at = T0 + timedelta(days=3)
    while index.maintain(force=True):
        pass
    keys = sorted(store.objects)
    assert [k for k in keys if k.startswith(DAYS)] == [day_key("2026-11-20", 0, 1), day_key("2026-11-21", 0, 1)]
    assert len([k for k in keys if k.startswith(HOURS)]) == 48
    # Then a lookup reads one object a day, and finds the same files
    after = index.files("sp1.subject", workers=1)
    assert after.files == before.files and after.objects == 2


def test_a_large_day_is_merged_in_shards_and_a_lookup_reads_one(monkeypatch) -> None:
    # Given a day of runs too large for one shard (the shard size made small here)
    monkeypatch.setattr(subject_index, "SHARD_BYTES", 2000 * subject_index.RECORD)
    monkeypatch.setattr(subject_index, "WHOLE_READ", 4096)
    monkeypatch.setattr(subject_index, "HEAD_READ", 1024)
    monkeypatch.setattr(subject_index, "BLOCK_RECORDS", 64)
    store = MemoryBucket()
    clock = Clock(T0)
    index = SubjectIndex(store, clock=clock)
    subjects = [f"sp1.{n}" for n in range(700)]
    for hour in range(24):
        clock.at = T0 + timedelta(hours=hour)
        index.add({file_key("2026-11-20", "prediction", hour * 10 + n): subjects[n::10] for n in range(10)})
    before = {p: index.files(p, workers=1).files for p in subjects[:50]}
    # When the day is merged
    clock.at = T0 + timedelta(days=2)
    while index.maintain(force=True):
        pass
    shards = sorted(k for k in store.objects if k.startswith(DAYS))
    assert set(shards) == {day_key("2026-11-20", i, 16) for i in range(16)}
    # Then every lookup reads one shard and finds what it found before
    for pseudonym, files in before.items():
        found = index.files(pseudonym, workers=1)
        assert found.files == files and found.objects == 1
    # And a day missing a shard (a merge that stopped) is not used: its hours are read until
    # the merge is redone, to the same bytes
    gone = shards[3]
    body = store.objects.pop(gone)
    assert index.files(subjects[0], workers=1).objects == 24
    assert index.maintain(force=True) and store.objects[gone] == body


def test_an_hour_is_not_merged_before_its_grace_and_no_run_is_ever_left_out() -> None:
    store = MemoryBucket()
    clock = Clock(datetime(2026, 11, 20, 10, 50, tzinfo=UTC))
    index = SubjectIndex(store, clock=clock)
    index.add({file_key("2026-11-20", "prediction", 1): ["sp1.s"]})
    clock.at = datetime(2026, 11, 20, 11, 10, tzinfo=UTC)  # the hour ended 10 minutes ago
    index.add({file_key("2026-11-20", "prediction", 2): ["sp1.s"]})
    assert index.maintain(force=True) == []
    clock.at = datetime(2026, 11, 20, 11, 16, tzinfo=UTC)
    assert index.maintain(force=True) == [f"{HOURS}2026-11-20T10.idx"]
    # The 11:00 run is read as a run, the 10:00 one through its hour
    assert len(index.files("sp1.s", workers=1).files) == 2


def test_maintain_is_rate_limited_per_instance() -> None:
    ticks = iter([0.0, 10.0, subject_index.MAINTAIN_SECONDS + 1])
    store = MemoryBucket()
    index = SubjectIndex(store, clock=Clock(T0), monotonic=lambda: next(ticks))
    index.add({file_key("2026-11-20", "prediction", 1): ["sp1.s"]})
    index.clock = Clock(T0 + timedelta(hours=2))
    assert index.maintain() == [f"{HOURS}2026-11-20T00.idx"]
    index.add({file_key("2026-11-20", "prediction", 2): ["sp1.s"]})
    index.clock = Clock(T0 + timedelta(hours=4))
    assert index.maintain() == []  # 10 s later: not yet
    assert index.maintain() == [f"{HOURS}2026-11-20T02.idx"]


def test_backfill_indexes_the_files_written_before_the_index() -> None:
    # Given a bucket whose files no index object names (written before the upgrade)
    store = MemoryBucket()
    for n in range(5):
        day = f"2026-11-2{n}"
        store.objects[file_key(day, "prediction", n)] = _parquet(["sp1.s", "sp1.t"] if n % 2 else ["sp1.t"], day)
    assert SubjectIndex(store).files("sp1.s", workers=1).files == []
    # When backfilled, Then a lookup finds them
    assert subject_index.backfill(store, files_per_object=2) == 5
    assert SubjectIndex(store).files("sp1.s", workers=1).files == [
        file_key("2026-11-21", "prediction", 1), file_key("2026-11-23", "prediction", 3)]
    assert sum(1 for k in store.objects if k.startswith(RUNS)) == 3


# ---------------------------------------------------------------- reads on S3, counted


def _parquet(pseudonyms: list[str | None], day: str) -> bytes:
    received = datetime.fromisoformat(day).replace(tzinfo=UTC)
    table = pa.table({
        "event_id": [f"e-{i}-{p}" for i, p in enumerate(pseudonyms)],
        "occurred_at": pa.array([received] * len(pseudonyms), pa.timestamp("ms", tz="UTC")),
        "received_at": pa.array([received] * len(pseudonyms), pa.timestamp("ms", tz="UTC")),
        "leaf_hash": ["0" * 64] * len(pseudonyms),
        "subject_pseudonym": pseudonyms,
    })
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _lake(s3, bucket: str, files_per_run: int) -> None:
    """Two days of writer batches, one an hour, indexed and merged; the subject in one file a day."""
    s3.create_bucket(Bucket=bucket)
    clock = Clock(T0)
    index = SubjectIndex(S3Bucket(s3, bucket), clock=clock)
    for step in range(48):
        clock.at = T0 + timedelta(hours=step)
        day = clock.at.date().isoformat()
        batch = {}
        for n in range(files_per_run):
            has_subject = step % 24 == 5 and n == 0
            key = file_key(day, "prediction", step * 1000 + n)
            people = ["sp1.subject", "sp1.other"] if has_subject else ["sp1.other", None]
            s3.put_object(Bucket=bucket, Key=key, Body=_parquet(people, day))
            batch[key] = [p for p in people if p]
        index.add(batch)
    clock.at = T0 + timedelta(days=3)
    while index.maintain(force=True):
        pass


def _access(s3, bucket: str) -> tuple[int, list[str]]:
    """Subject access on the lake: the S3 requests it made (counted on its client) and the rows."""
    usage = Usage()
    counted = usage.guard("privacy", boto3.client("s3"))
    rows = S3SubjectEvents(S3Bucket(counted, bucket), workers=1).events("sp1.subject", 1000)
    return usage.totals("privacy").attempts, [r["event_id"] for r in rows]


def test_ten_times_more_files_without_the_subject_cost_subject_access_no_more_reads(aws) -> None:
    s3 = boto3.client("s3")
    # Given a lake, and the same two days with ten times its files (none holds the subject)
    _lake(s3, "audit", 1)
    _lake(s3, "audit-10x", 10)
    files = [sum(1 for _ in S3Bucket(s3, b).list("events/")) for b in ("audit", "audit-10x")]
    assert files == [48, 480]
    # When the subject's events are read from each
    before, rows = _access(s3, "audit")
    after, rows_10x = _access(s3, "audit-10x")
    # Then both find its two events, with the same S3 requests: three listings, a day
    # object each, a file each (a full scan would read 48 and then 480 files)
    assert rows == rows_10x and len(rows) == 2
    assert before == after == 3 + 2 + 2
