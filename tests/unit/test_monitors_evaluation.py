"""The monitors file and the evaluator: the file is checked when loaded, and each
evaluation decides a state against the threshold, is recorded before anything else and
publishes only a transition to ALARM. The queries run on DuckDB over a local lake."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mlaudit.adapters.memory import MemorySelfAudit
from mlaudit.monitors import MONITORS_FILE, MonitorsFileError, load, parse
from mlaudit.monitors.service import ALARM, INSUFFICIENT_DATA, OK, MonitorService, audit_event, parameters
from mlaudit.queries.catalog import load_catalog

from bench.synthetic import blank, write_lake
from local.athena import DuckDbEngine, LocalLake

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _file(*monitors: dict[str, Any], model: str = "m") -> dict[str, Any]:
    return {"version": 1, "models": {model: {"monitors": list(monitors)}}}


DRIFT = {"name": "score-drift", "kind": "drift", "threshold": 0.2, "current_minutes": 60, "baseline_minutes": 60,
         "min_events": 10}
DQ = {"name": "dq-rate", "kind": "dq_rate", "threshold": 0.1, "window_minutes": 60, "min_events": 10}


def test_the_packaged_file_loads() -> None:
    assert load(MONITORS_FILE) and {m.kind for m in load()} == {"drift", "dq_rate"}


@pytest.mark.parametrize("bad", [
    {**DRIFT, "kind": "psi"},
    {**DRIFT, "name": "Score Drift"},
    {**DRIFT, "threshold": "0.2"},
    {**DRIFT, "threshold": float("inf")},
    {**DRIFT, "current_minutes": 0},
    {**DRIFT, "current_minutes": 7 * 24 * 60 + 1},
    {**DRIFT, "bins": 1},
    {**DRIFT, "metric": "feature"},  # without a feature path
    {**DRIFT, "metric": "feature", "feature": "$.a') OR 1=1"},
    {**DRIFT, "window_minutes": 5},  # a dq_rate key on a drift monitor
    {**DRIFT, "direction": "sideways"},
    {k: v for k, v in DQ.items() if k != "window_minutes"},
])
def test_a_malformed_monitor_is_refused_at_load(bad: dict[str, Any]) -> None:
    with pytest.raises(MonitorsFileError):
        parse(_file(bad))


def test_names_are_unique_per_model() -> None:
    with pytest.raises(MonitorsFileError):
        parse(_file(DRIFT, DRIFT))
    assert len(parse({"version": 1, "models": {"a": {"monitors": [DRIFT]}, "b": {"monitors": [DRIFT]}}})) == 2


def test_windows_are_relative_to_the_evaluation() -> None:
    (drift,) = parse(_file({**DRIFT, "current_minutes": 30, "baseline_minutes": 720 + 30}))
    window, params = parameters(drift, NOW)
    assert window == {"baseline_from": "2026-02-28T23:00:00.000Z", "baseline_to": "2026-03-01T11:30:00.000Z",
                      "current_from": "2026-03-01T11:30:00.000Z", "current_to": "2026-03-01T12:00:00.000Z"}
    assert (params["from_date"], params["to_date"]) == ("2026-02-28", "2026-03-01")
    load_catalog().get("monitor_drift_psi").check(params)  # the query takes them


class Topic:
    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []

    def publish(self, subject: str, message: str) -> None:
        self.messages.append((subject, json.loads(message)))


class Metrics:
    def __init__(self) -> None:
        self.points: list[tuple[str, float | None, str]] = []

    def evaluated(self, monitor: Any, value: float | None, state: str) -> None:
        self.points.append((monitor.name, value, state))


def _lake(tmp_path: Any, current: list[float], violations: int = 0) -> DuckDbEngine:
    rows = []
    for half, start, scores in (("b", NOW - timedelta(minutes=100), [(i + 0.5) / 40 for i in range(40)]),
                                ("c", NOW - timedelta(minutes=30), current)):
        for i, score in enumerate(scores):
            at = start + timedelta(seconds=i)
            row = blank("prediction", at, at + timedelta(seconds=1), f"{half}{i}")
            row.update(model_id="m", model_version="1", prediction_score=score, latency_ms=float(i + 1),
                       dq_violations=["prediction.has_id"] if half == "c" and i < violations else [])
            rows.append(row)
    write_lake(rows, tmp_path)
    return DuckDbEngine(LocalLake(tmp_path), threads=1)


def _service(engine: DuckDbEngine, *monitors: dict[str, Any]) -> tuple[MonitorService, MemorySelfAudit, Topic,
                                                                         Metrics]:
    audit, topic, metrics = MemorySelfAudit(), Topic(), Metrics()
    service = MonitorService(parse(_file(*monitors)), load_catalog(), engine, audit, topic, metrics,
                             clock=lambda: NOW, poll_seconds=0)
    return service, audit, topic, metrics


def test_a_shift_alarms_once_and_each_evaluation_is_recorded(tmp_path: Any) -> None:
    shifted = [0.8 + 0.2 * (i + 0.5) / 40 for i in range(40)]
    service, audit, topic, metrics = _service(_lake(tmp_path, shifted, violations=20), DRIFT, DQ)
    first = {e.monitor.name: e for e in service.run()}
    assert first["score-drift"].state == ALARM and first["score-drift"].value > 0.2
    assert (first["dq-rate"].state, first["dq-rate"].value) == (ALARM, 0.5)
    service.run()  # still in ALARM: no second message
    assert sorted(s for s, _ in topic.messages) == ["ALARM: m dq-rate", "ALARM: m score-drift"]
    assert len(audit.events) == 4 and len(metrics.points) == 4
    _, event, _ = audit.events[0]
    assert event["action"] == "monitor" and event["resource"] == "monitor:score-drift"
    assert event["metrics"]["state_code"] == 1 and event["details"]["previous_state"] == OK
    assert audit.events[2][1]["details"]["previous_state"] == ALARM
    # The message names the evaluation's audit event.
    assert {m["event_id"] for _, m in topic.messages} == {"audit-1", "audit-2"}


def test_an_unshifted_model_stays_ok(tmp_path: Any) -> None:
    service, audit, topic, _ = _service(_lake(tmp_path, [(i + 0.5) / 40 for i in range(40)]), DRIFT, DQ)
    assert [(e.state, e.value) for e in service.run()] == [(OK, pytest.approx(0.0, abs=1e-12)), (OK, 0.0)]
    assert topic.messages == [] and len(audit.events) == 2


def test_too_few_events_are_insufficient_data_not_an_alarm(tmp_path: Any) -> None:
    service, audit, topic, metrics = _service(_lake(tmp_path, [0.99] * 5), DRIFT)
    (evaluation,) = service.run()
    assert evaluation.state == INSUFFICIENT_DATA and topic.messages == []
    assert audit_event(evaluation)["metrics"]["state_code"] == 2 and metrics.points[0][2] == INSUFFICIENT_DATA


def test_an_evaluation_that_cannot_be_recorded_raises_no_alarm(tmp_path: Any) -> None:
    class Refusing(MemorySelfAudit):
        def record(self, *args: Any, **kwargs: Any) -> list[str]:
            raise RuntimeError("queue down")

    shifted = [0.95] * 40
    topic = Topic()
    service = MonitorService(parse(_file(DRIFT)), load_catalog(), _lake(tmp_path, shifted), Refusing(), topic,
                             Metrics(), clock=lambda: NOW, poll_seconds=0)
    with pytest.raises(RuntimeError):
        service.run()
    assert topic.messages == []


VOLUME = {"kind": "volume", "window_minutes": 60}


def test_volume_drops_and_spikes_and_latency_p99(tmp_path: Any) -> None:
    # 40 predictions in the last hour (40 more before it), latencies 1..40 ms.
    service, _, topic, _ = _service(
        _lake(tmp_path, [(i + 0.5) / 40 for i in range(40)]),
        {**VOLUME, "name": "volume-drop", "threshold": 50, "direction": "below"},
        {**VOLUME, "name": "volume-spike", "threshold": 50},
        {**VOLUME, "name": "volume-spike-low", "threshold": 30},
        {"name": "latency", "kind": "latency_p99", "threshold": 39.5, "window_minutes": 60, "min_events": 10},
        {"name": "latency-few", "kind": "latency_p99", "threshold": 1, "window_minutes": 60, "min_events": 41},
    )
    states = {e.monitor.name: (e.state, e.value) for e in service.run()}
    assert states == {"volume-drop": (ALARM, 40.0), "volume-spike": (OK, 40.0), "volume-spike-low": (ALARM, 40.0),
                      "latency": (ALARM, 40.0), "latency-few": (INSUFFICIENT_DATA, 40.0)}
    assert sorted(s for s, _ in topic.messages) == ["ALARM: m latency", "ALARM: m volume-drop",
                                                    "ALARM: m volume-spike-low"]


def test_no_prediction_at_all_is_a_drop_not_missing_data(tmp_path: Any) -> None:
    write_lake([], tmp_path)
    service, _, _, _ = _service(DuckDbEngine(LocalLake(tmp_path), threads=1),
                                {**VOLUME, "name": "volume-drop", "threshold": 1, "direction": "below"})
    assert [(e.state, e.value) for e in service.run()] == [(ALARM, 0.0)]


def test_accuracy_from_ground_truth_alarms_below_its_threshold(tmp_path: Any) -> None:
    rows = []
    for model, wrong in (("m", 10), ("good", 0)):
        for i in range(20):
            at = NOW - timedelta(minutes=30, seconds=-i)
            prediction = blank("prediction", at, at + timedelta(seconds=1), f"{model}-p{i}")
            prediction.update(model_id=model, model_version="1", prediction_id=f"{model}-{i}", prediction_label="pos")
            label = blank("ground_truth", at + timedelta(minutes=5), at + timedelta(minutes=5), f"{model}-l{i}")
            label.update(label_for_prediction_id=f"{model}-{i}", true_label="neg" if i < wrong else "pos")
            rows += [prediction, label]
    write_lake(rows, tmp_path)
    monitor = {"name": "accuracy", "kind": "accuracy", "threshold": 0.8, "window_minutes": 60, "min_events": 10}
    audit, topic, metrics = MemorySelfAudit(), Topic(), Metrics()
    monitors = parse({"version": 1, "models": {"m": {"monitors": [monitor]}, "good": {"monitors": [monitor]}}})
    assert {m.direction for m in monitors} == {"below"}  # accuracy's default
    service = MonitorService(monitors, load_catalog(), DuckDbEngine(LocalLake(tmp_path), threads=1), audit, topic,
                             metrics, clock=lambda: NOW, poll_seconds=0)
    states = {e.monitor.model_id: (e.state, e.value, e.events) for e in service.run()}
    assert states == {"m": (ALARM, 0.5, 20), "good": (OK, 1.0, 20)}
    assert [s for s, _ in topic.messages] == ["ALARM: m accuracy"]
