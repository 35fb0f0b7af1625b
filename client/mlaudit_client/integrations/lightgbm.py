"""LightGBM: a callback that audits `lightgbm.train` (extra `[lightgbm]`).

    audit_callback = MlauditLightGBMCallback(audit, model_id="churn", datasets=["s3://data/churn@v3"])
    with audit_callback.watching():
        booster = lightgbm.train(params, train, 100, valid_sets=[valid], callbacks=[audit_callback])

training_started at the first iteration (training rows, iterations asked for),
training_completed after the last, with the last value of each evaluation metric
(`valid_0-binary_logloss`, ...); training_failed when training raises. LightGBM has no
callback for an end or an error, and early stopping skips the last iterations: wrap the
call in `watching()`, which ends the run in every case.
"""

from __future__ import annotations

from typing import Any

from mlaudit_client.events import EventHelpers
from mlaudit_client.integrations._training import TrainingAudit


class MlauditLightGBMCallback:
    order = 50  # after LightGBM's own (early stopping is 30): the metrics it saw are recorded
    before_iteration = False

    def __init__(self, audit: EventHelpers, run_id: str | None = None, **fields: Any) -> None:
        self.training = TrainingAudit(audit, run_id, framework="lightgbm", **fields)
        self.watching = self.training.watching

    def __call__(self, env: Any) -> None:
        if self.training.run is None:
            train = getattr(env.model, "train_set", None)
            rows = train.num_data() if train is not None and hasattr(train, "num_data") else None
            self.training.begin(model_class=type(env.model).__name__, train_samples=rows,
                                iterations=env.end_iteration - env.begin_iteration)
        for data, metric, value, *_ in env.evaluation_result_list or []:
            self.training.record({metric: value}, f"{data}-")
        if env.iteration + 1 >= env.end_iteration:
            self.training.record({"iterations": env.iteration + 1})
            self.training.finish()
