"""Load with faults against the local stack: every 202 event stored once, nothing else.

Shared by the reliability suite (tests/reliability, a short run in `make test`) and the
soak (`make soak`, `python -m bench.soak`). Runs the stack in this process so the fault
plan (local/faults.py) can be changed while it runs.

Clients (threads) send batches of events with their own ids, and retry as the SDK and
a spool replay do: on a 5xx, a 409 request_in_progress or a broken connection, half the
time the same body again, half the time the batch re-formed (other order, split in
two). Meanwhile AWS calls of ingest and the writer fail at random, before or after they
take effect (S3, SQS, KMS, DynamoDB; a crash between an S3 put and the ledger or the
log), and poison messages go straight onto the queue. At the end the faults stop, the
queue drains, and the lake is read back.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from mlaudit import bootstrap
from mlaudit.integrity.services import sink
from mlaudit.parquet import read_parquet_bytes
from mlaudit.settings import Settings

from local import client
from local.faults import Fault
from local.resources import Overrides
from local.stack import LocalStack

# Each fault strikes this often (the probabilities are per call).
FAULTS = (
    Fault("ingest", "sqs", "SendMessageBatch", 0.05), Fault("ingest", "sqs", "SendMessageBatch", 0.05, "after"),
    # one PutItem per event: per call, rarer
    Fault("ingest", "dynamodb", "PutItem", 0.002), Fault("ingest", "dynamodb", "PutItem", 0.002, "after"),
    Fault("ingest", "dynamodb", "UpdateItem", 0.03), Fault("ingest", "dynamodb", "UpdateItem", 0.03, "after"),
    Fault("ingest", "dynamodb", "GetItem", 0.03),
    # the writer: S3 puts failing before, or taking effect unheard (a crash between the put and the log),
    # the ledger's claims, its reads, the log entry's KMS signature
    Fault("writer", "s3", "PutObject", 0.02), Fault("writer", "s3", "PutObject", 0.02, "after"),
    Fault("writer", "dynamodb", "PutItem", 0.02), Fault("writer", "dynamodb", "PutItem", 0.02, "after"),
    Fault("writer", "dynamodb", "BatchGetItem", 0.02), Fault("writer", "kms", "Sign", 0.02),
    Fault("writer", "s3", "GetObject", 0.02),
)
PREFIX = "rel"
RECOVER_AFTER_SECONDS = 15
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    accepted: set[str] = field(default_factory=set)  # event ids answered 202
    requests: Counter[int] = field(default_factory=Counter)  # HTTP status -> count
    refused_valid: list[str] = field(default_factory=list)  # a 4xx for valid input (a bug)
    stored: Counter[str] = field(default_factory=Counter)  # event id -> rows in the lake
    faults: int = 0
    poison_in_dlq: int = 0
    seconds: float = 0.0

    @property
    def lost(self) -> list[str]:
        return sorted(i for i in self.accepted if self.stored[i] == 0)

    @property
    def duplicated(self) -> list[str]:
        return sorted(i for i, n in self.stored.items() if n > 1)

    @property
    def foreign(self) -> list[str]:
        return sorted(i for i in self.stored if i not in self.accepted)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.requests.items() if status >= 500)

    def summary(self) -> dict[str, Any]:
        return {
            "events_accepted": len(self.accepted), "rows_stored": sum(self.stored.values()),
            "lost": len(self.lost), "duplicated": len(self.duplicated), "foreign": len(self.foreign),
            "requests": dict(sorted(self.requests.items())), "refused_valid": len(self.refused_valid),
            "faults_injected": self.faults, "poison_in_dlq": self.poison_in_dlq, "seconds": round(self.seconds, 1),
        }


@contextmanager
def local_stack(visibility: int = 2, max_receive_count: int = 10, presumed_dead: float = 1.0) -> Iterator[LocalStack]:
    """The local stack in this process, with short timeouts: a failed message returns
    after `visibility` s; a pack claim, a request claim or a log entry being written is
    presumed dead after `presumed_dead` s (twice that for a request) (the ratio AWS keeps:
    the visibility timeout above the function timeout and the integrity sink's
    CLAIM_TIMEOUT); the writer's recovery sweep runs every 2 s and takes files listed
    RECOVER_AFTER_SECONDS ago.
    A batch that takes longer than `visibility` comes back while it runs and uses up
    receives: under a long load, give it room."""
    stack = LocalStack(Settings.from_cdk_json(), writer_window=0.5, checkpoint_interval=2.0, recovery_interval=2.0,
                       overrides=Overrides(visibility_timeout_seconds=visibility, max_receive_count=max_receive_count))
    claim_timeout = sink.CLAIM_TIMEOUT
    with stack:
        writer = bootstrap.app("writer").service()
        writer = getattr(writer, "_service", writer)  # under its metrics wrapper
        writer.in_flight = timedelta(seconds=presumed_dead)
        # Lambda stops a writer at its timeout; nothing stops one here, and a loaded machine's
        # batch can run for many seconds: the sweep leaves a file to its writer that long.
        writer.recover_after = timedelta(seconds=RECOVER_AFTER_SECONDS)
        ingest = bootstrap.app("ingest").service()
        ingest = getattr(ingest, "_service", ingest)  # under its metrics wrapper
        ingest.limits = replace(ingest.limits, in_flight=timedelta(seconds=2 * presumed_dead))
        sink.CLAIM_TIMEOUT = timedelta(seconds=presumed_dead)  # a log entry being written, as briefly
        try:
            yield stack
        finally:
            sink.CLAIM_TIMEOUT = claim_timeout


def event(event_id: str, i: int) -> dict[str, Any]:
    kind = ("prediction", "ground_truth", "model_deployed")[i % 3]
    body = {"event_id": event_id, "event_type": kind, "occurred_at": datetime.now(UTC).isoformat(),
            "model_id": "churn", "model_version": "7"}
    if kind == "prediction":
        body.update(prediction_id=f"p-{event_id}", prediction_score=(i % 100) / 100, latency_ms=2.5,
                    features={"tenure": i, "plan": "gold"})
    return body


class Client(threading.Thread):
    """One workload: `batches` batches of `size` events, each until every event is acknowledged."""

    def __init__(self, config: dict[str, Any], name: str, batches: int, size: int, result: Result,
                 lock: threading.Lock, seed: int, until: float | None = None, prefix: str = PREFIX) -> None:
        super().__init__(name=name, daemon=True)
        self.config, self.batches, self.size, self.result, self.lock = config, batches, size, result, lock
        self.random = random.Random(seed)  # noqa: S311 - a repeatable workload
        self.until = until
        self.prefix = prefix
        self.token = client.machine_token(config)
        self.session = requests.Session()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            n = 0
            while n < self.batches or (self.until is not None and time.monotonic() < self.until):
                if self.until is not None and time.monotonic() >= self.until:
                    break
                events = [event(f"{self.prefix}-{self.name}-{n}-{i}", i) for i in range(self.size)]
                self.send(events)
                n += 1
        except BaseException as error:  # noqa: BLE001 - reported by the runner
            self.error = error

    def send(self, events: list[dict[str, Any]]) -> None:
        pending = [events]
        attempts = 0
        while pending:
            attempts += 1
            if attempts > 200:
                raise RuntimeError("a batch was never acknowledged")
            batch = pending.pop(0)
            status, body = self.post(batch)
            if status == 202:
                with self.lock:
                    self.result.accepted.update(body["event_ids"])
                continue
            retryable = status >= 500 or status == 0 or (status == 409 and body.get("error") == "request_in_progress")
            if not retryable:
                with self.lock:
                    self.result.refused_valid.append(f"{status} {json.dumps(body)[:300]}")
                return
            time.sleep(0.05 * self.random.random())
            if len(batch) > 1 and self.random.random() < 0.5:  # a spool replay re-forms its batches
                batch = self.random.sample(batch, len(batch))
                half = len(batch) // 2
                pending += [batch[:half], batch[half:]]
            else:
                pending.append(batch)

    def post(self, batch: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        try:
            answer = self.session.post(
                self.config["api_url"] + "/v1/events", data=json.dumps({"events": batch}),
                headers={**client.bearer(self.token), "Content-Type": "application/json"}, timeout=60,
            )
        except requests.RequestException:
            with self.lock:
                self.result.requests[0] += 1
            return 0, {}
        with self.lock:
            self.result.requests[answer.status_code] += 1
        try:
            return answer.status_code, answer.json()
        except ValueError:
            return answer.status_code, {}


def send_poison(stack: LocalStack, count: int) -> None:
    """Messages no writer can store, straight onto the queue: each must fail alone."""
    sqs = stack.client("sqs")
    url = stack.resources.queue_url
    bodies = ["{not json", '{"common":{"received_at":"not-a-timestamp"},"format":2}\n{"event_id":"x"}', ""]
    for i in range(count):
        sqs.send_message(QueueUrl=url, MessageBody=bodies[i % len(bodies)] or " ",
                         MessageAttributes={"pack_id": {"DataType": "String", "StringValue": f"poison-{i}"}})


def lake_counts(stack: LocalStack, prefix: str = PREFIX) -> Counter[str]:
    s3 = stack.client("s3")
    counts: Counter[str] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.resources.bucket, Prefix="events/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=stack.resources.bucket, Key=item["Key"])["Body"].read()
            for row in read_parquet_bytes(body).select(["event_id"]).to_pylist():
                if row["event_id"].startswith(prefix + "-"):
                    counts[row["event_id"]] += 1
    return counts


def unlogged_files(stack: LocalStack) -> list[str]:
    """The files the writer put and the integrity log does not hold yet (the sweep's list)."""
    ledger = bootstrap.app("writer").service().ledger
    now = datetime.now(UTC)
    return [key for keys in ledger.expected(now - timedelta(days=1), now).values() for key in keys]


def wait_recovered(stack: LocalStack, timeout: float) -> bool:
    """True once the recovery sweep has left no file unlogged."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not unlogged_files(stack):
            return True
        time.sleep(0.5)
    return False


def verify(stack: LocalStack, workdir: Path) -> dict[str, Any]:
    """`mlaudit verify --json` on the stack (a process of its own, as an auditor runs it),
    once a checkpoint covers the log as it is: the report."""
    if stack.checkpoints is not None:  # signed every 2 s: two more runs, and the last began after now
        runs, deadline = stack.checkpoints.runs, time.monotonic() + 120
        while stack.checkpoints.runs < runs + 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    config = workdir / "stack.json"
    config.write_text(json.dumps(stack.config))
    path = os.pathsep.join(str(REPO / part) for part in ("lambdas", "client", "."))
    answer = subprocess.run([sys.executable, "-m", "cli", "verify", "--config", str(config), "--json", "--jobs", "1"],
                            capture_output=True, text=True, timeout=600, check=False, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": path})
    report = json.loads(answer.stdout)
    return {"ok": report["ok"] and answer.returncode == 0, "problems": report.get("problems", [])}


def dlq_messages(stack: LocalStack) -> int:
    sqs = stack.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=stack.resources.dlq_url,
                                          AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def dlq_held(stack: LocalStack) -> int:
    """Every message the DLQ holds, those being read included."""
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.resources.dlq_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def take_poison(stack: LocalStack) -> tuple[int, list[str]]:
    """Take the poison `send_poison` sent off the DLQ, as an operator who looked at each
    would: (how many, the pack ids of the other messages, which stay). After it, the DLQ
    holds only what should not be there."""
    sqs = stack.client("sqs")
    taken, others = 0, []
    while True:
        messages = sqs.receive_message(QueueUrl=stack.resources.dlq_url, MaxNumberOfMessages=10,
                                       MessageAttributeNames=["All"], VisibilityTimeout=60).get("Messages", [])
        if not messages:
            return taken, others
        for message in messages:
            pack_id = message.get("MessageAttributes", {}).get("pack_id", {}).get("StringValue", "")
            if pack_id.startswith("poison-"):
                sqs.delete_message(QueueUrl=stack.resources.dlq_url, ReceiptHandle=message["ReceiptHandle"])
                taken += 1
            else:
                others.append(pack_id)


def run(stack: LocalStack, *, clients: int = 4, batches: int = 10, size: int = 40, seconds: float | None = None,
        poison: int = 3, faults: tuple[Fault, ...] = FAULTS, drain_timeout: float = 120,
        prefix: str = PREFIX, faults_while_draining: bool = False) -> Result:
    """Load with faults, then drain without them (or with them, `faults_while_draining`: the
    writer's faults strike the whole backlog); the result (see `Result`)."""
    result = Result()
    lock = threading.Lock()
    started = time.monotonic()
    plan = stack.faults  # the clients hold this plan: changed in place
    plan.clear()
    plan.struck.clear()
    plan.add(*faults)
    until = started + seconds if seconds is not None else None
    workers = [Client(stack.config, f"c{i}", batches, size, result, lock, seed=i, until=until, prefix=prefix)
               for i in range(clients)]
    send_poison(stack, poison)
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        if worker.error is not None:
            raise worker.error
    if not faults_while_draining:
        plan.clear()
    if not stack.wait_drained(drain_timeout):
        raise RuntimeError("the queue did not drain")
    plan.clear()
    result.faults = sum(plan.struck.values())
    result.stored = lake_counts(stack, prefix)
    result.poison_in_dlq = dlq_messages(stack)
    result.seconds = time.monotonic() - started
    return result
