"""Synthetic audit events and a Parquet lake of them, for tests and benchmarks.

Rows have every column of `layout.COLUMNS` plus `event_date` (the partition, the UTC
date of received_at). The mix exercises every named query: predictions from two
models with latency, scores and features; labels for some of them; data-quality
violations; a small lineage graph; access and privacy events; and about 1% of events
delivered twice (same event_id, later received_at), as at-least-once delivery does.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from mlaudit.layout import COLUMNS, partition_prefix
from mlaudit.parquet import SCHEMA, to_parquet_bytes

MODELS = (("fraud", "v1"), ("fraud", "v2"), ("churn", "v1"))
RULES = ("dq.missing_value", "dq.out_of_range", "dq.schema_drift")
DATASETS = ("ds-transactions", "ds-customers")
ACTORS = ("alice", "bob", "svc-etl")


def blank(event_type: str, occurred_at: datetime, received_at: datetime, event_id: str) -> dict[str, Any]:
    row: dict[str, Any] = {c.name: ([] if c.kind == "array<string>" else None) for c in COLUMNS}
    row.update(
        event_id=event_id,
        schema_version=1,
        event_type=event_type,
        occurred_at=occurred_at,
        received_at=received_at,
        actor_id="svc-model",
        actor_type="service",
        actor_roles=[],
        client_id="client-1",
        dq_status="pass",
        leaf_hash=hashlib.sha256(event_id.encode()).hexdigest(),
        event_date=received_at.astimezone(UTC).date().isoformat(),
    )
    return row


def _lineage(start: datetime) -> list[dict[str, Any]]:
    """A fixed graph: raw sources -> datasets -> runs (with a parent) -> models -> deployments."""
    out = []

    def add(i: int, event_type: str, **fields: Any) -> None:
        at = start + timedelta(hours=i)
        out.append({**blank(event_type, at, at + timedelta(seconds=1), f"lin-{i}"), **fields})

    add(0, "dataset_registered", dataset_id="ds-train", inputs=["s3://raw/tx", "s3://raw/cust"])
    add(1, "data_ingested", dataset_id="ds-raw-eval", inputs=["s3://raw/eval"])
    add(
        2,
        "training_started",
        run_id="run-1",
        parent_run_id="pipeline-7",
        dataset_id="ds-train",
        model_id="fraud",
        model_version="v1",
        inputs=["ds-train", "ds-raw-eval"],
    )
    add(
        3,
        "training_completed",
        run_id="run-1",
        parent_run_id="pipeline-7",
        model_id="fraud",
        model_version="v1",
        metrics=json.dumps({"auc": 0.91}),
    )
    add(4, "model_evaluated", run_id="run-1", model_id="fraud", model_version="v1", dataset_id="ds-raw-eval")
    add(
        5,
        "model_registered",
        run_id="run-1",
        model_id="fraud",
        model_version="v1",
        model_artifact_sha256="a" * 64,
    )
    add(
        6,
        "model_deployed",
        model_id="fraud",
        model_version="v1",
        resource="endpoint/fraud-prod",
        environment="prod",
        actor_id="alice",
        actor_type="user",
    )
    add(7, "training_started", run_id="run-2", model_id="fraud", model_version="v2", dataset_id="ds-other")
    add(8, "model_registered", run_id="run-2", model_id="fraud", model_version="v2")
    add(
        9,
        "config_changed",
        model_id="fraud",
        model_version="v1",
        action="update",
        resource="config/threshold",
        actor_id="bob",
        actor_type="user",
        details=json.dumps({"threshold": [0.5, 0.6]}),
    )
    add(10, "model_retired", model_id="fraud", model_version="v1", environment="staging")
    # OpenLineage events as POST /v1/lineage maps them (mlaudit.lineage): a job run that
    # builds ds-train from the raw sources, a dbt job (a JobEvent: no run) that derives a
    # mart from it, a run that writes one raw source back from the mart (a cycle), a
    # DatasetEvent (no edge), and a copy delivered twice.
    prepare, backfill = OPENLINEAGE_RUNS
    raw = ["s3://raw/tx", "s3://raw/cust"]
    add(11, "lineage", run_id=prepare, parent_run_id="pipeline-7", action="START",
        resource="airflow/fraud.prepare_train", inputs=raw)
    add(12, "lineage", run_id=prepare, parent_run_id="pipeline-7", action="COMPLETE",
        resource="airflow/fraud.prepare_train", inputs=raw, outputs=["ds-train"])
    add(13, "lineage", action="JOB", resource="dbt/analytics.fraud_agg", inputs=["ds-train"],
        outputs=["s3://marts/fraud_agg"])
    add(14, "lineage", run_id=backfill, action="COMPLETE", resource="spark/raw.backfill",
        inputs=["s3://marts/fraud_agg"], outputs=["s3://raw/cust"])
    add(15, "lineage", action="DATASET", resource="s3://marts/fraud_agg")
    out.append({**out[-2], "received_at": out[-2]["received_at"] + timedelta(seconds=5), "leaf_hash": "f" * 64})
    return out


# Run ids of the OpenLineage runs in the fixed lineage graph (UUIDs, lower case).
OPENLINEAGE_RUNS = ("0b6e7a52-3c1e-4c4b-9a57-2f0b1f6f3a01", "0b6e7a52-3c1e-4c4b-9a57-2f0b1f6f3a02")


def generate(
    n: int, *, days: int = 30, start: date = date(2026, 10, 1), seed: int = 7
) -> Iterator[dict[str, Any]]:
    """About `n` events spread evenly over `days` days (plus duplicates and lineage)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    t0 = datetime(start.year, start.month, start.day, tzinfo=UTC)
    span = days * 86_400_000
    yield from _lineage(t0)
    predictions: list[tuple[str, str]] = []  # (prediction_id, label) to attach labels to
    for i in range(n):
        occurred = t0 + timedelta(milliseconds=int(span * (i + rng.random()) / n))
        received = min(
            occurred + timedelta(milliseconds=rng.randint(5, 3000)), t0 + timedelta(milliseconds=span - 1)
        )
        event_id = f"ev-{seed}-{i}"
        kind = rng.random()
        if kind < 0.70:
            model_id, version = MODELS[rng.randrange(len(MODELS))]
            score = rng.betavariate(2, 5) if version != "v2" else rng.betavariate(5, 2)
            row = blank("prediction", occurred, received, event_id)
            row.update(
                model_id=model_id,
                model_version=version,
                prediction_id=f"p-{seed}-{i}",
                prediction_score=score,
                prediction_label="pos" if score >= 0.5 else "neg",
                latency_ms=round(rng.lognormvariate(3, 0.5), 3),
                workload=f"{model_id}-api",
                environment="prod",
                features=json.dumps(
                    {"age": rng.randint(18, 90), "income": round(rng.gauss(50, 15), 2), "nested": {"x": 1}},
                    sort_keys=True,
                ),
            )
            predictions.append((row["prediction_id"], row["prediction_label"]))
        elif kind < 0.82 and predictions:
            pid, predicted = predictions[rng.randrange(max(0, len(predictions) - 200), len(predictions))]
            truth = predicted if rng.random() < 0.8 else ("neg" if predicted == "pos" else "pos")
            row = blank("ground_truth", occurred, received, event_id)
            row.update(label_for_prediction_id=pid, true_label=truth)
        elif kind < 0.92:
            row = blank("data_ingested", occurred, received, event_id)
            violations = [r for r in RULES if rng.random() < 0.15]
            row.update(
                dataset_id=DATASETS[rng.randrange(2)],
                model_id=rng.choice(["fraud", None]),
                dq_violations=violations,
                dq_status="fail" if violations else "pass",
            )
        elif kind < 0.97:
            etype = rng.choice(["audit_access", "data_accessed", "config_changed"])
            row = blank(etype, occurred, received, event_id)
            row.update(
                actor_id=rng.choice(ACTORS),
                actor_type="user",
                action=rng.choice(["read", "query", "update"]),
                resource=rng.choice(["query:accuracy", "dataset/ds-customers", "config/threshold"]),
                model_id=rng.choice(["fraud", None]),
            )
        else:
            etype = rng.choice(["subject_access", "prediction", "data_accessed"])
            row = blank(etype, occurred, received, event_id)
            row.update(
                subject_pseudonym=f"subj-{rng.randrange(20):04d}",
                actor_id=rng.choice(ACTORS),
                actor_type="user",
                personal_data=rng.choice([None, "ciphertext-base64"]),
                action="read",
            )
        yield row
        if rng.random() < 0.01:  # at-least-once delivery: the same event again, later
            again = dict(
                row, received_at=min(received + timedelta(seconds=1), t0 + timedelta(milliseconds=span - 1))
            )
            again["leaf_hash"] = "f" * 64
            yield again


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows in the writer's file schema (mlaudit.parquet.SCHEMA)."""
    return pa.Table.from_pylist([{k: r[k] for k in SCHEMA.names} for r in rows], schema=SCHEMA)


def write_lake(rows: Iterable[dict[str, Any]], root: str | Path, *, rows_per_file: int = 250_000) -> int:
    """Write rows as events/event_date=/event_type=/part-N.parquet under `root`, encoded
    as the writer encodes them; return the number of files. Rows should come roughly in
    time order (as `generate` yields them): a day's partitions are written once a later
    day starts, so memory holds about one day."""
    parts: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    counters: dict[tuple[str, str], int] = defaultdict(int)
    written = 0
    current_day = ""

    def flush(key: tuple[str, str]) -> None:
        nonlocal written
        folder = Path(root) / partition_prefix(*key)
        folder.mkdir(parents=True, exist_ok=True)
        data = to_parquet_bytes(to_table(parts.pop(key)))
        (folder / f"part-{counters[key]:05d}.parquet").write_bytes(data)
        counters[key] += 1
        written += 1

    for row in rows:
        key = (row["event_date"], row["event_type"])
        if key[0] > current_day:
            for old in [k for k in parts if k[0] < current_day]:
                flush(old)
            current_day = key[0]
        parts[key].append(row)
        if len(parts[key]) >= rows_per_file:
            flush(key)
    for key in list(parts):
        flush(key)
    return written
