"""Evaluating monitors: one named query per monitor, a state, an audit event, a metric and,
on a transition to ALARM, a message on the alarm topic.

The state: ALARM when the value is above the threshold (below, with direction below), OK
when not, INSUFFICIENT_DATA when the window holds fewer than `min_events` events (or the
query gives no value; a volume always has one). The
previous state is this process's memory; a fresh process counts it as OK, so an alarm
still standing is announced once more after a cold start (CloudWatch's own alarm on the
metric has the lasting state: stacks/monitors.py).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mlaudit.monitors import Monitor
from mlaudit.principal import Principal
from mlaudit.queries.catalog import Catalog
from mlaudit.queries.engine import QueryEngine, decode_row
from mlaudit.queries.service import owner_digest

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
STATE_CODES = {OK: 0, ALARM: 1, INSUFFICIENT_DATA: 2}  # the audit event's metrics.state_code (monitor_state)
# The monitors function records its evaluations as itself.
MONITORS_PRINCIPAL = Principal(kind="workload", actor_id="mlaudit-monitors", client_id="mlaudit-monitors",
                               scopes=("events.write",))


class Topic(Protocol):
    def publish(self, subject: str, message: str) -> None: ...


class Metrics(Protocol):
    def evaluated(self, monitor: Monitor, value: float | None, state: str) -> None: ...


@dataclass(frozen=True)
class Evaluation:
    monitor: Monitor
    state: str
    value: float | None
    events: int  # in the (current) window
    at: datetime
    window: dict[str, str]  # the query's time parameters
    previous: str
    event_id: str | None = None

    @property
    def raised(self) -> bool:
        return self.state == ALARM and self.previous != ALARM

    def summary(self) -> dict[str, Any]:
        return {"model_id": self.monitor.model_id, "monitor": self.monitor.name, "kind": self.monitor.kind,
                "state": self.state, "previous": self.previous, "value": self.value,
                "threshold": self.monitor.threshold, "events": self.events, "at": _iso(self.at)}


class MonitorService:
    def __init__(
        self, monitors: tuple[Monitor, ...], catalog: Catalog, engine: QueryEngine, audit: Any, topic: Topic,
        metrics: Metrics, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        poll_seconds: float = 1.0, query_timeout_seconds: float = 120.0,
    ) -> None:
        self.monitors = monitors
        self.catalog = catalog
        self.engine = engine
        self.audit = audit
        self.topic = topic
        self.metrics = metrics
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.query_timeout_seconds = query_timeout_seconds
        self.states: dict[str, str] = {}  # monitor key -> its last state in this process

    def run(self) -> list[Evaluation]:
        """Evaluate every monitor at one instant; a monitor whose query fails is logged by the
        caller (raised after the others ran)."""
        now = self.clock()
        evaluations, failures = [], []
        for monitor in self.monitors:
            try:
                evaluations.append(self.evaluate(monitor, now))
            except Exception as exc:  # one broken monitor does not silence the others
                failures.append((monitor.key, exc))
        if failures:
            raise MonitorsFailed(failures, evaluations)
        return evaluations

    def evaluate(self, monitor: Monitor, now: datetime) -> Evaluation:
        window, params = parameters(monitor, now)
        rows = self._query(monitor.query, params)
        value, events = measure(monitor, rows)
        if value is None or (monitor.kind != "volume" and events < monitor.min_events):
            state = INSUFFICIENT_DATA
        else:
            breached = value < monitor.threshold if monitor.direction == "below" else value > monitor.threshold
            state = ALARM if breached else OK
        previous = self.states.get(monitor.key, OK)
        evaluation = Evaluation(monitor, state, value, events, now, window, previous)
        # Recorded first: an evaluation that could not be audited raises no alarm and no metric.
        [event_id] = self.audit.record(MONITORS_PRINCIPAL, [audit_event(evaluation)])
        evaluation = Evaluation(monitor, state, value, events, now, window, previous, event_id)
        self.metrics.evaluated(monitor, value, state)
        if evaluation.raised:
            self.topic.publish(f"ALARM: {monitor.model_id} {monitor.name}"[:100],
                               json.dumps({**evaluation.summary(), "event_id": event_id}, sort_keys=True))
        self.states[monitor.key] = state
        return evaluation

    def _query(self, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        spec = self.catalog.get(name)
        values = spec.check(params)
        execution_id = self.engine.start(name, values, owner=owner_digest(MONITORS_PRINCIPAL),
                                         request_id=uuid.uuid4().hex)
        deadline = time.monotonic() + self.query_timeout_seconds
        while True:
            status = self.engine.status(execution_id)
            if status.state == "SUCCEEDED":
                break
            if status.state in ("FAILED", "CANCELLED"):
                raise RuntimeError(f"query {name} {status.state.lower()}: {status.reason}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"query {name} still {status.state} after {self.query_timeout_seconds} s")
            time.sleep(self.poll_seconds)
        page = self.engine.results(execution_id, None, 100)
        return [decode_row(spec.columns, row) for row in page.rows]


class MonitorsFailed(RuntimeError):
    def __init__(self, failures: list[tuple[str, Exception]], evaluations: list[Evaluation]) -> None:
        super().__init__("monitors failed: " + ", ".join(f"{key} ({type(exc).__name__})" for key, exc in failures))
        self.failures = failures
        self.evaluations = evaluations


def parameters(monitor: Monitor, now: datetime) -> tuple[dict[str, str], dict[str, Any]]:
    """The query's time windows (relative to `now`) and all its parameters."""
    now = now.astimezone(UTC).replace(microsecond=now.microsecond // 1000 * 1000)
    start = now - timedelta(minutes=monitor.reach_minutes)
    days = {"from_date": start.date().isoformat(), "to_date": now.date().isoformat()}
    if monitor.kind == "drift":
        split = now - timedelta(minutes=monitor.current_minutes)
        window = {"baseline_from": _iso(start), "baseline_to": _iso(split),
                  "current_from": _iso(split), "current_to": _iso(now)}
        optional = {"feature": monitor.feature, "model_version": monitor.model_version}
        params = {**days, **window, "model_id": monitor.model_id, "bins": monitor.bins,
                  **{k: v for k, v in optional.items() if v is not None}}
    elif monitor.kind == "dq_rate":
        window = {"window_from": _iso(start), "window_to": _iso(now)}
        params = {**days, **window, "model_id": monitor.model_id,
                  **({"rule_id": monitor.rule_id} if monitor.rule_id else {}),
                  **({"event_type": monitor.event_type} if monitor.event_type else {})}
    else:
        window = {"window_from": _iso(start), "window_to": _iso(now)}
        params = {**days, **window, "model_id": monitor.model_id,
                  **({"model_version": monitor.model_version} if monitor.model_version else {})}
    return window, params


def measure(monitor: Monitor, rows: list[dict[str, Any]]) -> tuple[float | None, int]:
    """(value, events in the window) from the query's rows."""
    if monitor.kind == "drift":
        row = next((r for r in rows if r["metric"] == monitor.metric), None)
        return (None, 0) if row is None else (row["psi"], row["current_count"])
    [row] = rows
    if monitor.kind == "volume":
        return float(row["predictions"]), row["predictions"]
    if monitor.kind == "latency_p99":
        return row["p99_latency_ms"], row["predictions"]
    if monitor.kind == "accuracy":
        return row["accuracy"], row["labeled"]
    return row["violation_rate"], row["events"]


def audit_event(evaluation: Evaluation) -> dict[str, Any]:
    """An audit_access event (action monitor): the monitor read the audit trail. monitor_state reads it back."""
    monitor = evaluation.monitor
    metrics: dict[str, Any] = {"threshold": monitor.threshold, "state_code": STATE_CODES[evaluation.state],
                               "events": evaluation.events, "direction": monitor.direction}
    if evaluation.value is not None:
        metrics["value"] = evaluation.value
    return {
        "event_type": "audit_access",
        "occurred_at": _iso(evaluation.at),
        "action": "monitor",
        "resource": f"monitor:{monitor.name}",
        "model_id": monitor.model_id,
        **({"model_version": monitor.model_version} if monitor.model_version else {}),
        "metrics": metrics,
        "details": {"monitor": monitor.name, "kind": monitor.kind, "query": monitor.query, "state": evaluation.state,
                    "previous_state": evaluation.previous, "window": evaluation.window,
                    **({"feature": monitor.feature} if monitor.feature else {}),
                    **({"rule_id": monitor.rule_id} if monitor.rule_id else {})},
    }


def _iso(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
