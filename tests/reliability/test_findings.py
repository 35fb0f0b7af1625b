"""Issue #16, one test per finding: each failed before the fix.

They run on moto (the real adapters) through tests/unit/moto_pipeline.Pipeline."""

from __future__ import annotations

import gzip
import json
import random
import string

import pytest
from mlaudit.errors import DomainError
from mlaudit.http import status_of
from mlaudit.pack import unpack
from mlaudit.writer import Message

from tests.unit.moto_pipeline import Pipeline
from tests.unit.test_auth import authorizer_env  # noqa: F401 - the authorizer on its own environment

EVENT = {"event_type": "prediction", "occurred_at": "2026-11-26T06:59:00Z", "model_id": "m"}


@pytest.fixture
def pipeline(aws):
    return Pipeline()


def refusal(pipeline, body, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        pipeline.post(body, **kwargs)
    assert 400 <= status_of(caught.value) < 500
    return caught.value


# ---- finding 3: a valid-looking timestamp answered 503 forever

@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_finding_3_timestamps_past_the_bounds_are_a_422_naming_the_field(pipeline, moment):
    error = refusal(pipeline, json.dumps({**EVENT, "occurred_at": moment}))
    assert (status_of(error), error.errors[0]["path"], error.errors[0]["rule"]) == (
        422, "events[0].occurred_at", "timestamp_range")
    assert pipeline.receive() == []


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59+00:00",
                                    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00-01:00"])
def test_finding_3_the_bounds_themselves_are_stored(pipeline, moment):
    status, _ = pipeline.post(json.dumps({**EVENT, "occurred_at": moment}))
    assert status == 202
    assert pipeline.drain() == [] and len(pipeline.rows()) == 1


# ---- finding 5: leniency against the published schema

@pytest.mark.parametrize("moment", [
    "2026-11-26 06:59:00Z", "2026-11-26T06:59Z", "2026-11-26T06:59:00,5Z", "2026-11-26T06:59:00+0100",
    "2026-11-26T06:59:60Z", "2026-02-30T06:59:00Z", "2026-11-26T06:59:00.1234567890Z",
])
def test_finding_5_occurred_at_is_rfc3339_exactly(pipeline, moment):
    error = refusal(pipeline, json.dumps({**EVENT, "occurred_at": moment}))
    assert (error.errors[0]["path"], error.errors[0]["rule"]) == ("events[0].occurred_at", "rfc3339")


@pytest.mark.parametrize(
    "moment", ["2026-11-26T06:59:00Z", "2026-11-26t06:59:00.5z", "2026-11-26T06:59:00.123456789+05:30"])
def test_finding_5_what_rfc3339_allows_is_accepted(pipeline, moment):
    assert pipeline.post(json.dumps({**EVENT, "occurred_at": moment}))[0] == 202


def test_finding_5_schema_version_true_is_not_1(pipeline):
    error = refusal(pipeline, json.dumps({**EVENT, "schema_version": True}))
    assert (error.errors[0]["path"], error.errors[0]["rule"]) == ("events[0].schema_version", "int_type")
    assert pipeline.post(json.dumps({**EVENT, "schema_version": 1}))[0] == 202


def test_finding_5_duplicate_keys_are_refused(pipeline):
    body = '{"event_type":"bogus","event_type":"prediction","occurred_at":"2026-11-26T06:59:00Z"}'
    error = refusal(pipeline, body)
    assert (status_of(error), error.code) == (400, "duplicate_key")
    nested = '{"events":[{"event_type":"prediction","occurred_at":"2026-11-26T06:59:00Z","features":{"a":1,"a":2}}]}'
    assert refusal(pipeline, nested).code == "duplicate_key"
    assert pipeline.receive() == []


def test_finding_5_content_encoding_is_gzip_identity_or_415(pipeline):
    body = json.dumps(EVENT).encode()
    assert pipeline.post(gzip.compress(body), content_encoding="gzip")[0] == 202
    # Gzip's magic bytes and then no gzip: refused. (A body without them was decoded by API
    # Gateway already, which passes the header on: mlaudit.api_gateway.)
    assert refusal(pipeline, gzip.compress(body)[:12], content_encoding="gzip").code == "malformed_body"
    assert pipeline.post(body, content_encoding="gzip")[0] == 202  # the same event: acknowledged again
    assert status_of(refusal(pipeline, body, content_encoding="br")) == 415
    assert pipeline.post(body, content_encoding="identity")[0] == 202  # the same event: acknowledged again
    assert pipeline.drain() == [] and len(pipeline.rows()) == 1


def test_finding_5_error_bodies_never_echo_caller_chosen_names(pipeline):
    secret = "jane.doe@example.com"
    error = refusal(pipeline, json.dumps({**EVENT, secret: 1}))
    assert error.errors[0]["rule"] == "unknown_field"
    error = refusal(pipeline, json.dumps({**EVENT, "features": {secret + "x" * 300: 1}}))
    assert error.errors[0]["rule"] == "bounded_json"
    error = refusal(pipeline, json.dumps({"events": [EVENT], secret: 1}))
    for found in (error,):
        assert secret not in json.dumps(found.errors) and "jane" not in found.message
    for body in ({**EVENT, secret: 1}, {**EVENT, "features": {secret + "x" * 300: 1}}):
        assert "jane" not in json.dumps(refusal(pipeline, json.dumps(body)).errors)


# ---- finding 4: one crafted message sent its batch-mates to the DLQ

def test_finding_4_a_pack_with_a_bad_received_at_fails_alone(pipeline):
    pipeline.post(json.dumps({"events": [{**EVENT, "event_id": f"e{i}"} for i in range(3)]}))
    (good,) = pipeline.to_messages(pipeline.receive())
    records = unpack(good.body)
    from mlaudit.leaf import leaf_hash
    from mlaudit.pack import pack_records
    crafted = []
    for record in records:
        record.pop("leaf_hash")
        record["received_at"] = "not-a-timestamp"
        record["leaf_hash"] = leaf_hash(record)
        crafted.append({k: v for k, v in record.items() if k != "leaf_hash"})
    (bad_pack,) = pack_records(crafted, "crafted", 240_000)
    bad = Message("crafted", bad_pack.pack_id, bad_pack.body)
    report = pipeline.writer.process([bad, good])
    assert report.failed_message_ids == ["crafted"]
    assert sorted(r["event_id"] for r in pipeline.rows()) == ["e0", "e1", "e2"]


# ---- finding 1: the same queue message twice in one writer batch

def test_finding_1_the_same_pack_twice_in_one_batch_is_stored_once(pipeline):
    pipeline.post(json.dumps({"events": [{**EVENT, "event_id": f"e{i}"} for i in range(5)]}))
    (message,) = pipeline.to_messages(pipeline.receive())
    copy = Message("copy", message.pack_id, message.body)
    report = pipeline.writer.process([message, copy])
    assert report.failed_message_ids == [] and sum(report.files.values()) == 5
    assert sorted(r["event_id"] for r in pipeline.rows()) == [f"e{i}" for i in range(5)]


def test_finding_1_a_copy_is_retried_with_its_first(pipeline, monkeypatch):
    pipeline.post(json.dumps({"events": [{**EVENT, "event_id": f"e{i}"} for i in range(5)]}))
    (message,) = pipeline.to_messages(pipeline.receive())

    def down(key, body):
        raise ConnectionError("S3 unavailable")

    monkeypatch.setattr(pipeline.writer.objects, "put", down)
    report = pipeline.writer.process([message, Message("copy", message.pack_id, message.body)])
    assert report.failed_message_ids == [message.message_id, "copy"]


def big_request(n=500, start=0, **extra):
    """About 790 KB: four queue messages, one SendMessageBatch each (the text is random, so
    deflated on the queue, mlaudit.pack.queue_body, they stay about their size)."""
    return json.dumps({"events": [
        {**EVENT, "event_id": f"big-{i}", "features": {"text": _noise(i, 1400), "i": i}, **extra}
        for i in range(start, start + n)
    ]})


def _noise(seed: int, length: int) -> str:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    return "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(length))


def test_finding_1_a_resend_after_a_failed_second_send_is_stored_once(pipeline, monkeypatch):
    from botocore.exceptions import ClientError

    real = pipeline.sqs.send_message_batch
    calls = []

    def second_fails(**kwargs):
        calls.append(len(kwargs["Entries"]))
        if 2 <= len(calls) <= 4:  # the second call and the adapter's two retries of it
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "503"},
                               "ResponseMetadata": {"HTTPStatusCode": 503}}, "SendMessageBatch")
        return real(**kwargs)

    monkeypatch.setattr(pipeline.sqs, "send_message_batch", second_fails)
    body = big_request()
    assert 700_000 < len(body) < 1_000_000
    with pytest.raises(Exception):  # noqa: B017,PT011 - the handler answers it 503
        pipeline.post(body)
    assert pipeline.post(body)[0] == 202
    assert len(calls) > 3
    assert pipeline.drain() == []  # every copy in one writer batch
    ids = [r["event_id"] for r in pipeline.rows()]
    assert sorted(ids) == sorted(f"big-{i}" for i in range(500))


# ---- finding 2: event_id is the idempotency key of each event, not of the whole request

def ids_stored(pipeline):
    assert pipeline.drain() == []
    return sorted(r["event_id"] for r in pipeline.rows())


def event(event_id, **extra):
    return {**EVENT, "event_id": event_id, **extra}


def test_finding_2_re_formed_batches_store_each_event_once(pipeline):
    a, b = event("A"), event("B")
    for body in ({"events": [a, b]}, {"events": [a]}, {"events": [b, a]}, a):
        status, answer = pipeline.post(json.dumps(body))
        assert status == 202
    assert answer["event_ids"] == ["A"]
    assert ids_stored(pipeline) == ["A", "B"]


def test_finding_2_the_same_id_with_other_content_is_a_409_naming_the_index(pipeline):
    pipeline.post(json.dumps({"events": [event("A")]}))
    error = refusal(pipeline, json.dumps({"events": [event("C"), event("A", model_id="other")]}))
    assert (status_of(error), error.code) == (409, "idempotency_conflict")
    assert [(p["index"], p["path"], p["rule"]) for p in error.errors] == [(1, "events[1].event_id",
                                                                           "idempotency_conflict")]
    assert ids_stored(pipeline) == ["A"]  # nor C: all or nothing
    assert pipeline.post(json.dumps({"events": [event("C")]}))[0] == 202
    assert ids_stored(pipeline) == ["A", "C"]


def test_finding_2_ids_are_per_sender(pipeline):
    from mlaudit.principal import Principal

    other = Principal(kind="workload", actor_id="client-xyz", client_id="client-xyz", scopes=("events.write",))
    pipeline.post(json.dumps(event("A")))
    assert pipeline.post(json.dumps(event("A", model_id="theirs")), principal=other)[0] == 202
    assert ids_stored(pipeline) == ["A", "A"]


def test_finding_2_a_spool_replay_after_a_partial_failure_stores_once(pipeline, monkeypatch):
    """The first request failed after its first message was sent; the client re-forms its
    batches (other order, other grouping): every event once."""
    from botocore.exceptions import ClientError

    real = pipeline.sqs.send_message_batch
    calls = []

    def second_fails(**kwargs):
        calls.append(1)
        if 2 <= len(calls) <= 4:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "503"}}, "SendMessageBatch")
        return real(**kwargs)

    monkeypatch.setattr(pipeline.sqs, "send_message_batch", second_fails)
    with pytest.raises(Exception):  # noqa: B017,PT011
        pipeline.post(big_request())
    events = json.loads(big_request())["events"]
    for chunk in (events[250:], events[:100], events[100:250], events[::-1][:300]):
        assert pipeline.post(json.dumps({"events": chunk}))[0] == 202
    assert ids_stored(pipeline) == sorted(f"big-{i}" for i in range(500))


def test_finding_2_an_event_claimed_by_a_request_in_flight_is_a_retryable_409(pipeline):
    from mlaudit.ingest.identity import request_key

    from tests.unit.moto_pipeline import NOW, WORKLOAD

    pipeline.post(json.dumps({"events": [event("A")]}))
    # Another request owning B is in flight (claimed, not completed).
    store = pipeline.ingest.store
    key = request_key(WORKLOAD, ["B", "X"])
    store.claim(key, "f", NOW, pipeline.limits)
    from mlaudit.ingest.claims import settle_claims
    from mlaudit.ingest.request import parse_events

    parsed = parse_events(json.dumps({"events": [event("B"), event("X")]}).encode(), pipeline.limits)
    settle_claims(store, WORKLOAD.actor_id, parsed, ["B", "X"], key, NOW, pipeline.limits.idempotency_ttl,
                  pipeline.limits.in_flight, partial=False)
    error = refusal(pipeline, json.dumps({"events": [event("B")]}))
    assert (status_of(error), error.code) == (409, "request_in_progress")
    # Once that attempt is surely dead, B is taken over and stored once.
    pipeline.ingest.clock = lambda: NOW + pipeline.limits.in_flight
    assert pipeline.post(json.dumps({"events": [event("B")]}))[0] == 202
    assert ids_stored(pipeline) == ["A", "B"]


def test_finding_2_after_the_window_an_id_is_new_again(pipeline):
    from tests.unit.moto_pipeline import NOW

    pipeline.post(json.dumps(event("A")))
    later = NOW + pipeline.limits.idempotency_ttl + pipeline.limits.in_flight
    pipeline.ingest.clock = lambda: later
    pipeline.ingest.recorder.clock = lambda: later
    assert pipeline.post(json.dumps(event("A", model_id="new")))[0] == 202


# ---- finding 6: an expired token kept working for the authorizer cache's 5 minutes

@pytest.mark.usefixtures("authorizer_env")
def test_finding_6_a_cached_authorization_ends_with_its_token(monkeypatch):
    import time

    from mlaudit.errors import Unauthenticated
    from mlaudit.handlers import authorizer
    from mlaudit.principal import principal_from_event

    from tests.unit.test_auth import _request, _token, machine_claims

    now = int(time.time())
    result = authorizer.handler(_request(_token(machine_claims(exp=now + 60))), None)
    # What API Gateway caches and replays to the function, for any later request with that token:
    event = {"requestContext": {"authorizer": {k: str(v) for k, v in result["context"].items()}}}
    assert principal_from_event(event).actor_id == result["principalId"]
    leeway = authorizer.APP.service().leeway
    monkeypatch.setattr(time, "time", lambda: now + 60 + leeway + 1)
    with pytest.raises(Unauthenticated) as caught:
        principal_from_event(event)
    assert status_of(caught.value) == 401


# ---- build 7: the verifier names every event stored twice

def test_the_verifier_reports_an_event_stored_twice():
    from mlaudit.adapters.memory import MemoryBucket
    from mlaudit.integrity.primitives.signing import load_public_key
    from mlaudit.integrity.verifier import Verifier
    from mlaudit.layout import partition_prefix

    from tests.unit.test_integrity_support import SIGNER, Lake, parquet_file

    lake = Lake(MemoryBucket())
    key = lake.keys[0]
    clean = Verifier(lake.store, load_public_key(SIGNER.public_key_pem()), jobs=1).run()
    assert "duplicate_event" not in clean.kinds()
    # A later file holds two events already stored (same sender, same event_id), once twice.
    again = [lake.events[key][1], lake.events[key][3], lake.events[key][3]]
    body = parquet_file(again)
    copy = f"{partition_prefix('2026-11-25', 'prediction')}copy.parquet"
    assert lake.store.create(copy, body)
    lake.sink.file_written(copy, body, [bytes.fromhex(e["leaf_hash"]) for e in again],
                           again[0]["event_id"], again[-1]["event_id"])
    report = Verifier(lake.store, load_public_key(SIGNER.public_key_pem()), jobs=1).run()
    duplicates = [p for p in report.problems if p.kind == "duplicate_event"]
    assert [(p.where, p.detail) for p in duplicates] == [
        (f"{copy} event {e['event_id']}", f"the same sender and event_id are stored in {first}")
        for e, first in zip(again, (key, key, key), strict=True)
    ]


def test_finding_1_copies_of_a_pack_in_two_batches_at_once_are_stored_once(pipeline, monkeypatch):
    """Two writer invocations hold copies of one pack; both read the ledger before either
    claims it. The second claim fails: its message is retried, nothing is written twice."""
    pipeline.post(json.dumps({"events": [{**EVENT, "event_id": f"e{i}"} for i in range(5)]}))
    (message,) = pipeline.to_messages(pipeline.receive())
    copy = Message("copy", message.pack_id, message.body)
    assert pipeline.writer.process([message]).failed_message_ids == []
    monkeypatch.setattr(pipeline.writer.ledger, "get", lambda pack_ids: {})  # read before the first claim
    report = pipeline.writer.process([copy])
    assert (report.failed_message_ids, report.files) == (["copy"], {})
    monkeypatch.undo()
    later = pipeline.writer.process([copy])  # redelivered: the ledger now answers
    assert (later.failed_message_ids, later.files, later.skipped_parts) == ([], {}, 1)
    assert len(pipeline.rows()) == 5


def lose_send_answers(pipeline, monkeypatch) -> None:
    """Every SendMessageBatch takes effect but answers with an error (a timeout)."""
    from botocore.exceptions import ReadTimeoutError

    real = pipeline.sqs.send_message_batch

    def lost_answer(**kwargs):
        real(**kwargs)
        raise ReadTimeoutError(endpoint_url="sqs")

    monkeypatch.setattr(pipeline.sqs, "send_message_batch", lost_answer)


def test_finding_2_a_send_without_an_answer_then_a_re_formed_batch_stores_once(pipeline, monkeypatch):
    """Every SendMessageBatch takes effect but answers with an error (a timeout): the
    request fails with its packs maybe queued. The client re-forms its batch: the
    first pack is superseded in the writer's ledger before its events are sent again."""
    lose_send_answers(pipeline, monkeypatch)
    events = [event(f"u{i}") for i in range(6)]
    with pytest.raises(ConnectionError):
        pipeline.post(json.dumps({"events": events}))
    monkeypatch.undo()
    assert pipeline.post(json.dumps({"events": events[3:]}))[0] == 202
    assert pipeline.post(json.dumps({"events": events[:3][::-1]}))[0] == 202
    assert ids_stored(pipeline) == [f"u{i}" for i in range(6)]


def test_finding_2_a_pack_the_writer_took_is_not_superseded(pipeline, monkeypatch):
    lose_send_answers(pipeline, monkeypatch)
    events = [event(f"w{i}") for i in range(4)]
    with pytest.raises(ConnectionError):
        pipeline.post(json.dumps({"events": events}))
    monkeypatch.undo()
    assert pipeline.drain() == []  # the writer stores the pack the queue did take (three copies)
    assert pipeline.post(json.dumps({"events": events[::-1]}))[0] == 202  # acknowledged, nothing sent
    assert pipeline.receive() == []
    assert ids_stored(pipeline) == [f"w{i}" for i in range(4)]


def test_finding_5_what_the_schema_allows_is_stored_and_what_it_refuses_it_says(pipeline):
    from mlaudit.schema_export import contract_schema

    long_key = "k" * 200  # the schema allows keys up to 256 characters
    assert pipeline.post(json.dumps({**EVENT, "features": {long_key: 1}}))[0] == 202
    assert pipeline.drain() == [] and json.loads(pipeline.rows()[0]["features"]) == {long_key: 1}
    occurred_at = contract_schema()["$defs"]["AuditEventV1"]["properties"]["occurred_at"]
    assert "leap second" in occurred_at["description"] and "9999-12-31T23:59:59.999Z" in occurred_at["description"]
    assert ":[0-5][0-9](" in occurred_at["pattern"]  # seconds 00-59: the leap second is refused, and said so
