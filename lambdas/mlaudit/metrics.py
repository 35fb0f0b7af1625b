"""Business metrics as CloudWatch embedded metric format (EMF) lines.

Each function prints EMF lines on stdout; CloudWatch Logs turns them into metrics within
seconds (locally they sit in the stack's log). Namespace: POWERTOOLS_METRICS_NAMESPACE
(default "mlaudit"); dimension `service`: POWERTOOLS_SERVICE_NAME, when set.

- ingest, per model id and version: `events`, `predictions`, `dq_violations` (and, with a
  `rule_id` dimension, per rule), `prediction_score` and `prediction_latency_ms` (each
  prediction's value: CloudWatch computes their percentiles); per reason (no model: a
  refused event's fields are not trusted), `rejected_events`. Five series per model version
  (each $0.30 a month): the score's distribution is one series of values, not a series per bin.
- writer: `events_written`, `bytes_written`, `write_lag_ms` (from received_at to stored,
  for the oldest event of each batch).
- signer: `checkpoint_age_seconds` (since the previous signed checkpoint), `log_size`.

Cardinality is bounded: a process gives its own dimension to the first `MAX_MODELS` (model
id, version) pairs it sees and counts every later one under model "other". Only model ids,
versions, rule ids and error codes become dimensions: never a value from an event.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from mlaudit.errors import DomainError

MAX_MODELS = 50
OTHER = "other"
MAX_VALUES = 100  # EMF takes at most 100 values per metric in one document
DEFAULT_NAMESPACE = "mlaudit"


class ModelBuckets:
    """(model id, version) -> its own dimension values, or ("other", "other") once full."""

    def __init__(self, limit: int = MAX_MODELS) -> None:
        self.limit = limit
        self._known: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def of(self, model_id: Any, model_version: Any) -> tuple[str, str]:
        key = (str(model_id) if model_id else "none", str(model_version) if model_version else "none")
        with self._lock:
            if key in self._known:
                return key
            if len(self._known) < self.limit:
                self._known.add(key)
                return key
        return OTHER, OTHER


def _emit(dimensions: dict[str, str], metrics: dict[str, tuple[str, list[float]]]) -> None:
    """One EMF document per 100 values of the longest metric, printed as one compact line.
    Written here, as Powertools would (its `service` dimension included), not through it:
    every byte of a value is CloudWatch Logs' to bill (a 500-event request printed 23 KB
    that way, ~$22 a month at a billion events), and Powertools took 27 ms a request.
    Powertools' switch POWERTOOLS_METRICS_DISABLED holds here too (`make demo` sets it)."""
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() in ("true", "1"):
        return
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE
    service = os.environ.get("POWERTOOLS_SERVICE_NAME")
    names = {**dimensions, **({"service": service} if service else {})}
    longest = max((len(values) for _, values in metrics.values()), default=0)
    for start in range(0, longest, MAX_VALUES):
        chunk = {name: (unit, values[start:start + MAX_VALUES]) for name, (unit, values) in metrics.items()
                 if values[start:start + MAX_VALUES]}
        document = {
            "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
                "Namespace": namespace, "Dimensions": [list(names)],
                "Metrics": [{"Name": name, "Unit": unit} for name, (unit, _) in chunk.items()]}]},
            **names, **{name: values for name, (_, values) in chunk.items()},
        }
        print(json.dumps(document, separators=(",", ":")), flush=True)


class IngestMetrics:
    def __init__(self, buckets: ModelBuckets | None = None) -> None:
        self.buckets = buckets or ModelBuckets()

    def stored(self, records: Iterable[dict[str, Any]]) -> None:
        """The events of one accepted request (leaf records: contract fields and dq verdicts)."""
        counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
        scores: dict[tuple[str, str], list[float]] = defaultdict(list)
        rules: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for record in records:
            model = self.buckets.of(record.get("model_id"), record.get("model_version"))
            count = counts[model]
            count["events"] += 1
            violations = record.get("dq_violations") or []
            count["dq_violations"] += len(violations)
            for rule in violations:
                rules[model][rule] += 1
            if record.get("event_type") == "prediction":
                count["predictions"] += 1
                score = record.get("prediction_score")
                # Rounded as far as a percentile needs: each printed digit is billed as log data.
                if isinstance(score, int | float) and math.isfinite(score):
                    scores[model].append(round(float(score), 3))
                latency = record.get("latency_ms")
                if isinstance(latency, int | float) and math.isfinite(latency):
                    latencies[model].append(round(float(latency), 1))
        for model, count in counts.items():
            names = {"model_id": model[0], "model_version": model[1]}
            metrics: dict[str, tuple[str, list[float]]] = {n: ("Count", [float(v)]) for n, v in sorted(count.items())}
            if latencies[model]:
                metrics["prediction_latency_ms"] = ("Milliseconds", latencies[model])
            if scores[model]:
                metrics["prediction_score"] = ("None", scores[model])
            _emit(names, metrics)
            for rule, violated in sorted(rules[model].items()):
                _emit({**names, "rule_id": rule}, {"dq_violations": ("Count", [float(violated)])})

    def rejected(self, reason: str, errors: list[dict[str, Any]], events: int | None = None) -> None:
        """A refused request: its events by the rule each broke (or the request's reason)."""
        by_rule = Counter(str(e.get("rule") or reason) for e in errors) if errors else Counter({reason: events or 1})
        for rule, count in sorted(by_rule.items()):
            _emit({"reason": rule}, {"rejected_events": ("Count", [float(count)])})


class CountedObjects:
    """The writer's object store, counting the bytes it puts (read and reset per batch)."""

    def __init__(self, objects: Any) -> None:
        self._objects = objects
        self.bytes_put = 0

    def put(self, key: str, body: bytes) -> Any:
        result = self._objects.put(key, body)
        self.bytes_put += len(body)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._objects, name)

    def take(self) -> int:
        taken, self.bytes_put = self.bytes_put, 0
        return taken


class MeasuredWriter:
    """The writer service with its metrics: each batch's events and bytes written and its
    lag (`written`), counted through the object store the service writes to. Wraps the
    service (mlaudit.bootstrap), so the handler does not ask which one it holds."""

    def __init__(self, service: Any, objects: CountedObjects) -> None:
        self._service = service
        self._objects = objects

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)

    def process(self, messages: list[Any]) -> Any:
        report = self._service.process(messages)
        written(sum(report.files.values()), self._objects.take(), (m.body for m in messages), datetime.now(UTC))
        return report


def _received_at(body: str) -> datetime | None:
    """The received_at a pack's header shares (one request's events share it), if any."""
    try:
        from mlaudit.pack import read_header  # noqa: PLC0415 - the writer's packs, off the other functions' cold path

        text = read_header(body.split("\n", 1)[0].encode("ascii")).get("received_at")
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if isinstance(text, str) else None
    except Exception:  # noqa: BLE001 - a malformed pack has no lag to report (the writer fails it)
        return None


def written(events: int, bytes_put: int, bodies: Iterable[str], now: datetime) -> None:
    """The writer's batch: events and bytes stored, and the lag behind its oldest event."""
    if not events:
        return
    received = [r for r in (_received_at(b) for b in bodies) if r is not None]
    metrics = {"events_written": ("Count", [float(events)]), "bytes_written": ("Bytes", [float(bytes_put)])}
    if received:
        metrics["write_lag_ms"] = ("Milliseconds", [max(0.0, (now - min(received)).total_seconds() * 1000)])
    _emit({"function": "writer"}, metrics)


def checkpoint_signed(previous_time: str | None, now: datetime, log_size: int) -> None:
    metrics = {"log_size": ("Count", [float(log_size)])}
    if previous_time:
        try:
            age = (now - datetime.fromisoformat(previous_time.replace("Z", "+00:00"))).total_seconds()
            metrics["checkpoint_age_seconds"] = ("Seconds", [max(0.0, age)])
        except ValueError:
            pass
    _emit({"function": "checkpoint"}, metrics)


class MeasuredIngest:
    """The ingest service with its metrics: what each accepted request stored, each refused
    request's reasons. Wraps the service (mlaudit.bootstrap) so the domain stays unaware."""

    def __init__(self, service: Any, metrics: IngestMetrics | None = None) -> None:
        self._service = service
        self._metrics = metrics or IngestMetrics()
        self._local = threading.local()
        recorder = service.recorder
        evaluate = recorder.evaluate

        def evaluated(*args: Any, **kwargs: Any) -> Any:
            result, records = evaluate(*args, **kwargs)
            self._local.records = records
            return result, records

        recorder.evaluate = evaluated

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)

    def ingest(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._local.records = None
        try:
            body = self._service.ingest(*args, **kwargs)
        except DomainError as error:
            self._safely(self._metrics.rejected, error.code, list(error.errors or []))
            raise
        records = self._local.records
        if records is not None:  # None: a replay, nothing new was stored
            stored = set(body.get("event_ids") or [])
            self._safely(self._metrics.stored, [r for r in records if r.get("event_id") in stored])
        return body

    @staticmethod
    def _safely(emit: Any, *args: Any) -> None:
        with contextlib.suppress(Exception):  # a metric must never fail a request
            emit(*args)
