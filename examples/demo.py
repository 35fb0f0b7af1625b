"""``python -m examples.demo`` (``make demo``): three sample ML models' month through the local stack.

Three models are trained on synthetic hospital data, registered and deployed, then serve a
month of predictions (backdated) with their features, and ground-truth labels arrive for
most of them: readmission-risk (logistic regression), whose glucose input reads higher every
day from the third week, so its score drifts, accuracy falls, its drift monitor raises ALARM,
and it is retrained and redeployed; sepsis-alert (logistic regression) and triage-acuity
(nearest centroid, five classes), which stay healthy, their monitors OK. Every step is an
audit event sent through the workload client; the pipeline around readmission-risk reports
its lineage as OpenLineage. A SageMaker training job is captured with no code
(docs/capture.md): its state changes, as SageMaker sends them, go on the local event bus and
the capture function records them. The demo waits for the writer, reads the Parquet back
from the bucket and prints what an auditor would check, the monitors' states, an analyst's
queries and one patient's access and erasure, then writes the HTML report."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import tempfile
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from mlaudit.adapters.bucket import S3Bucket
from mlaudit.integrity.primitives.signing import kms_public_key_pem, load_public_key
from mlaudit.integrity.verifier import Verifier
from mlaudit.layout import parse_partition
from mlaudit.leaf import leaf_hash, leaf_record_from_row
from mlaudit.parquet import read_parquet_bytes
from mlaudit.settings import Settings

from local import client as local_client
from local.stack import LocalStack

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client"))
from mlaudit_client import Auditor  # noqa: E402 - after the path set-up just above

MODEL_ID = "readmission-risk"  # the model whose input drifts
FEATURES = ("age", "bmi", "glucose", "prior_admissions")
MODEL_VERSION, RETRAINED_VERSION = "1.0.0", "1.1.0"
DAYS = 30  # the story's length: every event is backdated into the last DAYS days
# From the third week a new lab analyser reads glucose higher every day; the patients, and so
# their outcomes, do not change: the score drifts, accuracy falls, and the model retrained on
# the recent weeks is deployed on RETRAIN_DAY.
DRIFT_FROM_DAY, DRIFT_MG_PER_DAY = 14, 8.0
RETRAIN_DAY = 23
INCIDENT_DAY = 11  # the 12th day: a clock bug logs negative latencies (prediction.latency_non_negative)
# Two healthy models beside it, as busy: a sepsis alert (logistic regression on vitals) and an
# emergency triage level (nearest centroid, five classes).
SEPSIS_ID, SEPSIS_FEATURES = "sepsis-alert", ("heart_rate", "temperature", "resp_rate", "lactate")
TRIAGE_ID, TRIAGE_FEATURES = "triage-acuity", ("heart_rate", "resp_rate", "spo2", "pain_score")
# Per model: the positive class for precision and recall, and the features whose drift the report shows
POSITIVE = {MODEL_ID: "readmit", SEPSIS_ID: "sepsis", TRIAGE_ID: "ESI-2"}
MODEL_FEATURES = {MODEL_ID: FEATURES, SEPSIS_ID: SEPSIS_FEATURES, TRIAGE_ID: TRIAGE_FEATURES}
# One patient is in the month's data with personal data; the privacy officer reads and erases them.
SUBJECT = "patient/MRN-004217"
SUBJECT_DATA = {"name": "Ada Quintero", "date_of_birth": "1951-03-08"}
MONITORS_FILE = Path(__file__).with_name("demo_monitors.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=3000, help="each model's (default %(default)s)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--report", type=Path, default=Path("mlaudit-report.html"),
                        help="where to write the HTML report (default %(default)s)")
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the report, not the functions' logs
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # nor their EMF lines (mlaudit serve prints them)
    print("Starting the local stack (moto, Cognito, API emulator, writer poller); a few minutes on a busy machine...",
          flush=True)
    settings = Settings.from_cdk_json(overrides={"capture_sagemaker": True})  # off by default on AWS
    # The monitors run when the demo asks (below), as EventBridge's next schedule would; the
    # interval only keeps the schedule from racing the workload.
    with LocalStack(settings, writer_window=1, checkpoint_interval=1, monitors_file=str(MONITORS_FILE),
                    monitor_interval=24 * 3600, progress=lambda step: print(f"  {step}...", flush=True)) as stack:
        config = stack.config
        machine = config["machine_client"]
        now = datetime.now(UTC)
        print(f"Sending a month of three models' workload ({DAYS} days, backdated, {args.predictions} predictions "
              "each)...", flush=True)
        with tempfile.TemporaryDirectory() as spool:
            audit = Auditor(config["api_url"], config["token_url"], machine["client_id"], machine["client_secret"],
                            spool_dir=spool, common={"workload": "readmission-scoring", "environment": "prod"})
            started = time.perf_counter()
            sent = run_workload(audit, args.predictions, random.Random(args.seed), now)  # noqa: S311 - synthetic
            emitted = time.perf_counter() - started
            flushed = audit.flush(300)
            sdk = audit.stats()
            audit.close()
        print(f"Emitted {len(sent)} audit events in {emitted:.2f} s (the workload's cost), all sent "
              f"{time.perf_counter() - started:.1f} s after the start; SDK: {sdk}")
        if not flushed or sdk["rejected"] or sdk["dropped"]:
            print("The SDK did not send every event.", file=sys.stderr)
            return 1
        print("A SageMaker training job starts and completes; capturing its state changes...", flush=True)
        captured = sagemaker_training_job(config)
        if captured is None:
            print("The SageMaker training job's events did not reach the lake in 120 s.", file=sys.stderr)
            return 1
        sent += captured
        lineage_chain(config, now)
        print("Waiting for the writer...", flush=True)
        if not local_client.wait_drained(config, timeout=300):
            print("The writer did not drain the queue in 300 s.", file=sys.stderr)
            return 1
        stored_ok = report(config, sent)
        proven_ok = prove(config)
        watched_ok = watch(stack)
        asked_ok = ask(config, now)
        erased_ok = erase(config)
        local_client.wait_drained(config, timeout=300)  # the officer's reads and the erasure, for the access log
        report_path = write_report(config, args.report, now)
        print()
        print(f"HTML report (opens offline): {report_path}")
        return 0 if stored_ok and proven_ok and watched_ok and asked_ok and erased_ok else 1


def write_report(config: dict[str, Any], out: Path, now: datetime) -> Path:
    """`mlaudit report` on the month the demo just stored: its first week is the drift baseline;
    each model's positive class and features."""
    from cli import report as html_report  # noqa: PLC0415
    from cli.target import Target  # noqa: PLC0415

    first, last = (now - timedelta(days=DAYS)).date(), now.date()
    target = Target(config["api_url"], local=config, region=config["region"])
    data = html_report.gather(target, first, last, models=[], baseline=(first, first + timedelta(days=6)),
                              positive_label=POSITIVE, features=MODEL_FEATURES)
    return html_report.write(data, out)


# ---------------------------------------------------------------- the workload


def synthetic_patients(n: int, rng: random.Random) -> list[tuple[dict[str, float], int]]:
    rows = []
    for _ in range(n):
        x = {"age": rng.uniform(20, 90), "bmi": rng.gauss(27, 5), "glucose": rng.gauss(105, 25),
             "prior_admissions": float(rng.choice([0, 0, 0, 1, 1, 2, 3, 5]))}
        risk = -9 + 0.05 * x["age"] + 0.08 * x["bmi"] + 0.02 * x["glucose"] + 0.6 * x["prior_admissions"]
        rows.append((x, int(rng.random() < 1 / (1 + math.exp(-risk)))))
    return rows


def glucose_drift(day: int) -> float:
    """How much higher the new analyser reads glucose on `day` of the month (mg/dL)."""
    return DRIFT_MG_PER_DAY * max(0, day - DRIFT_FROM_DAY + 1)


def vitals(n: int, rng: random.Random) -> list[tuple[dict[str, float], int]]:
    """Sepsis-alert's patients: vitals and lactate, and whether sepsis was confirmed."""
    rows = []
    for _ in range(n):
        x = {"heart_rate": rng.gauss(88, 16), "temperature": rng.gauss(37.3, 0.7), "resp_rate": rng.gauss(18, 4),
             "lactate": abs(rng.gauss(1.6, 0.9))}
        risk = -9 + 0.05 * x["heart_rate"] + 0.1 * (x["temperature"] - 37) * 10 + 0.1 * x["resp_rate"] \
            + 1.1 * x["lactate"]
        rows.append((x, int(rng.random() < _sigmoid(risk))))
    return rows


def arrivals(n: int, rng: random.Random) -> list[tuple[dict[str, float], int]]:
    """Triage-acuity's patients: vitals and pain at the door, and the level (1 to 5) a senior
    nurse assigned on review."""
    rows = []
    for _ in range(n):
        level = rng.choices((1, 2, 3, 4, 5), (0.04, 0.18, 0.4, 0.28, 0.1))[0]
        x = {"heart_rate": rng.gauss(128 - 9 * level, 10), "resp_rate": rng.gauss(29 - 2.6 * level, 2.5),
             "spo2": min(100.0, rng.gauss(85 + 2.6 * level, 2)), "pain_score": max(0.0, min(10.0, rng.gauss(
                 10.5 - 1.8 * level, 1.5)))}
        rows.append((x, level))
    return rows


def standardise(rows: list[tuple[dict[str, float], int]],
                names: tuple[str, ...] = FEATURES) -> dict[str, tuple[float, float]]:
    stats = {}
    for name in names:
        values = [x[name] for x, _ in rows]
        mean = sum(values) / len(values)
        stats[name] = (mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0)
    return stats


def train(rows: list[tuple[dict[str, float], int]], stats: dict[str, tuple[float, float]],
          epochs: int = 30, rate: float = 0.1) -> dict[str, float]:
    """Logistic regression by stochastic gradient descent, on standardised features."""
    weights = dict.fromkeys(("bias", *stats), 0.0)
    for _ in range(epochs):
        for x, y in rows:
            z = {n: (x[n] - stats[n][0]) / stats[n][1] for n in stats}
            error = _sigmoid(weights["bias"] + sum(weights[n] * z[n] for n in stats)) - y
            weights["bias"] -= rate * error
            for n in stats:
                weights[n] -= rate * error * z[n]
    return weights


def predict(weights: dict[str, float], stats: dict[str, tuple[float, float]],
            x: dict[str, float]) -> tuple[float, dict[str, float]]:
    contributions = {n: weights[n] * (x[n] - stats[n][0]) / stats[n][1] for n in stats}
    return _sigmoid(weights["bias"] + sum(contributions.values())), contributions


def centroids(rows: list[tuple[dict[str, float], int]],
              stats: dict[str, tuple[float, float]]) -> dict[str, dict[str, float]]:
    """Nearest-centroid training: each level's mean of the standardised features."""
    found = {}
    for level in sorted({y for _, y in rows}):
        mine = [x for x, y in rows if y == level]
        found[str(level)] = {n: sum((x[n] - stats[n][0]) / stats[n][1] for x in mine) / len(mine) for n in stats}
    return found


def nearest(model: dict[str, dict[str, float]], stats: dict[str, tuple[float, float]],
            x: dict[str, float]) -> tuple[str, float]:
    """The nearest level, and as its score an urgency from 0 (ESI-5) to 1 (ESI-1): the expected
    level under a softmax over the negative squared distances, on a continuous scale."""
    z = {n: (x[n] - stats[n][0]) / stats[n][1] for n in stats}
    distance = {level: sum((z[n] - c[n]) ** 2 for n in stats) for level, c in model.items()}
    best = min(distance, key=distance.__getitem__)
    weight = {level: math.exp(distance[best] - d) for level, d in distance.items()}
    return best, (5 - sum(int(level) * w for level, w in weight.items()) / sum(weight.values())) / 4


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


def run_workload(audit: Auditor, n_predictions: int, rng: random.Random,
                 now: datetime | None = None) -> list[str | None]:
    """A month of three models' workload, backdated (occurred_at), audited as the README shows:
    readmission-risk (n_predictions; its glucose drifts from the third week, then it is
    retrained and redeployed), sepsis-alert and triage-acuity (healthy), n_predictions each."""
    now = now or datetime.now(UTC)
    return (readmission_risk(audit, n_predictions, rng, now) + sepsis_alert(audit, n_predictions, rng, now)
            + triage_acuity(audit, n_predictions, rng, now))


def release(audit: Auditor, at: datetime, model: dict[str, str], run_id: str, dataset: dict[str, Any],
            rows: int, fit: Callable[[], Any], holdout_accuracy: Callable[[Any], float]) -> tuple[dict[str, str], Any,
                                                                                            list[str | None]]:
    """A model version's way to production, from `at`: its dataset registered, the training run,
    evaluation on a holdout, registration and deployment. The model's fields (with the
    artifact's hash), what `fit` returned, and the events' ids."""
    ids = [audit.emit({"event_type": "dataset_registered", "occurred_at": _at(at), **dataset,
                       "details": {"rows": rows}})]
    with audit.training_run(run_id, datasets=[f"{dataset['dataset_id']}@{dataset['dataset_version']}"],
                            occurred_at=_at(at + timedelta(minutes=10)), **dataset) as run:
        fitted = fit()
        artifact = hashlib.sha256(json.dumps(fitted, sort_keys=True).encode()).hexdigest()
        model = {**model, "model_artifact_sha256": artifact}
        run.common.update(model)
        run.metrics.update(train_rows=rows)
        run.outputs.append(f"s3://models/{model['model_id']}/{model['model_version']}")
    ids += run.event_ids
    ids.append(audit.emit({"event_type": "model_evaluated", "occurred_at": _at(at + timedelta(minutes=30)),
                           **model, "metrics": {"holdout_accuracy": round(holdout_accuracy(fitted), 4)}}))
    ids.append(audit.emit({"event_type": "model_registered", "occurred_at": _at(at + timedelta(minutes=40)),
                           **model, "run_id": run_id}))
    ids.append(audit.emit({"event_type": "model_deployed", "occurred_at": _at(at + timedelta(minutes=50)),
                           **model, "resource": f"endpoint/{model['model_id']}-prod", "action": "deploy"}))
    return model, fitted, ids


def serve(audit: Auditor, n: int, rng: random.Random, now: datetime, prefix: str,
          patients: Callable[[int], list[tuple[dict[str, float], Any]]],
          answer: Callable[[int, dict[str, float]], tuple[dict[str, Any], str, float, dict[str, float] | None]],
          truth: Callable[[Any], str]) -> list[str | None]:
    """n predictions spread over the month (from its second hour), most labelled a few hours
    later. `answer(day, features)` is the model's (fields, label, score, explanation)."""
    start, ids = now - timedelta(days=DAYS), []
    span = (now - timedelta(minutes=5) - (start + timedelta(hours=1))).total_seconds()
    for i, (x, y) in enumerate(patients(n)):
        at = start + timedelta(hours=1, seconds=span * (i + rng.random()) / n)
        day = (at - start).days
        started = time.perf_counter()
        model, label, score, explanation = answer(day, x)
        latency = round((time.perf_counter() - started) * 1000, 3)
        prediction_id = f"{prefix}-{i:06d}"
        event = {"event_type": "prediction", "occurred_at": _at(at), **model, "prediction_id": prediction_id,
                 "prediction_label": label, "prediction_score": round(score, 6),
                 "latency_ms": -latency if model["model_id"] == MODEL_ID and day == INCIDENT_DAY else latency,
                 "features": {k: round(v, 3) for k, v in x.items()}}
        if explanation is not None:
            event["explanation"] = {k: round(v, 5) for k, v in explanation.items()}
        if model["model_id"] == MODEL_ID and i in (7, n // 2, n - 3):  # one patient, three admissions
            event.update(subject_ref=SUBJECT, personal_data=SUBJECT_DATA)
        ids.append(audit.emit(event))
        if rng.random() < 0.8:  # most outcomes become known, a few hours later
            known = min(at + timedelta(hours=rng.uniform(0.5, 6)), now - timedelta(minutes=1))
            ids.append(audit.emit({"event_type": "ground_truth", "occurred_at": _at(known), **model,
                                   "label_for_prediction_id": prediction_id, "true_label": truth(y)}))
    return ids


def readmission_risk(audit: Auditor, n: int, rng: random.Random, now: datetime) -> list[str | None]:
    """Trained and deployed on day 1; a data-quality incident on day 12 (a clock bug logs
    negative latencies); glucose read higher every day from the third week, which moves the
    score and costs accuracy; retrained on the drifted weeks and redeployed on RETRAIN_DAY."""
    start = now - timedelta(days=DAYS)
    training, holdout = synthetic_patients(2000, rng), synthetic_patients(500, rng)
    stats = standardise(training)

    def accuracy_on(rows: list[tuple[dict[str, float], int]]) -> Callable[[dict[str, float]], float]:
        return lambda weights: sum((predict(weights, stats, x)[0] >= 0.5) == bool(y) for x, y in rows) / len(rows)

    first, weights, ids = release(
        audit, start, {"model_id": MODEL_ID, "model_version": MODEL_VERSION}, "train-2026-11-26-001",
        {"dataset_id": "s3://hospital-data/readmissions", "dataset_version": "2026-11-01"}, len(training),
        lambda: train(training, stats), accuracy_on(holdout))
    # The retraining set: the drifted weeks' admissions, glucose as the new analyser reads it
    recent = synthetic_patients(2000, rng)
    for x, _ in recent:
        x["glucose"] += glucose_drift(rng.randrange(DRIFT_FROM_DAY, RETRAIN_DAY))
    retrained_stats = standardise(recent)
    retrain_at = start + timedelta(days=RETRAIN_DAY)
    second, new_weights, more = release(
        audit, retrain_at, {"model_id": MODEL_ID, "model_version": RETRAINED_VERSION},
        "train-readmission-risk-1.1.0", {"dataset_id": "s3://hospital-data/readmissions",
                                         "dataset_version": f"{retrain_at:%Y-%m-%d}"}, len(recent),
        lambda: train(recent, retrained_stats), lambda w: sum(
            (predict(w, retrained_stats, x)[0] >= 0.5) == bool(y) for x, y in recent[-500:]) / 500)

    def answer(day: int, x: dict[str, float]) -> tuple[dict[str, Any], str, float, dict[str, float]]:
        x["glucose"] += glucose_drift(day)
        model, w, s = (first, weights, stats) if day < RETRAIN_DAY else (second, new_weights, retrained_stats)
        score, contributions = predict(w, s, x)
        top = dict(sorted(contributions.items(), key=lambda kv: -abs(kv[1]))[:3])
        return model, "readmit" if score >= 0.5 else "no_readmit", score, top

    return ids + more + serve(audit, n, rng, now, "pred", lambda k: synthetic_patients(k, rng), answer,
                              lambda y: "readmit" if y else "no_readmit")


def sepsis_alert(audit: Auditor, n: int, rng: random.Random, now: datetime) -> list[str | None]:
    """A logistic regression on vitals, steady all month."""
    training, holdout = vitals(1000, rng), vitals(300, rng)
    stats = standardise(training, SEPSIS_FEATURES)
    model, weights, ids = release(
        audit, now - timedelta(days=DAYS), {"model_id": SEPSIS_ID, "model_version": "3.2.0"}, "train-sepsis-3.2.0",
        {"dataset_id": "s3://hospital-data/sepsis-cohort", "dataset_version": "2026-10-15"}, len(training),
        lambda: train(training, stats, epochs=10),
        lambda w: sum((predict(w, stats, x)[0] >= 0.5) == bool(y) for x, y in holdout) / len(holdout))

    def answer(day: int, x: dict[str, float]) -> tuple[dict[str, Any], str, float, dict[str, float]]:
        score, contributions = predict(weights, stats, x)
        return model, "sepsis" if score >= 0.5 else "no_sepsis", score, contributions

    return ids + serve(audit, n, rng, now, "sepsis", lambda k: vitals(k, rng), answer,
                       lambda y: "sepsis" if y else "no_sepsis")


def triage_acuity(audit: Auditor, n: int, rng: random.Random, now: datetime) -> list[str | None]:
    """A nearest-centroid classifier of the emergency severity index (ESI-1 to ESI-5), steady all month."""
    training, holdout = arrivals(1000, rng), arrivals(300, rng)
    stats = standardise(training, TRIAGE_FEATURES)
    model, fitted, ids = release(
        audit, now - timedelta(days=DAYS), {"model_id": TRIAGE_ID, "model_version": "2.0.1"}, "train-triage-2.0.1",
        {"dataset_id": "s3://hospital-data/ed-arrivals", "dataset_version": "2026-09-30"}, len(training),
        lambda: centroids(training, stats),
        lambda c: sum(nearest(c, stats, x)[0] == str(y) for x, y in holdout) / len(holdout))

    def answer(day: int, x: dict[str, float]) -> tuple[dict[str, Any], str, float, None]:
        level, score = nearest(fitted, stats, x)
        return model, f"ESI-{level}", score, None

    return ids + serve(audit, n, rng, now, "triage", lambda k: arrivals(k, rng), answer, lambda y: f"ESI-{y}")


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


# ---------------------------------------------------------------- lineage

# The pipeline around the model, as its tools report it in OpenLineage: (job, inputs, outputs,
# minutes into the month); with the SDK's training runs (the curated dataset in, the model out),
# raw data to the endpoint, and the retrained model's redeploy on RETRAIN_DAY
PIPELINE = (
    ("airflow/ehr.extract_admissions", ["postgres://ehr-db:5432/ehr.public.admissions"],
     ["s3://hospital-data/raw/admissions"], 1),
    ("dbt/analytics.readmission_features", ["s3://hospital-data/raw/admissions",
                                            "postgres://ehr-db:5432/ehr.public.patients"],
     ["s3://hospital-data/readmissions"], 3),
    ("airflow/mlops.deploy_readmission_risk", [f"s3://models/{MODEL_ID}/{MODEL_VERSION}"],
     [f"sagemaker/endpoint/{MODEL_ID}-prod"], 45),
    ("airflow/mlops.deploy_readmission_risk", [f"s3://models/{MODEL_ID}/{RETRAINED_VERSION}"],
     [f"sagemaker/endpoint/{MODEL_ID}-prod"], RETRAIN_DAY * 24 * 60 + 45),
)


def lineage_chain(config: dict[str, Any], now: datetime) -> None:
    """Each pipeline job's run (START, COMPLETE) through POST /v1/lineage, backdated into the month."""
    token = local_client.machine_token(config)
    for job, inputs, outputs, minute in PIPELINE:
        run = {"runId": str(uuid.UUID(hashlib.sha256(f"{job} {minute}".encode()).hexdigest()[:32]))}
        at = now - timedelta(days=DAYS) + timedelta(minutes=minute)
        for kind, minutes in (("START", 0), ("COMPLETE", 1)):
            namespace, name = job.split("/", 1)
            body = {"eventType": kind, "eventTime": _at(at + timedelta(minutes=minutes)),
                    "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python",
                    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                    "run": run, "job": {"namespace": namespace, "name": name},
                    "inputs": [_dataset(ref) for ref in inputs], "outputs": [_dataset(ref) for ref in outputs]}
            answer = requests.post(config["api_url"] + "/v1/lineage", json=body, timeout=60,
                                   headers=local_client.bearer(token))
            answer.raise_for_status()


def _dataset(ref: str) -> dict[str, str]:
    namespace, name = ref.rsplit("/", 1)
    return {"namespace": namespace, "name": name}


# ---------------------------------------------------------------- capture without code


def sagemaker_training_job(config: dict[str, Any], timeout: float = 120) -> list[str] | None:
    """SageMaker's part, played: a training job's two state changes (Starting, Completed) on
    the account's default bus, in the shape SageMaker sends them (the EventBridge samples of
    the SageMaker documentation). The rule hands them to the capture function, which records
    training_started and training_completed under the EventBridge event ids. Those ids, once
    both are in the lake; None if they are not there within `timeout`."""
    now = datetime.now(UTC)
    job = f"readmission-risk-xgb-{now:%Y%m%d-%H%M%S}"
    arn = f"arn:aws:sagemaker:{config['region']}:{config['account_id']}:training-job/{job}"
    millis = str(int(now.timestamp() * 1000))
    detail: dict[str, Any] = {
        "TrainingJobName": job, "TrainingJobArn": arn, "TrainingJobStatus": "InProgress", "SecondaryStatus": "Starting",
        "HyperParameters": {"max_depth": "4", "eta": "0.2", "num_round": "50"},
        "AlgorithmSpecification": {"TrainingImage": "sagemaker-xgboost:1.7-1", "TrainingInputMode": "File"},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://hospital-data/readmissions/2026-11-01/train/"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://models/readmission-risk/"},
        "CreationTime": millis, "TrainingStartTime": millis, "LastModifiedTime": millis,
        "Tags": {"mlaudit:model_id": MODEL_ID, "mlaudit:model_version": "2.0.0"},
    }
    completed = {**detail, "TrainingJobStatus": "Completed", "SecondaryStatus": "Completed",
                 "TrainingEndTime": millis, "ModelArtifacts": {
                     "S3ModelArtifacts": f"s3://models/readmission-risk/{job}/output/model.tar.gz"},
                 "FinalMetricDataList": [{"MetricName": "validation:auc", "Value": 0.83}]}
    answer = local_client.aws_client(config, "events").put_events(Entries=[
        {"Source": "aws.sagemaker", "DetailType": "SageMaker Training Job State Change", "Resources": [arn],
         "Detail": json.dumps(change)} for change in (detail, completed)])
    if answer["FailedEntryCount"]:
        return None
    ids = [entry["EventId"] for entry in answer["Entries"]]
    s3, deadline = local_client.aws_client(config, "s3"), time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=config["bucket"], Prefix="events/"):
            for item in page.get("Contents", []):
                if parse_partition(item["Key"])[1] in ("training_started", "training_completed"):
                    body = s3.get_object(Bucket=config["bucket"], Key=item["Key"])["Body"].read()
                    found |= {row["event_id"] for row in read_parquet_bytes(body).to_pylist()}
        if found >= set(ids):
            print(f"SageMaker training job {job}: training_started and training_completed captured")
            return ids
        time.sleep(1)
    return None


# ---------------------------------------------------------------- the report


def report(config: dict[str, Any], sent: list[str | None]) -> int:
    s3 = local_client.aws_client(config, "s3")
    rows, files, total_bytes, encrypted, locked = [], 0, 0, 0, 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=config["bucket"], Prefix="events/"):
        for item in page.get("Contents", []):
            obj = s3.get_object(Bucket=config["bucket"], Key=item["Key"])
            body = obj["Body"].read()
            files += 1
            total_bytes += len(body)
            encrypted += obj.get("ServerSideEncryption") == "aws:kms"
            locked += obj.get("ObjectLockMode") in ("GOVERNANCE", "COMPLIANCE")
            event_date, event_type = parse_partition(item["Key"])
            rows += [{**row, "event_type": event_type} for row in read_parquet_bytes(body).to_pylist()]

    sent_ids = set(sent)
    # The workload's events; the stack also records its own (monitor evaluations, reads).
    own = [r for r in rows if r["event_id"] not in sent_ids]
    rows = [r for r in rows if r["event_id"] in sent_ids]
    stored_ids = [r["event_id"] for r in rows]
    hashes_ok = sum(leaf_hash(leaf_record_from_row(r, r["event_type"])) == r["leaf_hash"] for r in rows)
    predictions = [r for r in rows if r["event_type"] == "prediction"]
    versions: dict[str, set[str]] = {}
    for r in rows:
        if r["model_id"] and r["model_version"]:
            versions.setdefault(r["model_id"], set()).add(r["model_version"])
    latencies = sorted(r["latency_ms"] for r in predictions)
    dq = Counter(r["dq_status"] for r in rows)

    print()
    print("mlaudit demo report")
    print("-------------------")
    print(f"events sent / stored         {len(sent_ids)} / {len(stored_ids)}"
          f" (duplicates: {len(stored_ids) - len(set(stored_ids))}, missing: {len(sent_ids - set(stored_ids))})")
    by_type = [f"{t}\N{NO-BREAK SPACE}{n}" for t, n in sorted(Counter(r["event_type"] for r in rows).items())]
    for line in textwrap.wrap(", ".join(by_type), 110):  # a line per type would be 10: the summary stays short
        print(f"  {line}".replace("\N{NO-BREAK SPACE}", " "))
    print("models (versions)            " + ", ".join(f"{m} ({' '.join(sorted(v))})"
                                                      for m, v in sorted(versions.items())))
    print(f"the stack's own audit events {len(own)} (monitor evaluations, reads of the trail)")
    print(f"Parquet files                {files} ({total_bytes / 1024:.0f} KiB, {total_bytes / max(len(rows), 1):.0f} "
          f"bytes/event), SSE-KMS {encrypted}/{files}, Object Lock {locked}/{files}")
    print(f"leaf hashes recomputed       {hashes_ok}/{len(rows)} match")
    print(f"data quality                 {dict(dq)}")
    print(f"prediction latency p50/p99   {_pct(latencies, 0.5):.3f} / {_pct(latencies, 0.99):.3f} ms")
    ok = (set(stored_ids) == sent_ids and len(stored_ids) == len(sent_ids) and hashes_ok == len(rows)
          and all(leaf_hash(leaf_record_from_row(r, r["event_type"])) == r["leaf_hash"] for r in own))
    print("result                       " + ("OK: every event stored once, every hash verifies" if ok else "PROBLEM"))
    return ok


def prove(config: dict[str, Any]) -> bool:
    """What a third party would run: the offline verifier, with only the public key."""
    s3, kms = local_client.aws_client(config, "s3"), local_client.aws_client(config, "kms")
    store = S3Bucket(s3, config["bucket"])
    public_key = load_public_key(kms_public_key_pem(kms, config["signing_key_id"]))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the signer runs every second here (hourly on AWS)
        result = Verifier(store, public_key).run()
        if result.checkpoint and result.checkpoint["tree_size"] == result.log_size:
            break
        time.sleep(0.5)
    print()
    print("tamper evidence (mlaudit-verify, public key only)")
    covered = (result.checkpoint or {}).get("tree_size")
    print(f"  files in the signed log     {result.log_size}, the latest checkpoint covers {covered}")
    print(f"  events re-hashed            {result.events_checked}")
    print("  result                      " + ("OK: nothing altered, removed or added" if result.ok else
                                               f"PROBLEM: {[str(p) for p in result.problems]}"))
    return result.ok


def watch(stack: LocalStack) -> bool:
    """The monitors' schedule fires once more, now that the month is in the lake: the score's
    and glucose's drift over the last two days against the week before."""
    from cli.target import Target  # noqa: PLC0415

    if stack.monitor_runs is None:
        return False
    stack.monitor_runs.tick()
    config = stack.config
    # Each evaluation is an audit event: in the lake once the writer has drained the queue
    if not local_client.wait_drained(config, timeout=300):
        return False
    today = datetime.now(UTC).date()
    target = Target(config["api_url"], local=config, region=config["region"])
    _, rows = target.run_query("monitor_state", {"from_date": today.isoformat(), "to_date": today.isoformat()})
    print()
    print("monitors (examples/demo_monitors.json), evaluated now: per model, the worst state, then each monitor")
    by_model: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: (r["model_id"], r["monitor"])):
        by_model.setdefault(row["model_id"], []).append(row)
    for model_id, mine in by_model.items():
        worst = next((s for s in ("ALARM", "INSUFFICIENT_DATA", "OK") if any(r["state"] == s for r in mine)), "-")
        print(f"  {model_id:<17} {worst:<6} " + "; ".join(
            f"{r['monitor']} {r['state']} {_num(r['value'])} (threshold {r['threshold']:g})" for r in mine))
    return bool(rows) and all(r["state"] != "INSUFFICIENT_DATA" for r in rows)


def ask(config: dict[str, Any], now: datetime) -> bool:
    """An analyst's questions through the API over the month: each model version's volume and
    worst hourly p99 latency, then accuracy, precision and recall from the ground-truth labels
    (each model's positive class)."""
    token = local_client.user_tokens(config, "analyst")["id_token"]
    headers = {**local_client.bearer(token), "Content-Type": "application/json"}

    def query(name: str, parameters: dict[str, Any]) -> list[dict[str, Any]] | None:
        started = requests.post(f"{config['api_url']}/v1/queries/{name}", headers=headers,
                                json={"parameters": parameters}, timeout=60)
        if started.status_code != 202:
            print(f"query refused: {started.status_code} {started.text}", file=sys.stderr)
            return None
        rows, page = [], {"page_size": "1000"}
        while True:  # three models' hours are more than a page
            result = requests.get(f"{config['api_url']}/v1/query-executions/{started.json()['execution_id']}",
                                  headers=headers, params=page, timeout=60).json()
            if result.get("state") != "SUCCEEDED":
                return None
            rows += result.get("rows", [])
            if not result.get("next_page_token"):
                return rows
            page["page_token"] = result["next_page_token"]

    # The lake is partitioned by the day events arrived (all today here), so the month is one range.
    month = {"from_date": (now - timedelta(days=DAYS)).date().isoformat(), "to_date": now.date().isoformat()}
    volume = query("prediction_volume_latency", month)
    labels = [query("accuracy", {**month, "model_id": model_id, "positive_label": positive})
              for model_id, positive in POSITIVE.items()]
    print()
    print("an analyst asks over the month (DuckDB for Athena): POST /v1/queries/prediction_volume_latency, "
          "then accuracy")
    if not volume or any(found is None for found in labels):
        return False
    served: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in volume:
        served.setdefault((row["model_id"], row["model_version"]), []).append(row)
    truth = {(r["model_id"], r["model_version"]): r for found in labels for r in found or []}
    print(f"  {'model':<17} {'version':<8} {'predictions':>11} {'worst p99 ms':>12} {'positive':>9} {'labels':>7} "
          f"{'accuracy':>8} {'precision':>9} {'recall':>6}")
    for (model_id, version), hours in sorted(served.items()):
        row = truth.get((model_id, version), {})
        print(f"  {model_id:<17} {version:<8} {sum(r['predictions'] for r in hours):>11} "
              f"{max(r['p99_latency_ms'] or 0 for r in hours):>12.3f} {POSITIVE.get(model_id, '-'):>9} "
              f"{row.get('labeled', 0):>7} {_num(row.get('accuracy')):>8} {_num(row.get('precision')):>9} "
              f"{_num(row.get('recall')):>6}")
    return True


def erase(config: dict[str, Any]) -> bool:
    """One data subject's access (GDPR Art. 15), then erasure (Art. 17), by the privacy officer:
    their events with the personal data decrypted; then their key destroyed, so it never
    opens again, while the events (ciphertext) stay in the lake and still verify."""
    token = local_client.user_tokens(config, "privacy_officer")["id_token"]
    url = f"{config['api_url']}/v1/subjects/{quote(SUBJECT, safe='')}"
    before = requests.get(url, headers=local_client.bearer(token), timeout=60)
    erased = requests.delete(url, headers=local_client.bearer(token), timeout=60)
    after = requests.get(url, headers=local_client.bearer(token), timeout=60)
    found = before.json().get("events", []) if before.status_code == 200 else []
    opened = sum(e.get("personal_data") == SUBJECT_DATA for e in found)
    print()
    print(f"a privacy officer: GET /v1/subjects/{SUBJECT} {before.status_code}: {len(found)} events, {opened} "
          f"decrypted; DELETE {erased.status_code}: key destroyed; GET {after.status_code}")
    return (before.status_code == 200 and opened == len(found) == 3 and erased.status_code == 200
            and after.status_code == 404)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


if __name__ == "__main__":
    sys.exit(main())
