"""Hugging Face Transformers: a `TrainerCallback` that audits `Trainer.train` (extra
`[transformers]`).

    audit_callback = MlauditTrainerCallback(audit, model_id="sentiment", datasets=["hf://imdb@v1"])
    trainer = Trainer(model=model, args=args, train_dataset=train, callbacks=[audit_callback])
    with audit_callback.watching():
        trainer.train()

training_started when training starts (model class, parameters, training samples, epochs),
training_completed when it ends, with the last value of each logged and evaluated metric
and `model_path` (a saved model file) as the model; training_failed when training raises:
the Trainer tells its callbacks nothing then, so wrap the call in `watching()`.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from mlaudit_client.events import EventHelpers
from mlaudit_client.integrations._training import TrainingAudit, parameters


class MlauditTrainerCallback(TrainerCallback):  # type: ignore[misc]
    def __init__(self, audit: EventHelpers, run_id: str | None = None, **fields: Any) -> None:
        self.training = TrainingAudit(audit, run_id, framework="transformers", **fields)
        self.watching = self.training.watching

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, train_dataloader: Any = None,
                       **_: Any) -> None:
        dataset = getattr(train_dataloader, "dataset", None)
        self.training.begin(model_class=type(model).__name__ if model is not None else None,
                            parameters=parameters(model) if model is not None else None,
                            train_samples=len(dataset) if hasattr(dataset, "__len__") else None,
                            epochs=args.num_train_epochs)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any) -> None:
        self.training.record(logs)

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, Any] | None = None,
                    **_: Any) -> None:
        self.training.record(metrics)

    def on_train_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        self.training.record({"global_step": state.global_step})
        self.training.finish()
