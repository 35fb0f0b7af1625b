"""Typed helpers for what ML code emits; each builds a contract-v1 event and emits it.

    audit.prediction("churn", "7", features=x, score=0.83, label="churn", latency_ms=1.2)
    audit.ground_truth(prediction_id, "stayed", model_id="churn", model_version="7")
    with audit.training_run("run-42", model_id="churn", datasets=["s3://data/churn@v3"]) as run:
        ...; run.metrics["auc"] = 0.91          # training_completed with the metrics, or training_failed
    audit.model_registered("churn", "7", run_id="run-42")
    audit.model_deployed("churn", "7", resource="endpoint/churn-prod")

Every helper takes any other contract field as a keyword (`workload=`, `details=`, ...)
and returns the event id (None if the event was refused or dropped).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def new_event_id() -> str:
    """A random UUID (version 4), in about a third of `str(uuid.uuid4())`'s time."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def now() -> str:
    return datetime.now(UTC).isoformat()


def _fields(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class EventHelpers:
    """Mixed into `Auditor`: needs only `emit`."""

    def emit(self, event: Mapping[str, Any]) -> str | None:
        raise NotImplementedError

    def prediction(
        self, model_id: str, model_version: str | None = None, *, features: Mapping[str, Any] | None = None,
        score: float | None = None, label: str | None = None, latency_ms: float | None = None,
        explanation: Mapping[str, Any] | None = None, prediction_id: str | None = None, **fields: Any,
    ) -> str | None:
        """A prediction; `prediction_id` defaults to the event id (what ground truth refers to)."""
        event = _fields(event_type="prediction", occurred_at=now(), model_id=model_id, model_version=model_version,
                        features=features, prediction_score=score, prediction_label=label, latency_ms=latency_ms,
                        explanation=explanation, **fields)
        if prediction_id is None:
            prediction_id = event.setdefault("event_id", new_event_id())
        event["prediction_id"] = prediction_id
        return self.emit(event)

    def ground_truth(self, prediction_id: str, true_label: str, **fields: Any) -> str | None:
        """The outcome a prediction turned out to have."""
        return self.emit(_fields(event_type="ground_truth", occurred_at=now(), label_for_prediction_id=prediction_id,
                                 true_label=true_label, **fields))

    def training_run(
        self, run_id: str, *, model_id: str | None = None, model_version: str | None = None,
        datasets: Iterable[str] = (), **fields: Any,
    ) -> TrainingRun:
        """A context manager: training_started on entry, training_completed (with `run.metrics`
        and `run.outputs`) on a normal exit, training_failed when the block raises."""
        return TrainingRun(self, _fields(run_id=run_id, model_id=model_id, model_version=model_version, **fields),
                           list(datasets))

    def model_registered(self, model_id: str, model_version: str, **fields: Any) -> str | None:
        return self.emit(_fields(event_type="model_registered", occurred_at=now(), model_id=model_id,
                                 model_version=model_version, **fields))

    def model_deployed(self, model_id: str, model_version: str, *, resource: str | None = None,
                       **fields: Any) -> str | None:
        return self.emit(_fields(event_type="model_deployed", occurred_at=now(), model_id=model_id,
                                 model_version=model_version, resource=resource, action="deploy", **fields))


class TrainingRun:
    def __init__(self, audit: EventHelpers, common: dict[str, Any], inputs: list[str]) -> None:
        self.audit = audit
        self.common = common
        self.inputs = inputs
        self.metrics: dict[str, Any] = {}
        self.outputs: list[str] = []
        self.event_ids: list[str | None] = []  # of the started and the completed or failed event

    def __enter__(self) -> TrainingRun:
        self._emit({"event_type": "training_started", "occurred_at": now(), **self.common,
                         **_fields(inputs=self.inputs or None)})
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        event = {"occurred_at": now(), **self.common,
                 **_fields(inputs=self.inputs or None, outputs=self.outputs or None, metrics=self.metrics or None)}
        if kind is None:
            self._emit({"event_type": "training_completed", **event})
        else:  # the error's type only: its message may carry data
            self._emit({"event_type": "training_failed", **event, "details": {"error": kind.__name__}})

    def _emit(self, event: dict[str, Any]) -> None:
        self.event_ids.append(self.audit.emit(event))
