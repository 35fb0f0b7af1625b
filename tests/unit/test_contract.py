"""The v1 contract: what is accepted, what is refused and how the refusal reads."""

from __future__ import annotations

import json

import jsonschema
import pytest
from mlaudit import schema_export
from mlaudit.errors import DomainError, masked_name
from mlaudit.events import JSON_MAX_BYTES, JSON_MAX_DEPTH, JSON_MAX_ITEMS
from mlaudit.http import error_response, status_of
from mlaudit.ingest.request import IngestLimits, parse_events
from mlaudit.layout import COLUMN_NAMES, LEAF_FIELDS, PARTITION_KEYS
from mlaudit.schema_export import REPO_DOC

GOOD = {"event_type": "prediction", "occurred_at": "2026-11-26T06:00:00Z", "model_id": "m", "model_version": "1",
        "prediction_score": 0.5}


def _nested(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


def refused(body: str | bytes, limits: IngestLimits = IngestLimits()) -> DomainError:
    with pytest.raises(DomainError) as caught:
        parse_events(body.encode() if isinstance(body, str) else body, limits)
    return caught.value


def test_single_event_and_batch_are_both_accepted():
    assert len(parse_events(json.dumps(GOOD).encode(), IngestLimits())) == 1
    assert len(parse_events(json.dumps({"events": [GOOD, GOOD]}).encode(), IngestLimits())) == 2


@pytest.mark.parametrize(
    ("change", "path", "rule"),
    [
        ({"colour": "red"}, "events[0]." + masked_name("colour"), "unknown_field"),
        ({"event_type": "model_exploded"}, "events[0].event_type", "unknown_value"),
        ({"prediction_score": "0.5"}, "events[0].prediction_score", "float_type"),
        ({"latency_ms": True}, "events[0].latency_ms", "float_type"),
        ({"model_id": "x" * 129}, "events[0].model_id", "string_too_long"),
        ({"occurred_at": "2026-11-26T06:00:00"}, "events[0].occurred_at", "timezone_aware"),
        ({"occurred_at": 1764136800}, "events[0].occurred_at", "datetime_type"),
        ({"actor_id": "someone-else"}, "events[0].actor_id", "server_owned_field"),
        ({"received_at": "2026-11-26T06:00:00Z"}, "events[0].received_at", "server_owned_field"),
        ({"leaf_hash": "00"}, "events[0].leaf_hash", "server_owned_field"),
        ({"features": _nested(JSON_MAX_DEPTH + 1)}, "events[0].features", "bounded_json"),
        ({"features": {f"k{i}": i for i in range(JSON_MAX_ITEMS + 1)}}, "events[0].features", "bounded_json"),
        ({"metrics": {"blob": "x" * JSON_MAX_BYTES}}, "events[0].metrics", "bounded_json"),
        ({"inputs": ["s3://d"] * 101}, "events[0].inputs", "too_long"),
        ({"schema_version": 2}, "events[0].schema_version", "unknown_value"),
    ],
)
def test_contract_violations_name_the_field_and_rule(change, path, rule):
    error = refused(json.dumps({"events": [GOOD, {**GOOD, **change}]}).replace('"events[0]', '"events[1]'))
    assert status_of(error) == 422
    problem = next(p for p in error.errors if p["index"] == 1)
    assert problem["path"] == path.replace("[0]", "[1]")
    assert problem["rule"] == rule
    assert problem["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(literal):
    head = '{"event_type":"prediction","occurred_at":"2026-11-26T06:00:00Z"'
    error = refused(head + f',"prediction_score":{literal}}}')
    assert (status_of(error), error.errors[0]["path"], error.errors[0]["rule"]) == (
        422, "events[0].prediction_score", "finite_number")
    nested = refused(head + f',"features":{{"x":{literal}}}}}')
    assert nested.errors[0]["path"] == "events[0].features"
    assert "finite" in nested.errors[0]["message"]


def test_malformed_json_is_400():
    error = refused('{"event_type": "prediction",')
    assert (status_of(error), error.code) == (400, "malformed_json")


def test_body_and_batch_limits_are_413():
    assert status_of(refused(b" " * 1_000_001)) == 413
    error = refused(json.dumps({"events": [GOOD] * 501}))
    assert (status_of(error), error.code) == (413, "batch_too_large")
    assert "500" in error.message


def test_lone_surrogates_are_refused():
    # Not representable in UTF-8, so the JSON parser itself refuses them.
    error = refused('{"event_type":"prediction","occurred_at":"2026-11-26T06:00:00Z","workload":"\\ud800"}')
    assert (status_of(error), error.code) == (400, "malformed_json")


def test_error_messages_never_echo_values():
    secret = "patient-4711-secret"
    error = refused(json.dumps({**GOOD, "subject": secret, "model_id": secret * 20}))
    assert secret not in json.dumps(error_response(error))


def test_committed_json_schema_is_current():
    assert REPO_DOC.read_text() == schema_export.render(), "run `make schema` and commit docs/event-schema.json"


def test_json_schema_agrees_with_the_models():
    schema = json.loads(REPO_DOC.read_text())
    jsonschema.validate(GOOD, schema)
    jsonschema.validate({"events": [GOOD]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**GOOD, "actor_id": "x"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**GOOD, "event_type": "nope"}, schema)


def test_lake_columns_follow_the_stored_model():
    partition_names = [name for name, _ in PARTITION_KEYS]
    assert "event_type" not in COLUMN_NAMES and "event_type" in LEAF_FIELDS
    assert COLUMN_NAMES[-1] == "leaf_hash" and "leaf_hash" not in LEAF_FIELDS
    assert not set(partition_names) & set(COLUMN_NAMES)
