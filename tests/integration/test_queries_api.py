"""Named queries over real HTTP on the local stack: events in through ingest, the
query through the API (DuckDB standing in for Athena), and the run itself audited."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import requests

from local import client
from tests.integration.helpers import drained, lake_rows, post


def call(config, method, path, token, body=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return requests.request(method, config["api_url"] + path, headers=headers,
                            data=None if body is None else json.dumps(body), timeout=60)


def run_query(config, token, name, parameters):
    started = call(config, "POST", f"/v1/queries/{name}", token, {"parameters": parameters})
    assert started.status_code == 202, started.text
    execution = started.json()["execution_id"]
    answer = call(config, "GET", f"/v1/query-executions/{execution}", token)
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "SUCCEEDED", answer.text
    return answer.json()


def test_prediction_volume_query_counts_what_was_ingested_and_is_audited(local_stack, machine_token, user_tokens):
    model = f"model-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    events = [{"event_id": f"{model}-{i}", "event_type": "prediction", "occurred_at": now.isoformat(),
               "model_id": model, "model_version": "2", "prediction_id": f"{model}-p{i}",
               "prediction_score": 0.5, "latency_ms": float(i)} for i in range(1, 101)]
    assert post(local_stack, {"events": events}, machine_token(["events.write"])).status_code == 202
    drained(local_stack)

    analyst = user_tokens("analyst")["id_token"]
    catalog = call(local_stack, "GET", "/v1/queries", analyst)
    assert catalog.status_code == 200
    assert "prediction_volume_latency" in {q["name"] for q in catalog.json()["queries"]}

    today = now.strftime("%Y-%m-%d")
    result = run_query(local_stack, analyst, "prediction_volume_latency",
                       {"from_date": today, "to_date": today, "model_id": model})
    (row,) = result["rows"]
    assert (row["model_id"], row["model_version"], row["predictions"]) == (model, "2", 100)
    assert row["p50_latency_ms"] == 50.0 and row["p99_latency_ms"] == 99.0

    # An injection attempt is bound as a literal: it matches no model.
    injected = run_query(local_stack, analyst, "prediction_volume_latency",
                         {"from_date": today, "to_date": today, "model_id": f"{model}' OR 1=1 --"})
    assert injected["rows"] == []

    # Each run is itself an audit event in the lake, by the person who ran it.
    drained(local_stack)
    s3_rows = [r for r in lake_rows(local_stack, "") if r["event_type"] == "audit_access"
               and r["resource"] == "query:prediction_volume_latency" and model in (r["details"] or "")]
    assert len(s3_rows) >= 2
    assert all(r["actor_type"] == "user" and r["actor_roles"] == ["analyst"] for r in s3_rows)


def test_workloads_and_wrong_roles_cannot_query(local_stack, machine_token, user_tokens):
    assert call(local_stack, "GET", "/v1/queries", machine_token()).status_code == 403
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    analyst = user_tokens("analyst")["id_token"]
    denied = call(local_stack, "POST", "/v1/queries/subject_events", analyst,
                  {"parameters": {"from_date": today, "to_date": today, "subject_pseudonym": "x" * 64}})
    assert denied.status_code == 403
    assert client.wait_drained(local_stack, timeout=60)


def test_admins_and_auditors_read_the_settings_in_force(local_stack, user_tokens):
    from mlaudit.settings import Settings

    started = datetime.now(UTC) - timedelta(seconds=1)  # other tests read the config too
    answer = call(local_stack, "GET", "/v1/config", user_tokens("admin")["id_token"])
    assert answer.status_code == 200, answer.text
    settings = answer.json()["settings"]
    # The local stack switches capture on (its SageMaker rule and captured table): the rest is cdk.json's.
    assert settings["capture_sagemaker"] is True
    assert "table/predictions/stream/" in settings["capture_dynamodb_stream_arn"]
    expected = json.loads(Settings.from_cdk_json().model_dump_json())
    assert settings == {**expected, "capture_sagemaker": True,
                        "capture_dynamodb_stream_arn": settings["capture_dynamodb_stream_arn"]}
    assert call(local_stack, "GET", "/v1/config", user_tokens("analyst")["id_token"]).status_code == 403
    drained(local_stack)
    reads = [r for r in lake_rows(local_stack, "") if r["event_type"] == "audit_access" and r["resource"] == "config"
             and r["received_at"] >= started]
    assert ["admin"] in [r["actor_roles"] for r in reads]
    assert ["analyst"] not in [r["actor_roles"] for r in reads]  # a refused read is not a read
