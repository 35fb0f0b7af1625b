"""Every named query on DuckDB equals an oracle computed in Python from the same events.

The oracles restate each query's meaning in plain Python (filter, keep the earliest
received copy of each event_id, aggregate, order), independently of SQL. Doubles are
compared with a relative tolerance of 1e-9 (summation order differs); everything
else must be equal, in the same order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from mlaudit.queries.catalog import CatalogError, load_catalog, quicksight_sql
from mlaudit.queries.engine import decode_row

from bench.synthetic import blank, generate, write_lake
from local.athena import DuckDbEngine, LocalLake
from local.athena.engine import render
from local.athena.transpile import to_duckdb
from tests.unit.test_lineage_queries import LINEAGE_CASES, LINEAGE_ORACLES
from tests.unit.test_monitor_queries import MONITOR_CASES, MONITOR_ORACLES, monitor_evaluations

Row = dict[str, Any]
FROM, TO = "2026-10-01", "2026-10-30"


# --- the generated lake ----------------------------------------------------------
@pytest.fixture(scope="module")
def events() -> list[Row]:
    # The monitors' evaluations too: monitor_state reads them.
    return [*generate(3000, days=30, seed=11), *monitor_evaluations(datetime(2026, 10, 1, 1, tzinfo=UTC))]


@pytest.fixture(scope="module")
def engine(events: list[Row], tmp_path_factory: pytest.TempPathFactory) -> DuckDbEngine:
    root = tmp_path_factory.mktemp("lake")
    write_lake(events, root)
    return DuckDbEngine(LocalLake(root), threads=1)


def run(engine: DuckDbEngine, name: str, params: dict[str, Any]) -> list[Row]:
    status, rows = engine.run(name, params)
    assert status.state == "SUCCEEDED", status.reason
    spec = load_catalog().get(name)
    return [decode_row(spec.columns, row) for row in rows]


def assert_rows_equal(actual: list[Row], expected: list[Row]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            if isinstance(value, float) and got[key] is not None:
                assert math.isclose(got[key], value, rel_tol=1e-9, abs_tol=1e-12), (key, got, want)
            else:
                assert got[key] == value, (key, got, want)


# --- oracle helpers ------------------------------------------------------------------
def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def in_range(row: Row, start: str, end: str) -> bool:
    return start <= row["event_date"] <= end


def first_copies(rows: Iterable[Row]) -> list[Row]:
    """One row per event_id: the earliest received (ties: smallest leaf_hash)."""
    best: dict[str, Row] = {}
    for row in rows:
        key = (row["received_at"], row["leaf_hash"])
        if row["event_id"] not in best or key < (
            best[row["event_id"]]["received_at"],
            best[row["event_id"]]["leaf_hash"],
        ):
            best[row["event_id"]] = row
    return list(best.values())


def select(rows: list[Row], start: str, end: str, where: Callable[[Row], bool] = lambda r: True) -> list[Row]:
    return first_copies(r for r in rows if in_range(r, start, end) and where(r))


def nulls_last(value: Any) -> tuple[bool, Any]:
    return (value is None, value if value is not None else "")


def nearest_rank(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * q)) - 1]


def sql_eq(a: Any, b: Any) -> bool:
    """SQL '=' where NULL is never equal (a NULL comparison is not true)."""
    return a is not None and b is not None and a == b


def sql_ne(a: Any, b: Any) -> bool:
    return a is not None and b is not None and a != b


# --- oracles -------------------------------------------------------------------------
LIFECYCLE = {
    "training_started",
    "training_completed",
    "training_failed",
    "model_evaluated",
    "model_registered",
    "model_deployed",
    "model_retired",
    "config_changed",
    "data_accessed",
    "audit_access",
    "lineage",
}


def oracle_model_timeline(rows, from_date, to_date, model_id, model_version=None):
    found = select(
        rows,
        from_date,
        to_date,
        lambda r: (
            r["event_type"] in LIFECYCLE
            and r["model_id"] == model_id
            and (model_version is None or r["model_version"] == model_version)
        ),
    )
    found.sort(key=lambda r: (r["occurred_at"], r["received_at"], r["event_id"]))
    keys = (
        "event_type",
        "event_id",
        "model_version",
        "actor_id",
        "actor_type",
        "run_id",
        "dataset_id",
        "action",
        "resource",
        "dq_status",
    )
    return [
        {
            "occurred_at": iso(r["occurred_at"]),
            "received_at": iso(r["received_at"]),
            **{k: r[k] for k in keys},
        }
        for r in found
    ]


def oracle_prediction_volume_latency(rows, from_date, to_date, model_id=None):
    found = select(
        rows,
        from_date,
        to_date,
        lambda r: r["event_type"] == "prediction" and (model_id is None or r["model_id"] == model_id),
    )
    groups: dict[tuple, list[Row]] = defaultdict(list)
    for r in found:
        hour = r["occurred_at"].astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        groups[(r["model_id"], r["model_version"], hour)].append(r)
    out = []
    for (mid, mv, hour), members in sorted(
        groups.items(), key=lambda kv: (nulls_last(kv[0][0]), nulls_last(kv[0][1]), kv[0][2])
    ):
        lat = [m["latency_ms"] for m in members if m["latency_ms"] is not None]
        out.append(
            {
                "model_id": mid,
                "model_version": mv,
                "hour": iso(hour),
                "predictions": len(members),
                "avg_latency_ms": sum(lat) / len(lat) if lat else None,
                "p50_latency_ms": nearest_rank(lat, 0.5),
                "p95_latency_ms": nearest_rank(lat, 0.95),
                "p99_latency_ms": nearest_rank(lat, 0.99),
            }
        )
    return out


def oracle_dq_violation_rate(rows, from_date, to_date, dataset_id=None, model_id=None):
    found = select(
        rows,
        from_date,
        to_date,
        lambda r: (
            (dataset_id is None or r["dataset_id"] == dataset_id) and (model_id is None or r["model_id"] == model_id)
        ),
    )
    totals: dict[tuple, int] = defaultdict(int)
    violating: dict[tuple, set[str]] = defaultdict(set)
    for r in found:
        totals[(r["dataset_id"], r["model_id"])] += 1
        for rule in r["dq_violations"]:
            violating[(rule, r["dataset_id"], r["model_id"])].add(r["event_id"])
    out = [
        {
            "rule_id": rule,
            "dataset_id": ds,
            "model_id": mid,
            "events": totals[(ds, mid)],
            "violating_events": len(ids),
            "violation_rate": len(ids) / totals[(ds, mid)],
        }
        for (rule, ds, mid), ids in violating.items()
    ]
    out.sort(
        key=lambda r: (
            -r["violation_rate"],
            r["rule_id"],
            nulls_last(r["dataset_id"]),
            nulls_last(r["model_id"]),
        )
    )
    return out


def psi(baseline: list[float], current: list[float], bins: int) -> tuple[int, int, float | None]:
    lo, hi = min(baseline), max(baseline)

    def bin_of(v: float) -> float:
        return 0.0 if hi == lo else min(max(math.floor((v - lo) / (hi - lo) * bins), 0), bins - 1)

    b_counts: dict[float, int] = defaultdict(int)
    c_counts: dict[float, int] = defaultdict(int)
    for v in baseline:
        b_counts[bin_of(v)] += 1
    for v in current:
        c_counts[bin_of(v)] += 1
    if not current:
        return len(baseline), 0, None
    total = 0.0
    for k in set(b_counts) | set(c_counts):
        p = max(b_counts[k] / len(baseline), 0.0001)
        q = max(c_counts[k] / len(current), 0.0001)
        total += (q - p) * math.log(q / p)
    return len(baseline), len(current), total


def oracle_drift_psi(
    rows,
    baseline_from_date,
    baseline_to_date,
    current_from_date,
    current_to_date,
    model_id,
    model_version=None,
    feature=None,
    bins=10,
):
    def wanted(r):
        return (
            r["event_type"] == "prediction"
            and r["model_id"] == model_id
            and (model_version is None or r["model_version"] == model_version)
        )

    found = first_copies(
        r
        for r in rows
        if wanted(r)
        and (in_range(r, baseline_from_date, baseline_to_date) or in_range(r, current_from_date, current_to_date))
    )

    def values(r: Row) -> dict[str, float | None]:
        out = {"prediction_score": r["prediction_score"]}
        if feature and r["features"] is not None:
            import json

            value = json.loads(r["features"]).get(feature[2:])
            out["feature"] = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        return out

    result = []
    for metric in ("prediction_score", "feature"):
        base = [values(r).get(metric) for r in found if in_range(r, baseline_from_date, baseline_to_date)]
        cur = [values(r).get(metric) for r in found if in_range(r, current_from_date, current_to_date)]
        base = [v for v in base if v is not None]
        cur = [v for v in cur if v is not None]
        if not base:
            continue
        bn, cn, value = psi(base, cur, bins)
        result.append({"metric": metric, "bins": bins, "baseline_count": bn, "current_count": cn, "psi": value})
    return result  # already ordered by metric DESC


def oracle_accuracy(rows, from_date, to_date, positive_label, model_id=None):
    found = select(rows, from_date, to_date, lambda r: r["event_type"] in ("prediction", "ground_truth"))
    labels: dict[str, Row] = {}
    for r in found:
        if r["event_type"] == "ground_truth" and r["label_for_prediction_id"] is not None:
            key = r["label_for_prediction_id"]
            if key not in labels or (r["received_at"], r["true_label"]) > (
                labels[key]["received_at"],
                labels[key]["true_label"],
            ):
                labels[key] = r
    groups: dict[tuple, list[tuple[str, str]]] = defaultdict(list)
    for r in found:
        if (
            r["event_type"] == "prediction"
            and r["prediction_id"] is not None
            and r["prediction_id"] in labels
            and (model_id is None or r["model_id"] == model_id)
        ):
            groups[(r["model_id"], r["model_version"])].append(
                (r["prediction_label"], labels[r["prediction_id"]]["true_label"])
            )
    out = []
    for (mid, mv), pairs in sorted(groups.items(), key=lambda kv: (nulls_last(kv[0][0]), nulls_last(kv[0][1]))):
        tp = sum(sql_eq(p, positive_label) and sql_eq(t, positive_label) for p, t in pairs)
        fp = sum(sql_eq(p, positive_label) and sql_ne(t, positive_label) for p, t in pairs)
        fn = sum(sql_ne(p, positive_label) and sql_eq(t, positive_label) for p, t in pairs)
        out.append(
            {
                "model_id": mid,
                "model_version": mv,
                "labeled": len(pairs),
                "true_positives": tp,
                "false_positives": fp,
                "false_negatives": fn,
                "accuracy": sum(sql_eq(p, t) for p, t in pairs) / len(pairs),
                "precision": tp / (tp + fp) if tp + fp else None,
                "recall": tp / (tp + fn) if tp + fn else None,
            }
        )
    return out


def oracle_lineage(rows, from_date, to_date, model_id, model_version):
    e = select(rows, from_date, to_date)
    mine = [r for r in e if r["model_id"] == model_id and r["model_version"] == model_version]
    runs = {
        r["run_id"]
        for r in mine
        if r["run_id"] is not None
        and r["event_type"]
        in (
            "model_registered",
            "training_started",
            "training_completed",
            "training_failed",
            "model_evaluated",
        )
    }
    run_events = [r for r in e if r["run_id"] in runs]
    datasets = [(r["dataset_id"], r["occurred_at"]) for r in run_events if r["dataset_id"] is not None]
    datasets += [(ref, r["occurred_at"]) for r in run_events for ref in r["inputs"]]
    dataset_ids = {d for d, _ in datasets}
    links = [("upstream", "produced_by", "run", r["run_id"], r["occurred_at"]) for r in mine if r["run_id"] in runs]
    links += [
        ("upstream", "parent_run", "run", r["parent_run_id"], r["occurred_at"])
        for r in run_events
        if r["parent_run_id"]
    ]
    links += [("upstream", "trained_on", "dataset", d, at) for d, at in datasets]
    links += [
        ("upstream", "derived_from", "dataset", ref, r["occurred_at"])
        for r in e
        if r["event_type"] in ("dataset_registered", "data_ingested") and r["dataset_id"] in dataset_ids
        for ref in r["inputs"]
    ]
    links += [
        ("downstream", "deployed_to", "deployment", r["resource"] or r["environment"], r["occurred_at"])
        for r in mine
        if r["event_type"] in ("model_deployed", "model_retired") and (r["resource"] or r["environment"])
    ]
    links += [
        ("downstream", "served", "workload", r["workload"], r["occurred_at"])
        for r in mine
        if r["event_type"] == "prediction" and r["workload"] is not None
    ]
    groups: dict[tuple, list[datetime]] = defaultdict(list)
    for *key, at in links:
        groups[tuple(key)].append(at)
    ordered = sorted(groups.items(), key=lambda kv: (-ord(kv[0][0][0]), kv[0][1], kv[0][2], kv[0][3]))
    return [
        {
            "direction": k[0],
            "relation": k[1],
            "node_type": k[2],
            "node_id": k[3],
            "events": len(ats),
            "first_seen": iso(min(ats)),
            "last_seen": iso(max(ats)),
        }
        for k, ats in ordered
    ]


ACCESS = {"audit_access", "data_accessed", "config_changed", "subject_access", "subject_erasure"}


def oracle_access_report(rows, from_date, to_date, actor_id=None, resource=None):
    found = select(
        rows,
        from_date,
        to_date,
        lambda r: (
            r["event_type"] in ACCESS
            and (actor_id is None or r["actor_id"] == actor_id)
            and (resource is None or r["resource"] == resource)
        ),
    )
    groups: dict[tuple, list[datetime]] = defaultdict(list)
    for r in found:
        groups[(r["actor_id"], r["actor_type"], r["event_type"], r["action"], r["resource"])].append(r["occurred_at"])
    ordered = sorted(
        groups.items(),
        key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], nulls_last(kv[0][3]), nulls_last(kv[0][4])),
    )
    return [
        {
            "actor_id": k[0],
            "actor_type": k[1],
            "event_type": k[2],
            "action": k[3],
            "resource": k[4],
            "events": len(ats),
            "first_at": iso(min(ats)),
            "last_at": iso(max(ats)),
        }
        for k, ats in ordered
    ]


def oracle_subject_events(rows, from_date, to_date, subject_pseudonym):
    found = select(rows, from_date, to_date, lambda r: r["subject_pseudonym"] == subject_pseudonym)
    found.sort(key=lambda r: (r["occurred_at"], r["received_at"], r["event_id"]))
    keys = (
        "event_type",
        "event_id",
        "actor_id",
        "action",
        "resource",
        "model_id",
        "model_version",
        "dataset_id",
        "prediction_id",
    )
    return [
        {
            "occurred_at": iso(r["occurred_at"]),
            "received_at": iso(r["received_at"]),
            **{k: r[k] for k in keys},
            "has_personal_data": r["personal_data"] is not None,
        }
        for r in found
    ]


def oracle_events_deduplicated(rows, from_date, to_date, event_type=None):
    matching = [
        r for r in rows if in_range(r, from_date, to_date) and (event_type is None or r["event_type"] == event_type)
    ]
    copies: dict[str, int] = defaultdict(int)
    for r in matching:
        copies[r["event_id"]] += 1
    found = first_copies(matching)
    found.sort(key=lambda r: (r["received_at"], r["event_id"]))
    keys = (
        "event_id",
        "event_type",
        "event_date",
        "occurred_at",
        "received_at",
        "actor_id",
        "actor_type",
        "client_id",
        "workload",
        "environment",
        "model_id",
        "model_version",
        "dataset_id",
        "run_id",
        "prediction_id",
        "action",
        "resource",
        "dq_status",
        "leaf_hash",
    )
    return [
        {
            **{k: iso(r[k]) if isinstance(r[k], datetime) else r[k] for k in keys},
            "copies": copies[r["event_id"]],
        }
        for r in found
    ]


ORACLES: dict[str, Callable[..., list[Row]]] = {
    name.removeprefix("oracle_"): fn for name, fn in globals().items() if name.startswith("oracle_")
}

CASES: list[tuple[str, dict[str, Any]]] = [
    ("model_timeline", {"from_date": FROM, "to_date": TO, "model_id": "fraud"}),
    ("model_timeline", {"from_date": FROM, "to_date": TO, "model_id": "fraud", "model_version": "v1"}),
    ("prediction_volume_latency", {"from_date": "2026-10-03", "to_date": "2026-10-05"}),
    ("prediction_volume_latency", {"from_date": FROM, "to_date": TO, "model_id": "churn"}),
    ("dq_violation_rate", {"from_date": FROM, "to_date": TO}),
    ("dq_violation_rate", {"from_date": "2026-10-10", "to_date": "2026-10-12", "dataset_id": "ds-customers"}),
    (
        "drift_psi",
        {
            "baseline_from_date": "2026-10-01",
            "baseline_to_date": "2026-10-10",
            "current_from_date": "2026-10-11",
            "current_to_date": "2026-10-30",
            "model_id": "fraud",
            "feature": "$.age",
        },
    ),
    (
        "drift_psi",
        {
            "baseline_from_date": "2026-10-01",
            "baseline_to_date": "2026-10-15",
            "current_from_date": "2026-10-10",
            "current_to_date": "2026-10-30",
            "model_id": "fraud",
            "model_version": "v2",
            "feature": "$.income",
            "bins": 7,
        },
    ),
    (
        "drift_psi",
        {
            "baseline_from_date": "2026-10-01",
            "baseline_to_date": "2026-10-05",
            "current_from_date": "2026-10-06",
            "current_to_date": "2026-10-09",
            "model_id": "churn",
            "feature": "$.nested",
        },
    ),  # an object: NULL in both engines, so no feature row
    ("accuracy", {"from_date": FROM, "to_date": TO, "positive_label": "pos"}),
    (
        "accuracy",
        {"from_date": "2026-10-05", "to_date": "2026-10-20", "positive_label": "neg", "model_id": "fraud"},
    ),
    ("lineage", {"from_date": FROM, "to_date": TO, "model_id": "fraud", "model_version": "v1"}),
    ("lineage", {"from_date": FROM, "to_date": TO, "model_id": "fraud", "model_version": "v2"}),
    ("access_report", {"from_date": FROM, "to_date": TO}),
    (
        "access_report",
        {"from_date": FROM, "to_date": TO, "actor_id": "alice", "resource": "config/threshold"},
    ),
    ("subject_events", {"from_date": FROM, "to_date": TO, "subject_pseudonym": "subj-0003"}),
    ("events_deduplicated", {"from_date": "2026-10-07", "to_date": "2026-10-08"}),
    ("events_deduplicated", {"from_date": FROM, "to_date": TO, "event_type": "ground_truth"}),
]

# The lineage graph queries' oracles live with their own tests.
ORACLES.update(LINEAGE_ORACLES)
CASES.extend(LINEAGE_CASES)
# The monitors' queries' oracles too.
ORACLES.update(MONITOR_ORACLES)
CASES.extend(MONITOR_CASES)


def test_every_named_query_has_an_oracle_case() -> None:
    assert {name for name, _ in CASES} == set(load_catalog().queries) == set(ORACLES)


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_query_equals_oracle(engine: DuckDbEngine, events: list[Row], name: str, params: dict[str, Any]) -> None:
    # Given generated events in a local lake, When the named query runs on DuckDB,
    expected = ORACLES[name](events, **params)
    actual = run(engine, name, params)
    # Then it answers what the Python oracle computes from the same events.
    assert expected, "the case should exercise some rows"
    assert_rows_equal(actual, expected)


def test_duplicates_are_counted_once(engine: DuckDbEngine, events: list[Row]) -> None:
    duplicated = {r["event_id"] for r in events} and [r for r in events if r["leaf_hash"] == "f" * 64]
    assert duplicated, "the generator delivers some events twice"
    rows = run(engine, "events_deduplicated", {"from_date": FROM, "to_date": TO})
    assert len(rows) == len({r["event_id"] for r in events})
    assert sum(r["copies"] for r in rows) == len(events)


# --- known answers ---------------------------------------------------------------------
def _predictions(
    scores: list[float], day: date, model: str = "m", labels: list[tuple[str, str]] | None = None
) -> list[Row]:
    out = []
    t0 = datetime(day.year, day.month, day.day, 1, tzinfo=UTC)
    for i, score in enumerate(scores):
        at = t0 + timedelta(seconds=i)
        row = blank("prediction", at, at + timedelta(milliseconds=50), f"{model}-{day}-{i}")
        row.update(
            model_id=model,
            model_version="1",
            prediction_score=score,
            prediction_id=f"{model}-{day}-p{i}",
            latency_ms=float(i % 100),
            features=f'{{"age": {score * 100}}}',
        )
        if labels:
            row["prediction_label"] = labels[i][0]
        out.append(row)
    return out


def test_drift_scenario_has_the_known_psi(tmp_path) -> None:
    # Given a baseline with 100 scores at each of 10 bin centres and a current window
    # with 150 in each of the lower five bins and 50 in each of the upper five,
    centres = [0.05 + 0.1 * k for k in range(10)]
    baseline = [c for c in centres for _ in range(100)]
    current = [c for k, c in enumerate(centres) for _ in range(150 if k < 5 else 50)]
    rows = _predictions(baseline, date(2026, 3, 1)) + _predictions(current, date(2026, 3, 2))
    write_lake(rows, tmp_path)
    engine = DuckDbEngine(LocalLake(tmp_path), threads=1)
    # When drift_psi compares the two days,
    result = run(
        engine,
        "drift_psi",
        {
            "baseline_from_date": "2026-03-01",
            "baseline_to_date": "2026-03-01",
            "current_from_date": "2026-03-02",
            "current_to_date": "2026-03-02",
            "model_id": "m",
            "feature": "$.age",
        },
    )
    # Then PSI = 5 * 0.05 * ln(1.5) + 5 * (-0.05) * ln(0.5) = 0.25 * ln 3, for the score and the feature.
    assert [r["metric"] for r in result] == ["prediction_score", "feature"]
    for r in result:
        assert (r["baseline_count"], r["current_count"]) == (1000, 1000)
        assert r["psi"] == pytest.approx(0.25 * math.log(3), rel=1e-9)


def test_labels_scenario_has_the_known_accuracy(tmp_path) -> None:
    # Given 100 predictions (40 pos, 60 neg) and labels where 30 of the pos and 50 of
    # the neg predictions were right,
    predicted = ["pos"] * 40 + ["neg"] * 60
    truth = ["pos"] * 30 + ["neg"] * 10 + ["neg"] * 50 + ["pos"] * 10
    rows = _predictions([0.5] * 100, date(2026, 3, 1), labels=list(zip(predicted, truth, strict=True)))
    for i, (row, label) in enumerate(zip(list(rows), truth, strict=True)):
        at = row["occurred_at"] + timedelta(hours=5)
        gt = blank("ground_truth", at, at, f"gt-{i}")
        gt.update(label_for_prediction_id=row["prediction_id"], true_label=label)
        rows.append(gt)
    # and one label corrected later (the latest label wins): prediction 0 is really neg.
    late = blank(
        "ground_truth",
        rows[0]["occurred_at"] + timedelta(hours=9),
        rows[0]["occurred_at"] + timedelta(hours=9),
        "gt-fix",
    )
    late.update(label_for_prediction_id=rows[0]["prediction_id"], true_label="neg")
    rows.append(late)
    write_lake(rows, tmp_path)
    engine = DuckDbEngine(LocalLake(tmp_path), threads=1)
    # When accuracy runs with pos as the positive class,
    (result,) = run(engine, "accuracy", {"from_date": "2026-03-01", "to_date": "2026-03-01", "positive_label": "pos"})
    # Then TP=29, FP=11, FN=10, accuracy 79/100, precision 29/40, recall 29/39.
    assert (
        result["labeled"],
        result["true_positives"],
        result["false_positives"],
        result["false_negatives"],
    ) == (100, 29, 11, 10)
    assert result["accuracy"] == pytest.approx(0.79)
    assert result["precision"] == pytest.approx(29 / 40)
    assert result["recall"] == pytest.approx(29 / 39)


# --- QuickSight views ----------------------------------------------------------------------
def test_views_agree_with_the_events(engine: DuckDbEngine, events: list[Row]) -> None:
    # Per-day de-duplication, as the views do it (so an event_date filter prunes through them).
    per_day: dict[tuple[str, str], Row] = {}
    for r in sorted(events, key=lambda r: (r["received_at"], r["leaf_hash"])):
        per_day.setdefault((r["event_date"], r["event_id"]), r)
    kept = list(per_day.values())

    columns, rows = engine.run_view("prediction_hourly")
    hourly = [dict(zip(columns, row, strict=True)) for row in rows]
    volume: dict[tuple, int] = defaultdict(int)
    for r in kept:
        if r["event_type"] == "prediction":
            volume[(r["event_date"], r["model_id"], r["model_version"])] += 1
    got: dict[tuple, int] = defaultdict(int)
    for row in hourly:
        got[(row["event_date"], row["model_id"], row["model_version"])] += int(row["predictions"])
    assert got == volume

    columns, rows = engine.run_view("dq_daily")
    daily = [dict(zip(columns, row, strict=True)) for row in rows]
    totals: dict[tuple, int] = defaultdict(int)
    breaking: dict[tuple, int] = defaultdict(int)
    for r in kept:
        totals[(r["event_date"], r["dataset_id"], r["model_id"])] += 1
        for rule in set(r["dq_violations"]):
            breaking[(r["event_date"], r["dataset_id"], r["model_id"], rule)] += 1
    assert {
        (d["event_date"], d["dataset_id"], d["model_id"]): int(d["events"]) for d in daily if d["rule_id"] is None
    } == totals
    assert {
        (d["event_date"], d["dataset_id"], d["model_id"], d["rule_id"]): int(d["events"]) for d in daily if d["rule_id"]
    } == breaking

    columns, rows = engine.run_view("score_histogram_daily")
    buckets = [dict(zip(columns, row, strict=True)) for row in rows]
    expected: dict[tuple, int] = defaultdict(int)
    for r in kept:
        if r["event_type"] == "prediction" and r["prediction_score"] is not None:
            bucket = float(min(max(math.floor(r["prediction_score"] * 10), 0), 9))
            expected[(r["event_date"], r["model_id"], r["model_version"], bucket)] += 1
    assert {
        (b["event_date"], b["model_id"], b["model_version"], float(b["bucket"])): int(b["predictions"]) for b in buckets
    } == expected


def test_quicksight_data_sets_are_the_views_over_their_last_days(engine: DuckDbEngine, events: list[Row]) -> None:
    # Given each view as its QuickSight data set's SQL (the events table named in full, the
    # last `days` days only), with the cut-off in the middle of the generated month,
    dates = sorted({r["event_date"] for r in events})
    middle = dates[len(dates) // 2]
    for name, spec in load_catalog().views.items():
        columns, rows = engine.run_view(name)
        con = engine._connect(engine.lake.files(None, spec.event_types))
        con.execute("ATTACH ':memory:' AS \"AwsDataCatalog\"")
        con.execute('CREATE SCHEMA "AwsDataCatalog".audit_db')
        con.execute('CREATE TABLE "AwsDataCatalog".audit_db.events AS SELECT * FROM events')
        while True:  # the days counted from the engine's own today (again if midnight passes)
            today = con.execute("SELECT current_date").fetchone()[0]
            days = (today - date.fromisoformat(middle)).days
            got = con.execute(to_duckdb(quicksight_sql(spec, "audit_db", days))).fetchall()
            if con.execute("SELECT current_date").fetchone()[0] == today:
                break
        # when run, then they are the view's rows from that day on, and none before it.
        expected = [row for row in rows if row[columns.index("event_date")] >= middle]
        assert 0 < len(expected) < len(rows), name
        doubles = [c.type == "double" for c in spec.columns]  # summation order differs: 1e-9

        def key(row: list[str | None]) -> list[Any]:
            return [round(float(v), 9) if v is not None and double else v
                    for v, double in zip(row, doubles, strict=True)]

        assert sorted((key([render(v) for v in row]) for row in got), key=str) == sorted(map(key, expected), key=str)


def test_quicksight_sql_refuses_what_it_must_not_splice() -> None:
    catalog = load_catalog()
    view = catalog.views["dq_daily"]
    for spec, database, days in ((view, 'x"; DROP', 92), (view, "audit_db", 0), (view, "audit_db", 5000),
                                 (catalog.get("prediction_volume_latency"), "audit_db", 92)):
        with pytest.raises(CatalogError):
            quicksight_sql(spec, database, days)
