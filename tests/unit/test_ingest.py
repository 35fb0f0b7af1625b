"""Ingest service on moto: all or nothing, idempotent, packed, privacy-safe."""

from __future__ import annotations

import json

import pytest
from mlaudit.adapters.queue import SqsQueue
from mlaudit.errors import DomainError
from mlaudit.http import error_response, status_of
from mlaudit.leaf import LEAF_ORDER, leaf_hash
from mlaudit.pack import Pack, pack_records, unpack
from mlaudit.self_audit import QueueSelfAudit

from .moto_pipeline import NOW, WORKLOAD, Pipeline

EVENT = {"event_type": "prediction", "occurred_at": "2026-11-26T06:59:00.123456+01:00", "model_id": "m",
         "model_version": "1", "prediction_score": 0.25, "latency_ms": 4}


def batch(n, **extra):
    return json.dumps({"events": [{**EVENT, "event_id": f"ev-{i}", **extra} for i in range(n)]})


@pytest.fixture
def pipeline(aws):
    return Pipeline()


def test_accepted_batch_answers_ids_and_dq_summary(pipeline):
    status, body = pipeline.post(batch(3))
    assert status == 202
    assert body["event_ids"] == ["ev-0", "ev-1", "ev-2"]
    assert body["dq"] == {"pass": 0, "warn": 3, "fail": 0}  # no prediction_id: a warning
    records = [record for m in pipeline.receive() for record in unpack(pipeline.pack_body(m))]
    assert [r["event_id"] for r in records] == ["ev-0", "ev-1", "ev-2"]
    for record in records:  # each event carries the hash of its whole leaf record
        assert record.pop("leaf_hash") == leaf_hash(record)
    first = records[0]
    assert first["actor_id"] == WORKLOAD.actor_id and first["actor_type"] == "service"
    assert first["occurred_at"] == "2026-11-26T05:59:00.123Z"  # UTC, milliseconds
    assert first["received_at"] == "2026-11-26T07:00:00.000Z"
    assert first["latency_ms"] == 4.0


def test_server_derives_stable_ids_when_absent(pipeline):
    _, first = pipeline.post(json.dumps(EVENT))
    _, again = pipeline.post(json.dumps(EVENT))
    assert first == again
    assert len(pipeline.receive()) == 1


def test_retry_is_answered_once_and_enqueued_once(pipeline):
    first = pipeline.post(batch(50))
    second = pipeline.post(batch(50))
    assert first == second
    assert sum(len(unpack(pipeline.pack_body(m))) for m in pipeline.receive()) == 50


def test_a_resend_with_other_key_order_and_spacing_is_the_same_request(pipeline):
    event = {**EVENT, "event_id": "x", "features": {"a": 1, "b": [1.5, "c"]}}
    first = pipeline.post(json.dumps({"events": [event]}))
    reordered = {key: event[key] for key in reversed(event)}
    reordered["features"] = {"b": [1.5, "c"], "a": 1}
    assert pipeline.post(json.dumps({"events": [reordered]}, indent=2)) == first
    assert sum(len(unpack(pipeline.pack_body(m))) for m in pipeline.receive()) == 1


def test_reused_ids_with_new_content_conflict(pipeline):
    pipeline.post(batch(2))
    with pytest.raises(DomainError) as caught:
        pipeline.post(batch(2, prediction_score=0.9))
    assert (status_of(caught.value), caught.value.code) == (409, "idempotency_conflict")


def test_one_bad_event_stores_nothing(pipeline):
    events = json.loads(batch(5))
    events["events"][3]["prediction_score"] = "high"
    with pytest.raises(DomainError) as caught:
        pipeline.post(json.dumps(events))
    assert caught.value.errors[0]["index"] == 3
    assert pipeline.receive() == []


def test_duplicate_ids_inside_a_request_are_refused(pipeline):
    with pytest.raises(DomainError) as caught:
        pipeline.post(json.dumps({"events": [EVENT, EVENT]}))
    assert caught.value.errors[0]["rule"] == "duplicate_in_request"


def test_wrong_content_type_is_415(pipeline):
    with pytest.raises(DomainError) as caught:
        pipeline.post(batch(1), content_type="text/plain")
    assert status_of(caught.value) == 415


def test_personal_fields_refused_without_a_key_store(pipeline):
    with pytest.raises(DomainError) as caught:
        pipeline.post(json.dumps({**EVENT, "subject_ref": "patient-1"}))
    assert caught.value.errors[0]["rule"] == "privacy_not_configured"
    assert "patient-1" not in json.dumps(error_response(caught.value))
    assert pipeline.receive() == []


def test_failed_enqueue_is_retried_with_identical_packs(pipeline, monkeypatch):
    sent: list[list[Pack]] = pipeline.fail_first_send(monkeypatch)
    with pytest.raises(ConnectionError):
        pipeline.post(batch(10))
    pipeline.ingest.clock = lambda: NOW.replace(minute=5)  # the retry comes later
    status, _ = pipeline.post(batch(10))
    assert status == 202
    assert sent[0] == sent[1]  # same ids, same bytes, same received_at


def leaf_records(n):
    base = dict.fromkeys(LEAF_ORDER)
    required = {"actor_roles": [], "dq_violations": [], "inputs": [], "outputs": [], "schema_version": 1,
                "actor_id": "svc", "actor_type": "service", "client_id": "svc", "dq_status": "pass",
                "event_type": "access", "occurred_at": "2026-11-26T06:00:00.000Z",
                "received_at": "2026-11-26T06:00:01.000Z"}
    return [{**base, **required, "event_id": f"e{i}", "resource": "x" * 900, "latency_ms": 1.5} for i in range(n)]


def test_packs_respect_the_message_size_and_keep_order():
    records = leaf_records(100)
    packs = pack_records(records, "key", 10_000)
    assert len(packs) > 1 and all(len(p.body) <= 10_000 for p in packs)
    unpacked = [r for p in packs for r in unpack(p.body)]
    assert [r.pop("leaf_hash") for r in unpacked] == [leaf_hash(r) for r in records]
    assert unpacked == records
    assert len({p.pack_id for p in packs}) == len(packs)
    assert pack_records(records, "key", 10_000) == packs
    header = json.loads(packs[0].body.split("\n", 1)[0])
    # What every event shares travels once a pack; doubles never do (0.0 == -0.0).
    assert {"actor_id", "resource", "actor_roles"} <= header["common"].keys()
    assert not {"event_id", "latency_ms"} & header["common"].keys()


def test_equal_doubles_with_other_text_are_not_shared():
    records = leaf_records(2)
    records[0]["latency_ms"], records[1]["latency_ms"] = 0.0, -0.0
    (pack,) = pack_records(records, "key", 100_000)
    assert [r["latency_ms"] for r in unpack(pack.body)] == [0.0, -0.0]
    assert '"latency_ms":-0.0' in pack.body


def test_server_side_events_are_recorded_through_the_same_contract(pipeline):
    auditor = WORKLOAD.__class__(kind="person", actor_id="user-sub-1", client_id="people-client", roles=("auditor",))
    self_audit = QueueSelfAudit(SqsQueue(pipeline.sqs, pipeline.queue_url), clock=lambda: NOW)
    ids = self_audit.record(auditor, [{
        "event_type": "audit_access", "occurred_at": "2026-11-26T06:59:00Z", "action": "query",
        "resource": "query:model_timeline", "details": {"outcome": "started"},
    }])
    (record,) = [record for m in pipeline.receive() for record in unpack(pipeline.pack_body(m))]
    assert record["event_id"] == ids[0]
    assert (record["actor_id"], record["actor_type"], record["actor_roles"]) == ("user-sub-1", "user", ["auditor"])
    with pytest.raises(DomainError):
        self_audit.record(auditor, [{"event_type": "audit_access", "occurred_at": "x"}])


def test_personal_data_without_a_subject_is_refused(pipeline):
    with pytest.raises(DomainError) as caught:
        pipeline.post(json.dumps({**EVENT, "personal_data": {"name": "Ann"}}))
    assert (status_of(caught.value), caught.value.errors[0]["rule"]) == (422, "requires_subject_ref")
    assert "Ann" not in json.dumps(error_response(caught.value))
    assert pipeline.receive() == []


def test_lineage_scope_sends_lineage_events_only(pipeline):
    lineage_only = WORKLOAD.__class__(kind="workload", actor_id="etl", client_id="etl", scopes=("lineage.write",))
    lineage = {"event_type": "lineage", "occurred_at": "2026-11-26T06:59:00Z", "run_id": "r1",
               "inputs": ["s3://raw"], "outputs": ["s3://clean"]}
    assert pipeline.post(json.dumps(lineage), principal=lineage_only)[0] == 202
    with pytest.raises(DomainError) as caught:
        pipeline.post(json.dumps({"events": [lineage, EVENT]}), principal=lineage_only)
    assert (status_of(caught.value), caught.value.errors[0]["path"]) == (403, "events[1].event_type")
    assert len(pipeline.receive()) == 1


def test_an_event_larger_than_a_queue_message_is_413_and_nothing_is_sent(pipeline):
    import dataclasses

    small = dataclasses.replace(pipeline.limits, max_message_bytes=2_000)
    pipeline.ingest.limits = pipeline.ingest.recorder.limits = small
    events = [{**EVENT, "event_id": "small"}, {**EVENT, "event_id": "big", "features": {"notes": "x" * 3_000}}]
    with pytest.raises(DomainError) as caught:
        pipeline.post(json.dumps({"events": events}))
    assert (status_of(caught.value), caught.value.code) == (413, "event_too_large")
    assert pipeline.receive() == []
    with pytest.raises(DomainError) as again:  # the same request, resent, fails the same way
        pipeline.post(json.dumps({"events": events}))
    assert status_of(again.value) == 413
    events[1].update(event_id="big-2", features={"notes": "short"})  # fixed: new content, new id
    assert pipeline.post(json.dumps({"events": events}))[0] == 202
