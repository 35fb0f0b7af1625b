"""The monitors on AWS, generated from lambdas/mlaudit/monitors/monitors.json: the schedule
runs the monitors function, each monitor has an alarm on its EMF metric wired to the
monitors' encrypted topic, and each monitored model has a row on the dashboard."""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_events as events
from mlaudit.monitors import load as load_monitors
from mlaudit.resources import service_name
from mlaudit.settings import Env

from tests.infra.synth import Synth


def test_the_schedule_runs_the_monitors_function(synth: Synth) -> None:
    function_id = synth.logical_id("Monitors/Evaluator/Function")
    (rule,) = [r for r in synth.props("AWS::Events::Rule") if r.get("Description") == "Evaluate the monitors"]
    every = Duration.minutes(synth.settings.monitor_interval_minutes)
    assert rule["ScheduleExpression"] == events.Schedule.rate(every).expression_string
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    env = synth.resources[function_id]["Properties"]["Environment"]["Variables"]
    assert env[Env.MONITORS_TOPIC_ARN] == {"Ref": synth.logical_id("Monitors/AlarmTopic")}


def test_each_monitor_alarms_on_its_metric_to_the_encrypted_topic(synth: Synth) -> None:
    monitors = load_monitors()
    topic = synth.logical_id("Monitors/AlarmTopic")
    assert synth.resources[topic]["Properties"]["KmsMasterKeyId"]
    alarms = [a for a in synth.props("AWS::CloudWatch::Alarm") if a.get("MetricName") == "monitor_alarm"]
    service = service_name(synth.settings.name_prefix, "monitors")
    assert sorted([d["Value"] for d in a["Dimensions"] if d["Name"] == "monitor"] for a in alarms) == sorted(
        [m.name] for m in monitors)
    for alarm in alarms:
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        assert dimensions["service"] == service and dimensions["model_id"] in {m.model_id for m in monitors}
        assert alarm["Namespace"] == synth.settings.name_prefix and alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["AlarmActions"] == [{"Ref": topic}] and alarm["OKActions"] == [{"Ref": topic}]


def test_each_model_has_its_monitors_on_the_dashboard(synth: Synth) -> None:
    monitors = load_monitors()
    body = json.dumps(synth.resources[synth.logical_id("Monitoring/Dashboard")]["Properties"]
                      ["DashboardBody"]).replace("\\", "")
    for model in sorted({m.model_id for m in monitors}):
        for monitor in (m for m in monitors if m.model_id == model):
            assert f'"title":"{monitor.name} ({monitor.kind})"' in body
            assert f'"value":{monitor.threshold}' in body or f'"value":{monitor.threshold:g}' in body
        assert '"monitor_value"' in body and f"{model}: monitors" in body
