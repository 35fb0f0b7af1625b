"""Capture without code, on the local stack (docs/capture.md): for each source a real-shaped
input (tests/fixtures/capture, from the AWS documentation) reaches the lake exactly once, a
second delivery of it stores nothing, and a malformed one is refused with its path and rule.

- SageMaker: events put on the bus (moto matches the rule's pattern), then one delivered twice;
- DynamoDB: items written to the captured table (the pipe reads its stream), then a batch
  delivered twice;
- Bedrock and DMS: files dropped in the landing bucket, then the same file again."""

from __future__ import annotations

import copy
import gzip
import io
import json
import time
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from mlaudit.layout import parse_partition
from mlaudit.parquet import read_parquet_bytes

from local import client
from tests.fixtures.capture import load as fixture

TIMEOUT = 120


def lake(config: dict[str, Any], keep: Any) -> list[dict[str, Any]]:
    s3 = client.aws_client(config, "s3")
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=config["bucket"], Prefix="events/"):
        for item in page.get("Contents", []):
            _, event_type = parse_partition(item["Key"])
            for row in read_parquet_bytes(s3.get_object(Bucket=config["bucket"], Key=item["Key"])["Body"].read()
                                          ).to_pylist():
                row["event_type"] = event_type
                if keep(row):
                    rows.append(row)
    return rows


def wait_for(config: dict[str, Any], keep: Any, count: int) -> list[dict[str, Any]]:
    """The lake's rows `keep` selects, once there are `count` (then a little longer: no more come)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        rows = lake(config, keep)
        if len(rows) >= count:
            assert client.wait_drained(config, timeout=TIMEOUT), "the writer did not drain the queue"
            return lake(config, keep)
        time.sleep(1)
    raise AssertionError(f"expected {count} rows, found {len(lake(config, keep))}")


def dead_letters(config: dict[str, Any], timeout: float = TIMEOUT) -> list[dict[str, Any]]:
    sqs, url = client.aws_client(config, "sqs"), config["capture"]["dlq_url"]
    deadline, found = time.monotonic() + timeout, []
    while time.monotonic() < deadline and not found:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                           MessageAttributeNames=["All"]).get("Messages", []):
            attributes = {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}
            found.append({"body": json.loads(message["Body"]), **attributes})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def _renamed(envelope: dict[str, Any], job: str) -> dict[str, Any]:
    renamed = json.loads(json.dumps(envelope).replace("churn-xgb-2026-11-30", job))
    renamed["id"] = str(uuid.uuid4())
    return renamed


def _put(config: dict[str, Any], envelope: dict[str, Any]) -> None:
    """SageMaker's part: the event on the account's default bus."""
    answer = client.aws_client(config, "events").put_events(Entries=[{
        "Source": envelope["source"], "DetailType": envelope["detail-type"], "Detail": json.dumps(envelope["detail"]),
        "Resources": envelope["resources"]}])
    assert answer["FailedEntryCount"] == 0, answer


def _deliver(config: dict[str, Any], door: str, body: Any) -> None:
    client.aws_client(config, "sqs").send_message(QueueUrl=config["capture"][f"{door}_delivery_url"],
                                                  MessageBody=json.dumps(body))


def test_a_sagemaker_training_job_is_captured_once_and_a_redelivery_stores_nothing(local_stack):
    assert local_stack["capture"]["sagemaker_enabled"]
    job = f"churn-xgb-{uuid.uuid4().hex[:12]}"
    for name in ("sagemaker_training_in_progress", "sagemaker_training_completed"):
        _put(local_stack, _renamed(fixture(name), job))
    again = f"churn-xgb-{uuid.uuid4().hex[:12]}"
    completed = _renamed(fixture("sagemaker_training_completed"), again)
    for _ in range(2):  # EventBridge delivers at least once
        _deliver(local_stack, "eventbridge", completed)
    rows = wait_for(local_stack, lambda r: r["run_id"] in (job, again), 3)
    by_run = {(r["run_id"], r["event_type"]): r for r in rows}
    assert len(rows) == 3 and set(by_run) == {(job, "training_started"), (job, "training_completed"),
                                               (again, "training_completed")}
    done = by_run[(job, "training_completed")]
    assert json.loads(done["metrics"]) == {"validation:auc": 0.912, "train:auc": 0.947}
    assert done["resource"] == f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{job}"
    assert (done["actor_id"], done["model_id"], done["model_version"]) == ("aws.sagemaker", "churn", "8")
    assert done["inputs"] == ["s3://ml-data/churn/2026-11/train/", "s3://ml-data/churn/2026-11/validation/"]
    assert by_run[(again, "training_completed")]["event_id"] == completed["id"]


def test_a_malformed_sagemaker_event_is_refused_with_its_reason_and_stores_nothing(local_stack):
    job = f"churn-xgb-{uuid.uuid4().hex[:12]}"
    broken = _renamed(fixture("sagemaker_training_completed"), job)
    del broken["detail"]["TrainingJobStatus"]
    _put(local_stack, broken)
    (refused,) = [m for m in dead_letters(local_stack) if job in json.dumps(m["body"])]
    assert refused["source"] == "sagemaker"
    assert json.loads(refused["refused_because"]) == [
        {"path": "detail.TrainingJobStatus", "rule": "required", "message": "missing"}]
    assert lake(local_stack, lambda r: r["run_id"] == job) == []


def _stream_batch(config: dict[str, Any], request_id: str) -> list[dict[str, Any]]:
    batch = copy.deepcopy(fixture("dynamodb_pipe_batch"))[:2]
    for record in batch:
        record["eventID"] = uuid.uuid4().hex
        record["eventSourceARN"] = config["capture"]["stream_arn"]
    return json.loads(json.dumps(batch).replace("req-1001", request_id))


def test_a_captured_table_changes_reach_the_lake_once_and_a_redelivered_batch_stores_nothing(local_stack):
    assert local_stack["capture"]["pipe_running"]
    table = client.aws_client(local_stack, "dynamodb")
    written = f"req-{uuid.uuid4().hex[:12]}"
    table.put_item(TableName=local_stack["capture"]["table"], Item={
        "request_id": {"S": written}, "model_id": {"S": "churn"}, "model_version": {"N": "8"},
        "score": {"N": "0.61"}, "label": {"S": "churn"}, "created_at": {"S": "2026-11-30T16:06:40Z"},
        "customer_id": {"S": "customer-7"}, "tenure_months": {"N": "3"}})
    table.update_item(TableName=local_stack["capture"]["table"], Key={"request_id": {"S": written}},
                      UpdateExpression="SET true_label = :t", ExpressionAttributeValues={":t": {"S": "stayed"}})
    delivered = f"req-{uuid.uuid4().hex[:12]}"
    batch = _stream_batch(local_stack, delivered)
    for _ in range(2):  # Pipes delivers a batch again after a failure or a restart
        _deliver(local_stack, "pipe", batch)
    ids = (written, delivered)
    rows = wait_for(local_stack, lambda r: r["prediction_id"] in ids or r["label_for_prediction_id"] in ids, 4)
    kinds = sorted((r["prediction_id"] or r["label_for_prediction_id"], r["event_type"]) for r in rows)
    assert kinds == sorted([(written, "prediction"), (written, "ground_truth"), (delivered, "prediction"),
                            (delivered, "ground_truth")])
    prediction = next(r for r in rows if r["prediction_id"] == written)
    assert (prediction["actor_id"], prediction["prediction_score"], prediction["model_version"]) == (
        "aws.dynamodb", 0.61, "8")
    assert json.loads(prediction["features"]) == {"tenure_months": 3}
    # The mapped subject is pseudonymized as always: never in clear.
    assert prediction["subject_pseudonym"] and "customer-7" not in json.dumps(rows, default=str)


def test_a_malformed_stream_record_is_refused_with_its_reason_and_the_rest_stored(local_stack):
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    good, bad = _stream_batch(local_stack, request_id)
    bad["eventName"] = "TRUNCATE"
    _deliver(local_stack, "pipe", [good, bad])
    (refused,) = [m for m in dead_letters(local_stack) if request_id in json.dumps(m["body"])]
    assert refused["source"] == "dynamodb" and refused["body"]["eventID"] == bad["eventID"]
    assert json.loads(refused["refused_because"])[0]["path"] == "eventName"
    (row,) = wait_for(local_stack, lambda r: r["prediction_id"] == request_id, 1)
    assert row["event_type"] == "prediction"


def _drop(config: dict[str, Any], key: str, body: bytes) -> dict[str, Any]:
    s3 = client.aws_client(config, "s3")
    s3.put_object(Bucket=config["landing_bucket"], Key=key, Body=body)
    report = "reports/" + key + ".json"
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            found = json.loads(s3.get_object(Bucket=config["landing_bucket"], Key=report)["Body"].read())
        except s3.exceptions.NoSuchKey:
            time.sleep(0.5)
            continue
        if found.get("version_id") in (None, s3.head_object(Bucket=config["landing_bucket"], Key=key)
                                       .get("VersionId")):
            return found
        time.sleep(0.5)
    raise AssertionError(f"no report for {key}")


def _bedrock_key(config: dict[str, Any]) -> str:
    return (f"bedrock/AWSLogs/{config['account_id']}/BedrockModelInvocationLogs/us-east-1/2026/11/30/15/"
            f"{uuid.uuid4().hex}.json.gz")


def test_bedrock_invocation_logs_are_imported_as_hashes_once_and_a_bad_record_named(local_stack):
    records = json.loads(json.dumps(fixture("bedrock_invocations")))
    for record in records:
        record["requestId"] = str(uuid.uuid4())
    broken = dict(records[0], requestId=str(uuid.uuid4()))
    del broken["modelId"]
    body = gzip.compress("\n".join(json.dumps(r) for r in [*records, broken]).encode())
    report = _drop(local_stack, _bedrock_key(local_stack), body)
    assert (report["state"], report["accepted"], report["rejected"]) == ("imported", 3, 1)
    assert report["rejections"] == [{"line": 4, "errors": [{"path": "modelId", "rule": "required",
                                                            "message": "missing"}]}]
    again = _drop(local_stack, _bedrock_key(local_stack), body)  # the same delivery, under another name
    assert (again["state"], again["accepted"]) == ("already_imported", 3)
    ids = {r["requestId"] for r in records}
    rows = wait_for(local_stack, lambda r: r["event_id"] in ids, 3)
    assert len(rows) == 3 and {r["event_type"] for r in rows} == {"generative_inference"}
    converse = next(r for r in rows if r["event_id"] == records[0]["requestId"])
    assert (converse["actor_id"], converse["model_id"], converse["latency_ms"]) == (
        "aws.bedrock", "anthropic.claude-3-haiku-20240307-v1:0", 3640.0)
    assert json.loads(converse["metrics"]) == {"input_tokens": 35, "output_tokens": 446}
    assert "refund" not in json.dumps(rows, default=str) and len(json.loads(converse["details"])["input_sha256"]) == 64
    guarded = next(r for r in rows if r["event_id"] == records[1]["requestId"])
    assert json.loads(guarded["details"])["guardrail_action"] == "INTERVENED"


def _parquet(rows: list[dict[str, Any]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


def test_a_dms_full_load_and_its_changes_are_imported_once_and_a_bad_row_named(local_stack):
    suffix = uuid.uuid4().hex[:8]
    rows = json.loads(json.dumps(fixture("dms_predictions")).replace("req-200", f"req-{suffix}-"))
    folder = "dms/public/predictions"
    loaded = _drop(local_stack, f"{folder}/LOAD{suffix}.parquet", _parquet(rows["full_load"]))
    changes = rows["cdc"] + [dict(rows["cdc"][0], Op="X", request_id=f"req-{suffix}-9")]
    changed = _drop(local_stack, f"{folder}/2026113009{suffix}.parquet", _parquet(changes))
    assert (loaded["state"], loaded["accepted"]) == ("imported", 2)
    assert (changed["accepted"], changed["ignored"], changed["rejected"]) == (2, 1, 1)
    assert changed["rejections"] == [{"line": 4, "errors": [{"path": "Op", "rule": "allowed",
                                                            "message": "I, U or D"}]}]
    again = _drop(local_stack, f"{folder}/LOAD{suffix}-copy.parquet", _parquet(rows["full_load"]))
    assert again["state"] == "already_imported"
    ours = lambda r: (r["prediction_id"] or r["label_for_prediction_id"] or "").startswith(f"req-{suffix}-")  # noqa: E731
    found = wait_for(local_stack, ours, 4)
    assert sorted((r["event_type"], r["prediction_id"] or r["label_for_prediction_id"]) for r in found) == [
        ("ground_truth", f"req-{suffix}-2"), ("prediction", f"req-{suffix}-1"), ("prediction", f"req-{suffix}-2"),
        ("prediction", f"req-{suffix}-3")]
    assert {r["actor_id"] for r in found} == {"aws.dms"}
