"""The captured sources' mappers on real-shaped inputs (tests/fixtures/capture): each
input becomes the contract event it stands for, which the contract takes as it is; a
malformed input is refused naming its path and the rule it breaks."""

from __future__ import annotations

import copy
import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlaudit.capture import Refused, bedrock, contract_problems, dms, dynamodb, sagemaker
from mlaudit.capture.files import captured_format
from mlaudit.capture.tables import MappingError, load
from mlaudit.imports.readers import Unreadable
from mlaudit.ingest.request import IngestLimits

from tests.fixtures.capture import load as fixture

LIMITS = IngestLimits()
TRAINING_JOB = "arn:aws:sagemaker:us-east-1:123456789012:training-job/churn-xgb-2026-11-30"


def accepted(event):
    assert contract_problems(event, LIMITS) == [], event
    return event


def test_a_training_job_becomes_started_then_completed_with_its_metrics_channels_and_model():
    started = accepted(sagemaker.map_event(fixture("sagemaker_training_in_progress")))
    completed = accepted(sagemaker.map_event(fixture("sagemaker_training_completed")))
    assert (started["event_type"], completed["event_type"]) == ("training_started", "training_completed")
    assert started["event_id"] == "844e2571-85d4-695f-b930-0153b71dcb42"  # the EventBridge id
    assert started["occurred_at"] == "2026-11-30T12:00:05.000Z"
    assert completed["occurred_at"] == "2026-11-30T12:21:13.000Z"
    for event in (started, completed):
        assert event["resource"] == TRAINING_JOB and event["run_id"] == "churn-xgb-2026-11-30"
        assert (event["model_id"], event["model_version"]) == ("churn", "8")
        assert event["inputs"] == ["s3://ml-data/churn/2026-11/train/", "s3://ml-data/churn/2026-11/validation/"]
        assert event["dataset_id"] == "s3://ml-data/churn/2026-11/train/"
    assert completed["metrics"] == {"validation:auc": 0.912, "train:auc": 0.947}
    assert completed["outputs"] == ["s3://ml-models/churn/churn-xgb-2026-11-30/output/model.tar.gz"]
    assert completed["details"]["hyperparameters"]["max_depth"] == "5"
    assert completed["details"]["captured_from"]["detail_type"] == "SageMaker Training Job State Change"


def test_a_failed_job_keeps_its_reason_and_later_steps_of_a_running_job_record_nothing():
    failed = accepted(sagemaker.map_event(fixture("sagemaker_training_failed")))
    assert failed["event_type"] == "training_failed"
    assert failed["details"]["failure_reason"].startswith("AlgorithmError")
    assert "model_version" not in failed  # the tags name the model only
    running = fixture("sagemaker_training_in_progress")
    running["detail"]["SecondaryStatus"] = "Downloading"
    assert sagemaker.map_event(running) is None
    running["detail"]["TrainingJobStatus"] = "Stopping"
    assert sagemaker.map_event(running) is None


def test_registry_and_endpoint_changes_become_registration_deployment_and_config_events():
    approved = accepted(sagemaker.map_event(fixture("sagemaker_model_package_approved")))
    assert (approved["event_type"], approved["action"], approved["model_id"], approved["model_version"]) == (
        "model_registered", "approve", "churn", "8")
    assert approved["resource"] == "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/8"
    deployed = accepted(sagemaker.map_event(fixture("sagemaker_endpoint_in_service")))
    assert (deployed["event_type"], deployed["model_id"], deployed["model_version"]) == ("model_deployed", "churn", "8")
    assert deployed["resource"].endswith(":endpoint/churn-prod")
    config = accepted(sagemaker.map_event(fixture("sagemaker_endpoint_config")))
    assert config["event_type"] == "config_changed" and config["details"]["variants"][0]["model"] == "churn-8"
    pending = fixture("sagemaker_model_package_approved")
    pending["detail"]["ModelPackageStatus"] = "InProgress"
    assert sagemaker.map_event(pending) is None


@pytest.mark.parametrize(("change", "path", "rule"), [
    (lambda e: e.pop("id"), "id", "required"),
    (lambda e: e.update(source="aws.s3"), "source", "allowed"),
    (lambda e: e.update({"detail-type": "SageMaker Image State Change"}), "detail-type", "allowed"),
    (lambda e: e["detail"].pop("TrainingJobName"), "detail.TrainingJobName", "required"),
    (lambda e: e["detail"].update(TrainingJobStatus="Exploded"), "detail.TrainingJobStatus", "allowed"),
    (lambda e: e["detail"].update(TrainingEndTime="yesterday"), "detail.TrainingEndTime", "timestamp"),
    (lambda e: e.update(detail="x"), "detail", "type"),
])
def test_a_malformed_sagemaker_event_is_refused_naming_path_and_rule(change, path, rule):
    event = fixture("sagemaker_training_completed")
    change(event)
    with pytest.raises(Refused) as refused:
        sagemaker.map_event(event)
    assert (refused.value.path, refused.value.rule) == (path, rule)


def test_bedrock_records_become_generative_inference_events_with_hashes_not_text():
    records = fixture("bedrock_invocations")
    events = [accepted(bedrock.map_record(r)) for r in records]
    converse, guarded, about_someone = events
    assert converse["event_type"] == "generative_inference" and converse["event_id"] == records[0]["requestId"]
    assert converse["model_id"] == "anthropic.claude-3-haiku-20240307-v1:0" and converse["action"] == "Converse"
    assert converse["metrics"] == {"input_tokens": 35, "output_tokens": 446} and converse["latency_ms"] == 3640.0
    assert converse["resource"] == "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
    assert converse["details"]["caller_arn"].endswith("assumed-role/support-bot/session-1")
    assert len(converse["details"]["input_sha256"]) == 64 and len(converse["details"]["output_sha256"]) == 64
    assert guarded["details"]["guardrail_action"] == "INTERVENED" and "latency_ms" not in guarded
    assert about_someone["subject_ref"] == "customer-88" and about_someone["resource"].startswith("arn:aws:bedrock:")
    text = json.dumps(events)
    assert "refund" not in text and "pick a lock" not in text and "shipped" not in text  # hashes only
    assert "personal_data" not in text


def test_bedrock_text_is_personal_data_of_its_subject_only_when_switched_on():
    records = fixture("bedrock_invocations")
    about_someone = accepted(bedrock.map_record(records[2], prompts="encrypted"))
    assert about_someone["subject_ref"] == "customer-88"
    assert "shipped" in json.dumps(about_someone["personal_data"]) and about_someone["details"]["text_stored"]
    by_caller = accepted(bedrock.map_record(records[0], prompts="encrypted"))
    assert by_caller["subject_ref"] == records[0]["identity"]["arn"]  # no subject named: the caller's


def test_a_bedrock_log_file_is_read_record_by_record_and_a_bad_record_named():
    records = fixture("bedrock_invocations")
    broken = copy.deepcopy(records[1])
    del broken["modelId"]
    lines = [json.dumps(r) for r in records] + ["{not json", json.dumps(broken), json.dumps({"schemaType": "Other"})]
    body = gzip.compress(("\n".join(lines) + "\n").encode())
    read = list(bedrock.read_log(io.BytesIO(body)))
    assert [n for n, line in read if isinstance(line, bytes)] == [1, 2, 3]
    assert [(n, line.path, line.rule) for n, line in read if isinstance(line, Unreadable)] == [
        (4, "$", "malformed_json"), (5, "modelId", "required"), (6, "schemaType", "allowed")]
    assert [n for n, _ in bedrock.read_log(io.BytesIO(("\n".join(lines[:3])).encode()))] == [1, 2, 3]  # not gzipped
    assert [line.rule for _, line in bedrock.read_log(io.BytesIO(b"\x1f\x8bnot gzip"))] == ["not_gzip"]


def test_landing_keys_name_the_captured_format():
    assert captured_format("bedrock/AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/2026/11/30/15/"
                           "20261130T150000Z_abc.json.gz") == "bedrock"
    assert captured_format("bedrock/AWSLogs/123456789012/BedrockModelInvocationLogs/"
                           "amazon-bedrock-logs-permission-check") is None
    assert captured_format("bedrock/AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/2026/11/30/15/"
                           "data/big.json.gz") is None
    assert captured_format("dms/public/predictions/LOAD00000001.parquet") == "dms"
    assert captured_format("dms/public/predictions/notes.txt") is None
    assert captured_format("imports/a.jsonl") is None


def test_a_pipes_batch_of_stream_records_becomes_a_prediction_and_its_ground_truth():
    mappings = load()
    batch = fixture("dynamodb_pipe_batch")
    inserted, modified, removed = (dynamodb.map_record(r, mappings) for r in batch)
    assert removed is None  # the mapping records nothing for a REMOVE
    accepted(inserted)
    accepted(modified)
    assert inserted["event_type"] == "prediction" and modified["event_type"] == "ground_truth"
    assert (inserted["prediction_id"], inserted["model_version"]) == ("req-1001", "8")
    assert inserted["prediction_score"] == 0.83
    assert inserted["features"] == {"tenure_months": 7, "plan": "gold", "monthly_spend": 42.5}
    assert inserted["subject_ref"] == "customer-1001" and inserted["workload"] == "predictions-table"
    assert (modified["label_for_prediction_id"], modified["true_label"]) == ("req-1001", "stayed")
    assert inserted["event_id"] != modified["event_id"]
    assert dynamodb.map_record(batch[0], mappings)["event_id"] == inserted["event_id"]  # a redelivery: the same id
    assert inserted["details"]["captured_from"]["table"] == "arn:aws:dynamodb:us-east-1:123456789012:table/predictions"
    unchanged = copy.deepcopy(batch[1])
    unchanged["dynamodb"]["OldImage"]["true_label"] = {"S": "stayed"}
    assert dynamodb.map_record(unchanged, mappings) is None  # true_label did not change


@pytest.mark.parametrize(("change", "path", "rule"), [
    (lambda r: r.pop("eventID"), "eventID", "required"),
    (lambda r: r.update(eventName="TRUNCATE"), "eventName", "allowed"),
    (lambda r: r.update(eventSourceARN="arn:aws:dynamodb:us-east-1:1:table/orders/stream/x"),
     "eventSourceARN", "unmapped_table"),
    (lambda r: r["dynamodb"].pop("NewImage"), "dynamodb.NewImage", "required"),
    (lambda r: r["dynamodb"]["NewImage"].update(score={"N": "high"}), "dynamodb.NewImage.score", "type"),
    (lambda r: r["dynamodb"]["NewImage"].pop("created_at") and r["dynamodb"].pop("ApproximateCreationDateTime"),
     "created_at", "required"),
])
def test_a_malformed_stream_record_is_refused_naming_path_and_rule(change, path, rule):
    record = fixture("dynamodb_pipe_batch")[0]
    change(record)
    with pytest.raises(Refused) as refused:
        dynamodb.map_record(record, load())
    assert (refused.value.path, refused.value.rule) == (path, rule)


def _parquet(rows):
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    sink.seek(0)
    return sink


def test_dms_full_load_and_cdc_rows_become_events_with_stable_ids():
    rows = fixture("dms_predictions")
    mapping = load()["predictions"]
    loaded = list(dms.read_dms(_parquet(rows["full_load"]), mapping, "public/predictions"))
    changes = list(dms.read_dms(_parquet(rows["cdc"]), mapping, "public/predictions"))
    events = [json.loads(line) for _, line in loaded + changes if line is not None]
    assert [e["event_type"] for e in events] == ["prediction", "prediction", "prediction", "ground_truth"]
    assert changes[2] == (3, None)  # a delete the mapping records nothing for
    for event in events:
        accepted(event)
    assert events[3]["true_label"] == "churned" and events[3]["label_for_prediction_id"] == "req-2002"
    again = [json.loads(line) for _, line in dms.read_dms(_parquet(rows["full_load"]), mapping, "public/predictions")]
    assert [e["event_id"] for e in again] == [e["event_id"] for e in events[:2]]  # a reload: the same ids


def test_a_dms_row_that_breaks_the_mapping_is_named():
    rows = fixture("dms_predictions")["cdc"]
    rows[0]["Op"] = "X"
    rows[1]["request_id"] = None
    read = list(dms.read_dms(_parquet(rows), load()["predictions"], "public/predictions"))
    assert [(n, line.path, line.rule) for n, line in read if isinstance(line, Unreadable)] == [
        (1, "Op", "allowed"), (2, "request_id", "required")]


def test_an_invalid_mapping_file_names_what_is_wrong(tmp_path):
    path = tmp_path / "tables.json"
    for tables, message in [
        ({"t": {"insert": {"event_type": "nope"}}}, "$.tables.t.insert.event_type"),
        ({"t": {"insert": {"event_type": "prediction", "fields": {"actor_id": "who"}}}},
         "$.tables.t.insert.fields.actor_id"),
        ({"t": {"key": "id", "insert": {"event_type": "prediction"}}}, "$.tables.t.key"),
        ({"t": {}}, "at least one of insert"),
    ]:
        path.write_text(json.dumps({"version": 1, "tables": tables}))
        with pytest.raises(MappingError, match=message.replace("$", r"\$")):
            load(path)
