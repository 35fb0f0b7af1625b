"""Business metrics as EMF, read from the local stack's own output: per model id and
version, the right counts, DQ violations by rule, the score distribution and latency values;
the writer's events, bytes and lag; the signer's checkpoints; and the dimensions stay
bounded when 10,000 distinct model ids arrive."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from mlaudit.metrics import MAX_MODELS, OTHER

from local import client
from tests.integration.conftest import LOCAL_STACK_ARGS, running_local_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # Its own stack: the first MAX_MODELS models a process sees get their own dimension
    with running_local_stack(tmp_path_factory.mktemp("metrics-stack"), *LOCAL_STACK_ARGS) as config:
        yield config


def emf_documents(config) -> list[dict]:
    """Every EMF document the stack printed; two threads' prints can share a line."""
    documents, decoder = [], json.JSONDecoder()
    for line in Path(config["log_path"]).read_text(errors="replace").splitlines():
        position = line.find('{"_aws"')
        while position != -1:
            document, end = decoder.raw_decode(line, position)
            documents.append(document)
            position = line.find('{"_aws"', end)
    return documents


def _send(config, events) -> None:
    token = client.machine_token(config)
    for start in range(0, len(events), 500):
        answer = requests.post(config["api_url"] + "/v1/events", json={"events": events[start:start + 500]},
                               headers=client.bearer(token), timeout=120)
        assert answer.status_code == 202, answer.text


def _dimension_names(document) -> list[str]:
    return [n for names in document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] for n in names]


def test_ingest_metrics_carry_counts_and_dimensions(stack):
    now = datetime.now(UTC).isoformat()
    scores = [0.05, 0.15, 0.15, 0.95, 1.7]  # 1.7 breaks prediction.score_in_unit_interval
    events = [{"event_type": "prediction", "occurred_at": now, "model_id": "metrics-a", "model_version": "3",
               "prediction_id": f"m-{i}", "prediction_score": score, "latency_ms": 10.0 + i}
              for i, score in enumerate(scores)]
    events.append({"event_type": "ground_truth", "occurred_at": now, "model_id": "metrics-a", "model_version": "3",
                   "label_for_prediction_id": "m-0", "true_label": "x"})
    events.append({"event_type": "prediction", "occurred_at": now, "model_id": "metrics-b", "model_version": "1",
                   "prediction_id": "b-0", "prediction_score": 0.5, "latency_ms": 1.0})
    _send(stack, events)
    refused = requests.post(stack["api_url"] + "/v1/events", json={"events": [{"event_type": "prediction"}]},
                            headers=client.bearer(client.machine_token(stack)), timeout=60)
    assert refused.status_code == 422
    assert client.wait_drained(stack, 60)

    documents = emf_documents(stack)
    model_a = [d for d in documents if d.get("model_id") == "metrics-a" and "rule_id" not in d]
    assert model_a, "no EMF document for the model"
    namespace = model_a[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"]
    assert namespace == "mlaudit"
    assert {"model_id", "model_version"} <= set(_dimension_names(model_a[0]))
    total = lambda name: sum(sum(d[name]) for d in model_a if name in d)  # noqa: E731
    assert (total("events"), total("predictions"), total("dq_violations")) == (6, 5, 1)
    assert (total("score_bin_00"), total("score_bin_01"), total("score_bin_09"), total("score_out_of_range")) == \
        (1, 2, 1, 1)
    assert sorted(v for d in model_a for v in d.get("prediction_latency_ms", [])) == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert all(d["model_version"] == "3" for d in model_a)
    by_rule = [d for d in documents if d.get("model_id") == "metrics-a" and d.get("rule_id")]
    assert [(d["rule_id"], d["dq_violations"]) for d in by_rule] == [("prediction.score_in_unit_interval", [1.0])]
    model_b = [d for d in documents if d.get("model_id") == "metrics-b"]
    assert sum(sum(d["predictions"]) for d in model_b) == 1
    # The refusal, by the rule the event broke, with no model dimension
    rejected = [d for d in documents if "rejected_events" in d]
    assert rejected and all("model_id" not in d for d in rejected)
    assert sum(sum(d["rejected_events"]) for d in rejected) >= 1
    # Nothing from an event but model ids, versions and rule ids becomes a dimension
    for document in documents:
        assert set(_dimension_names(document)) <= {"model_id", "model_version", "rule_id", "reason", "function",
                                                   "service", "monitor"}
    # The writer and the signer
    writer = [d for d in documents if d.get("function") == "writer"]
    assert sum(sum(d["events_written"]) for d in writer) >= len(events)
    assert all(d["bytes_written"][0] > 0 and 0 <= d["write_lag_ms"][0] < 900_000 for d in writer)
    # The signer's age metric needs two of its runs in this process: wait for the second.
    deadline = time.monotonic() + 600
    while True:
        signer = [d for d in emf_documents(stack) if d.get("function") == "checkpoint"]
        if any("checkpoint_age_seconds" in d for d in signer) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert any("checkpoint_age_seconds" in d and 0 < d["checkpoint_age_seconds"][0] < 600 for d in signer)


def test_model_dimensions_stay_bounded_with_10000_models(stack):
    now = datetime.now(UTC).isoformat()
    events = [{"event_type": "prediction", "occurred_at": now, "model_id": f"many-{i:05d}", "model_version": "1",
               "prediction_id": f"p-{i}", "prediction_score": 0.5, "latency_ms": 1.0} for i in range(10_000)]
    _send(stack, events)
    # The ingest's per-model documents (the monitors' evaluations carry a model id too)
    documents = [d for d in emf_documents(stack) if "model_id" in d and "monitor" not in d]
    models = {(d["model_id"], d["model_version"]) for d in documents}
    assert len(models) <= MAX_MODELS + 1 and (OTHER, OTHER) in models
    # Every prediction is counted once, under its own model or under "other"
    counted = defaultdict(float)
    for d in documents:
        if d["model_id"].startswith("many-") or d["model_id"] == OTHER:
            counted[d["model_id"] == OTHER] += sum(d.get("predictions", []))
    assert counted[False] + counted[True] == 10_000
    # metrics-a/3 and metrics-b/1 (the test before) took two of the process's MAX_MODELS slots
    assert counted[False] == MAX_MODELS - 2
