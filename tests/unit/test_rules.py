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
    ]:
        path = tmp_path / "rules.json"
        path.write_text(json.dumps({"rules": [bad]}))
        with pytest.raises(ValueError, match=words):
            load_rules(path)
