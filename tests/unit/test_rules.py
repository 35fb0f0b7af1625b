"""Data-quality rules: declarative, checked at load, recorded (never rejecting)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from mlaudit.events import EventIn
from mlaudit.rules import load_rules

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
SKEW = timedelta(minutes=5)
RULES = load_rules()


def verdict(**fields):
    event = EventIn.model_validate_json(json.dumps({"occurred_at": "2026-11-26T06:00:00Z", **fields}))
    return RULES.evaluate(event, NOW, SKEW)


def prediction(**fields):
    return verdict(event_type="prediction", model_id="m", model_version="1", prediction_id="p", **fields)


def test_clean_prediction_passes():
    assert prediction(prediction_score=0.9, latency_ms=3).status == "pass"


@pytest.mark.parametrize(("fields", "rule"), [
    ({"prediction_score": 1.5}, "prediction.score_in_unit_interval"),
    ({"prediction_score": -0.01}, "prediction.score_in_unit_interval"),
    ({"latency_ms": -1}, "prediction.latency_non_negative"),
    ({"occurred_at": "2026-11-26T07:05:01Z"}, "occurred_at.not_in_future"),
])
def test_range_and_clock_rules_fail(fields, rule):
    result = prediction(**fields)
    assert (result.status, result.violations) == ("fail", (rule,))


def test_boundaries_are_inclusive_and_skew_is_allowed():
    assert prediction(prediction_score=0.0, latency_ms=0.0, occurred_at="2026-11-26T07:05:00Z").status == "pass"


def test_required_for_type():
    result = verdict(event_type="prediction", prediction_id="p", model_id="m")
    assert result.violations == ("prediction.names_model_version",)
    assert verdict(event_type="ground_truth").violations == ("ground_truth.names_prediction",)


def test_a_training_run_names_its_data_by_dataset_id_or_by_inputs():
    # The SDK's training_run(datasets=[...]) sends inputs; a job may name one dataset_id instead.
    for event_type in ("training_started", "training_completed"):
        assert verdict(event_type=event_type, run_id="r", inputs=["s3://data/churn@v3"]).status == "pass"
        assert verdict(event_type=event_type, run_id="r", dataset_id="churn").status == "pass"
        for fields in ({"run_id": "r"}, {"run_id": "r", "inputs": []}, {"inputs": ["s3://d"]}):
            result = verdict(event_type=event_type, **fields)
            assert (result.status, result.violations) == ("warn", ("training.names_dataset",)), fields


def test_allowed_values_warn_only():
    result = prediction(environment="moon")
    assert (result.status, result.violations) == ("warn", ("environment.known",))


def test_rule_file_errors_name_the_rule(tmp_path):
    for bad, words in [
        ({"id": "r", "check": "regex", "field": "model_id", "severity": "fail"}, "unknown check"),
        ({"id": "r", "check": "required", "fields": ["colour"], "severity": "fail"}, "'colour' is not a field"),
        ({"id": "r", "check": "required", "fields": ["model_id"], "severity": "fatal"}, "severity"),
        ({"id": "r", "check": "required", "fields": ["model_id"], "severity": "warn", "event_types": ["x"]},
         "unknown event types"),
        ({"id": "r", "check": "required", "fields": [], "any_of": ["inputs", "hue"], "severity": "warn"},
         "'hue' is not a field"),
        ({"id": "r", "check": "required", "fields": [], "any_of": ["inputs"], "severity": "warn"}, "two or more"),
        ({"id": "r", "check": "range", "field": "latency_ms", "any_of": ["inputs"], "severity": "warn"},
         "any_of goes with the 'required' check only"),
    ]:
        path = tmp_path / "rules.json"
        path.write_text(json.dumps({"rules": [bad]}))
        with pytest.raises(ValueError, match=words):
            load_rules(path)
