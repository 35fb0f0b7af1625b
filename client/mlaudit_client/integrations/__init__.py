"""Integrations with ML code. `audited` needs nothing else; `sklearn` and `mlflow` need
their extras (`pip install 'mlaudit-client[sklearn]'`, `[mlflow]`), and so do the training
callbacks: `lightning`, `transformers`, `xgboost`, `lightgbm` (each imported only from its
own module, never from here)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from mlaudit_client.events import EventHelpers

F = TypeVar("F", bound=Callable[..., Any])


def audited(
    audit: EventHelpers, model_id: str, model_version: str | None = None, *,
    features: Callable[..., Mapping[str, Any] | None] | None = None,
    outcome: Callable[[Any], dict[str, Any]] | None = None, **fields: Any,
) -> Callable[[F], F]:
    """A decorator: one prediction event per call of a prediction function, with its latency.

    `features(*args, **kwargs)` gives the features (default: the call's one mapping
    argument, or its keyword arguments); `outcome(result)` gives the event's `score` and
    `label` (default: a float result is the score, a str or int one the label). The
    function's result and exceptions are untouched; a call that raises is not audited.
    """
    pick = features or _default_features
    read = outcome or _default_outcome

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = function(*args, **kwargs)
            latency_ms = (time.perf_counter() - started) * 1000
            try:
                audit.prediction(model_id, model_version, features=pick(*args, **kwargs), latency_ms=latency_ms,
                                 **read(result), **fields)
            except Exception:  # the audit must not break the prediction (emit itself never raises)
                import logging

                logging.getLogger("mlaudit_client").exception("mlaudit: could not describe a prediction")
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


def _default_features(*args: Any, **kwargs: Any) -> Mapping[str, Any] | None:
    mappings = [a for a in args if isinstance(a, Mapping)]
    if len(mappings) == 1:
        return mappings[0]
    return kwargs or None


def _default_outcome(result: Any) -> dict[str, Any]:
    if isinstance(result, bool):
        return {"label": str(result).lower()}
    if isinstance(result, float):
        return {"score": result}
    if isinstance(result, (str, int)):
        return {"label": str(result)}
    return {}
