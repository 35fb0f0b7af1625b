"""The log of file roots: linear under concurrent writers, idempotent per file."""

from __future__ import annotations

import hashlib
import socket
import threading
from datetime import UTC, datetime

import boto3
import pytest
from mlaudit.adapters.bucket import S3Bucket
from mlaudit.adapters.memory import MemoryBucket
from mlaudit.integrity.primitives import records
from mlaudit.integrity.services.log import FileLog
from mlaudit.integrity.services.sink import IntegrityConflict, IntegritySink

KEY = "events/event_date=2026-11-26/event_type=prediction/{}.parquet"
LEAVES = [hashlib.sha256(bytes([i])).digest() for i in range(3)]


def assert_linear(store) -> list[dict]:
    """Entries 0..n-1, no gap, each chained to the one before, each file once."""
    keys = list(store.list(records.LOG))
    indices = [records.log_index(k) for k in keys]
    assert indices == list(range(len(keys))), "gap in the log"
    prev, seen, entries = records.ZERO_HASH, set(), []
    for key in keys:
        body = store.get(key)
        entry = records.decode(body, key)
        assert entry["index"] == records.log_index(key)
        assert entry["prev"] == prev, f"fork at {entry['index']}"
        assert entry["object_key"] not in seen, "file appended twice"
        seen.add(entry["object_key"])
        prev = records.entry_leaf(body).hex()
        entries.append(entry)
    return entries


def append(log: FileLog, name: str):
    return log.append(
        object_key=KEY.format(name),
        object_sha256="0" * 64,
        record_count=1,
        merkle_root="1" * 64,
        manifest_sha256="2" * 64,
    )


def test_appends_form_a_hash_chain_and_size_is_found_by_search():
    store = MemoryBucket()
    log = FileLog(store, log_id="mlaudit/audit")
    assert log.size() == 0
    for i in range(37):
        assert append(log, f"f{i}").index == i
    # A cold writer (no hint) finds the head by galloping search
    assert FileLog(store, log_id="mlaudit/audit").size() == 37
    assert len(assert_linear(store)) == 37


def run_writers(make_log, writers=8, each=15):
    errors = []

    def work(w):
        log = make_log()  # one per writer: separate Lambda containers share nothing
        try:
            for i in range(each):
                append(log, f"w{w}-{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_concurrent_writers_make_one_linear_log_in_memory():
    store = MemoryBucket()
    run_writers(lambda: FileLog(store, log_id="mlaudit/audit"), writers=8, each=25)
    assert len(assert_linear(store)) == 200


@pytest.fixture
def atomic_moto_put(monkeypatch):
    """moto checks If-None-Match and then writes, as two steps; S3 does both atomically.
    Serialising moto's PutObject restores S3's guarantee (and nothing more) for the test."""
    from moto.s3.responses import S3Response

    lock = threading.Lock()
    original = S3Response.put_object

    def put_object(self, *args, **kwargs):
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(S3Response, "put_object", put_object)


def test_concurrent_writers_make_one_linear_log_on_s3(aws, atomic_moto_put):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="audit", ObjectLockEnabledForBucket=True)
    run_writers(lambda: FileLog(S3Bucket(s3, "audit"), log_id="mlaudit/audit"), writers=6, each=10)
    assert len(assert_linear(S3Bucket(s3, "audit"))) == 60


def test_moto_honours_if_none_match_in_process_and_in_server_mode(aws):
    from moto.server import ThreadedMotoServer

    def check(client, bucket):
        client.create_bucket(Bucket=bucket)
        store = S3Bucket(client, bucket)
        assert store.create("integrity/x.json", b"1")
        assert not store.create("integrity/x.json", b"2")
        assert store.get("integrity/x.json") == b"1"

    check(boto3.client("s3"), "in-process")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        # (the server shares this process's moto backend, hence another bucket)
        check(boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}"), "server-mode")
    finally:
        server.stop()


def test_sink_is_idempotent_per_file_key():
    store = MemoryBucket()
    sink = IntegritySink(store, log_id="mlaudit/audit")
    assert sink.file_written(KEY.format("a"), b"parquet-a", LEAVES, "e1", "e3") == 0
    assert sink.file_written(KEY.format("b"), b"parquet-b", LEAVES, "e4", "e6") == 1
    # When the writer retries file a, nothing is appended
    assert sink.file_written(KEY.format("a"), b"parquet-a", LEAVES, "e1", "e3") == 0
    # Even when the first attempt stopped before writing the lookup aid
    del store.objects[records.log_by_file_key(KEY.format("b"))]
    again = IntegritySink(store, log_id="mlaudit/audit")
    assert again.file_written(KEY.format("b"), b"parquet-b", LEAVES, "e4", "e6") == 1
    entries = assert_linear(store)
    assert [e["object_key"] for e in entries] == [KEY.format("a"), KEY.format("b")]
    manifest = records.decode(store.get(records.manifest_key(KEY.format("a"))), "manifest")
    assert manifest["object_sha256"] == hashlib.sha256(b"parquet-a").hexdigest()
    assert manifest["record_count"] == 3 and manifest["first_event_id"] == "e1"
    assert entries[0]["manifest_sha256"] == records.sha256_hex(store.get(records.manifest_key(KEY.format("a"))))


def test_same_key_with_other_content_is_refused():
    sink = IntegritySink(MemoryBucket(), log_id="mlaudit/audit")
    sink.file_written(KEY.format("a"), b"parquet-a", LEAVES, "e1", "e3")
    with pytest.raises(IntegrityConflict):
        sink.file_written(KEY.format("a"), b"other bytes", LEAVES, "e1", "e3")


def test_sink_accepts_a_precomputed_sha256_and_rejects_non_event_keys():
    sink = IntegritySink(MemoryBucket(), log_id="mlaudit/audit", clock=lambda: datetime(2026, 11, 26, tzinfo=UTC))
    assert (
        sink.file_written(
            KEY.format("c"),
            leaf_hashes=LEAVES,
            first_event_id="a",
            last_event_id="b",
            object_sha256="ab" * 32,
        )
        == 0
    )
    with pytest.raises(ValueError):
        sink.file_written("integrity/x.parquet", b"x", LEAVES, "a", "b")


def test_a_file_stored_but_not_recorded_is_recorded_from_its_bytes():
    from tests.unit.test_integrity_support import event, parquet_file

    events = [event(i, "prediction", "2026-11-26") for i in range(4)]
    body = parquet_file(events)
    store = MemoryBucket()
    sink = IntegritySink(store, log_id="mlaudit/audit")
    # Given the first delivery stored the object and stopped before recording it
    assert sink.file_stored(KEY.format("x"), body) == 0
    # Then a redelivery's call is a no-op
    assert sink.file_stored(KEY.format("x"), body) == 0
    manifest = records.decode(store.get(records.manifest_key(KEY.format("x"))), "m")
    assert manifest["record_count"] == 4 and manifest["last_event_id"] == events[-1]["event_id"]
    assert len(assert_linear(store)) == 1


def test_a_concurrent_call_for_the_same_file_waits_instead_of_appending_twice():
    from datetime import timedelta

    from mlaudit.integrity.services.sink import IntegrityPending

    store = MemoryBucket()
    now = datetime.now(UTC)
    sink = IntegritySink(store, log_id="mlaudit/audit", clock=lambda: now)
    # Given another call created the manifest a moment ago and has not appended yet
    first = IntegritySink(store, log_id="mlaudit/audit", clock=lambda: now)
    first.file_written(KEY.format("a"), b"a", LEAVES, "e1", "e3")
    del store.objects[records.log_key(0)], store.objects[records.log_by_file_key(KEY.format("a"))]
    with pytest.raises(IntegrityPending):
        sink.file_written(KEY.format("a"), b"a", LEAVES, "e1", "e3")
    # When that call evidently died (its manifest is older than the claim timeout)
    late = IntegritySink(store, log_id="mlaudit/audit", clock=lambda: now + timedelta(minutes=5))
    assert late.file_written(KEY.format("a"), b"a", LEAVES, "e1", "e3") == 0
    assert len(assert_linear(store)) == 1


def test_a_conflicting_write_in_flight_is_retried_at_the_same_index():
    class Conflicting(MemoryBucket):
        """The first create of entry 1 meets a concurrent write that then fails (S3 409)."""

        conflicts = 1

        def create(self, key, body):
            if key == records.log_key(1) and self.conflicts:
                self.conflicts -= 1
                return False
            return super().create(key, body)

    store = Conflicting()
    log = FileLog(store, log_id="mlaudit/audit", sleep=lambda _: None)
    append(log, "a")
    assert append(log, "b").index == 1
    assert len(assert_linear(store)) == 2
