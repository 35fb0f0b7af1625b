"""Writer on moto: one file per partition, exactly once, bad messages fail alone."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from mlaudit.leaf import leaf_hash, leaf_record_from_row
from mlaudit.writer import Message, _split, file_key

from .moto_pipeline import NOW, Pipeline

EVENT = {"event_type": "prediction", "occurred_at": "2026-11-26T06:59:00Z", "model_id": "m", "model_version": "1",
         "prediction_id": "p", "prediction_score": 0.25, "latency_ms": 4, "features": {"age": 41, "bmi": 22.5},
         "inputs": ["s3://bucket/features.parquet"]}


@pytest.fixture
def pipeline(aws):
    return Pipeline()


def send(pipeline, n, start=0, **extra):
    events = [{**EVENT, "event_id": f"ev-{i}", **extra} for i in range(start, start + n)]
    return pipeline.post(json.dumps({"events": events}))


def test_one_file_per_partition_and_rows_equal_what_was_sent(pipeline):
    send(pipeline, 20)
    send(pipeline, 5, start=100, event_type="model_deployed")
    assert pipeline.drain() == []
    keys = pipeline.objects()
    assert [k.split("/")[2] for k in keys] == ["event_type=model_deployed", "event_type=prediction"]
    assert all(k.startswith("events/event_date=2026-11-26/") and k.endswith(".parquet") for k in keys)
    rows = {r["event_id"]: r for r in pipeline.rows()}
    assert len(rows) == 25
    row = rows["ev-3"]
    assert json.loads(row["features"]) == EVENT["features"]
    assert (row["prediction_score"], row["latency_ms"], row["inputs"]) == (0.25, 4.0, EVENT["inputs"])
    assert row["occurred_at"].isoformat() == "2026-11-26T06:59:00+00:00"


def test_leaf_hash_is_recomputable_from_the_parquet_row(pipeline):
    send(pipeline, 3)
    pipeline.drain()
    for row in pipeline.rows():
        assert leaf_hash(leaf_record_from_row(row, row["event_type"])) == row["leaf_hash"]
        tampered = leaf_record_from_row({**row, "prediction_score": 0.26}, row["event_type"])
        assert leaf_hash(tampered) != row["leaf_hash"]


def test_files_are_encrypted_with_the_customer_key(pipeline):
    send(pipeline, 1)
    pipeline.drain()
    head = pipeline.s3.head_object(Bucket=pipeline.bucket, Key=pipeline.objects()[0])
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(pipeline.key_id)


def test_redelivered_message_is_not_written_twice(pipeline):
    send(pipeline, 30)
    raw = pipeline.receive()
    messages = pipeline.to_messages(raw)
    first = pipeline.writer.process(messages)
    assert first.failed_message_ids == [] and sum(first.files.values()) == 30
    # The function finished but the messages were not deleted: SQS delivers them again.
    again = pipeline.writer.process(messages)
    assert again.files == {} and again.skipped_parts == len(messages)
    assert len(pipeline.objects()) == 1 and len(pipeline.rows()) == 30


def test_poison_message_fails_alone(pipeline):
    send(pipeline, 10)
    messages = pipeline.to_messages(pipeline.receive())
    poison = [
        Message("bad-json", "p1", "{not json"),
        Message("not-canonical", "p2", json.dumps({"event_id": "x"}, indent=1)),
        Message("wrong-type", "p3", messages[0].body.replace('"prediction_score":0.25', '"prediction_score":"x"')),
    ]
    report = pipeline.writer.process(poison[:2] + messages + poison[2:])
    assert report.failed_message_ids == ["bad-json", "not-canonical", "wrong-type"]
    assert sum(report.files.values()) == 10


def test_failed_upload_fails_only_its_partition(pipeline, monkeypatch):
    send(pipeline, 4)
    send(pipeline, 4, start=10, event_type="model_registered")
    messages = pipeline.to_messages(pipeline.receive())
    real_put = pipeline.writer.objects.put

    def put(key, body):
        if "event_type=model_registered" in key:
            raise ConnectionError("S3 unavailable")
        real_put(key, body)

    monkeypatch.setattr(pipeline.writer.objects, "put", put)
    report = pipeline.writer.process(messages)
    registered = [m.message_id for m in messages if "model_registered" in m.body]
    assert report.failed_message_ids == registered
    # The retry, later, stores only what is missing.
    monkeypatch.setattr(pipeline.writer.objects, "put", real_put)
    pipeline.writer.clock = lambda: NOW + pipeline.writer.in_flight  # the first attempt is surely over
    retry = pipeline.writer.process([m for m in messages if m.message_id in registered])
    assert retry.failed_message_ids == [] and sum(retry.files.values()) == 4
    assert len(pipeline.rows()) == 8


def test_file_names_are_deterministic_per_batch(pipeline):
    send(pipeline, 5)
    messages = pipeline.to_messages(pipeline.receive())
    parts = [part for m in messages for part in _split(m).values()]
    assert file_key(("2026-11-26", "prediction"), parts) == file_key(("2026-11-26", "prediction"), parts[::-1])


def test_a_file_stored_but_not_logged_is_logged_by_the_recovery_sweep(pipeline, monkeypatch):
    from mlaudit.adapters.bucket import S3Bucket
    from mlaudit.integrity.services.sink import IntegritySink

    sink = IntegritySink(S3Bucket(pipeline.s3, pipeline.bucket, pipeline.key_id), log_id="mlaudit/audit")
    pipeline.writer.integrity = sink
    send(pipeline, 6)
    messages = pipeline.to_messages(pipeline.receive())
    real = sink.file_written

    def crash(*args, **kwargs):
        raise TimeoutError("the function stopped between the upload and the log")

    monkeypatch.setattr(sink, "file_written", crash)
    first = pipeline.writer.process(messages)
    # The events are stored: the messages are acknowledged, and the file is on the
    # recovery sweep's list (mlaudit.recovery), listed before it was put.
    assert first.failed_message_ids == []
    (key,) = pipeline.objects()
    assert log_entries_naming(pipeline, key) == 0
    assert [keys for keys in pipeline.writer.ledger.expected(NOW - timedelta(minutes=5), NOW).values()] == [[key]]

    monkeypatch.setattr(sink, "file_written", real)
    pipeline.writer.clock = lambda: NOW + pipeline.writer.in_flight
    again = pipeline.writer.process(messages)  # a redelivery (an SQS copy) lists it again, writes nothing
    assert again.failed_message_ids == [] and again.skipped_parts == len(messages)
    assert pipeline.objects() == [key]  # not written twice
    # Once no writer still works on it, the writer's recovery sweep logs it, once.
    pipeline.writer.clock = lambda: NOW + 2 * pipeline.writer.in_flight + timedelta(minutes=2)
    assert pipeline.writer.recover().adopted == [key]
    assert log_entries_naming(pipeline, key) == 1
    assert pipeline.writer.recover().summary() == {"adopted": 0, "logged": 0, "never_stored": 0, "left": 0}


def log_entries_naming(pipeline, key):
    listed = pipeline.s3.list_objects_v2(Bucket=pipeline.bucket, Prefix="integrity/log/").get("Contents", [])
    bodies = [pipeline.s3.get_object(Bucket=pipeline.bucket, Key=o["Key"])["Body"].read() for o in listed]
    return sum(key.encode() in body for body in bodies)
