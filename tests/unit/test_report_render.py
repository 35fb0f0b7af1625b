"""mlaudit report's rendering without a stack: volume and latency per day over a long range,
the lineage graph's layout (columns, bounds, determinism), and the monitors' alarm rows."""

from __future__ import annotations

import random
import re
from datetime import date, timedelta

from cli import report, svg


def _volume(days: int, model: str = "m") -> list[dict]:
    first = date(2026, 11, 1)
    return [{"model_id": model, "model_version": "1", "hour": f"{first + timedelta(days=d)}T{h:02d}:00:00.000Z",
             "predictions": 2, "p50_latency_ms": float(h), "p99_latency_ms": float(10 * h + d)}
            for d in range(days) for h in range(24) if (d, h) != (3, 5)]


def test_a_month_is_drawn_per_day_not_per_hour() -> None:
    days = [date(2026, 11, 1) + timedelta(days=d) for d in range(30)]
    model = report.ModelData("m")
    report._add_hours(model, _volume(29), days)  # the 30th day has no prediction: a zero bar, a gap in latency
    assert model.bucket == "day" and len(model.hours) == 30 and model.hours[0] == "11-01"
    assert model.predictions[0] == 48 and model.predictions[3] == 46 and model.predictions[-1] == 0
    assert model.p99[2] == 232 and model.p50[-1] is None  # the worst hour of the day
    drawn = report._plot(model, "volume")
    assert "Predictions per day" in drawn and drawn.count("<title>") == 30
    assert drawn.count(f"fill=\"{svg.INK}\">11-") == 10  # every third day labelled: 30 labels would overlap
    assert "worst hour" in report._plot(model, "latency")


def test_a_short_range_stays_hourly_and_gather_picks_the_bucket() -> None:
    model = report.ModelData("m")
    report._add_hours(model, _volume(2))
    assert model.bucket == "hour" and len(model.hours) == 48 and model.hours[0] == "11-01 00h"
    assert report.HOURLY_DAYS < 30


CHAIN = [(("dataset", "postgres://ehr/admissions"), ("job", "airflow/ehr.extract")),
         (("job", "airflow/ehr.extract"), ("dataset", "s3://lake/raw/admissions")),
         (("dataset", "s3://lake/raw/admissions"), ("job", "dbt/features")),
         (("job", "dbt/features"), ("dataset", "s3://lake/features")),
         (("dataset", "s3://lake/features"), ("run", "train-001")),
         (("run", "train-001"), ("dataset", "s3://models/m/1")),
         (("dataset", "s3://models/m/1"), ("job", "airflow/deploy")),
         (("job", "airflow/deploy"), ("dataset", "sagemaker/endpoint/m-prod"))]


def _boxes(drawn: str) -> dict[str, tuple[float, float]]:
    return {name: (float(x), float(y)) for name, x, y in
            re.findall(r"<title>(?:dataset|job|run) ([^<]+)</title><rect x=\"([0-9.]+)\" y=\"([0-9.]+)\"", drawn)}


def test_the_lineage_graph_reads_left_to_right_by_longest_path() -> None:
    drawn = svg.lineage_graph(1220, 330, "Lineage", CHAIN)
    boxes = _boxes(drawn)
    assert len(boxes) == 9 and drawn.count("marker-end=") == 8
    xs = [boxes[name][0] for name in ("postgres://ehr/admissions", "airflow/ehr.extract", "s3://lake/raw/admissions",
                                      "dbt/features", "s3://lake/features", "train-001", "s3://models/m/1",
                                      "airflow/deploy", "sagemaker/endpoint/m-prod")]
    assert xs == sorted(xs) and len(set(xs)) == 9  # one column per step of the chain
    assert all(0 <= x <= 1220 - 100 for x in xs) and "more node" not in drawn
    # A shortcut does not pull a node left: the endpoint stays in the last column
    shortcut = svg.lineage_graph(1220, 330, "Lineage", [*CHAIN, (("dataset", "s3://lake/features"),
                                                                 ("job", "airflow/deploy"))])
    assert _boxes(shortcut)["sagemaker/endpoint/m-prod"][0] == xs[-1]
    assert "<script" not in drawn and "http" not in drawn


def test_the_lineage_graph_is_the_same_whatever_the_order_and_survives_a_cycle() -> None:
    shuffled = CHAIN[:]
    random.Random(3).shuffle(shuffled)  # noqa: S311 - test order
    assert svg.lineage_graph(1220, 330, "L", shuffled) == svg.lineage_graph(1220, 330, "L", CHAIN)
    cycle = [*CHAIN, (("job", "airflow/deploy"), ("dataset", "postgres://ehr/admissions"))]
    assert len(_boxes(svg.lineage_graph(1220, 330, "L", cycle))) == 9


def test_a_large_graph_is_bounded_and_says_what_it_left_out() -> None:
    edges = [(("dataset", f"s3://lake/t{i:03d}"), ("job", f"etl/j{i % 7}")) for i in range(120)]
    edges += [(("job", f"etl/j{i}"), ("dataset", "s3://lake/mart")) for i in range(7)]
    drawn = svg.lineage_graph(1220, 330, "L", edges, max_nodes=30)
    boxes = _boxes(drawn)
    assert len(boxes) <= 30 and "s3://lake/mart" in boxes and all(f"etl/j{i}" in boxes for i in range(7))
    hidden = 128 - len(boxes)
    assert f"and {hidden} more nodes not drawn" in drawn
    assert all(y + 22 <= 330 - 30 for _, y in boxes.values())  # no box over the legend or off the picture


def test_alarm_rows_carry_the_class_the_style_colors() -> None:
    data = report.ReportData("now", "2026-11-01", "2026-11-30", ("a", "b"), "test", [], monitors=[
        {"monitor": "m/score-drift", "model_id": "m", "state": "ALARM", "value": 0.4, "threshold": 0.25,
         "evaluated_at": "2026-11-30T00:00:00"},
        {"monitor": "m/volume", "model_id": "m", "state": "OK", "value": 10, "threshold": 1,
         "evaluated_at": "2026-11-30T00:00:00"}])
    text, _ = report.render(data)
    assert '<tr class="alarm"><td>m/score-drift</td>' in text and '<tr class="ok"><td>m/volume</td>' in text
    assert "tr.alarm td {" in text and "tr.ok td {" in text
    assert 'id="lineage"' in text and "no lineage in this range" in text


class _Lake:
    """A target whose named queries answer from canned rows, recording what each was asked."""

    local = {"region": "us-east-1"}
    api_url = "http://local"

    def __init__(self) -> None:
        self.asked: list[tuple[str, dict]] = []

    def run_query(self, name: str, parameters: dict, **_: object) -> tuple[list, list]:
        self.asked.append((name, parameters))
        model = parameters.get("model_id")
        if name == "prediction_volume_latency":
            return [], _volume(30, "a") + _volume(30, "b")
        if name == "monitor_accuracy":  # the day as a number, so the order can be checked
            return [], [{"labeled": 1, "accuracy": int(parameters["window_from"][8:10])}]
        if name == "monitor_drift_psi":
            metric = "feature" if parameters.get("feature") else "prediction_score"
            return [], [{"metric": metric, "psi": 0.5 if model == "a" else 0.1}]
        if name == "accuracy":
            return [], [{"model_id": model, "model_version": "1", "labeled": 5, "accuracy": 0.8,
                         "precision": 0.5, "recall": 0.5}]
        return [], []

    def request(self, *_: object, **__: object) -> object:
        return type("Answer", (), {"status_code": 404})()

    def client(self, service: str) -> object:
        raise RuntimeError(service)


def test_gather_asks_each_model_with_its_positive_class_and_features_and_keeps_the_days_in_order() -> None:
    lake = _Lake()
    first = date(2026, 11, 1)
    data = report.gather(lake, first, first + timedelta(days=29), models=[], verify=False,  # type: ignore[arg-type]
                         baseline=(first, first + timedelta(days=6)),
                         positive_label={"a": "yes", "b": "ESI-2"}, features={"a": ["glucose"], "b": ["spo2", "hr"]})
    assert [m.model_id for m in data.models] == ["a", "b"]
    a, b = data.models
    assert a.accuracy == b.accuracy == list(range(1, 31))  # every day, in order, though asked a few at once
    assert a.psi == [0.5] * 30 and b.psi == [0.1] * 30
    assert sorted((p["model_id"], p["positive_label"]) for n, p in lake.asked if n == "accuracy") == [
        ("a", "yes"), ("b", "ESI-2")]
    assert a.features == [("glucose", 0.5)] and b.features == [("spo2", 0.1), ("hr", 0.1)]
    assert a.versions[0]["model_id"] == "a" and b.versions[0]["model_id"] == "b"
