"""The whole path over real HTTP against `python -m local serve`: machine token ->
POST /v1/events -> SQS -> writer -> Parquet in the bucket, read back with pyarrow.

Every test uses its own event-id prefix, so tests sharing the session's stack
never see each other's events.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from mlaudit.errors import masked_name
from mlaudit.ingest.identity import request_key
from mlaudit.ingest.service import pack_key
from mlaudit.leaf import leaf_hash, leaf_record_from_row
from mlaudit.pack import PACK_ID_ATTRIBUTE, pack_records
from mlaudit.principal import Principal
from mlaudit_client import AuditClient, AuditRejected

from local import client
from local.oauth import moto_signing_key
from tests.integration.helpers import drained, lake_rows, make_events, post


def test_events_in_equal_parquet_out_field_by_field(local_stack, machine_token):
    prefix = f"eq-{uuid.uuid4().hex[:8]}"
    sent = make_events(prefix)
    answer = post(local_stack, {"events": sent}, machine_token(["events.write"]))
    assert answer.status_code == 202, answer.text
    assert answer.json()["event_ids"] == [e["event_id"] for e in sent]
    drained(local_stack)
    rows = {r["event_id"]: r for r in lake_rows(local_stack, prefix)}
    assert len(rows) == len(sent)
    machine = local_stack["machine_client"]["client_id"]
    for event in sent:
        row = rows[event["event_id"]]
        for name, value in event.items():
            if name == "occurred_at":
                assert row[name] == datetime.fromisoformat(value)
            elif name in ("features", "explanation", "metrics"):
                assert json.loads(row[name]) == value
            else:
                assert row[name] == value, name
        # Server-owned fields come from the token and the request.
        assert (row["actor_id"], row["client_id"], row["actor_type"]) == (machine, machine, "service")
        assert row["source_ip"] == "127.0.0.1" and row["user_agent"].startswith("python-requests")
        assert row["event_date"] == row["received_at"].strftime("%Y-%m-%d")
        assert leaf_hash(leaf_record_from_row(row, row["event_type"])) == row["leaf_hash"]
    labels = [r for r in rows.values() if r["event_type"] == "ground_truth"]
    assert all(r["dq_status"] == "pass" for r in labels)


def test_client_retry_and_redelivered_message_store_nothing_twice(local_stack, machine_token):
    prefix = f"once-{uuid.uuid4().hex[:8]}"
    sent = make_events(prefix, 12)
    token = machine_token(["events.write"])
    first = post(local_stack, {"events": sent}, token)
    retry = post(local_stack, {"events": sent}, token)
    assert first.status_code == retry.status_code == 202
    assert first.json() == retry.json()
    drained(local_stack)
    rows = lake_rows(local_stack, prefix)
    assert sorted(r["event_id"] for r in rows) == sorted(e["event_id"] for e in sent)

    # SQS delivers at least once: put the very same pack (same id, same bytes) back.
    machine = local_stack["machine_client"]["client_id"]
    principal = Principal(kind="workload", actor_id=machine, client_id=machine)
    order = {e["event_id"]: i for i, e in enumerate(sent)}
    records = [leaf_record_from_row(r, r["event_type"]) for r in sorted(rows, key=lambda r: order[r["event_id"]])]
    ids = [e["event_id"] for e in sent]
    (pack,) = pack_records(records, pack_key(request_key(principal, ids), ids), 240_000)
    sqs = client.aws_client(local_stack, "sqs")
    sqs.send_message(QueueUrl=local_stack["queue_url"], MessageBody=pack.body, MessageAttributes={
        PACK_ID_ATTRIBUTE: {"DataType": "String", "StringValue": pack.pack_id}})
    drained(local_stack)
    again = lake_rows(local_stack, prefix)
    assert len(again) == len(sent)
    assert {r["key"] for r in again} == {r["key"] for r in rows}


def test_a_poison_message_reaches_the_dlq_while_its_batch_lands(local_stack, machine_token):
    prefix = f"dlq-{uuid.uuid4().hex[:8]}"
    sqs = client.aws_client(local_stack, "sqs")
    marker = f"poison-{prefix}"
    sqs.send_message(QueueUrl=local_stack["queue_url"], MessageBody=f'{{"not":"a leaf","marker":"{marker}"}}',
                     MessageAttributes={PACK_ID_ATTRIBUTE: {"DataType": "String", "StringValue": marker}})
    sent = make_events(prefix, 8)
    assert post(local_stack, {"events": sent}, machine_token(["events.write"])).status_code == 202
    drained(local_stack)
    assert len(lake_rows(local_stack, prefix)) == 8
    deadline = time.monotonic() + 30
    bodies: list[str] = []
    while time.monotonic() < deadline and not any(marker in b for b in bodies):
        answer = sqs.receive_message(QueueUrl=local_stack["dlq_url"], MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     VisibilityTimeout=60)
        bodies += [m["Body"] for m in answer.get("Messages", [])]
    assert any(marker in b for b in bodies), "the poison message never reached the DLQ"


def _forged_token(config) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    machine = config["machine_client"]["client_id"]
    now = int(time.time())
    return jwt.encode({"sub": machine, "client_id": machine, "token_use": "access", "iss": config["issuer"],
                       "scope": "mlaudit/events.write", "iat": now, "exp": now + 600}, key, algorithm="RS256",
                      headers={"kid": jwt.get_unverified_header(client.machine_token(config))["kid"]})


def _bad_inputs(prefix: str) -> list[tuple[str, object, str, int, str]]:
    """(name, body, content type, status, words the answer must contain)."""
    good = make_events(prefix, 1)[0]

    def one(**change):
        return {"events": [{**good, "event_id": f"{prefix}-{len(change)}-{uuid.uuid4().hex[:6]}", **change}]}

    nan_body = json.dumps(one(prediction_score=1.0)).replace('"prediction_score": 1.0', '"prediction_score": NaN')
    inf_body = json.dumps(one(features={"x": 1.0})).replace('{"x": 1.0}', '{"x": Infinity}')
    return [
        ("malformed JSON", b'{"events": [', "application/json", 400, "not valid JSON"),
        ("wrong content type", json.dumps(one()), "text/plain", 415, "application/json"),
        ("body over the limit", b'{"events": []' + b" " * 1_000_001 + b"}", "application/json", 413, "larger than"),
        ("batch over the limit", {"events": [{**good, "event_id": f"{prefix}-b{i}"} for i in range(501)]},
         "application/json", 413, "at most 500"),
        ("unknown field", one(colour="red"), "application/json", 422, "events[0]." + masked_name("colour")),
        ("unknown event type", one(event_type="model_exploded"), "application/json", 422, "events[0].event_type"),
        ("wrong type", one(prediction_score="high"), "application/json", 422, "events[0].prediction_score"),
        ("string too long", one(model_id="m" * 129), "application/json", 422, "string_too_long"),
        ("NaN", nan_body, "application/json", 422, "finite"),
        ("Infinity", inf_body, "application/json", 422, "finite"),
        ("server-owned field", one(actor_id="root"), "application/json", 422, "server_owned_field"),
    ]


def test_bad_input_matrix_answers_and_stores_nothing(local_stack, machine_token):
    prefix = f"bad-{uuid.uuid4().hex[:8]}"
    token = machine_token(["events.write"])
    for name, body, content_type, status, words in _bad_inputs(prefix):
        answer = post(local_stack, body, token, content_type)
        assert answer.status_code == status, f"{name}: {answer.status_code} {answer.text[:300]}"
        assert words in answer.text, f"{name}: {answer.text[:300]}"
        assert answer.json()["message"], name

    credentials = [
        ("missing token", None, 401),
        ("bad signature", _forged_token(local_stack), 401),
        ("expired token", _expired_token(local_stack), 401),
        ("token without the scope", machine_token(["events.read"]), 403),
    ]
    body = {"events": make_events(prefix, 1)}
    for name, bad_token, status in credentials:
        answer = post(local_stack, body, bad_token)
        assert answer.status_code == status, f"{name}: {answer.status_code} {answer.text[:300]}"
        # The same answer for every bad token: nothing that tells an attacker which check failed.
        assert "expired" not in answer.text and "signature" not in answer.text, name

    drained(local_stack)
    assert lake_rows(local_stack, prefix) == []


def _expired_token(config) -> str:
    key, kid = moto_signing_key()
    machine = config["machine_client"]["client_id"]
    past = int(time.time()) - 7200
    return jwt.encode({"sub": machine, "client_id": machine, "token_use": "access", "iss": config["issuer"],
                       "scope": "mlaudit/events.write", "iat": past, "exp": past + 3600}, key,
                      algorithm="RS256", headers={"kid": kid})


def test_dq_violations_are_stored_not_rejected(local_stack, machine_token):
    prefix = f"dq-{uuid.uuid4().hex[:8]}"
    event = {**make_events(prefix, 1)[0], "prediction_score": 1.5, "latency_ms": -3.0}
    answer = post(local_stack, {"events": [event]}, machine_token(["events.write"]))
    assert answer.status_code == 202
    assert answer.json()["dq"]["fail"] == 1
    drained(local_stack)
    (row,) = lake_rows(local_stack, prefix)
    assert row["dq_status"] == "fail"
    assert set(row["dq_violations"]) == {"prediction.score_in_unit_interval", "prediction.latency_non_negative"}


def test_workload_client_batches_retries_and_explains_rejections(local_stack):
    machine = local_stack["machine_client"]
    audit = AuditClient(local_stack["api_url"], local_stack["token_url"], machine["client_id"],
                        machine["client_secret"])
    prefix = f"client-{uuid.uuid4().hex[:8]}"
    events = make_events(prefix, 1200)
    answers = audit.send(events)
    assert [a["accepted"] for a in answers] == [500, 500, 200]
    assert audit.send(events[:500])[0] == answers[0]  # the same ids again: the first answer, nothing new
    with pytest.raises(AuditRejected) as caught:
        audit.send([{**events[0], "event_id": f"{prefix}-x", "colour": "red"}])
    assert caught.value.status == 422
    assert caught.value.body["errors"][0]["path"] == "events[0]." + masked_name("colour")  # never echoed
    drained(local_stack)
    assert len(lake_rows(local_stack, prefix)) == 1200
