"""PyTorch Lightning: a callback that audits `trainer.fit` (extra `[lightning]`).

    trainer = Trainer(callbacks=[MlauditCallback(audit, model_id="churn", datasets=["s3://data/churn@v3"])])
    trainer.fit(model, datamodule)

training_started when fitting starts (model class, parameters, training samples, epochs),
training_completed when it ends, with the last value of each logged metric
(`trainer.callback_metrics`) and the best checkpoint (or `model_path`) as the model,
training_failed when fitting raises. Works with `lightning` and `pytorch_lightning`.
"""

from __future__ import annotations

from typing import Any

try:
    import lightning.pytorch as pl
except ImportError:  # the standalone package
    import pytorch_lightning as pl

from mlaudit_client.events import EventHelpers
from mlaudit_client.integrations._training import TrainingAudit, parameters


class MlauditCallback(pl.Callback):  # type: ignore[misc]
    def __init__(self, audit: EventHelpers, run_id: str | None = None, **fields: Any) -> None:
        super().__init__()
        self.training = TrainingAudit(audit, run_id, framework="pytorch_lightning", **fields)
        self.watching = self.training.watching

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self.training.begin(model_class=type(pl_module).__name__, parameters=parameters(pl_module),
                            max_epochs=trainer.max_epochs, train_samples=_samples(trainer))

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.training.record(trainer.callback_metrics)

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.training.record(trainer.callback_metrics)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self.training.record(trainer.callback_metrics)
        checkpoint = getattr(trainer.checkpoint_callback, "best_model_path", None) or None
        self.training.finish(model_path=checkpoint)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self.training.end(exception)


def _samples(trainer: Any) -> int | None:
    try:
        return len(trainer.fit_loop._data_source.dataloader().dataset)  # noqa: SLF001 - Lightning has no public one
    except Exception:  # a streaming dataset has no length; the audit goes on without it
        return None
