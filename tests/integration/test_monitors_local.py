"""Monitors end to end on the local stack: the scheduled monitors function evaluates a
monitors file through the named queries on DuckDB, records each evaluation as an audit
event in the lake and publishes a transition to ALARM on the monitors' SNS topic.

One model's score distribution shifts halfway and half of its latest predictions break a
DQ rule; another model's does neither. The drift and DQ-rate monitors of the first fire
(an ALARM on SNS and in the lake); the second's stay OK and publish nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from local import client
from tests.integration.conftest import LOCAL_STACK_ARGS, running_local_stack
from tests.integration.helpers import drained, get, post

SHIFTING, STEADY = f"shifting-{uuid.uuid4().hex[:6]}", f"steady-{uuid.uuid4().hex[:6]}"
N = 100  # predictions per half
INTERVAL = 12  # seconds between evaluations: the events are written between two of them


def _monitors(model: str) -> list[dict[str, Any]]:
    return [
        {"name": "score-drift", "kind": "drift", "metric": "prediction_score", "threshold": 0.2,
         "current_minutes": 10, "baseline_minutes": 60, "min_events": 50},
        {"name": "dq-rate", "kind": "dq_rate", "threshold": 0.1, "window_minutes": 10, "min_events": 50},
    ]


def _predictions(model: str, shift: bool, now: datetime) -> list[dict[str, Any]]:
    """N scores evenly over [0, 1) forty minutes ago (the baseline), then N more three minutes
    ago (the current window): the same again, or, shifted, all in [0.8, 1) and half without
    a prediction_id (rule prediction.has_id)."""
    events = []
    for half, start in (("b", now - timedelta(minutes=40)), ("c", now - timedelta(minutes=3))):
        for i in range(N):
            score = (i + 0.5) / N
            current = half == "c"
            event = {"event_id": f"{model}-{half}{i}", "event_type": "prediction", "model_id": model,
                     "model_version": "1", "occurred_at": (start + timedelta(seconds=i)).isoformat(),
                     "prediction_score": 0.8 + 0.2 * score if shift and current else score}
            if not (shift and current and i % 2):
                event["prediction_id"] = f"{model}-p-{half}{i}"
            events.append(event)
    return events


def _alarm_queue(config: dict[str, Any]) -> tuple[Any, str]:
    """An SQS queue subscribed to the monitors' alarm topic: what an on-call tool would read."""
    sqs, sns = client.aws_client(config, "sqs"), client.aws_client(config, "sns")
    url = sqs.create_queue(QueueName=f"alarms-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=config["monitors_topic_arn"], Protocol="sqs", Endpoint=arn,
                  Attributes={"RawMessageDelivery": "true"})
    return sqs, url


def _read_alarms(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]


def _monitor_state(config: dict[str, Any], token: str) -> dict[tuple[str, str], dict[str, Any]]:
    today = datetime.now(UTC).date()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started = requests.post(config["api_url"] + "/v1/queries/monitor_state", headers=headers, timeout=60, json={
        "parameters": {"from_date": (today - timedelta(days=1)).isoformat(), "to_date": today.isoformat()}})
    assert started.status_code == 202, started.text
    answer = get(config, f"/v1/query-executions/{started.json()['execution_id']}", token).json()
    assert answer["state"] == "SUCCEEDED", answer
    return {(r["model_id"], r["monitor"]): r for r in answer["rows"]}


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("monitors")
    monitors_file = workdir / "monitors.json"
    monitors_file.write_text(json.dumps(
        {"version": 1, "models": {model: {"monitors": _monitors(model)} for model in (SHIFTING, STEADY)}}))
    with running_local_stack(workdir, *LOCAL_STACK_ARGS, "--monitors", str(monitors_file),
                             "--monitor-interval", str(INTERVAL)) as config:
        sqs, queue = _alarm_queue(config)
        now = datetime.now(UTC)
        events = _predictions(SHIFTING, True, now) + _predictions(STEADY, False, now)
        answer = post(config, {"events": events}, client.machine_token(config))
        assert answer.status_code == 202, answer.text
        drained(config)
        written = time.monotonic()
        analyst = client.user_tokens(config, "analyst")["id_token"]
        auditor = client.user_tokens(config, "auditor")["id_token"]
        alarms: list[dict[str, Any]] = []
        state: dict[tuple[str, str], dict[str, Any]] = {}
        deadline = written + 30 * INTERVAL  # generous: on a busy machine an evaluation outlasts its interval
        # Until every monitor was evaluated after the events were written (and that evaluation stored).
        while time.monotonic() < deadline:
            alarms += _read_alarms(sqs, queue)
            if time.monotonic() > written + 2 * INTERVAL:
                state = _monitor_state(config, analyst)
                if len(state) == 4 and all(s["state"] != "INSUFFICIENT_DATA" for s in state.values()):
                    break
            time.sleep(1)
        alarms += _read_alarms(sqs, queue)
        receipts = {a["event_id"]: get(config, f"/v1/events/{a['event_id']}/proof", auditor).status_code
                    for a in alarms}
    return {"alarms": alarms, "state": state, "receipts": receipts, "log": Path(config["log_path"]).read_text()}


def test_the_drift_monitor_fires_on_the_shifted_model_only(monitored: dict[str, Any]) -> None:
    state = monitored["state"]
    # In the lake: the latest evaluation of each monitor (monitor_state over the audit events).
    assert state[(SHIFTING, "score-drift")]["state"] == "ALARM"
    assert state[(SHIFTING, "score-drift")]["value"] > 0.2
    assert state[(STEADY, "score-drift")]["state"] == "OK"
    assert state[(STEADY, "score-drift")]["value"] == pytest.approx(0.0, abs=1e-9)
    # On SNS: the shifted model's drift monitor, once (a transition), never the steady one's.
    fired = [(a["model_id"], a["monitor"]) for a in monitored["alarms"]]
    assert fired.count((SHIFTING, "score-drift")) == 1
    assert not [a for a in fired if a[0] == STEADY]
    drift = next(a for a in monitored["alarms"] if a["monitor"] == "score-drift")
    assert drift["state"] == "ALARM" and drift["threshold"] == 0.2 and drift["events"] == N


def test_the_dq_rate_monitor_fires_on_the_violating_model_only(monitored: dict[str, Any]) -> None:
    state = monitored["state"]
    assert state[(SHIFTING, "dq-rate")]["state"] == "ALARM"
    assert state[(SHIFTING, "dq-rate")]["value"] == pytest.approx(0.5)
    assert state[(STEADY, "dq-rate")] | {"evaluated_at": None} == {
        "monitor": "dq-rate", "model_id": STEADY, "state": "OK", "value": 0.0, "threshold": 0.1, "evaluated_at": None}
    fired = [(a["model_id"], a["monitor"]) for a in monitored["alarms"]]
    assert fired.count((SHIFTING, "dq-rate")) == 1


def test_each_alarm_names_an_audit_event_stored_in_the_lake(monitored: dict[str, Any]) -> None:
    # The evaluation that raised it is an event with a receipt (written and signed).
    assert monitored["receipts"] and set(monitored["receipts"].values()) == {200}


def test_the_evaluations_are_metrics_without_event_values(monitored: dict[str, Any]) -> None:
    documents = [json.loads(line) for line in monitored["log"].splitlines() if line.startswith('{"_aws"')]
    alarms = [d for d in documents if "monitor_alarm" in d]
    shifted = [d for d in alarms if d["model_id"] == SHIFTING and d["monitor"] == "score-drift"]
    assert shifted and shifted[-1]["monitor_alarm"] == [1.0] and shifted[-1]["monitor_value"][0] > 0.2
    steady = [d for d in alarms if d["model_id"] == STEADY and d["monitor"] == "score-drift"]
    assert steady and steady[-1]["monitor_alarm"] == [0.0]
    # Only names and numbers: no event id, score or feature travels in a metric.
    assert all(set(d) <= {"_aws", "model_id", "monitor", "monitor_alarm", "monitor_value", "service"} for d in alarms)
