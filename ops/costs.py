"""What a deployment costs a month, from measured bytes and CPU per event and dated prices.

    python -m ops.costs            # print the table
    python -m ops.costs --write    # rewrite it in docs/deploy.md (between the costs markers)
    python -m ops.costs --check    # exit 1 if docs/deploy.md's table is stale

Measured (docs/benchmarks.md, `make bench`): 60.3 Parquet bytes per stored event, ingest
about 40 µs of CPU per event, the writer about 10. What was not measured is an
assumption named below (request size, I/O time per invocation, query volume); change it
here and rerun. List prices, us-east-1, no free tier, no Savings Plans.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from mlaudit.routes import AUTHORIZER_CACHE_SECONDS
from mlaudit.settings import Settings

DEPLOY_DOC = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"
START, END = "<!-- costs:start -->", "<!-- costs:end -->"

PRICES_DATE = "2025-06"  # as published then for us-east-1; check https://aws.amazon.com/pricing before budgeting
PRICES = {
    "apigw_rest_per_million": ((333e6, 3.50), (667e6, 2.80), (19e9, 2.38), (math.inf, 1.51)),
    "lambda_arm_gb_second": 0.0000133334,
    "lambda_per_million_requests": 0.20,
    "sqs_per_million_requests": 0.40,  # standard queue; each 64 KB of a message is a request
    "s3_standard_gb_month": 0.023,
    "s3_glacier_ir_gb_month": 0.004,
    "s3_put_per_1000": 0.005,
    "s3_transition_glacier_ir_per_1000": 0.02,
    "kms_key_month": 1.00,
    "kms_symmetric_per_10000": 0.03,
    "kms_asymmetric_per_10000": 0.15,  # RSA_3072 Sign
    "dynamodb_per_million_wru": 0.625,
    "dynamodb_per_million_rru": 0.125,
    "athena_per_tb": 5.00,
    "athena_min_bytes": 10 * 1024**2,
    "logs_ingest_gb": 0.50,
    "logs_store_gb_month": 0.03,
    "alarm_month": 0.10,
    "dashboard_month": 3.00,
}

# Measured (docs/benchmarks.md; tests/ops/test_costs.py checks the page still says so).
PARQUET_BYTES_PER_EVENT = 60.3
INGEST_CPU_SECONDS_PER_EVENT = 40e-6
WRITER_CPU_SECONDS_PER_EVENT = 10e-6

# Assumed: what the benchmarks do not measure.
EVENTS_PER_REQUEST = 100  # the client batches up to 500; 100 is a busy service's typical batch
INGEST_IO_SECONDS = 0.040  # per request: DynamoDB claim and record, SQS send
WRITER_IO_SECONDS = 0.300  # per invocation: Parquet, manifest and log PUTs, ledger, KMS Sign
CHECKPOINT_SECONDS = 1.0
PARTITIONS_PER_WRITE = 2  # event types per writer batch: one file each
PACK_BYTES_PER_EVENT = 300  # an event in an SQS pack (its shared fields once per request)
ESM_PAYLOAD_BYTES = 6 * 1024**2  # Lambda's limit on one SQS batch's payload
CLIENT_TOKENS = 20  # distinct workload tokens alive at once (authorizer cache misses)
SQS_POLLERS = 5  # the event source's long polls (20 s) while idle
QUERIES_PER_MONTH = 300  # named queries, each over 30 days of every event (an upper bound: Parquet
#                          reads only the columns a query names)
LOG_BYTES_PER_INVOCATION = 700  # Powertools' JSON lines and Lambda's platform report
MONTH_SECONDS = 30 * 86_400
VOLUMES = (1_000_000, 100_000_000, 1_000_000_000)


@dataclass(frozen=True)
class Line:
    service: str
    what: str
    dollars: tuple[float, ...]


def _tiered(count: float, tiers: tuple[tuple[float, float], ...]) -> float:
    total, left = 0.0, count
    for size, per_million in tiers:
        used = min(left, size)
        total += used / 1e6 * per_million
        left -= used
        if left <= 0:
            break
    return total


def monthly(events: int, settings: Settings) -> dict[str, float]:
    p = PRICES
    gbs = p["lambda_arm_gb_second"]
    requests = events / EVENTS_PER_REQUEST
    window = settings.writer_batch_window_seconds or 1
    writer_runs = max(min(MONTH_SECONDS / window, requests), requests / settings.writer_batch_size,
                      events * PACK_BYTES_PER_EVENT / ESM_PAYLOAD_BYTES)
    files = writer_runs * PARTITIONS_PER_WRITE
    checkpoints = MONTH_SECONDS / (settings.checkpoint_interval_minutes * 60)
    authorizer_runs = CLIENT_TOKENS * MONTH_SECONDS / AUTHORIZER_CACHE_SECONDS

    ingest_s = requests * (EVENTS_PER_REQUEST * INGEST_CPU_SECONDS_PER_EVENT + INGEST_IO_SECONDS)
    writer_s = writer_runs * WRITER_IO_SECONDS + events * WRITER_CPU_SECONDS_PER_EVENT
    invocations = requests + writer_runs + checkpoints + authorizer_runs
    lambda_cost = (
        ingest_s * settings.ingest_memory_mb / 1024 * gbs
        + writer_s * settings.writer_memory_mb / 1024 * gbs
        + (checkpoints * CHECKPOINT_SECONDS + authorizer_runs * 0.02) * 0.25 * gbs
        + invocations / 1e6 * p["lambda_per_million_requests"]
    )
    # One message per request (its pack fits 64 KB); receives and deletes in tens; idle long polls.
    sqs_requests = requests * 1.2 + SQS_POLLERS * MONTH_SECONDS / 20
    stored_gb = events * PARQUET_BYTES_PER_EVENT / 1e9
    # After a year: archive_after_days in Standard, the rest of the year in Glacier IR.
    standard_months = min(settings.archive_after_days / 30, 12)
    s3_storage = stored_gb * (standard_months * p["s3_standard_gb_month"]
                              + (12 - standard_months) * p["s3_glacier_ir_gb_month"])
    objects = files * 4  # Parquet file, manifest, log entry, its file pointer
    s3_requests = objects / 1000 * (p["s3_put_per_1000"] + p["s3_transition_glacier_ir_per_1000"])
    kms = (3 * p["kms_key_month"] + (files + checkpoints) / 1e4 * p["kms_asymmetric_per_10000"]
           + (writer_runs + requests / 100) / 1e4 * p["kms_symmetric_per_10000"])
    dynamodb = (requests * 2 + writer_runs) / 1e6 * p["dynamodb_per_million_wru"] + (
        writer_runs / 1e6 * p["dynamodb_per_million_rru"])
    scanned = max(events * PARQUET_BYTES_PER_EVENT, p["athena_min_bytes"]) * QUERIES_PER_MONTH
    athena = scanned / 1e12 * p["athena_per_tb"]
    log_gb = invocations * LOG_BYTES_PER_INVOCATION / 1e9 + requests * 400 / 1e9  # + API access logs
    alarms = 4 + 2 * 8  # queue, DLQ, API 5xx and latency; errors and throttles per function
    cloudwatch = (log_gb * (p["logs_ingest_gb"] + 12 * p["logs_store_gb_month"])
                  + alarms * p["alarm_month"] + p["dashboard_month"])
    return {
        "API Gateway": _tiered(requests, p["apigw_rest_per_million"]),
        "Lambda": lambda_cost,
        "SQS": sqs_requests / 1e6 * p["sqs_per_million_requests"],
        "S3 storage (a year of events, lifecycle applied)": s3_storage,
        "S3 requests and transitions": s3_requests,
        "KMS (3 keys, signatures, data keys)": kms,
        "DynamoDB (idempotency, ledger)": dynamodb,
        "Athena (named queries)": athena,
        "CloudWatch (logs, alarms, dashboard)": cloudwatch,
    }


def table(settings: Settings | None = None) -> str:
    settings = settings or Settings()
    columns = [monthly(n, settings) for n in VOLUMES]
    heads = " | ".join(f"{n:,} events" for n in VOLUMES)
    rows = [f"| service | {heads} |", "| --- |" + " ---: |" * len(VOLUMES)]
    for service in columns[0]:
        rows.append(f"| {service} | " + " | ".join(f"${c[service]:,.2f}" for c in columns) + " |")
    rows.append("| **total a month** | " + " | ".join(f"**${sum(c.values()):,.2f}**" for c in columns) + " |")
    return (
        f"Prices: us-east-1 list prices as published in {PRICES_DATE}, no free tier. Generated by "
        "`python -m ops.costs --write` from the measured bytes and CPU per event and the assumptions "
        "named in `ops/costs.py`.\n\n" + "\n".join(rows)
    )


def rendered(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    if "--write" in argv:
        DEPLOY_DOC.write_text(rendered(DEPLOY_DOC.read_text()))
    elif "--check" in argv:
        text = DEPLOY_DOC.read_text()
        if rendered(text) != text:
            print("docs/deploy.md's cost table is stale: python -m ops.costs --write", file=sys.stderr)
            return 1
    else:
        print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
