"""A scikit-learn estimator whose `predict` and `predict_proba` are audited.

    model = AuditedModel(fitted_estimator, audit, "churn", "7", sample_rate=0.1)
    model.predict_proba(X)          # as the estimator's, plus one prediction event per row

Each call is one batch: one event per row, with the row's features (named by the
estimator's `feature_names_in_`, a DataFrame's columns, or x0, x1, ...), its label
(`predict`) or the positive class's probability and the most probable label
(`predict_proba`), and the call's latency divided over its rows. The events of a call
share a `details.call_id`; `prediction_ids=` gives the rows' own ids (request ids, to
join ground truth to later), else each event's id is its prediction id.
`sample_rate` audits that fraction of calls, all of a call's rows or none.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from mlaudit_client.events import EventHelpers, new_event_id


class AuditedModel:
    def __init__(self, model: Any, audit: EventHelpers, model_id: str, model_version: str | None = None, *,
                 sample_rate: float = 1.0, feature_names: Sequence[str] | None = None, **fields: Any) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be between 0 and 1, not {sample_rate}")
        self.model = model
        self.audit = audit
        self.model_id = model_id
        self.model_version = model_version
        self.sample_rate = sample_rate
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.fields = fields

    def predict(self, X: Any, *, prediction_ids: Sequence[str] | None = None) -> Any:
        started = time.perf_counter()
        labels = self.model.predict(X)
        self._audit(X, started, prediction_ids, [{"label": str(v)} for v in _rows(labels)])
        return labels

    def predict_proba(self, X: Any, *, prediction_ids: Sequence[str] | None = None) -> Any:
        started = time.perf_counter()
        probabilities = self.model.predict_proba(X)
        classes = [str(c) for c in self.model.classes_]
        outcomes = []
        for row in _rows(probabilities):
            best = max(range(len(row)), key=row.__getitem__)
            outcomes.append({"score": float(row[-1]), "label": classes[best]})  # row[-1]: the positive class
        self._audit(X, started, prediction_ids, outcomes)
        return probabilities

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)  # everything else is the estimator's

    def _audit(self, X: Any, started: float, prediction_ids: Sequence[str] | None,
               outcomes: list[dict[str, Any]]) -> None:
        latency_ms = (time.perf_counter() - started) * 1000 / max(len(outcomes), 1)
        if self.sample_rate < 1.0 and random.random() >= self.sample_rate:  # noqa: S311 - sampling
            return
        names = self._names(X)
        details = {"call_id": new_event_id(), "rows": len(outcomes)}
        for i, (row, outcome) in enumerate(zip(_rows(X), outcomes, strict=True)):
            self.audit.prediction(
                self.model_id, self.model_version, features=dict(zip(names, row, strict=True)),
                latency_ms=latency_ms, prediction_id=prediction_ids[i] if prediction_ids is not None else None,
                details=details, **outcome, **self.fields,
            )

    def _names(self, X: Any) -> list[str]:
        if self.feature_names is not None:
            return self.feature_names
        names = getattr(self.model, "feature_names_in_", None)
        if names is None:
            names = getattr(X, "columns", None)
        if names is not None:
            return [str(n) for n in names]
        width = len(_rows(X)[0]) if len(X) else 0
        return [f"x{i}" for i in range(width)]


def _rows(values: Any) -> list[Any]:
    """Plain Python rows (floats, not numpy scalars) from an array, a DataFrame or a list."""
    values = values.to_numpy() if hasattr(values, "to_numpy") else values
    return values.tolist() if hasattr(values, "tolist") else list(values)
