"""Monitoring: each alarm with its threshold, wired to the encrypted topic."""

from __future__ import annotations

import pytest

from stacks.monitoring import BEHIND_THE_API
from tests.infra.synth import Synth


def _alarm(synth: Synth, name: str) -> dict:
    return synth.resources[synth.logical_id(f"Monitoring/{name}")]["Properties"]


@pytest.mark.parametrize(
    ("name", "metric", "threshold"),
    [
        ("DeadLetterQueueNotEmpty", "ApproximateNumberOfMessagesVisible", lambda s: 0),
        ("WriterFallingBehind", "ApproximateAgeOfOldestMessage", lambda s: s.writer_max_message_age_seconds),
        ("Api5xx", "5XXError", lambda s: 0),
        ("ApiLatencyP99", "Latency", lambda s: s.api_p99_latency_ms),
        ("WriterErrors", "Errors", lambda s: 0),
        ("CheckpointErrors", "Errors", lambda s: 0),
        ("WriterThrottles", "Throttles", lambda s: 0),
    ],
)
def test_alarm_threshold(synth: Synth, name: str, metric: str, threshold) -> None:
    alarm = _alarm(synth, name)
    assert alarm["MetricName"] == metric
    assert alarm["Threshold"] == threshold(synth.settings)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    topic = {"Ref": synth.logical_id("Monitoring/AlarmTopic")}
    assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]


def test_p99_latency_alarm_uses_the_p99_statistic(synth: Synth) -> None:
    assert _alarm(synth, "ApiLatencyP99")["ExtendedStatistic"] == "p99"


def test_every_function_failing_pages_someone(synth: Synth) -> None:
    # Its own errors alarm, or (a route's function, the authorizer) the API's 5xx alarm
    functions = set(synth.of_type("AWS::Lambda::Function"))
    watched = {
        dim["Value"]["Ref"]
        for alarm in synth.props("AWS::CloudWatch::Alarm")
        if alarm["MetricName"] == "Errors"
        for dim in alarm["Dimensions"]
    }
    scopes = {**{n: f"Route-{n}" for n in BEHIND_THE_API}, "ingest": "Ingestion/Ingest", "authorizer": "Authorizer"}
    behind_the_api = {synth.logical_id(f"{scopes[name]}/Function") for name in BEHIND_THE_API}
    assert watched == functions - behind_the_api and watched
    assert _alarm(synth, "Api5xx")["MetricName"] == "5XXError"


def test_email_subscription_only_when_set(default: Synth, custom: Synth) -> None:
    assert not default.of_type("AWS::SNS::Subscription")
    # The operations alarms' topic and the monitors' (stacks/monitors.py).
    subscriptions = custom.props("AWS::SNS::Subscription")
    assert {s["TopicArn"]["Ref"] for s in subscriptions} == {
        custom.logical_id("Monitoring/AlarmTopic"), custom.logical_id("Monitors/AlarmTopic")}
    for subscription in subscriptions:
        assert subscription["Protocol"] == "email" and subscription["Endpoint"] == "ops@example.com"


def test_one_dashboard_holds_the_pipeline_the_models_and_their_monitors(synth: Synth) -> None:
    # $3 a month each: one, whatever the number of monitored models (tests/infra/test_monitors_stack.py)
    assert set(synth.of_type("AWS::CloudWatch::Dashboard")) == {synth.logical_id("Monitoring/Dashboard")}


def test_models_dashboard_searches_the_emf_metrics_per_model(synth: Synth) -> None:
    import json

    body = json.dumps(synth.resources[synth.logical_id("Monitoring/Dashboard")]["Properties"]["DashboardBody"])
    body = body.replace("\\", "")  # JSON inside JSON inside a CloudFormation join: drop the escapes
    namespace = synth.settings.name_prefix
    for metric in ("predictions", "prediction_latency_ms", "dq_violations", "prediction_score", "rejected_events",
                   "write_lag_ms", "checkpoint_age_seconds"):
        assert f'MetricName="{metric}"' in body, metric
    assert "{" + namespace + ",model_id,model_version,service}" in body


def test_signer_silence_alarms_on_missing_data(synth: Synth) -> None:
    alarm = _alarm(synth, "SignerSilent")
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Threshold"]) == ("log_size", "SampleCount", 1)
    assert alarm["ComparisonOperator"] == "LessThanThreshold" and alarm["TreatMissingData"] == "breaching"
    assert alarm["Period"] == 180 * synth.settings.checkpoint_interval_minutes
    assert {"Name": "function", "Value": "checkpoint"} in alarm["Dimensions"]
