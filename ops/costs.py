"""What a deployment costs a month, priced from counted calls (`make cost`).

    python -m ops.costs            # print the table and the 1B-event breakdown
    python -m ops.costs --write    # rewrite both in docs/deploy.md (between the costs markers)
    python -m ops.costs --check    # exit 1 if docs/deploy.md's table is stale

The counts come from `ops/usage.json`: the usage report (local/usage.py) of the fixed workload
`python -m ops.workload` runs through the local stack (`make cost` runs it, then this). Every
AWS call of every function is in it, with its bytes and DynamoDB capacity units; so are the
invocations (CPU, logged bytes, metric series), API requests, token grants, Athena bytes, the
objects written, and the deployment's alarms, dashboards, keys and app clients (from the
synthesized template).

Scaling: each counted call is divided by the workload's count of the unit it is made per
(`UNITS`: per request, queue message, file, writer run, index run object, index hour and day
merge, checkpoint run, monitor run, query, subject access, recovery sweep, compacted file,
compaction run) and multiplied by that unit's
count in a month (`Month`). Requests carry the workload's events per request, so per request
is also per event. Writer runs and files per month follow the batch window and Lambda's
6 MB batch payload from the measured queue bytes per event; partitions per file from the
measured mix of event types. What the local stack does differently from AWS is modeled, not
scaled, and named where it is: the SQS event source's polls, Athena's own S3 reads and the
bytes it scans at a month's lake size (compacted days from their compacted files, as
docs/compaction.md designs it; `ATHENA_READS_COMPACTED`), what a subject access reads after a year of index,
KMS calls AWS services make with data keys they cache, Lambda's wait on AWS calls. Every
price is in `PRICES`, dated; every assumption is a named constant below.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlaudit import monitors as monitors_file
from mlaudit import subject_index
from mlaudit.functions import BY_NAME, LAMBDA_PAYLOAD_LIMIT_BYTES
from mlaudit.routes import ACCESS_TOKEN_SECONDS, AUTHORIZER_CACHE_SECONDS
from mlaudit.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
USAGE = Path(__file__).resolve().parent / "usage.json"
START, END = "<!-- costs:start -->", "<!-- costs:end -->"

PRICES_DATE = "2025-06"  # as published then for us-east-1; check https://aws.amazon.com/pricing before budgeting
PRICES = {
    "apigw_rest_per_million": ((333e6, 3.50), (667e6, 2.80), (19e9, 2.38), (math.inf, 1.51)),
    "lambda_arm_gb_second": 0.0000133334,
    "lambda_per_million_requests": 0.20,
    "sqs_per_million_requests": 0.40,  # standard queue; each 64 KB of payload is a request
    "sns_per_million_publishes": 0.50,
    "s3_standard_gb_month": 0.023,
    "s3_glacier_ir_gb_month": 0.004,
    "s3_put_per_1000": 0.005,  # PUT, COPY, POST, LIST
    "s3_get_per_1000": 0.0004,  # GET, HEAD and the rest
    "s3_glacier_ir_get_per_1000": 0.01,
    "s3_glacier_ir_retrieval_gb": 0.03,
    "s3_transition_glacier_ir_per_1000": 0.02,
    "kms_key_month": 1.00,
    "kms_symmetric_per_10000": 0.03,
    "kms_asymmetric_per_10000": 0.15,  # Sign and GetPublicKey on the RSA signing keys
    "dynamodb_per_million_wru": 0.625,
    "dynamodb_per_million_rru": 0.125,
    "dynamodb_gb_month": 0.25,
    "athena_per_tb": 5.00,
    "athena_min_bytes": 10 * 1024**2,  # per query
    "logs_ingest_gb": 0.50,
    "logs_store_gb_month": 0.03,  # compressed
    "metric_month": 0.30,  # a custom metric (one EMF series), first 10,000
    "alarm_month": 0.10,
    "dashboard_month": 3.00,
    "xray_per_million_traces": 5.00,
    "cognito_m2m_client_month": 6.00,
    "cognito_m2m_per_1000_tokens": 2.25,
}

# Assumed: what one workload run cannot show. Change here and rerun `python -m ops.costs --write`.
MONTH_SECONDS = 30 * 86_400
VOLUMES = (1_000_000, 100_000_000, 1_000_000_000)
CLIENT_PROCESSES = 20  # workload processes sending events: each holds a token (an hour) and is authorized every 5 min
QUERIES_PER_MONTH = 300  # named queries by people, each over 30 days of every event (an upper bound)
SUBJECT_ACCESSES_PER_MONTH = 100  # GET /v1/subjects/{ref}
NEW_SUBJECT_SHARE = 0.01  # of events about a subject, those about one never seen before (a key is made)
MODEL_VERSIONS = 10  # live model versions with per-model metrics
HISTORY_DAYS = 365  # the subject index's days a subject access reads (a year of history)
SQS_POLLERS = 5  # Lambda's SQS event source long-polls (20 s) with five pollers, busy or idle
ATHENA_GETS_PER_FILE = 3  # Athena's reads of a Parquet file: its footer and the column chunks it needs
# ... and of a large (compacted) file, one more per this many bytes of the columns it reads
# (a reader fetches column chunks in ranged GETs of a few MB, not the file in one).
ATHENA_BYTES_PER_GET = 8 * 1024**2
# Athena reads a compacted day from compacted/ (docs/compaction.md, "Readers"): the
# projected table over compacted/ and the `events` view that switches a day over once its
# marker exists. With False the table prices reading every day's source files instead (no
# compaction), and the table's text says the difference.
ATHENA_READS_COMPACTED = True
SERVICE_KEY_PERIOD_SECONDS = 300  # SQS and DynamoDB reuse a data key about this long per caller
BUCKET_KEY_PERIOD_SECONDS = 3600  # S3 Bucket Keys: about one KMS call an hour per role and bucket (not published)
RECOVERY_SWEEP_SECONDS = 300  # the writer's recovery sweep's schedule (stacks/ingestion.py)
PLATFORM_LOG_BYTES = 330  # Lambda's START, END and REPORT lines per invocation
LOG_COMPRESSION = 0.15  # CloudWatch Logs stores (and bills storage of) compressed data
XRAY_RESERVOIR_PER_SECOND, XRAY_RATE = 1, 0.05  # X-Ray's default sampling rule (Lambda's: not configurable)
LATENCY_SECONDS = {  # what a function waits on one AWS call (Lambda bills the wait)
    ("s3", "put"): 0.030, ("s3", "get"): 0.015, ("dynamodb", ""): 0.005, ("sqs", ""): 0.010,
    ("kms", "Sign"): 0.020, ("kms", ""): 0.008, ("sns", ""): 0.020,
}
ATHENA_QUERY_SECONDS = 2.0  # the monitors function waits for each of its queries
# The writer's CPU: what the run measured per file (its batches are small: per-file work
# dominates) plus this much per event, the writer's marginal CPU on large batches
# (docs/benchmarks.md: 150,668 events/s per core; rounded up).
WRITER_CPU_SECONDS_PER_EVENT = 10e-6
IN_FLIGHT = 10  # calls made off the handler's thread (a pool: claims, subject keys, index reads) at once
INDEX_OBJECT_REQUESTS = 2  # range reads per large index object in a lookup (header, then one block)
S3_REQUEST_SECONDS, READS_IN_FLIGHT = 0.025, 16  # a GET's time to first byte; a lookup's reads at once


# ---------------------------------------------------------------- the measured run


def load(path: Path = USAGE) -> dict[str, Any]:
    return json.loads(path.read_text())


@dataclass(frozen=True)
class Row:
    function: str
    service: str
    action: str
    resource: str
    counts: dict[str, Any]

    @property
    def s3_class(self) -> str:
        from local.usage import S3_FREE, S3_PUT_CLASS  # noqa: PLC0415

        if self.action in S3_FREE:
            return "free"
        return "put" if self.action in S3_PUT_CLASS else "get"


# What each counted call is made per. A call none of these names fails the pricing, so a new
# call cannot slip into the table unscaled (tests/ops/test_costs.py).
UNITS = ("request", "new_subject", "message", "file", "writer_run", "delete_batch", "index_run", "index_hour",
         "index_day", "index_maintain", "checkpoint_run", "monitor_run", "query", "subject_access",
         "recovery_run", "compacted_file", "compaction_run")
# Calls the local stack makes that AWS makes otherwise (priced by a model), or not at all.
MODELED = ("esm_receive", "athena_read", "index_lookup", "local_only", "compaction_listing")


def unit_of(row: Row) -> str:
    f, service, action, resource = row.function, row.service, row.action, row.resource
    index = subject_index.PREFIX
    if f == "capture-pipe":
        return "local_only"  # Pipes reads a DynamoDB stream at no charge for the reads (it bills per request)
    if f in ("ingest", "imports", "capture") and (action == "GenerateDataKey" or (
            resource == "subject_keys_table" and action in ("PutItem", "GetItem"))):
        return "new_subject"  # a subject's key made on first sight (its lookup, data key and item)
    if f in ("ingest", "authorizer", "config", "proofs", "imports", "capture"):  # capture: per delivery
        return "request"
    if f == "writer":
        if service == "sqs":
            return {"ReceiveMessage": "esm_receive", "DeleteMessageBatch": "delete_batch"}.get(action, "local_only")
        if service == "dynamodb" and resource.endswith(":files#"):
            # The files a run put and has yet to log (`Ledger.expect`, `settle`): listed and
            # taken off once per run; read by the recovery sweep (a day of 10-minute slots, a
            # run; its PutItem: the item saying since when, once a deployment).
            return "recovery_run" if action in ("BatchGetItem", "PutItem") else "writer_run"
        if service == "dynamodb":
            return "message"
        if action == "ListObjectsV2" and ":index/" in resource:
            return "index_maintain"  # the merges' listings
        if resource.endswith(index + "runs/"):
            return "index_run"  # written by its batch, read once when its hour is merged
        if resource.endswith(index + "hours/"):
            return "index_hour"  # written by an hour's merge, read once when its day is merged
        if resource.endswith(index + "days/"):
            return "index_day"
        if resource.endswith("integrity/checkpoints/"):
            return "writer_run"  # the first entry's wait for the signer's first checkpoint
        return "file"  # the Parquet file, its manifest, log entry and lookup aid, the entry's signature
    if f == "compaction":
        if action == "ListObjectsV2" and resource.endswith(":events/"):
            return "compaction_listing"  # a listing per 1,000 sources (modeled in _compaction)
        if service == "s3" and action == "GetObject" and (resource.endswith((":events/", ":integrity/log/"))
                                                          or resource.endswith("/events/")):
            return "file"  # each source read once, with its log entry, lookup aid and seals
        return "compacted_file"  # the record, file, seals, manifest, log entry and signature of each
    if f in ("queries", "monitors") and service == "s3" and ":events/" in resource:
        return "athena_read"  # the stand-in reading the lake; Athena's own reads are modeled
    if f == "queries":
        return "query"
    if f == "monitors":
        return "monitor_run"
    if f == "checkpoint":
        # The signer reads each new log entry once (one per file); the rest is per run.
        return "file" if action == "GetObject" and resource.endswith("integrity/log/") else "checkpoint_run"
    if f == "privacy":
        return "index_lookup" if service == "s3" and ":index/" in resource else "subject_access"
    raise ValueError(f"no unit for {f} {service}:{action} on {resource}: add it to ops/costs.py's unit_of")


def rows(report: dict[str, Any]) -> list[Row]:
    fields = ("function", "service", "action", "resource")
    return [Row(*(c[k] for k in fields), {k: v for k, v in c.items() if k not in fields}) for c in report["calls"]]


def measured_units(report: dict[str, Any], found: list[Row]) -> dict[str, float]:
    """How many of each unit the workload made."""
    notes = report["notes"]

    def calls(function: str, action: str, suffix: str = "") -> int:
        return sum(r.counts["calls"] for r in found
                   if r.function == function and r.action == action and r.resource.endswith(suffix))

    return {
        "request": notes["requests"], "new_subject": notes["subjects"], "message": notes["messages"],
        "file": report["objects"].get("audit_bucket:events/", {}).get("count", 0),
        "writer_run": notes["writer_runs"], "delete_batch": calls("writer", "DeleteMessageBatch"),
        "index_run": calls("writer", "PutObject", subject_index.RUNS),
        "index_hour": notes["index_hour_merges"], "index_day": notes["index_day_merges"],
        "index_maintain": notes["index_maintenance_passes"],
        "checkpoint_run": notes["checkpoint_runs"], "monitor_run": notes["monitor_runs"],
        "query": notes["queries"], "subject_access": notes["subject_accesses"],
        "recovery_run": notes.get("recovery_runs", 0),
        "compacted_file": report["objects"].get("audit_bucket:compacted/", {}).get("count", 0),
        "compaction_run": notes.get("compaction_runs", 0),
    }


# ---------------------------------------------------------------- a month


class Month:
    """How many of each unit a month of `events` makes, from the measured workload."""

    def __init__(self, events: int, report: dict[str, Any], settings: Settings) -> None:
        notes = report["notes"]
        measured = notes["events"]
        self.checkpoint_runs = MONTH_SECONDS / (settings.checkpoint_interval_minutes * 60)
        self.monitor_runs = MONTH_SECONDS / (settings.monitor_interval_minutes * 60)
        # The stack's own events, there with no client at all: each monitor evaluation is an
        # audit event (audit_access), sent on its own and written with its run's others.
        self.own_events = self.monitor_runs * len(monitors_file.load())
        self.client_events = events
        self.events = events + self.own_events  # stored
        self.requests = events / notes["events_per_request"]
        self.messages = notes["messages"] / measured * events + self.own_events
        sent = sum(c["request_bytes"] for c in report["calls"]
                   if c["function"] == "ingest" and c["action"] == "SendMessageBatch")
        self.queue_bytes = sent / measured * self.events
        window = settings.writer_batch_window_seconds or 1
        self.writer_runs = max(min(MONTH_SECONDS / window, self.requests + self.monitor_runs),
                               self.messages / settings.writer_batch_size,
                               self.queue_bytes / LAMBDA_PAYLOAD_LIMIT_BYTES)
        per_run = self.events / self.writer_runs
        shares = {t: n / measured * events / self.events for t, n in notes["event_types"].items()}
        shares["audit_access"] = shares.get("audit_access", 0.0) + self.own_events / self.events
        self.partitions_per_run = sum(1 - (1 - share) ** per_run for share in shares.values())
        self.files = self.writer_runs * self.partitions_per_run
        self.events_per_file = self.events / self.files
        subject_share = notes["subject_share"] * events / self.events
        self.new_subjects = events * notes["subject_share"] * NEW_SUBJECT_SHARE
        self.index_runs = self.writer_runs * (1 - (1 - subject_share) ** per_run)
        self.index_hours = min(720.0, self.index_runs)
        self.index_days = min(30.0, self.index_runs)
        self.index_maintain = min(self.writer_runs,
                                  MONTH_SECONDS / subject_index.MAINTAIN_SECONDS * settings.writer_max_concurrency)
        self.delete_batches = max(self.writer_runs, self.messages / 10)
        self.recovery_runs = MONTH_SECONDS / RECOVERY_SWEEP_SECONDS
        # Compaction: every closed day, per event type, in files of at most compaction_max_rows.
        self.compaction_runs = MONTH_SECONDS / (settings.compaction_interval_hours * 3600)
        per_day = self.events / 30
        self.compacted_per_day = sum(math.ceil(share * per_day / settings.compaction_max_rows)
                                     for share in shares.values() if share * per_day >= 1)
        self.compacted_files = 30 * self.compacted_per_day
        # A day's writer files stay what readers read until the day is compacted: today (on
        # average half of it written), and yesterday for compaction_delay_hours after it ended
        # plus half a compaction interval (on average) until the next run compacts it.
        self.uncompacted_share = min(1.0, (settings.compaction_delay_hours
                                           + settings.compaction_interval_hours / 2) / 24)
        # A token is fetched when the last one expired and authorized when the cached answer did
        # (at most once a request: a quiet client makes one of each per request).
        self.authorizer_runs = min(self.requests, CLIENT_PROCESSES * MONTH_SECONDS / min(
            AUTHORIZER_CACHE_SECONDS, ACCESS_TOKEN_SECONDS))
        self.tokens = min(self.requests, CLIENT_PROCESSES * MONTH_SECONDS / (settings.machine_token_hours * 3600))
        self.units = {
            "request": self.requests, "new_subject": self.new_subjects, "message": self.messages,
            "file": self.files, "writer_run": self.writer_runs,
            "delete_batch": self.delete_batches, "index_run": self.index_runs, "index_hour": self.index_hours,
            "index_day": self.index_days, "index_maintain": self.index_maintain,
            "checkpoint_run": self.checkpoint_runs, "monitor_run": self.monitor_runs,
            "query": QUERIES_PER_MONTH, "subject_access": SUBJECT_ACCESSES_PER_MONTH,
            "recovery_run": self.recovery_runs, "compacted_file": self.compacted_files,
            "compaction_run": self.compaction_runs,
        }


@dataclass(frozen=True)
class Item:
    row: str  # the table's row (a service, or the subject index)
    what: str
    quantity: float  # a month
    price: float  # per one of quantity

    @property
    def dollars(self) -> float:
        return self.quantity * self.price


ROWS = ("API Gateway", "Lambda", "SQS", "SNS", "S3 requests and transitions", "S3 storage (a year, lifecycle applied)",
        "DynamoDB", "KMS", "Athena (named queries, monitors)", "CloudWatch (logs, metrics, alarms, dashboards)",
        "X-Ray", "Cognito (machine clients, tokens)", "Subject index (its writes, merges, reads, storage)")
INDEX_ROW = ROWS[-1]


def items(events: int, settings: Settings | None = None, report: dict[str, Any] | None = None) -> list[Item]:
    """Every priced quantity of a month of `events`."""
    settings = settings or Settings()
    report = report if report is not None else load()
    found = rows(report)
    month = Month(events, report, settings)
    workload = measured_units(report, found)
    out: list[Item] = []
    calls_month: dict[tuple[str, ...], float] = {}
    for row in found:
        unit = unit_of(row)
        if unit in MODELED:
            continue
        if unit not in UNITS:
            raise ValueError(f"unknown unit {unit}")
        factor = month.units[unit] / workload[unit] if workload[unit] else 0.0
        calls_month[(row.function, row.service, row.action, row.resource)] = row.counts["attempts"] * factor
        out += _priced_call(row, factor, unit)
    out += _esm(month)
    out += _athena(month, report)
    out += _compaction(month)
    out += _lookups(month, report, found)
    out += _lambda(month, report, found, workload, calls_month)
    out += _storage(month, report, found, workload, settings)
    out += _service_keys(month, found, report)
    out += _monthly(month, report)
    return out


def _index_row(row: Row) -> bool:
    return ":index/" in row.resource


def _priced_call(row: Row, factor: float, unit: str) -> list[Item]:
    counts, p = row.counts, PRICES
    place = INDEX_ROW if _index_row(row) else None
    what = f"{row.function} {row.service}:{row.action} {row.resource} (per {unit})"
    if row.service == "s3":
        if row.s3_class == "free":
            return []
        price = p["s3_put_per_1000"] if row.s3_class == "put" else p["s3_get_per_1000"]
        return [Item(place or "S3 requests and transitions", what, counts["attempts"] * factor, price / 1000)]
    if row.service == "dynamodb":
        return [Item(place or "DynamoDB", f"{what}: write units", counts["write_units"] * factor,
                     p["dynamodb_per_million_wru"] / 1e6),
                Item(place or "DynamoDB", f"{what}: read units", counts["read_units"] * factor,
                     p["dynamodb_per_million_rru"] / 1e6)]
    if row.service == "sqs":
        return [Item("SQS", what, counts["billed_requests"] * factor, p["sqs_per_million_requests"] / 1e6)]
    if row.service == "sns":
        return [Item("SNS", what, counts["attempts"] * factor, p["sns_per_million_publishes"] / 1e6)]
    if row.service == "kms":
        asymmetric = row.action in ("Sign", "Verify", "GetPublicKey")
        price = p["kms_asymmetric_per_10000"] if asymmetric else p["kms_symmetric_per_10000"]
        return [Item("KMS", what, counts["attempts"] * factor, price / 1e4)]
    return []


def _esm(month: Month) -> list[Item]:
    """Lambda's SQS event source: five long polls (20 s) at all times, and one request per
    64 KB of messages it receives (the local poller's 1 s polls are not AWS's)."""
    idle = SQS_POLLERS * MONTH_SECONDS / 20
    received = month.queue_bytes / (64 * 1024) + month.messages / 10
    price = PRICES["sqs_per_million_requests"] / 1e6
    return [Item("SQS", "writer's event source: idle long polls (modeled)", idle, price),
            Item("SQS", "writer's event source: receives, per 64 KB (modeled)", received, price)]


def _parquet_bytes_per_event(report: dict[str, Any], events_per_file: float | None = None) -> float:
    """Parquet bytes a stored event takes in files of `events_per_file` (measured: the run's
    events re-encoded as large files, plus each file's own overhead); None: the large files'."""
    large = report["notes"]["large_files"]
    overhead = large["file_overhead_bytes"] / events_per_file if events_per_file else 0.0
    return large["bytes_per_event"] + overhead


def _athena(month: Month, report: dict[str, Any], compacted: bool = ATHENA_READS_COMPACTED) -> list[Item]:
    """Bytes scanned at a month's lake: a named query over 30 days of every event, a monitor
    query over the days its window touches (`_days_read`), each reading the share of those
    days' Parquet the workload's queries read of its day (writer files carry their footers'
    overhead, compacted ones hardly any). Athena's
    own S3 reads (`_days_read`): ATHENA_GETS_PER_FILE per file it opens, and per
    ATHENA_BYTES_PER_GET of a compacted file's columns; a compacted day is a few files a type,
    a day not compacted yet (today, and yesterday until the next run) the writer's files."""
    p, athena = PRICES, report["athena"]
    lake = report["objects"]["audit_bucket:events/"]
    day = month.events / 30
    small, large = _parquet_bytes_per_event(report, month.events_per_file), _parquet_bytes_per_event(report)
    out = []
    for function, per_month in (("queries", QUERIES_PER_MONTH), ("monitors", month.monitor_runs)):
        measured = athena.get(function)
        if not measured or not measured["queries"]:
            continue
        writer_days, compacted_days = _days_read(function, month, compacted)
        span = (writer_days * small + compacted_days * large) * day  # bytes of the days it reads
        queries_per_unit = measured["queries"] / (report["notes"]["queries"] if function == "queries"
                                                  else report["notes"]["monitor_runs"])
        share = measured["bytes_scanned"] / measured["queries"] / lake["bytes"]  # of the lake the run had
        columns = report["notes"]["large_files"]["column_share"][function]  # of those files' bytes, the columns read
        scanned = max(p["athena_min_bytes"], share * columns * span)
        queries = per_month * queries_per_unit
        out.append(Item("Athena (named queries, monitors)", f"{function}: bytes scanned ({queries:,.0f} queries)",
                        queries * scanned / 1e12, p["athena_per_tb"]))
        compacted_file = large * month.events / max(1.0, month.compacted_files)
        gets = share * (writer_days * month.files / 30 * ATHENA_GETS_PER_FILE
                        + compacted_days * month.compacted_per_day
                        * (ATHENA_GETS_PER_FILE + columns * compacted_file / ATHENA_BYTES_PER_GET))
        out.append(Item("S3 requests and transitions", f"{function}: Athena's reads of the lake (modeled: "
                        f"{writer_days:.2f} days of writer files, {compacted_days:.2f} compacted)",
                        queries * max(1.0, gets), p["s3_get_per_1000"] / 1000))
    return out


def _days_read(function: str, month: Month, compacted_read: bool = ATHENA_READS_COMPACTED) -> tuple[float, float]:
    """Days of writer files and of compacted files one query reads, on average. A named query:
    30 days, of which today (half written, on average) and yesterday while not yet compacted
    (`Month.uncompacted_share` of the time) are writer files. A monitor: today, and yesterday
    as often as its window reaches back past midnight (always for a window of a day or more)."""
    uncompacted = month.uncompacted_share if compacted_read else 1.0
    if function == "queries":
        return (0.5 + uncompacted, 29 - uncompacted) if compacted_read else (30.0, 0.0)
    monitors = monitors_file.load()
    writer = compacted = 0.0
    for monitor in monitors:
        minutes = monitor.current_minutes + monitor.baseline_minutes + monitor.window_minutes
        yesterday = min(1.0, minutes / 1440)
        writer += 0.5 + yesterday * uncompacted
        compacted += yesterday * (1 - uncompacted)
    return writer / len(monitors), compacted / len(monitors)


def _compaction(month: Month) -> list[Item]:
    """Compaction's listings of a day's sources: one per 1,000 keys a type (the local run's
    day holds a few dozen, so its count is not the month's)."""
    listings = month.files / 1000 + month.compacted_files
    return [Item("S3 requests and transitions", "compaction: listings of the days' sources (modeled)", listings,
                 PRICES["s3_put_per_1000"] / 1000)]


def _lookups(month: Month, report: dict[str, Any], found: list[Row]) -> list[Item]:
    """A subject access after a year: three listings, then one read per index object (a year
    of days, about 12 hours and half an hour's runs), two if it is large."""
    p = PRICES
    runs_per_hour = month.index_runs / 720
    objects = HISTORY_DAYS + 12 + runs_per_hour / 2
    day_bytes = _index_bytes_per_event(report, found, subject_index.DAYS) * month.events / 30
    shard_bytes = day_bytes / day_shards(day_bytes)  # a lookup reads one shard of a day
    day_requests = INDEX_OBJECT_REQUESTS if shard_bytes > subject_index.WHOLE_READ else 1
    archived_days = max(0.0, HISTORY_DAYS - Settings().archive_after_days) if shard_bytes >= 128 * 1024 else 0.0
    reads = SUBJECT_ACCESSES_PER_MONTH * (objects - archived_days + (day_requests - 1) * HISTORY_DAYS)
    block = subject_index.BLOCK_RECORDS * subject_index.RECORD
    return [
        Item(INDEX_ROW, "subject access: listings", 3 * SUBJECT_ACCESSES_PER_MONTH, p["s3_put_per_1000"] / 1000),
        Item(INDEX_ROW, "subject access: index reads, Standard (modeled: a year)", reads, p["s3_get_per_1000"] / 1000),
        Item(INDEX_ROW, "subject access: index reads, Glacier IR", SUBJECT_ACCESSES_PER_MONTH * archived_days
             * day_requests, p["s3_glacier_ir_get_per_1000"] / 1000),
        Item(INDEX_ROW, "subject access: Glacier IR retrieval (GB)", SUBJECT_ACCESSES_PER_MONTH * archived_days
             * (min(shard_bytes, subject_index.HEAD_READ) + block) / 1e9, p["s3_glacier_ir_retrieval_gb"]),
    ]


def day_shards(day_bytes: float) -> int:
    """The shards a day's index object is merged into (mlaudit.subject_index.SHARD_BYTES)."""
    shards = 1
    while day_bytes / shards > subject_index.SHARD_BYTES:
        shards *= 2
    return shards


def _latency(service: str, action: str, s3_class: str) -> float:
    if service == "s3":
        return LATENCY_SECONDS[("s3", s3_class if s3_class != "free" else "get")]
    return LATENCY_SECONDS.get((service, action), LATENCY_SECONDS.get((service, ""), 0.01))


def _lambda(month: Month, report: dict[str, Any], found: list[Row], workload: dict[str, float],
            calls_month: dict[tuple[str, ...], float]) -> list[Item]:
    """Invocations, and GB-seconds: the handler's CPU (measured on its thread, per unit) plus
    its wait on every call it makes (LATENCY_SECONDS; calls from a pool IN_FLIGHT at once)."""
    p = PRICES
    invocations = {
        "ingest": month.requests, "authorizer": month.authorizer_runs, "writer": month.writer_runs,
        "checkpoint": month.checkpoint_runs, "monitors": month.monitor_runs,
        "queries": QUERIES_PER_MONTH * _per(report, "queries", "query", workload),
        "privacy": SUBJECT_ACCESSES_PER_MONTH * _per(report, "privacy", "subject_access", workload),
        "compaction": month.compaction_runs,
    }
    cpu_unit = {"ingest": "request", "writer": "file", "checkpoint": "checkpoint_run", "monitors": "monitor_run",
                "queries": "query", "privacy": "subject_access", "compaction": "file"}
    out = []
    for function, count in invocations.items():
        measured = report["invocations"].get(function)
        if not measured or not count:
            continue
        memory = BY_NAME[function].memory(Settings()) / 1024
        if function == "authorizer":
            cpu = measured["cpu_seconds"] / measured["count"] * count
        else:
            unit = cpu_unit[function]
            cpu = measured["cpu_seconds"] / workload[unit] * month.units[unit]
        if function in ("writer", "compaction"):  # compaction decodes and encodes each row again
            cpu += month.events * WRITER_CPU_SECONDS_PER_EVENT
        wait = 0.0
        for row in found:
            if row.function != function or (row.function, row.service, row.action, row.resource) not in calls_month:
                continue
            share_off = row.counts["off_thread"] / max(1, row.counts["calls"])
            calls = calls_month[(row.function, row.service, row.action, row.resource)]
            wait += calls * _latency(row.service, row.action, row.s3_class) * (1 - share_off + share_off / IN_FLIGHT)
        if function == "monitors":
            wait += month.monitor_runs * report["athena"].get("monitors", {}).get("queries", 0) / max(
                1, report["notes"]["monitor_runs"]) * ATHENA_QUERY_SECONDS
        index_share = _index_wait_share(function, found, calls_month)
        seconds = cpu + wait
        place = "Lambda"
        out.append(Item(place, f"{function}: invocations", count, p["lambda_per_million_requests"] / 1e6))
        out.append(Item(place, f"{function}: GB-seconds ({seconds / count * 1000:,.0f} ms each)",
                        seconds * memory * (1 - index_share), p["lambda_arm_gb_second"]))
        if index_share:
            out.append(Item(INDEX_ROW, f"{function}: GB-seconds waiting on the index", seconds * memory * index_share,
                            p["lambda_arm_gb_second"]))
    return out


def _per(report: dict[str, Any], function: str, unit: str, workload: dict[str, float]) -> float:
    measured = report["invocations"].get(function, {}).get("count", 0)
    return measured / workload[unit] if workload[unit] else 0.0


def _index_wait_share(function: str, found: list[Row], calls_month: dict[tuple[str, ...], float]) -> float:
    total = index = 0.0
    for row in found:
        key = (row.function, row.service, row.action, row.resource)
        if row.function != function or key not in calls_month:
            continue
        wait = calls_month[key] * _latency(row.service, row.action, row.s3_class)
        total += wait
        index += wait if _index_row(row) else 0.0
    return index / total if total and function == "writer" else 0.0


def _index_bytes_per_event(report: dict[str, Any], found: list[Row], prefix: str) -> float:
    written = sum(r.counts["stored_bytes"] for r in found if r.function == "writer" and r.resource.endswith(prefix))
    return written / report["notes"]["events"]


def _storage(month: Month, report: dict[str, Any], found: list[Row], workload: dict[str, float],
             settings: Settings) -> list[Item]:
    """A year of objects with the lifecycle applied (Standard for archive_after_days, then
    Glacier IR; objects under 128 KB stay in Standard), and DynamoDB's items."""
    p = PRICES
    standard_months = min(settings.archive_after_days / 30, 12)
    out = []

    def year(row: str, what: str, gb_month: float, object_bytes: float, objects_month: float) -> None:
        if object_bytes < 128 * 1024:
            out.append(Item(row, f"{what}: a year in Standard", 12 * gb_month, p["s3_standard_gb_month"]))
            return
        out.append(Item(row, f"{what}: Standard", standard_months * gb_month, p["s3_standard_gb_month"]))
        out.append(Item(row, f"{what}: Glacier IR", (12 - standard_months) * gb_month, p["s3_glacier_ir_gb_month"]))
        out.append(Item("S3 requests and transitions", f"{what}: lifecycle transitions", objects_month,
                        p["s3_transition_glacier_ir_per_1000"] / 1000))

    parquet = _parquet_bytes_per_event(report, month.events_per_file)
    year("S3 storage (a year, lifecycle applied)", "events/ Parquet", parquet * month.events / 1e9,
         parquet * month.events_per_file, month.files)
    compacted = report["objects"].get("audit_bucket:compacted/")
    if compacted and compacted["count"]:  # a second copy of each closed day (docs/compaction.md)
        rows = report["notes"].get("compaction", {}).get("rows") or report["notes"]["events"]
        year("S3 storage (a year, lifecycle applied)", "compacted/ Parquet", compacted["bytes"] / rows * month.events
             / 1e9, month.events / max(1.0, month.compacted_files) * compacted["bytes"] / rows, month.compacted_files)
    for label, stored in report["objects"].items():
        if label.startswith("audit_bucket:compacted/_days/"):
            year("S3 storage (a year, lifecycle applied)", label, stored["bytes"] * 30 / 1e9, stored["bytes"], 30)
        if not label.startswith("audit_bucket:integrity/") and not label.startswith("witness_bucket:"):
            continue
        per_file = label.startswith("audit_bucket:integrity/") and not label.endswith(("checkpoints/", "log-leaves/"))
        units = month.files / workload["file"] if per_file else month.checkpoint_runs / workload["checkpoint_run"]
        objects = stored["count"] * units
        if label.endswith(("manifests/compacted/", "log-by-file/compacted/")):  # one a compacted file
            units = objects = month.compacted_files / workload["compacted_file"] * stored["count"]
            units /= max(1, stored["count"])
        elif label.endswith(("seals/compacted/", "integrity/compactions/")):  # a part a source, an object a file
            objects = month.compacted_files / workload["compacted_file"] * stored["count"]
        year("S3 storage (a year, lifecycle applied)", label, stored["bytes"] * units / 1e9,
             stored["bytes"] * units / max(1.0, objects), objects)
    for prefix, unit in ((subject_index.RUNS, "index_run"), (subject_index.HOURS, "index_hour"),
                         (subject_index.DAYS, "index_day")):
        per_event = _index_bytes_per_event(report, found, prefix)
        objects = month.units[unit]
        if unit == "index_day":
            objects *= day_shards(per_event * month.events / 30)
        year(INDEX_ROW, f"index {prefix.removeprefix(subject_index.PREFIX)}", per_event * month.events / 1e9,
             per_event * month.events / max(1.0, objects), objects)
    # DynamoDB: items live as long as their table keeps them (TTL deletes up to ~2 days late).
    kept_days = {"idempotency_table": settings.idempotency_ttl_seconds / 86_400 + 2, "ledger_table": 15 + 2,
                 "subject_keys_table": 365}  # subject keys live until erasure: a year of new subjects
    for row in found:
        if row.service != "dynamodb" or not row.counts["stored_bytes"]:
            continue
        unit = unit_of(row)
        if unit in MODELED:
            continue
        per_month = row.counts["stored_bytes"] * month.units[unit] / workload[unit]
        items_month = row.counts["calls"] * month.units[unit] / workload[unit]
        days = kept_days.get(row.resource, 30)
        gb = (per_month + 100 * items_month) / 1e9 * days / 30  # DynamoDB adds 100 bytes an item
        out.append(Item("DynamoDB", f"{row.resource}: storage ({row.function} {row.action})", gb,
                        p["dynamodb_gb_month"]))
    return out


def _service_keys(month: Month, found: list[Row], report: dict[str, Any]) -> list[Item]:
    """KMS calls AWS services make for a caller with a data key they cache: SQS and DynamoDB
    per caller about every SERVICE_KEY_PERIOD_SECONDS, S3 Bucket Keys per role and bucket."""
    callers: set[tuple[str, str]] = set()
    buckets: set[tuple[str, str]] = set()
    for row in found:
        if unit_of(row) in ("local_only", "athena_read"):
            continue
        if row.service in ("sqs", "dynamodb"):
            callers.add((row.function, row.resource))
        elif row.service == "s3" and row.s3_class != "free":
            buckets.add((row.function, row.resource.split(":", 1)[0]))
    requests = (len(callers) * MONTH_SECONDS / SERVICE_KEY_PERIOD_SECONDS
                + len(buckets) * MONTH_SECONDS / BUCKET_KEY_PERIOD_SECONDS)
    return [Item("KMS", f"data keys AWS services ask for ({len(callers)} queue and table callers, "
                 f"{len(buckets)} role-bucket pairs; modeled)", requests, PRICES["kms_symmetric_per_10000"] / 1e4)]


def _monthly(month: Month, report: dict[str, Any]) -> list[Item]:
    p, notes, template = PRICES, report["notes"], report["notes"]["template"]
    out = [Item("KMS", "keys", template["kms_keys"], p["kms_key_month"])]
    # API Gateway: the workload's requests and the people's, with the request volume's tiers.
    api = report["api"]
    people = api["requests"] - notes["requests"]
    per_person = people / max(1, notes["queries"] + notes["subject_accesses"])
    requests = month.requests + per_person * (QUERIES_PER_MONTH + SUBJECT_ACCESSES_PER_MONTH)
    out.append(Item("API Gateway", "REST requests", 1.0, _tiered(requests, p["apigw_rest_per_million"])))
    # CloudWatch Logs: what each function printed per unit, Lambda's own lines, API access logs.
    logged = 0.0
    for function, measured in report["invocations"].items():
        share = measured["log_bytes"] / max(1, measured["count"])
        count = _invocations_month(function, month, report)
        logged += count * (share + PLATFORM_LOG_BYTES)
    logged += requests * template["access_log_line_bytes"]
    out.append(Item("CloudWatch (logs, metrics, alarms, dashboards)", "logs ingested (GB)", logged / 1e9,
                    p["logs_ingest_gb"]))
    out.append(Item("CloudWatch (logs, metrics, alarms, dashboards)", "logs stored, a year (GB, compressed)",
                    12 * logged / 1e9 * LOG_COMPRESSION, p["logs_store_gb_month"]))
    per_model, fixed = _series(report, month)
    out.append(Item("CloudWatch (logs, metrics, alarms, dashboards)",
                    f"metrics: {per_model:g} series per model version x {MODEL_VERSIONS}, {fixed} others",
                    per_model * MODEL_VERSIONS + fixed, p["metric_month"]))
    out.append(Item("CloudWatch (logs, metrics, alarms, dashboards)", "alarms", template["alarms"], p["alarm_month"]))
    out.append(Item("CloudWatch (logs, metrics, alarms, dashboards)", "dashboards", template["dashboards"],
                    p["dashboard_month"]))
    # X-Ray: API requests and every other invocation, under the default sampling rule.
    api_rule = template["api_trace_rule"]  # the API stage's own rule (stacks/api.py)
    traces = (_sampled(requests, api_rule["reservoir_per_second"], api_rule["rate"])
              + _sampled(month.writer_runs + month.checkpoint_runs + month.monitor_runs))
    out.append(Item("X-Ray", "traces recorded", traces, p["xray_per_million_traces"] / 1e6))
    # Billed per app client active in the month (one that asked for a token): none when idle.
    active = template["machine_app_clients"] if month.tokens else 0
    out.append(Item("Cognito (machine clients, tokens)", "machine app clients (active: asked for a token)", active,
                    p["cognito_m2m_client_month"]))
    out.append(Item("Cognito (machine clients, tokens)", "client-credentials tokens", month.tokens,
                    p["cognito_m2m_per_1000_tokens"] / 1000))
    return out


def _invocations_month(function: str, month: Month, report: dict[str, Any]) -> float:
    notes = report["notes"]
    fixed = {"ingest": month.requests, "authorizer": month.authorizer_runs, "writer": month.writer_runs,
             "checkpoint": month.checkpoint_runs, "monitors": month.monitor_runs}
    if function in fixed:
        return fixed[function]
    count = report["invocations"][function]["count"]
    if function == "queries":
        return count / max(1, notes["queries"]) * QUERIES_PER_MONTH
    if function == "privacy":
        return count / max(1, notes["subject_accesses"]) * SUBJECT_ACCESSES_PER_MONTH
    return 0.0


def _series(report: dict[str, Any], month: Month) -> tuple[float, int]:
    """EMF series: those of a model version (the most any of the workload's versions has) and
    the rest. CloudWatch bills a series for the hours it gets data: with no client events
    only the functions' own (writer, signer, monitors) get any."""
    series = report["metric_series"]
    versions = Counter((d["model_id"], d["model_version"]) for _, _, d in series
                       if d.get("model_version") not in (None, "none"))
    own = sum(1 for _, _, d in series if "function" in d or "monitor" in d)
    if not month.client_events:
        return 0, own
    return max(versions.values(), default=0), sum(1 for _, _, d in series if d.get("model_version") in (None, "none"))


def _sampled(requests: float, per_second: float = XRAY_RESERVOIR_PER_SECOND, rate: float = XRAY_RATE) -> float:
    reservoir = min(requests, per_second * MONTH_SECONDS)
    return reservoir + rate * (requests - reservoir)


def _tiered(count: float, tiers: tuple[tuple[float, float], ...]) -> float:
    total, left = 0.0, count
    for size, per_million in tiers:
        used = min(left, size)
        total += used / 1e6 * per_million
        left -= used
        if left <= 0:
            break
    return total


# ---------------------------------------------------------------- the table


def monthly(events: int, settings: Settings | None = None, report: dict[str, Any] | None = None) -> dict[str, float]:
    """Dollars a month by row."""
    totals: dict[str, float] = defaultdict(float)
    for item in items(events, settings, report):
        totals[item.row] += item.dollars
    return {row: totals.get(row, 0.0) for row in ROWS}


def write_units_per_event(report: dict[str, Any]) -> dict[str, float]:
    """DynamoDB write units per stored event, by function: the claims (a lane's watermark or
    each event's claim, the request's record) are ingest's, the pack ledger the writer's. A
    subject's key is written once per new subject, not per event: `subject_key_writes`."""
    by: dict[str, float] = defaultdict(float)
    for call in report["calls"]:
        if call["service"] == "dynamodb" and call["write_units"] and not _new_subject(call):
            by[call["function"]] += call["write_units"] / report["notes"]["events"]
    return dict(sorted(by.items()))


def subject_key_writes(report: dict[str, Any]) -> float:
    """DynamoDB write units of the run's new subjects' keys (`unit_of`'s new_subject)."""
    return sum(c["write_units"] for c in report["calls"] if c["service"] == "dynamodb" and _new_subject(c))


def _new_subject(call: dict[str, Any]) -> bool:
    row = Row(call["function"], call["service"], call["action"], call.get("resource", ""), call)
    return unit_of(row) == "new_subject"


def index_designs(report: dict[str, Any], events: int = VOLUMES[-1],
                  settings: Settings | None = None) -> list[tuple[str, float, float, float]]:
    """The subject index's designs weighed at `events` a month, from the run's counted
    (subject, file) pairs per event: (design, dollars a month after a year, S3 or DynamoDB
    requests of one subject access, their seconds at S3_REQUEST_SECONDS, READS_IN_FLIGHT at once).
    The chosen design's dollars are the table's row."""
    settings = settings or Settings()
    month = Month(events, report, settings)
    pairs = report["notes"]["index_records"] / report["notes"]["events"] * events  # a month
    p = PRICES
    year_of_pairs = 12 * pairs
    files_a_year = 12 * month.files
    chosen = monthly(events, settings, report)[INDEX_ROW]
    lookups = 3 + HISTORY_DAYS * INDEX_OBJECT_REQUESTS + 23 * INDEX_OBJECT_REQUESTS + month.index_runs / 720
    dynamodb_item = 8 + 16 + 4 + 100  # pseudonym hash, file name, date and type; DynamoDB's 100 bytes
    def seconds(requests: float) -> float:
        return requests / READS_IN_FLIGHT * S3_REQUEST_SECONDS

    return [
        ("index objects by writer batch, merged by hour and day (chosen)", chosen, lookups, seconds(lookups)),
        ("a DynamoDB item per (subject, file)", pairs * p["dynamodb_per_million_wru"] / 1e6
         + year_of_pairs * dynamodb_item / 1e9 * p["dynamodb_gb_month"], 1, 0.01),
        ("an S3 object per (subject, file), listed by subject", pairs * p["s3_put_per_1000"] / 1000, 1, 0.05),
        ("no index: Parquet statistics and bloom filters, every footer read", 0.0,
         2 * files_a_year, seconds(2 * files_a_year)),
    ]


def source_files_extra(events: int, settings: Settings | None = None, report: dict[str, Any] | None = None) -> float:
    """Dollars a month Athena's reads of the lake cost more while it reads a compacted day's
    source files (the Glue table as deployed today) than from compacted/."""
    settings = settings or Settings()
    report = report if report is not None else load()
    month = Month(events, report, settings)
    return (sum(i.dollars for i in _athena(month, report, compacted=False))
            - sum(i.dollars for i in _athena(month, report, compacted=True)))


def table(settings: Settings | None = None, report: dict[str, Any] | None = None) -> str:
    settings = settings or Settings()
    report = report if report is not None else load()
    volumes = (0, *VOLUMES)
    columns = [monthly(n, settings, report) for n in volumes]
    heads = " | ".join(f"{n:,} events" if n else "idle (no events)" for n in volumes)
    lines = [f"| a month | {heads} |", "| --- |" + " ---: |" * len(volumes)]
    for row in ROWS:
        lines.append(f"| {row} | " + " | ".join(f"${c[row]:,.2f}" for c in columns) + " |")
    lines.append("| **total** | " + " | ".join(f"**${sum(c.values()):,.2f}**" for c in columns) + " |")
    lines.append("| per million events | " + " | ".join(
        f"${sum(c.values()) / (n / 1e6):,.2f}" if n else "" for c, n in zip(columns, volumes, strict=True)) + " |")
    notes = report["notes"]
    wru = write_units_per_event(report)
    largest = sorted(items(VOLUMES[-1], settings, report), key=lambda i: -i.dollars)[:12]
    detail = ["| at 1,000,000,000 events | quantity a month | dollars |", "| --- | ---: | ---: |"]
    detail += [f"| {i.row}: {i.what} | {i.quantity:,.0f} | ${i.dollars:,.2f} |" for i in largest]
    return (
        f"Prices: us-east-1 list prices as published in {PRICES_DATE}, no free tier. Counts: `ops/usage.json`, "
        f"the usage report of `python -m ops.workload` ({notes['events']:,} events in requests of "
        f"{notes['events_per_request']}, measured {notes['date']}); generated by `make cost`.\n\n"
        + "\n".join(lines)
        + "\n\nDynamoDB write units per stored event, counted: "
        + ", ".join(f"{f} {v:.3f}" for f, v in wru.items()) + f" (total {sum(wru.values()):.3f}). "
        + f"Besides, each new subject's key: {subject_key_writes(report) / notes['subjects']:.2f} write units "
        + f"per new subject ({notes['subjects']:,} subjects in this run's {notes['events']:,} events: "
        + f"{subject_key_writes(report) / notes['events']:.3f} per event here).\n\n"
        + ("Athena's reads are priced from compacted days (docs/compaction.md, \"Athena\": the `events` view "
           "reads a closed day from compacted/); read from each closed day's source files instead, they "
           "would cost " + ", ".join(f"${source_files_extra(n, settings, report):,.2f}" for n in VOLUMES)
           + " a month more at " + ", ".join(f"{n:,}" for n in VOLUMES) + " events.\n\n"
           if ATHENA_READS_COMPACTED else "")
        + "The largest items at 1,000,000,000 events a month:\n\n" + "\n".join(detail)
        + "\n\nThe subject index's designs, weighed at 1,000,000,000 events a month with the counted "
        f"{notes['index_records'] / notes['events']:.2f} (subject, file) pairs per event "
        "(privacy.md, \"Reading the lake\"):\n\n"
        + "| design | a month, after a year | requests of one subject access | its seconds |\n"
        + "| --- | ---: | ---: | ---: |\n"
        + "\n".join(f"| {name} | ${dollars:,.2f} | {requests:,.0f} | {seconds:,.1f} |"
                    for name, dollars, requests, seconds in index_designs(report, settings=settings))
    )


def rendered(text: str, report: dict[str, Any] | None = None) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table(report=report)}\n{END}{tail}"


def main(argv: Iterable[str]) -> int:
    argv = list(argv)
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
