"""The monitors' named queries (monitor_drift_psi, monitor_dq_rate, monitor_state) on DuckDB
against Python oracles, as tests/unit/test_queries_oracles.py does for every query (it runs
these cases too, over its generated lake plus `monitor_evaluations`), and known answers."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mlaudit.queries.catalog import load_catalog
from mlaudit.queries.engine import decode_row

from bench.synthetic import blank, write_lake
from local.athena import DuckDbEngine, LocalLake

Row = dict[str, Any]
FROM, TO = "2026-10-01", "2026-10-30"


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _first_copies(rows: list[Row]) -> list[Row]:
    best: dict[str, Row] = {}
    for row in rows:
        held = best.get(row["event_id"])
        if held is None or (row["received_at"], row["leaf_hash"]) < (held["received_at"], held["leaf_hash"]):
            best[row["event_id"]] = row
    return list(best.values())


def _in(row: Row, start: str, end: str) -> bool:
    """A half-open occurred_at window [start, end)."""
    return _ts(start) <= row["occurred_at"] < _ts(end)


def _psi(baseline: list[float], current: list[float], bins: int) -> float | None:
    lo, hi = min(baseline), max(baseline)

    def bin_of(v: float) -> float:
        return 0.0 if hi == lo else min(max(math.floor((v - lo) / (hi - lo) * bins), 0), bins - 1)

    if not current:
        return None
    b_counts: dict[float, int] = {}
    c_counts: dict[float, int] = {}
    for v in baseline:
        b_counts[bin_of(v)] = b_counts.get(bin_of(v), 0) + 1
    for v in current:
        c_counts[bin_of(v)] = c_counts.get(bin_of(v), 0) + 1
    total = 0.0
    for k in set(b_counts) | set(c_counts):
        p = max(b_counts.get(k, 0) / len(baseline), 0.0001)
        q = max(c_counts.get(k, 0) / len(current), 0.0001)
        total += (q - p) * math.log(q / p)
    return total


def oracle_monitor_drift_psi(rows, from_date, to_date, baseline_from, baseline_to, current_from, current_to,
                             model_id, model_version=None, feature=None, bins=10):
    found = _first_copies([
        r for r in rows
        if from_date <= r["event_date"] <= to_date and r["event_type"] == "prediction" and r["model_id"] == model_id
        and (model_version is None or r["model_version"] == model_version)
    ])

    def value(r: Row, metric: str) -> float | None:
        if metric == "prediction_score":
            return r["prediction_score"]
        if r["features"] is None:
            return None
        v = json.loads(r["features"]).get(feature[2:])
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    out = []
    for metric in ("prediction_score", "feature") if feature else ("prediction_score",):
        base = [v for r in found if _in(r, baseline_from, baseline_to) and (v := value(r, metric)) is not None]
        cur = [v for r in found if _in(r, current_from, current_to) and (v := value(r, metric)) is not None]
        if base:
            out.append({"metric": metric, "bins": bins, "baseline_count": len(base), "current_count": len(cur),
                        "psi": _psi(base, cur, bins)})
    return out


def oracle_monitor_dq_rate(rows, from_date, to_date, window_from, window_to, model_id, rule_id=None,
                           event_type=None):
    found = [r for r in _first_copies([
        r for r in rows if from_date <= r["event_date"] <= to_date and r["model_id"] == model_id
        and (event_type is None or r["event_type"] == event_type)
        and not (r["event_type"] == "audit_access" and r["action"] == "monitor")
    ]) if _in(r, window_from, window_to)]
    bad = [r for r in found if (r["dq_violations"] if rule_id is None else rule_id in r["dq_violations"])]
    return [{"events": len(found), "violating_events": len(bad),
             "violation_rate": len(bad) / len(found) if found else None}]


def oracle_monitor_volume_latency(rows, from_date, to_date, window_from, window_to, model_id, model_version=None):
    found = [r for r in _first_copies([
        r for r in rows if from_date <= r["event_date"] <= to_date and r["event_type"] == "prediction"
        and r["model_id"] == model_id and (model_version is None or r["model_version"] == model_version)
    ]) if _in(r, window_from, window_to)]
    latencies = sorted(r["latency_ms"] for r in found if r["latency_ms"] is not None)
    p99 = latencies[max(1, math.ceil(len(latencies) * 0.99)) - 1] if latencies else None
    return [{"predictions": len(found), "p99_latency_ms": p99}]


def oracle_monitor_accuracy(rows, from_date, to_date, window_from, window_to, model_id, model_version=None):
    found = _first_copies([r for r in rows if from_date <= r["event_date"] <= to_date
                           and r["event_type"] in ("prediction", "ground_truth")])
    labels: dict[str, Row] = {}
    for r in found:
        if r["event_type"] == "ground_truth" and r["label_for_prediction_id"] is not None:
            held = labels.get(r["label_for_prediction_id"])
            if held is None or (r["received_at"], r["true_label"]) > (held["received_at"], held["true_label"]):
                labels[r["label_for_prediction_id"]] = r
    pairs = [(r["prediction_label"], labels[r["prediction_id"]]["true_label"]) for r in found
             if r["event_type"] == "prediction" and r["prediction_id"] in labels and r["model_id"] == model_id
             and (model_version is None or r["model_version"] == model_version) and _in(r, window_from, window_to)]
    correct = sum(p is not None and p == t for p, t in pairs)
    return [{"labeled": len(pairs), "accuracy": correct / len(pairs) if pairs else None}]


STATES = {0: "OK", 1: "ALARM"}


def oracle_monitor_state(rows, from_date, to_date, model_id=None):
    latest: dict[tuple, Row] = {}
    for r in rows:
        if not (from_date <= r["event_date"] <= to_date and r["event_type"] == "audit_access"
                and r["action"] == "monitor" and (model_id is None or r["model_id"] == model_id)):
            continue
        key = (r["model_id"], r["resource"])
        held = latest.get(key)
        rank = (-r["occurred_at"].timestamp(), -r["received_at"].timestamp(), r["leaf_hash"])
        if held is None or rank < (-held["occurred_at"].timestamp(), -held["received_at"].timestamp(),
                                   held["leaf_hash"]):
            latest[key] = r
    out = []
    for r in latest.values():
        metrics = json.loads(r["metrics"]) if r["metrics"] else {}
        out.append({"monitor": r["resource"][8:], "model_id": r["model_id"],
                    "state": STATES.get(metrics.get("state_code"), "INSUFFICIENT_DATA"),
                    "value": metrics.get("value"), "threshold": metrics.get("threshold"),
                    "evaluated_at": _iso(r["occurred_at"])})
    out.sort(key=lambda r: (r["model_id"], r["monitor"]))
    return out


def monitor_evaluations(start: datetime, days: int = 30) -> list[Row]:
    """What the monitors function records: evaluations of two monitors of two models, every
    few hours, in every state (and one evaluated twice: copies)."""
    out = []
    for i in range(days * 4):
        at = start + timedelta(hours=6 * i, minutes=i % 7)
        for model, monitor in (("fraud", "score-drift"), ("fraud", "dq-rate"), ("churn", "score-drift")):
            state_code = (i + len(monitor)) % 3
            metrics: dict[str, Any] = {"threshold": 0.2, "state_code": state_code}
            if state_code != 2:
                metrics["value"] = round(0.05 * (i % 9), 2)
            row = blank("audit_access", at, at + timedelta(seconds=2), f"mon-{model}-{monitor}-{i}")
            row.update(action="monitor", resource=f"monitor:{monitor}", model_id=model, metrics=json.dumps(metrics),
                       actor_id="mlaudit-monitors")
            out.append(row)
    return out


MONITOR_ORACLES = {
    "monitor_drift_psi": oracle_monitor_drift_psi,
    "monitor_dq_rate": oracle_monitor_dq_rate,
    "monitor_state": oracle_monitor_state,
    "monitor_volume_latency": oracle_monitor_volume_latency,
    "monitor_accuracy": oracle_monitor_accuracy,
}
MONITOR_CASES: list[tuple[str, dict[str, Any]]] = [
    ("monitor_drift_psi", {"from_date": FROM, "to_date": TO, "baseline_from": "2026-10-01T00:00:00",
                           "baseline_to": "2026-10-10T12:30:00", "current_from": "2026-10-10T12:30:00",
                           "current_to": "2026-10-30T00:00:00", "model_id": "fraud", "feature": "$.age"}),
    ("monitor_drift_psi", {"from_date": "2026-10-02", "to_date": "2026-10-20", "baseline_from": "2026-10-02T06:00:00",
                           "baseline_to": "2026-10-08T00:00:00", "current_from": "2026-10-07T00:00:00",
                           "current_to": "2026-10-21T00:00:00", "model_id": "fraud", "model_version": "v2",
                           "bins": 7}),
    ("monitor_dq_rate", {"from_date": FROM, "to_date": TO, "window_from": "2026-10-03T00:00:00",
                         "window_to": "2026-10-20T08:00:00", "model_id": "fraud"}),
    ("monitor_dq_rate", {"from_date": FROM, "to_date": TO, "window_from": "2026-10-01T00:00:00",
                         "window_to": "2026-10-30T00:00:00", "model_id": "churn",
                         "rule_id": "prediction.score_in_unit_interval"}),
    ("monitor_dq_rate", {"from_date": FROM, "to_date": TO, "window_from": "2026-10-01T00:00:00",
                         "window_to": "2026-10-30T00:00:00", "model_id": "fraud", "event_type": "prediction"}),
    ("monitor_volume_latency", {"from_date": FROM, "to_date": TO, "window_from": "2026-10-04T00:00:00",
                                "window_to": "2026-10-19T06:00:00", "model_id": "fraud"}),
    ("monitor_volume_latency", {"from_date": FROM, "to_date": TO, "window_from": "2026-10-01T00:00:00",
                                "window_to": "2026-10-30T00:00:00", "model_id": "churn", "model_version": "v1"}),
    ("monitor_accuracy", {"from_date": FROM, "to_date": TO, "window_from": "2026-10-02T00:00:00",
                          "window_to": "2026-10-21T00:00:00", "model_id": "fraud"}),
    ("monitor_accuracy", {"from_date": FROM, "to_date": TO, "window_from": "2026-10-01T00:00:00",
                          "window_to": "2026-10-30T00:00:00", "model_id": "fraud", "model_version": "v2"}),
    ("monitor_state", {"from_date": FROM, "to_date": TO}),
    ("monitor_state", {"from_date": "2026-10-03", "to_date": "2026-10-09", "model_id": "fraud"}),
]


# --- the tests of this file: known answers --------------------------------------------------
def run(engine: DuckDbEngine, name: str, params: dict[str, Any]) -> list[Row]:
    status, rows = engine.run(name, params)
    assert status.state == "SUCCEEDED", status.reason
    return [decode_row(load_catalog().get(name).columns, row) for row in rows]


def _scores(model: str, scores: list[float], start: datetime, violations: int = 0) -> list[Row]:
    out = []
    for i, score in enumerate(scores):
        at = start + timedelta(seconds=i)
        row = blank("prediction", at, at + timedelta(milliseconds=50), f"{model}-{start:%H%M}-{i}")
        row.update(model_id=model, model_version="1", prediction_score=score, prediction_id=f"{model}-{i}",
                   dq_violations=["prediction.has_id"] if i < violations else [])
        out.append(row)
    return out


@pytest.fixture(scope="module")
def shifted_lake(tmp_path_factory: pytest.TempPathFactory) -> DuckDbEngine:
    centres = [0.05 + 0.1 * k for k in range(10)]
    baseline = [c for c in centres for _ in range(20)]
    shifted = [c for k, c in enumerate(centres) for _ in range(30 if k < 5 else 10)]
    t0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
    rows = (_scores("m", baseline, t0) + _scores("m", shifted, t0 + timedelta(hours=1), violations=50)
            + _scores("steady", baseline, t0) + _scores("steady", baseline, t0 + timedelta(hours=1)))
    root = tmp_path_factory.mktemp("monitor-lake")
    write_lake(rows, root)
    return DuckDbEngine(LocalLake(root), threads=1)


WINDOWS = {"from_date": "2026-03-01", "to_date": "2026-03-01", "baseline_from": "2026-03-01T10:00:00",
           "baseline_to": "2026-03-01T11:00:00", "current_from": "2026-03-01T11:00:00",
           "current_to": "2026-03-01T12:00:00"}


def test_a_shift_halfway_has_the_known_psi_and_the_unshifted_model_none(shifted_lake: DuckDbEngine) -> None:
    # Given 200 scores spread evenly over ten bins, then 200 with 150 % in the lower five bins and 50 % above,
    shifted = run(shifted_lake, "monitor_drift_psi", {**WINDOWS, "model_id": "m"})
    steady = run(shifted_lake, "monitor_drift_psi", {**WINDOWS, "model_id": "steady"})
    # Then PSI = 0.25 ln 3 for the shifted model and 0 for the one whose windows agree.
    assert [(r["baseline_count"], r["current_count"]) for r in shifted] == [(200, 200)]
    assert shifted[0]["psi"] == pytest.approx(0.25 * math.log(3), rel=1e-9)
    assert steady[0]["psi"] == pytest.approx(0.0, abs=1e-12)


def test_the_windows_are_half_open_on_occurred_at(shifted_lake: DuckDbEngine) -> None:
    # A current window that ends where the shifted hour starts sees only baseline scores.
    rows = run(shifted_lake, "monitor_drift_psi", {**WINDOWS, "model_id": "m", "current_from": "2026-03-01T10:00:00",
                                                   "current_to": "2026-03-01T11:00:00"})
    assert rows[0]["current_count"] == 200 and rows[0]["psi"] == pytest.approx(0.0, abs=1e-12)


def test_dq_rate_counts_the_windows_violating_events(shifted_lake: DuckDbEngine) -> None:
    window = {"from_date": "2026-03-01", "to_date": "2026-03-01", "window_from": "2026-03-01T11:00:00",
              "window_to": "2026-03-01T12:00:00"}
    assert run(shifted_lake, "monitor_dq_rate", {**window, "model_id": "m"}) == [
        {"events": 200, "violating_events": 50, "violation_rate": 0.25}]
    assert run(shifted_lake, "monitor_dq_rate", {**window, "model_id": "m", "rule_id": "other.rule"}) == [
        {"events": 200, "violating_events": 0, "violation_rate": 0.0}]
    assert run(shifted_lake, "monitor_dq_rate", {**window, "model_id": "nobody"}) == [
        {"events": 0, "violating_events": 0, "violation_rate": None}]
