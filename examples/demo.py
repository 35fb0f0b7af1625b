"""``python -m examples.demo`` (``make demo``): a sample ML workload through the local stack.

A small logistic-regression model is trained on synthetic patient data, registered
and deployed; it then serves a few thousand predictions with features and linear
explanations, and ground-truth labels arrive for most of them. Every step is an
audit event sent through the workload client. A SageMaker training job is captured
with no code (docs/capture.md): its state changes, as SageMaker sends them, go on the
local event bus and the capture function records them. The demo waits for the writer,
reads the Parquet back from the bucket and prints what an auditor would check.
"""

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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from mlaudit.adapters.bucket import S3Bucket
from mlaudit.integrity.signing import kms_public_key_pem, load_public_key
from mlaudit.integrity.verifier import Verifier
from mlaudit.layout import parse_partition
from mlaudit.leaf import leaf_hash, leaf_record_from_row
from mlaudit.parquet import read_parquet_bytes
from mlaudit.settings import Settings

from local import client as local_client
from local.stack import LocalStack

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client"))
from mlaudit_client import Auditor  # noqa: E402 - after the path set-up just above

FEATURES = ("age", "bmi", "glucose", "prior_admissions")
MODEL_ID = "readmission-risk"
MODEL_VERSION = "1.0.0"
DAYS = 30  # the story's length: every event is backdated into the last DAYS days
DRIFT_DAYS, DRIFT_MG_PER_DAY = 7, 12.0  # glucose creeps up through the last week
INCIDENT_DAY = 11  # the 12th day: a clock bug logs negative latencies (prediction.latency_non_negative)
MONITORS_FILE = Path(__file__).with_name("demo_monitors.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=3000)
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
        print(f"Sending a month of the workload ({DAYS} days, backdated, {args.predictions} predictions)...",
              flush=True)
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
        report_path = write_report(config, args.report, now)
        print()
        print(f"HTML report (opens offline): {report_path}")
        return 0 if stored_ok and proven_ok and watched_ok and asked_ok else 1


def write_report(config: dict[str, Any], out: Path, now: datetime) -> Path:
    """`mlaudit report` on the month the demo just stored: its first week is the drift baseline."""
    from cli import report as html_report  # noqa: PLC0415
    from cli.target import Target  # noqa: PLC0415

    first, last = (now - timedelta(days=DAYS)).date(), now.date()
    target = Target(config["api_url"], local=config, region=config["region"])
    data = html_report.gather(target, first, last, models=[], baseline=(first, first + timedelta(days=6)),
                              positive_label="readmit", features=list(FEATURES))
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


def standardise(rows: list[tuple[dict[str, float], int]]) -> dict[str, tuple[float, float]]:
    stats = {}
    for name in FEATURES:
        values = [x[name] for x, _ in rows]
        mean = sum(values) / len(values)
        stats[name] = (mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0)
    return stats


def train(rows: list[tuple[dict[str, float], int]], stats: dict[str, tuple[float, float]],
          epochs: int = 30, rate: float = 0.1) -> dict[str, float]:
    """Logistic regression by stochastic gradient descent, on standardised features."""
    weights = dict.fromkeys(("bias", *FEATURES), 0.0)
    for _ in range(epochs):
        for x, y in rows:
            z = {n: (x[n] - stats[n][0]) / stats[n][1] for n in FEATURES}
            error = _sigmoid(weights["bias"] + sum(weights[n] * z[n] for n in FEATURES)) - y
            weights["bias"] -= rate * error
            for n in FEATURES:
                weights[n] -= rate * error * z[n]
    return weights


def predict(weights: dict[str, float], stats: dict[str, tuple[float, float]],
            x: dict[str, float]) -> tuple[float, dict[str, float]]:
    contributions = {n: weights[n] * (x[n] - stats[n][0]) / stats[n][1] for n in FEATURES}
    return _sigmoid(weights["bias"] + sum(contributions.values())), contributions


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


def run_workload(audit: Auditor, n_predictions: int, rng: random.Random,
                 now: datetime | None = None) -> list[str | None]:
    """A month of the workload, backdated (occurred_at), audited as the README shows: training
    and deployment on day 1, predictions spread over 30 days with labels arriving hours later,
    a data-quality incident on day 12 (a clock bug logs negative latencies), and glucose drifting
    upward through the last week (DRIFT_MG_PER_DAY a day), which moves the score."""
    now = now or datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    ids = []
    training = synthetic_patients(2000, rng)
    dataset = {"dataset_id": "s3://hospital-data/readmissions", "dataset_version": "2026-11-01"}
    ids.append(audit.emit({"event_type": "dataset_registered", "occurred_at": _at(start), **dataset,
                           "details": {"rows": len(training), "columns": [*FEATURES, "readmitted"]}}))
    run_id = "train-2026-11-26-001"
    with audit.training_run(run_id, datasets=[f"{dataset['dataset_id']}@{dataset['dataset_version']}"],
                            occurred_at=_at(start + timedelta(minutes=10)), **dataset) as run:
        stats = standardise(training)
        weights = train(training, stats)
        holdout = synthetic_patients(500, rng)
        accuracy = sum((predict(weights, stats, x)[0] >= 0.5) == bool(y) for x, y in holdout) / len(holdout)
        artifact = hashlib.sha256(json.dumps(weights, sort_keys=True).encode()).hexdigest()
        model = {"model_id": MODEL_ID, "model_version": MODEL_VERSION, "model_artifact_sha256": artifact}
        run.common.update(model)
        run.metrics.update(epochs=30, train_rows=len(training))
        run.outputs.append(f"s3://models/{MODEL_ID}/{MODEL_VERSION}")
    ids += run.event_ids
    ids.append(audit.emit({"event_type": "model_evaluated", "occurred_at": _at(start + timedelta(minutes=30)),
                           **model, "metrics": {"holdout_accuracy": round(accuracy, 4), "holdout_rows": len(holdout)}}))
    ids.append(audit.emit({"event_type": "model_registered", "occurred_at": _at(start + timedelta(minutes=40)),
                           **model, "run_id": run_id}))
    ids.append(audit.emit({"event_type": "model_deployed", "occurred_at": _at(start + timedelta(minutes=50)),
                           **model, "resource": "endpoint/readmission-risk-prod", "action": "deploy"}))

    span = (now - timedelta(minutes=5) - (start + timedelta(hours=1))).total_seconds()
    for i, (x, y) in enumerate(synthetic_patients(n_predictions, rng)):
        at = start + timedelta(hours=1, seconds=span * (i + rng.random()) / n_predictions)
        day = (at - start).days
        x["glucose"] += DRIFT_MG_PER_DAY * max(0, day - (DAYS - DRIFT_DAYS - 1))
        started = time.perf_counter()
        score, contributions = predict(weights, stats, x)
        prediction_id = f"pred-{i:06d}"
        top = dict(sorted(contributions.items(), key=lambda kv: -abs(kv[1]))[:3])
        latency = round((time.perf_counter() - started) * 1000, 3)
        ids.append(audit.emit({
            "event_type": "prediction", "occurred_at": _at(at), **model, "prediction_id": prediction_id,
            "prediction_label": "readmit" if score >= 0.5 else "no_readmit", "prediction_score": round(score, 6),
            "latency_ms": -latency if day == INCIDENT_DAY else latency,
            "features": {n: round(v, 3) for n, v in x.items()}, "explanation": {n: round(v, 5) for n, v in top.items()},
        }))
        if rng.random() < 0.8:  # most outcomes become known, a few hours later
            known = min(at + timedelta(hours=rng.uniform(0.5, 6)), now - timedelta(minutes=1))
            ids.append(audit.emit({"event_type": "ground_truth", "occurred_at": _at(known), **model,
                                   "label_for_prediction_id": prediction_id,
                                   "true_label": "readmit" if y else "no_readmit"}))
    return ids


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


# ---------------------------------------------------------------- lineage

# The pipeline around the model, as its tools report it in OpenLineage: (job, inputs, outputs,
# minutes into the month); with the SDK's training run (the curated dataset in, the model out), raw data to the endpoint
PIPELINE = (
    ("airflow/ehr.extract_admissions", ["postgres://ehr-db:5432/ehr.public.admissions"],
     ["s3://hospital-data/raw/admissions"], 1),
    ("dbt/analytics.readmission_features", ["s3://hospital-data/raw/admissions",
                                            "postgres://ehr-db:5432/ehr.public.patients"],
     ["s3://hospital-data/readmissions"], 3),
    ("airflow/mlops.deploy_readmission_risk", [f"s3://models/{MODEL_ID}/{MODEL_VERSION}"],
     [f"sagemaker/endpoint/{MODEL_ID}-prod"], 45),
)


def lineage_chain(config: dict[str, Any], now: datetime) -> None:
    """Each pipeline job's run (START, COMPLETE) through POST /v1/lineage, backdated to the month's start."""
    token = local_client.machine_token(config)
    for job, inputs, outputs, minute in PIPELINE:
        run = {"runId": str(uuid.UUID(hashlib.sha256(job.encode()).hexdigest()[:32]))}
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
    predictions = {r["prediction_id"]: r for r in rows if r["event_type"] == "prediction"}
    labelled = [(predictions[r["label_for_prediction_id"]]["prediction_label"], r["true_label"])
                for r in rows if r["event_type"] == "ground_truth" and r["label_for_prediction_id"] in predictions]
    accuracy = sum(p == t for p, t in labelled) / len(labelled) if labelled else float("nan")
    latencies = sorted(r["latency_ms"] for r in predictions.values())
    dq = Counter(r["dq_status"] for r in rows)

    print()
    print("mlaudit demo report")
    print("-------------------")
    print(f"events sent / stored         {len(sent_ids)} / {len(stored_ids)}"
          f" (duplicates: {len(stored_ids) - len(set(stored_ids))}, missing: {len(sent_ids - set(stored_ids))})")
    by_type = ", ".join(f"{t} {n}" for t, n in sorted(Counter(r["event_type"] for r in rows).items()))
    for line in textwrap.wrap(by_type, 100):  # a line per type would be 10: the summary stays short
        print(f"  {line}")
    print(f"the stack's own audit events {len(own)} (monitor evaluations, reads of the trail)")
    print(f"Parquet files                {files} ({total_bytes / 1024:.0f} KiB, {total_bytes / max(len(rows), 1):.0f} "
          "bytes/event)")
    print(f"SSE-KMS / Object Lock        {encrypted}/{files} files / {locked}/{files} files")
    print(f"leaf hashes recomputed       {hashes_ok}/{len(rows)} match")
    print(f"data quality                 {dict(dq)}")
    print(f"prediction latency p50/p99  {_pct(latencies, 0.5):.3f} / {_pct(latencies, 0.99):.3f} ms")
    print(f"accuracy from labels         {accuracy:.3f} over {len(labelled)} labelled predictions")
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
    print("tamper evidence (python -m mlaudit.integrity.verify, public key only)")
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
    print("monitors (examples/demo_monitors.json), evaluated now")
    for row in sorted(rows, key=lambda r: r["monitor"]):
        value = "-" if row["value"] is None else f"{row['value']:.3f}"
        print(f"  {row['model_id']}/{row['monitor']:<14} {row['state']:<18} value {value} "
              f"(threshold {row['threshold']})")
    return bool(rows) and all(r["state"] != "INSUFFICIENT_DATA" for r in rows)


def ask(config: dict[str, Any], now: datetime) -> bool:
    """An analyst's questions through the API over the month: volume and latency, then
    accuracy, precision and recall from the ground-truth labels."""
    token = local_client.user_tokens(config, "analyst")["id_token"]
    headers = {**local_client.bearer(token), "Content-Type": "application/json"}

    def query(name: str, parameters: dict[str, Any]) -> list[dict[str, Any]] | None:
        started = requests.post(f"{config['api_url']}/v1/queries/{name}", headers=headers,
                                json={"parameters": parameters}, timeout=60)
        if started.status_code != 202:
            print(f"query refused: {started.status_code} {started.text}", file=sys.stderr)
            return None
        result = requests.get(f"{config['api_url']}/v1/query-executions/{started.json()['execution_id']}",
                              headers=headers, params={"page_size": "1000"}, timeout=60).json()
        return result.get("rows") if result.get("state") == "SUCCEEDED" else None

    first = (now - timedelta(days=DAYS)).date()
    month = {"from_date": first.isoformat(), "to_date": now.date().isoformat(), "model_id": MODEL_ID}
    volume = query("prediction_volume_latency", month)
    print()
    print("an analyst asks: POST /v1/queries/prediction_volume_latency over the month (DuckDB standing in for Athena)")
    if not volume:
        return False
    print(f"  {MODEL_ID} {MODEL_VERSION}: {sum(r['predictions'] for r in volume)} predictions in {len(volume)} hours, "
          f"worst hourly p99 {max(r['p99_latency_ms'] or 0 for r in volume):.3f} ms")
    # The lake is partitioned by the day events arrived (all today here), so the month is one range.
    rows = query("accuracy", {**month, "positive_label": "readmit"})
    if rows is None:
        return False
    print("and POST /v1/queries/accuracy (positive class: readmit)")
    for row in rows:
        print(f"  {row['model_id']} {row['model_version']}: accuracy {_num(row['accuracy'])}, precision "
              f"{_num(row['precision'])}, recall {_num(row['recall'])} over {row['labeled']} labels")
    return True


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


if __name__ == "__main__":
    sys.exit(main())
