"""What every training callback shares (lightning, transformers, xgboost, lightgbm): one
`training_run` of the audit, begun when training starts, ended when it ends.

- training_started: the run id, the model, the datasets (`inputs`) and what the framework
  says of the data and the model (`details`: framework, model class, parameters or trees,
  training samples);
- training_completed: the last value of each metric the framework reported (`metrics`),
  the model's file (`outputs`, with its SHA-256 as `model_artifact_sha256` when it is a
  local file);
- training_failed: the metrics so far and the error's type (never its message: it may
  carry data).

Callbacks see a training's start and its end; some frameworks tell a callback nothing when
training raises (Hugging Face, XGBoost, LightGBM) or stops early (LightGBM). `watching()`
closes the run in every case:

    with callback.watching():
        trainer.train()
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlaudit_client.events import EventHelpers, TrainingRun


class TrainingAudit:
    def __init__(self, audit: EventHelpers, run_id: str | None = None, *, framework: str,
                 model_id: str | None = None, model_version: str | None = None, datasets: Iterable[str] = (),
                 model_path: str | None = None, **fields: Any) -> None:
        self.audit = audit
        self.run_id = run_id or f"{framework}-{uuid.uuid4()}"
        self.framework = framework
        self.model_id, self.model_version = model_id, model_version
        self.datasets = list(datasets)
        self.model_path = model_path
        self.fields = fields
        self.run: TrainingRun | None = None
        self.ended = False
        self.watched = False  # inside watching(): it closes the run, after the training call
        self._finished_with: str | None = None

    @property
    def metrics(self) -> dict[str, Any]:
        return self.run.metrics if self.run is not None else {}

    def begin(self, **details: Any) -> None:
        """training_started (once)."""
        if self.run is not None:
            return
        given = self.fields.pop("details", None) or {}
        described = {"framework": self.framework, **{k: v for k, v in details.items() if v is not None}, **given}
        self.run = self.audit.training_run(self.run_id, model_id=self.model_id, model_version=self.model_version,
                                           datasets=self.datasets, details=described, **self.fields)
        self.run.__enter__()

    def record(self, metrics: Mapping[str, Any] | None, prefix: str = "") -> None:
        """Keep the latest finite value of each numeric metric."""
        if self.run is None or not metrics:
            return
        for name, value in metrics.items():
            number = _number(value)
            if number is not None:
                self.run.metrics[f"{prefix}{name}"] = number

    def end(self, error: BaseException | None = None, model_path: str | None = None) -> None:
        """training_completed, or training_failed with `error` (once)."""
        if self.run is None or self.ended:
            return
        self.ended = True
        path = model_path or self.model_path
        if error is None and path:
            self.run.outputs.append(_uri(path))
            digest = _sha256(path)
            if digest:
                self.run.common["model_artifact_sha256"] = digest
        self.run.__exit__(type(error) if error is not None else None, error, None)

    def finish(self, model_path: str | None = None) -> None:
        """The framework says training ended: completed now, or, when watched, once the
        watched block returns (a model saved in it is then the run's model)."""
        if self.watched:
            self._finished_with = model_path
            return
        self.end(model_path=model_path)

    @contextmanager
    def watching(self) -> Iterator[TrainingAudit]:
        """Around the framework's training call: a raise ends the run failed, a return
        (also an early stop) completed, whatever the callbacks were told."""
        self.watched = True
        try:
            yield self
        except BaseException as error:
            self.begin()  # a training that failed before the framework's first callback was still attempted
            self.end(error)
            raise
        finally:
            self.watched = False
        self.end(model_path=self._finished_with)


def _number(value: Any) -> float | None:
    if hasattr(value, "item") and callable(value.item):  # a tensor or numpy scalar
        try:
            value = value.item()
        except (ValueError, RuntimeError):
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _uri(path: str) -> str:
    return path if "://" in path else Path(path).resolve().as_uri()


def _sha256(path: str) -> str | None:
    file = Path(path)
    if "://" in path or not file.is_file():
        return None
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parameters(model: Any) -> int | None:
    """How many parameters a torch module has."""
    try:
        return int(sum(p.numel() for p in model.parameters()))
    except (AttributeError, TypeError):
        return None
