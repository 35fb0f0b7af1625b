"""XGBoost: a `TrainingCallback` that audits `xgboost.train` (extra `[xgboost]`).

    audit_callback = MlauditXGBoostCallback(audit, model_id="churn", datasets=["s3://data/churn@v3"])
    with audit_callback.watching():
        booster = xgboost.train(params, dtrain, 100, evals=[(dvalid, "valid")], callbacks=[audit_callback])

training_started before the first round (rounds so far, training rows), training_completed
after the last, with the last value of each evaluation metric (`valid-logloss`, ...) and
the boosted rounds; training_failed when training raises (wrap the call in `watching()`:
XGBoost tells its callbacks nothing then).
"""

from __future__ import annotations

from typing import Any

from xgboost.callback import TrainingCallback

from mlaudit_client.events import EventHelpers
from mlaudit_client.integrations._training import TrainingAudit


class MlauditXGBoostCallback(TrainingCallback):  # type: ignore[misc]
    def __init__(self, audit: EventHelpers, run_id: str | None = None, **fields: Any) -> None:
        super().__init__()
        self.training = TrainingAudit(audit, run_id, framework="xgboost", **fields)
        self.watching = self.training.watching

    def before_training(self, model: Any) -> Any:
        self.training.begin(model_class=type(model).__name__, rounds_before=model.num_boosted_rounds())
        return model

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, dict[str, list[Any]]]) -> bool:
        for data, metrics in evals_log.items():
            self.training.record({name: values[-1] for name, values in metrics.items() if values}, f"{data}-")
        return False  # never asks training to stop

    def after_training(self, model: Any) -> Any:
        self.training.record({"boosted_rounds": model.num_boosted_rounds()})
        self.training.finish()
        return model
