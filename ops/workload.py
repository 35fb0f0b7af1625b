"""The fixed workload `make cost` measures: run through the local stack with every AWS call
counted (local/usage.py), written as the usage report the cost table is priced from.

    python -m ops.workload [--events 10000] [--out ops/usage.json]

What it does, in order (deterministic: seeded events, one client, requests in sequence):

1. `events` audit events from one inference service (bench/workload.py's readmission-risk
   predictions) in requests of `EVENTS_PER_REQUEST`: 80% predictions, each about a patient
   (`subject_ref`, one of events/5; 10% with `personal_data`), 15% ground-truth labels about
   the same patients, 5% data accesses by people (no subject). The writer writes them.
   The requests carry the SDK's lane headers (one lane, a position per request), as the
   SDK sends them: each request moves its lane's watermark (mlaudit.ingest.lanes).
2. Scheduled work, run by hand so each run is counted once: `CHECKPOINT_RUNS` checkpoint
   runs, `MONITOR_RUNS` monitor runs (the packaged monitors file) and `RECOVERY_RUNS` runs
   of the writer's recovery sweep (on AWS every 5 minutes; left to its own schedule, the
   local sweep ran once or not at all, and its reads were scaled as the queue messages').
3. People's requests: each named query in `QUERIES` once and its results (an auditor), and subject access
   for `SUBJECT_ACCESSES` patients (a privacy officer).
4. The subject index's merges: the writer's index maintained with its clock two days ahead,
   so the hour and day merges of the run's index objects are counted.
5. Compaction (docs/compaction.md): the compaction function run once with the run's day
   treated as closed (`{"every": true, "through": today}`), as its schedule runs it once a
   day is: it reads every source file and writes a compacted file per event type.
6. Facts of the deployment the run cannot count, from the synthesized template: alarms,
   dashboards, KMS keys, machine app clients, and the size of one API access log line.

`notes` in the report says how many of each unit the run made (events, requests, queue
messages, writer runs, files, checkpoint and monitor runs, queries, accesses, index merges):
`ops/costs.py` divides the counts by them and scales each to a month.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from mlaudit import bootstrap
from mlaudit.settings import Settings
from mlaudit_client.transport import LANE_HEADER, POSITION_HEADER

from bench.workload import prediction_events
from local import client
from local.runtime import LambdaContext
from local.stack import LocalStack
from local.usage import Usage

REPORT = Path(__file__).resolve().parent / "usage.json"
EVENTS = 10_000
EVENTS_PER_REQUEST = 100
CHECKPOINT_RUNS = 3
MONITOR_RUNS = 2
RECOVERY_RUNS = 2
SUBJECT_ACCESSES = 5
QUERIES = ("prediction_volume_latency", "dq_violation_rate", "model_timeline", "access_report")
SEED = 24
TIMEOUT = 120


def events(n: int, seed: int = SEED) -> list[dict[str, Any]]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not secrets
    predictions = prediction_events(n, seed)
    patients = max(1, n // 5)
    out: list[dict[str, Any]] = []
    for i, event in enumerate(predictions):
        kind = rng.random()
        patient = f"patient-{rng.randrange(patients):06d}"
        if kind < 0.80:
            row = {**event, "subject_ref": patient}
            if rng.random() < 0.10:
                row["personal_data"] = {"name": f"Patient {patient[-6:]}", "ward": rng.choice("ABCD")}
        elif kind < 0.95 and out:
            labelled = out[rng.randrange(max(0, len(out) - 200), len(out))]
            row = {"event_id": f"label-{seed}-{i:09d}", "event_type": "ground_truth",
                   "occurred_at": event["occurred_at"], "model_id": event["model_id"],
                   "label_for_prediction_id": labelled.get("prediction_id") or event["prediction_id"],
                   "true_label": rng.choice(["high", "low"]),
                   "subject_ref": labelled.get("subject_ref", patient)}
        else:
            row = {"event_id": f"access-{seed}-{i:09d}", "event_type": "data_accessed",
                   "occurred_at": event["occurred_at"], "dataset_id": "ds-admissions",
                   "resource": "dataset/ds-admissions", "action": "read", "workload": "risk-scoring-service"}
        out.append(row)
    return out


def run(n: int = EVENTS, *, settings: Settings | None = None, template: bool = True,
        before: Any = None) -> dict[str, Any]:
    """Run the workload on a fresh local stack; the usage report with its `notes`.
    `before(stack)`: called once the stack is up (tests change a function there)."""
    usage = Usage()
    # Schedules far apart: the runs below are made by hand, so each is counted once.
    stack = LocalStack(settings or Settings.from_cdk_json(), writer_window=2, checkpoint_interval=10**9,
                       monitor_interval=10**9, recovery_interval=10**9, usage=usage)
    with stack:
        _first_scheduled_runs(stack)
        if before is not None:
            before(stack)
        usage.reset()  # what starting the stack did (a first checkpoint, the mapping's setup) is not the workload
        notes = drive(stack, n)
        notes["messages"] = stack.poller.stats.messages_deleted if stack.poller else 0
        notes["writer_runs"] = stack.poller.stats.invocations if stack.poller else 0
        notes["large_files"] = large_files(stack, usage)
    usage.notes.update(notes)
    if template:
        usage.notes["template"] = template_facts()
    return usage.report()


def drive(stack: LocalStack, n: int) -> dict[str, Any]:
    config = stack.config
    token = client.machine_token(config)
    sent = events(n)
    began = time.monotonic()
    hours = _key_cache_per_request()
    lane = f"workload-{time.time_ns()}"  # one client's lane, as the SDK names its own
    for start in range(0, len(sent), EVENTS_PER_REQUEST):
        hours[0] += 1
        batch = {"events": sent[start:start + EVENTS_PER_REQUEST]}
        headers = {**client.bearer(token), LANE_HEADER: lane, POSITION_HEADER: str(start // EVENTS_PER_REQUEST)}
        answer = requests.post(config["api_url"] + "/v1/events", json=batch, headers=headers, timeout=TIMEOUT)
        if answer.status_code != 202:
            raise RuntimeError(f"the workload's request {start // EVENTS_PER_REQUEST} got {answer.status_code}")
    if not stack.wait_drained(TIMEOUT * 5):
        raise RuntimeError("the writer did not drain the queue")
    ingest_seconds = time.monotonic() - began

    for _ in range(CHECKPOINT_RUNS):
        _scheduled(stack, "checkpoint")
    for _ in range(MONITOR_RUNS):
        _scheduled(stack, "monitors")
    for _ in range(RECOVERY_RUNS):
        _scheduled(stack, "writer")  # the recovery sweep (a scheduled event to the writer)

    auditor = client.user_tokens(config, "auditor")["id_token"]
    today = datetime.now(UTC).date().isoformat()
    for name in QUERIES:
        parameters = {"from_date": today, "to_date": today}
        if name == "model_timeline":
            parameters["model_id"] = "readmission-risk"
        answer = requests.post(config["api_url"] + f"/v1/queries/{name}", json={"parameters": parameters},
                               headers=client.bearer(auditor), timeout=TIMEOUT)
        if answer.status_code != 202:
            raise RuntimeError(f"query {name} got {answer.status_code}: {answer.text}")
        execution = answer.json()["execution_id"]  # and its first page of results, as a client reads it
        result = requests.get(config["api_url"] + f"/v1/query-executions/{execution}",
                              headers=client.bearer(auditor), timeout=TIMEOUT)
        if result.status_code != 200:
            raise RuntimeError(f"query {name}'s results got {result.status_code}")
    officer = client.user_tokens(config, "privacy_officer")["id_token"]
    patients = sorted({e["subject_ref"] for e in sent if "subject_ref" in e})[:SUBJECT_ACCESSES]
    disclosed = 0
    for patient in patients:
        answer = requests.get(config["api_url"] + "/v1/subjects/" + quote(patient, safe=""),
                              headers=client.bearer(officer), timeout=TIMEOUT)
        if answer.status_code != 200:
            raise RuntimeError(f"subject access got {answer.status_code}")
        disclosed += answer.json()["count"]
    if not stack.wait_drained(TIMEOUT):  # the audit events of the queries and accesses
        raise RuntimeError("the writer did not drain the people's audit events")

    merges = merge_index_later()
    records = index_records(stack)
    compacted = stack.handler("compaction")({"every": True, "through": today},
                                            LambdaContext("compaction", 900, region=stack.region))
    types = Counter(e["event_type"] for e in sent)
    return {
        "date": today,
        "events": len(sent),
        "events_per_request": EVENTS_PER_REQUEST,
        "requests": -(-len(sent) // EVENTS_PER_REQUEST),
        "event_types": dict(sorted(types.items())),
        "subject_share": sum(1 for e in sent if "subject_ref" in e) / len(sent),
        "subjects": len({e["subject_ref"] for e in sent if "subject_ref" in e}),
        "checkpoint_runs": CHECKPOINT_RUNS,
        "monitor_runs": MONITOR_RUNS,
        "recovery_runs": RECOVERY_RUNS,
        "compaction_runs": 1,
        "compaction": compacted,
        "queries": len(QUERIES),
        "subject_accesses": len(patients),
        "events_disclosed": disclosed,
        "index_hour_merges": sum(1 for key in merges if "/hours/" in key),
        "index_day_merges": sum(1 for key in merges if "/days/" in key),
        "index_maintenance_passes": bootstrap.app("writer").service().subject_index.maintained,
        "index_records": records,
        "ingest_wall_seconds": round(ingest_seconds, 1),
    }


def _key_cache_per_request() -> list[float]:
    """Ingest's subject keys as at scale: with many containers and many subjects, a subject's
    key is rarely still cached from an earlier request, so each request looks up its own
    (distinct) subjects. The protector's clock moves an hour per request: its 30 s cache
    holds within a request, never across two, however fast the local stack answers."""
    hours = [0.0]
    protector = bootstrap.app("ingest").service().protector
    protector.clock = lambda: hours[0] * 3600.0
    return hours


def large_files(stack: LocalStack, usage: Usage) -> dict[str, Any]:
    """The run's events as few large files (one per partition, encoded as the writer encodes):
    the bytes a stored event takes once a writer batch (or a compacted day) holds thousands,
    the per-file overhead of the run's small files, and which share of those bytes the
    columns each function's queries name take (what Athena reads)."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415
    from mlaudit.layout import EVENTS_PREFIX, parse_partition  # noqa: PLC0415
    from mlaudit.parquet import to_parquet_bytes  # noqa: PLC0415

    from local.usage import column_bytes  # noqa: PLC0415

    s3 = stack.client("s3")
    bucket = stack.config["bucket"]
    parts: dict[tuple[str, str], list[Any]] = {}
    small = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=EVENTS_PREFIX):
        for item in page.get("Contents", []):
            small += item["Size"]
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            parts.setdefault(parse_partition(item["Key"]), []).append(pq.read_table(pa.BufferReader(body)))
    files = sum(len(tables) for tables in parts.values())
    events = sum(t.num_rows for tables in parts.values() for t in tables)
    large = {key: to_parquet_bytes(pa.concat_tables(tables)) for key, tables in parts.items()}
    total = sum(len(body) for body in large.values())
    shares = {}
    with tempfile.TemporaryDirectory() as folder:
        paths: dict[str, list[tuple[str, int]]] = {}
        for n, ((_, event_type), body) in enumerate(large.items()):
            path = Path(folder) / f"{n}.parquet"
            path.write_bytes(body)
            paths.setdefault(event_type, []).append((str(path), len(body)))
        for function, record in usage.athena.items():
            read = [f for t, found in paths.items() if "*" in record.event_types or t in record.event_types
                    for f in found]
            shares[function] = sum(column_bytes(p, set(record.columns)) for p, _ in read) / max(
                1, sum(size for _, size in read))
    per_event = total / events
    return {"events": events, "small_files": files, "small_bytes": small, "bytes_per_event": per_event,
            "file_overhead_bytes": max(0.0, (small - per_event * events) / files), "column_share": shares}


def _first_scheduled_runs(stack: LocalStack) -> None:
    """Both schedules run once at start (the signer's first run signs checkpoint 0); wait for them."""
    deadline = time.monotonic() + TIMEOUT
    while any(s is not None and s.runs < 1 for s in (stack.checkpoints, stack.monitor_runs, stack.recoveries,
                                                      stack.compaction_runs)):
        if time.monotonic() > deadline:
            raise RuntimeError("the scheduled functions' first runs did not finish")
        time.sleep(0.2)


def _scheduled(stack: LocalStack, function: str) -> None:
    stack.handler(function)({"source": "aws.events", "detail-type": "Scheduled Event"},
                            LambdaContext(function, 300, region=stack.region))


def merge_index_later() -> list[str]:
    """Merge the run's subject index as the writer would once its hours and day closed: the
    writer's own index (its clients, counted), its clock two days on."""
    index = bootstrap.app("writer").service().subject_index
    clock = index.clock
    index.clock = lambda: clock() + timedelta(days=2)
    written: list[str] = []
    try:
        while merged := index.maintain(force=True):
            written += merged
    finally:
        index.clock = clock
    return written


def index_records(stack: LocalStack) -> int:
    """(pseudonym, file) pairs the run indexed: the records of its merged day objects."""
    from mlaudit import subject_index  # noqa: PLC0415

    s3, bucket = stack.client("s3"), stack.config["bucket"]
    total = 0
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=subject_index.DAYS).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        total += subject_index.parse_header(body).records
    return total


def template_facts() -> dict[str, Any]:
    """What the synthesized stack holds that is billed by the month, and one access log line."""
    import tempfile  # noqa: PLC0415

    from app import build_app  # noqa: PLC0415 - aws_cdk: only here
    from stacks.api import ACCESS_LOG_FORMAT  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as outdir:
        app, stack = build_app(None, outdir=outdir)
        resources = app.synth().get_stack_by_name(stack.stack_name).template["Resources"]
    kinds = Counter(r["Type"] for r in resources.values())
    machine_clients = sum(
        1 for r in resources.values() if r["Type"] == "AWS::Cognito::UserPoolClient"
        and "client_credentials" in (r.get("Properties", {}).get("AllowedOAuthFlows") or [])
    )
    (api_rule,) = (r["Properties"]["SamplingRule"] for r in resources.values()
                   if r["Type"] == "AWS::XRay::SamplingRule")
    return {
        "api_trace_rule": {"rate": api_rule["FixedRate"], "reservoir_per_second": api_rule["ReservoirSize"]},
        "alarms": kinds["AWS::CloudWatch::Alarm"],
        "dashboards": kinds["AWS::CloudWatch::Dashboard"],
        "kms_keys": kinds["AWS::KMS::Key"],
        "machine_app_clients": machine_clients,
        "log_groups": kinds["AWS::Logs::LogGroup"],
        "access_log_line_bytes": access_log_line_bytes(ACCESS_LOG_FORMAT),
    }


def access_log_line_bytes(log_format: dict[str, str]) -> int:
    """One access log line of an ingest request, as API Gateway fills the format."""
    typical = {
        "$context.requestId": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "$context.requestTimeEpoch": "1795000000000",
        "$context.identity.sourceIp": "203.0.113.17", "$context.identity.userAgent": "mlaudit-client/0.1 python/3.11",
        "$context.authorizer.principalId": "4f1c2ab3d5e6f7a8b9c0d1e2f3", "$context.httpMethod": "POST",
        "$context.resourcePath": "/v1/events", "$context.status": "202", "$context.responseLatency": "187",
        "$context.responseLength": "1980", "$context.error.responseType": "-", "$context.authorizer.error": "-",
        "$context.integration.error": "-", "$context.xrayTraceId": "1-6a1b2c3d-0123456789abcdef01234567",
    }
    return len(json.dumps({k: typical.get(v, "-") for k, v in log_format.items()})) + 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.workload", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    report = run(args.events)
    args.out.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    print(f"usage report of {args.events:,} events written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
