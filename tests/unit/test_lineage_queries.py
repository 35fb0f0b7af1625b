"""The lineage graph queries (lineage_upstream, lineage_downstream, model_inputs) equal
Python oracles; OpenLineage events sent by the official client come back as a graph.

The oracles and cases here also run in test_queries_oracles.py over its generated lake
(every named query has an oracle there). Graph semantics (docs/lineage.md): edges come from
the first copy of each event in the range; a walk follows up to max_depth edges, and a
node's first_seen / last_seen span the events of the edges that reached it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mlaudit.ingest.request import IngestLimits, parse_events
from mlaudit.lineage import lineage_request_body
from mlaudit.queries.catalog import load_catalog
from mlaudit.queries.engine import decode_row
from mlaudit.queries.params import ParameterError

from bench.synthetic import OPENLINEAGE_RUNS, blank, generate, write_lake
from local.athena import DuckDbEngine, LocalLake

Row = dict[str, Any]
Node = tuple[str, str]
TRAINING = {"training_started", "training_completed", "training_failed", "model_evaluated"}
MODEL_EVENTS = TRAINING | {"model_registered"}
FROM, TO = "2026-10-01", "2026-10-30"


# --- oracles -----------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _first_copies(rows: Iterable[Row], start: str, end: str) -> list[Row]:
    best: dict[str, Row] = {}
    for row in rows:
        if not start <= row["event_date"] <= end:
            continue
        held = best.get(row["event_id"])
        if held is None or (row["received_at"], row["leaf_hash"]) < (held["received_at"], held["leaf_hash"]):
            best[row["event_id"]] = row
    return list(best.values())


def lineage_links(rows: list[Row], start: str, end: str) -> dict[tuple[Node, Node], list[datetime]]:
    """Every edge (source node, target node) -> [first, last] occurred_at of its events."""
    links: dict[tuple[Node, Node], list[datetime]] = {}

    def edge(src: Node, dst: Node, at: datetime) -> None:
        span = links.setdefault((src, dst), [at, at])
        span[0], span[1] = min(span[0], at), max(span[1], at)

    for r in _first_copies(rows, start, end):
        at = r["occurred_at"]
        process: Node | None = None
        if r["run_id"] is not None:
            process = ("run", r["run_id"])
        elif r["event_type"] == "lineage" and r["action"] == "JOB" and r["resource"] is not None:
            process = ("job", r["resource"])
        if process is not None:
            for ref in r["inputs"]:
                edge(("dataset", ref), process, at)
            if r["dataset_id"] is not None and r["event_type"] in TRAINING:
                edge(("dataset", r["dataset_id"]), process, at)
            for ref in r["outputs"]:
                edge(process, ("dataset", ref), at)
        if r["dataset_id"] is not None and r["event_type"] in ("dataset_registered", "data_ingested"):
            for ref in r["inputs"]:
                edge(("dataset", ref), ("dataset", r["dataset_id"]), at)
    return links


def walk(links: dict[tuple[Node, Node], list[datetime]], level1: dict[Node, list[datetime]],
         max_depth: int, upstream: bool, level0: dict[Node, list[datetime]] | None = None) -> list[Row]:
    """Every walk of up to max_depth edges, level by level (walks, not paths: a cycle is
    followed until the depth runs out), folded per node. `level0`: nodes that stand for the
    start (a job's runs), whose own neighbours are at depth 1."""
    step: dict[Node, list[tuple[Node, list[datetime]]]] = defaultdict(list)
    for (src, dst), span in links.items():
        if upstream:
            step[dst].append((src, span))
        else:
            step[src].append((dst, span))
    reached = {node: [0, span[0], span[1]] for node, span in (level0 or {}).items()}
    level1 = {**level1}
    for node in level0 or {}:
        for other, (first, last) in step[node]:
            span = level1.setdefault(other, [first, last])
            span[0], span[1] = min(span[0], first), max(span[1], last)
    for node, (first, last) in level1.items():
        held = reached.setdefault(node, [1, first, last])
        held[1], held[2] = min(held[1], first), max(held[2], last)
    frontier = set(level1)
    for depth in range(2, max_depth + 1):
        following = set()
        for node in frontier:
            for other, (first, last) in step[node]:
                held = reached.setdefault(other, [depth, first, last])
                held[0], held[1], held[2] = min(held[0], depth), min(held[1], first), max(held[2], last)
                following.add(other)
        frontier = following
    rows = [{"node_type": t, "node_id": i, "depth": d, "first_seen": _iso(f), "last_seen": _iso(la)}
            for (t, i), (d, f, la) in reached.items()]
    return sorted(rows, key=lambda r: (r["depth"], r["node_type"], r["node_id"]))


def _neighbours(links: dict[tuple[Node, Node], list[datetime]], start: Node, upstream: bool) -> dict[Node, list]:
    out: dict[Node, list[datetime]] = {}
    for (src, dst), (first, last) in links.items():
        if (dst if upstream else src) == start:
            node = src if upstream else dst
            span = out.setdefault(node, [first, last])
            span[0], span[1] = min(span[0], first), max(span[1], last)
    return out


def job_runs(rows: list[Row], start: str, end: str, job: str) -> dict[Node, list[datetime]]:
    """The runs of an OpenLineage job (RunEvents naming it in `resource`) -> their events' span."""
    runs: dict[Node, list[datetime]] = {}
    for r in _first_copies(rows, start, end):
        if r["event_type"] == "lineage" and r["run_id"] is not None and r["resource"] == job:
            span = runs.setdefault(("run", r["run_id"]), [r["occurred_at"], r["occurred_at"]])
            span[0], span[1] = min(span[0], r["occurred_at"]), max(span[1], r["occurred_at"])
    return runs


def oracle_lineage_upstream(rows, from_date, to_date, node_type, node_id, max_depth=4):
    links = lineage_links(rows, from_date, to_date)
    runs = job_runs(rows, from_date, to_date, node_id) if node_type == "job" else {}
    return walk(links, _neighbours(links, (node_type, node_id), True), max_depth, upstream=True, level0=runs)


def oracle_lineage_downstream(rows, from_date, to_date, node_type, node_id, max_depth=4):
    links = lineage_links(rows, from_date, to_date)
    runs = job_runs(rows, from_date, to_date, node_id) if node_type == "job" else {}
    return walk(links, _neighbours(links, (node_type, node_id), False), max_depth, upstream=False, level0=runs)


def oracle_model_inputs(rows, from_date, to_date, model_id, model_version, max_depth=4):
    events = _first_copies(rows, from_date, to_date)
    mine = [r for r in events if r["model_id"] == model_id and r["model_version"] == model_version]
    seeds: dict[Node, list[datetime]] = {}
    for r in mine:
        if r["event_type"] not in MODEL_EVENTS:
            continue
        named = [("run", r["run_id"]), ("dataset", r["dataset_id"])] + [("dataset", ref) for ref in r["inputs"]]
        for node in named:
            if node[1] is not None:
                span = seeds.setdefault(node, [r["occurred_at"], r["occurred_at"]])
                span[0], span[1] = min(span[0], r["occurred_at"]), max(span[1], r["occurred_at"])
    served = [r["occurred_at"] for r in mine if r["event_type"] == "prediction"]
    prediction = {"predictions": len(served), "first_prediction": _iso(min(served, default=None)),
                  "last_prediction": _iso(max(served, default=None))}
    links = lineage_links(rows, from_date, to_date)
    return [{**row, **prediction} for row in walk(links, seeds, max_depth, upstream=True)]


def oracle_lineage_graph(rows, from_date, to_date):
    """Every edge, a run folded into the job an OpenLineage RunEvent names for it."""
    jobs: dict[str, str] = {}
    for r in _first_copies(rows, from_date, to_date):
        if r["event_type"] == "lineage" and r["run_id"] is not None and r["resource"] is not None:
            jobs[r["run_id"]] = min(r["resource"], jobs.get(r["run_id"], r["resource"]))
    folded: dict[tuple[Node, Node], list] = {}
    for (src, dst), (first, last) in lineage_links(rows, from_date, to_date).items():
        run = src[1] if src[0] == "run" else dst[1] if dst[0] == "run" else None
        src = ("job", jobs[src[1]]) if src[0] == "run" and src[1] in jobs else src
        dst = ("job", jobs[dst[1]]) if dst[0] == "run" and dst[1] in jobs else dst
        held = folded.setdefault((src, dst), [set(), first, last])
        held[0] |= {run} - {None}
        held[1], held[2] = min(held[1], first), max(held[2], last)
    return [{"src_type": s[0], "src_id": s[1], "dst_type": d[0], "dst_id": d[1], "runs": len(runs),
             "first_seen": _iso(first), "last_seen": _iso(last)}
            for (s, d), (runs, first, last) in sorted(folded.items())]


LINEAGE_ORACLES = {
    "lineage_graph": oracle_lineage_graph,
    "lineage_upstream": oracle_lineage_upstream,
    "lineage_downstream": oracle_lineage_downstream,
    "model_inputs": oracle_model_inputs,
}
PREPARE, BACKFILL = OPENLINEAGE_RUNS
LINEAGE_CASES: list[tuple[str, dict[str, Any]]] = [
    ("lineage_graph", {"from_date": FROM, "to_date": TO}),
    ("lineage_upstream", {"from_date": FROM, "to_date": TO, "node_type": "dataset", "node_id": "ds-train"}),
    ("lineage_upstream", {"from_date": FROM, "to_date": TO, "node_type": "run", "node_id": "run-1",
                          "max_depth": 8}),
    ("lineage_upstream", {"from_date": FROM, "to_date": TO, "node_type": "dataset",
                          "node_id": "s3://marts/fraud_agg", "max_depth": 2}),
    ("lineage_downstream", {"from_date": FROM, "to_date": TO, "node_type": "dataset", "node_id": "s3://raw/cust",
                            "max_depth": 8}),
    ("lineage_downstream", {"from_date": FROM, "to_date": TO, "node_type": "job",
                            "node_id": "dbt/analytics.fraud_agg", "max_depth": 3}),
    ("lineage_downstream", {"from_date": FROM, "to_date": TO, "node_type": "run", "node_id": PREPARE}),
    # A job known by RunEvents only: found by its name, through its runs.
    ("lineage_downstream", {"from_date": FROM, "to_date": TO, "node_type": "job",
                            "node_id": "airflow/fraud.prepare_train", "max_depth": 8}),
    ("lineage_upstream", {"from_date": FROM, "to_date": TO, "node_type": "job", "node_id": "spark/raw.backfill",
                          "max_depth": 3}),
    ("model_inputs", {"from_date": FROM, "to_date": TO, "model_id": "fraud", "model_version": "v1"}),
    ("model_inputs", {"from_date": FROM, "to_date": TO, "model_id": "fraud", "model_version": "v1",
                      "max_depth": 1}),
    ("model_inputs", {"from_date": FROM, "to_date": TO, "model_id": "fraud", "model_version": "v2",
                      "max_depth": 8}),
]


# --- the tests of this file ----------------------------------------------------------------
@pytest.fixture(scope="module")
def events() -> list[Row]:
    return list(generate(400, days=30, seed=13))


@pytest.fixture(scope="module")
def engine(events: list[Row], tmp_path_factory: pytest.TempPathFactory) -> DuckDbEngine:
    root = tmp_path_factory.mktemp("lineage-lake")
    write_lake(events, root)
    return DuckDbEngine(LocalLake(root), threads=1)


def run(engine: DuckDbEngine, name: str, params: dict[str, Any]) -> list[Row]:
    status, rows = engine.run(name, params)
    assert status.state == "SUCCEEDED", status.reason
    return [decode_row(load_catalog().get(name).columns, row) for row in rows]


@pytest.mark.parametrize(("name", "params"), LINEAGE_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(LINEAGE_CASES)])
def test_lineage_query_equals_oracle(engine: DuckDbEngine, events: list[Row], name: str, params: dict) -> None:
    expected = LINEAGE_ORACLES[name](events, **params)
    assert expected, "the case should exercise some rows"
    assert run(engine, name, params) == expected


def test_the_graph_reads_as_built(engine: DuckDbEngine) -> None:
    # Known answers, stated by hand from bench.synthetic's fixed graph.
    up = {(r["node_type"], r["node_id"]): r["depth"] for r in run(
        engine, "lineage_upstream", {"from_date": FROM, "to_date": TO, "node_type": "dataset", "node_id": "ds-train",
                                     "max_depth": 2})}
    assert up == {("run", PREPARE): 1, ("dataset", "s3://raw/tx"): 1, ("dataset", "s3://raw/cust"): 1,
                  ("run", BACKFILL): 2}
    down = run(engine, "lineage_downstream", {"from_date": FROM, "to_date": TO, "node_type": "dataset",
                                              "node_id": "s3://raw/cust", "max_depth": 8})
    depths = {(r["node_type"], r["node_id"]): r["depth"] for r in down}
    # ds-train is registered from raw/cust (one hop) and written by prepare (two); the cycle
    # raw/cust -> ds-train -> dbt job -> mart -> backfill -> raw/cust is followed until max_depth.
    assert depths[("dataset", "ds-train")] == 1 and depths[("run", PREPARE)] == 1
    assert depths[("job", "dbt/analytics.fraud_agg")] == 2
    assert depths[("dataset", "s3://raw/cust")] == 5
    assert depths[("run", "run-1")] == 2
    by_job = run(engine, "lineage_downstream", {"from_date": FROM, "to_date": TO, "node_type": "job",
                                                "node_id": "airflow/fraud.prepare_train", "max_depth": 1})
    # The job's run (its START and COMPLETE name the job), then what that run wrote.
    assert [(r["node_type"], r["node_id"], r["depth"]) for r in by_job] == [
        ("run", PREPARE, 0), ("dataset", "ds-train", 1)]
    inputs = run(engine, "model_inputs", {"from_date": FROM, "to_date": TO, "model_id": "fraud",
                                          "model_version": "v1", "max_depth": 3})
    nodes = {(r["node_type"], r["node_id"]): r["depth"] for r in inputs}
    assert nodes[("run", "run-1")] == 1 and nodes[("dataset", "ds-train")] == 1
    assert nodes[("run", PREPARE)] == 2 and nodes[("dataset", "s3://raw/tx")] == 2
    assert inputs[0]["predictions"] > 0 and len({r["predictions"] for r in inputs}) == 1


@pytest.mark.parametrize("bad", [{"max_depth": 9}, {"max_depth": 0}, {"node_type": "model"}])
def test_depth_and_node_type_are_bounded(bad: dict) -> None:
    params = {"from_date": FROM, "to_date": TO, "node_type": "dataset", "node_id": "x", **bad}
    with pytest.raises(ParameterError):
        load_catalog().get("lineage_upstream").check(params)


def test_openlineage_events_come_back_as_a_graph(tmp_path) -> None:
    """OpenLineage run events (as the client serializes them) -> contract -> lake -> graph."""
    from tests.unit.test_lineage_openlineage import RUN_ID, emit, job_run_events

    received = datetime(2026, 11, 29, 12, tzinfo=UTC)
    rows = []
    for i, request in enumerate(emit(job_run_events())):
        (event,) = parse_events(lineage_request_body(request.body.encode()), IngestLimits())
        row = blank("lineage", event.occurred_at, received + timedelta(seconds=i), f"ol-{i}")
        row.update(run_id=event.run_id, parent_run_id=event.parent_run_id, action=event.action,
                   resource=event.resource, inputs=list(event.inputs or ()), outputs=list(event.outputs or ()),
                   details=event.details.text)
        rows.append(row)
    write_lake(rows, tmp_path)
    engine = DuckDbEngine(LocalLake(tmp_path), threads=1)
    day = received.date().isoformat()
    up = run(engine, "lineage_upstream", {"from_date": day, "to_date": day, "node_type": "dataset",
                                          "node_id": "s3://features/churn/customer_features"})
    assert [(r["node_type"], r["node_id"], r["depth"]) for r in up] == [
        ("run", RUN_ID, 1), ("dataset", "postgres://crm:5432/crm.public.customers", 2)]
    down = run(engine, "lineage_downstream", {"from_date": day, "to_date": day, "node_type": "run",
                                              "node_id": RUN_ID})
    assert [(r["node_type"], r["node_id"]) for r in down] == [("dataset", "s3://features/churn/customer_features")]
    assert json.loads(rows[1]["details"])["run"]["runId"] == RUN_ID


def test_the_whole_graph_folds_runs_into_their_jobs(engine: DuckDbEngine) -> None:
    # mlaudit report's lineage graph: an OpenLineage run is drawn as its job; an SDK run stays a run
    edges = {(r["src_type"], r["src_id"], r["dst_type"], r["dst_id"]): r["runs"]
             for r in run(engine, "lineage_graph", {"from_date": FROM, "to_date": TO})}
    assert edges[("dataset", "s3://raw/tx", "job", "airflow/fraud.prepare_train")] == 1
    assert edges[("job", "airflow/fraud.prepare_train", "dataset", "ds-train")] == 1
    assert edges[("dataset", "ds-train", "job", "dbt/analytics.fraud_agg")] == 0  # a JobEvent: no run
    assert edges[("job", "spark/raw.backfill", "dataset", "s3://raw/cust")] == 1
    assert not any(PREPARE in key or BACKFILL in key for key in edges)
    assert any(key[0] == "run" or key[2] == "run" for key in edges)  # the SDK's training runs
