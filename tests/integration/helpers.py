"""Helpers for tests that drive the local stack over HTTP and read its lake back."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import requests
from mlaudit.layout import parse_partition
from mlaudit.parquet import read_parquet_bytes

from local import client

EVENTS = "/v1/events"


def make_events(prefix: str, n: int = 40) -> list[dict]:
    now = datetime.now(UTC).replace(microsecond=123000).isoformat()
    events = []
    for i in range(n):
        kind = ("prediction", "ground_truth", "model_deployed", "training_completed")[i % 4]
        event = {"event_id": f"{prefix}-{i:04d}", "event_type": kind, "occurred_at": now,
                 "workload": "pytest", "environment": "test", "model_id": "churn", "model_version": "7"}
        if kind == "prediction":
            event.update(prediction_id=f"{prefix}-p{i}", prediction_label="churn", prediction_score=i / 100,
                         latency_ms=1.5 * i, features={"tenure": i, "plan": "gold", "spend": [1.25, None]},
                         explanation={"tenure": -0.25, "plan": 0.125})
        elif kind == "ground_truth":
            event.update(label_for_prediction_id=f"{prefix}-p{i - 1}", true_label="stay")
        elif kind == "training_completed":
            event.update(run_id=f"{prefix}-run", dataset_id="s3://data/churn", dataset_version="v3",
                         metrics={"auc": 0.91}, inputs=["s3://data/churn/v3"], outputs=["s3://models/churn/7"])
        events.append(event)
    return events


def post(config, body, token, content_type="application/json"):
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(config["api_url"] + EVENTS, data=data, headers=headers, timeout=60)


def lake_rows(config, prefix: str) -> list[dict]:
    s3 = client.aws_client(config, "s3")
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=config["bucket"], Prefix="events/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=config["bucket"], Key=item["Key"])["Body"].read()
            event_date, event_type = parse_partition(item["Key"])
            for row in read_parquet_bytes(body).to_pylist():
                if row["event_id"].startswith(prefix):
                    rows.append({**row, "event_type": event_type, "event_date": event_date, "key": item["Key"]})
    return rows


def drained(config):
    assert client.wait_drained(config, timeout=90), "the writer did not drain the queue"


def get(config, path, token, **params):
    return requests.get(config["api_url"] + path, headers={"Authorization": f"Bearer {token}"},
                        params=params, timeout=60)


def signed_checkpoint_covering(config, token, size, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = get(config, "/v1/checkpoints/latest", token)
        if answer.status_code == 200 and answer.json()["checkpoint"]["tree_size"] >= size:
            return answer.json()
        time.sleep(0.5)
    raise AssertionError(f"no checkpoint covering {size} files within {timeout} s")
