"""The training callbacks, each on a tiny real model built here (no download): a training
that completes is one training_started and one training_completed with the framework's
metrics, data and model; one that raises ends training_failed. Read back from the lake."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from mlaudit_client import Auditor

from tests.client.conftest import flushed, settings, stored_rows

RNG = np.random.default_rng(27)
X = RNG.normal(size=(64, 4)).astype("float32")
Y = (X[:, 0] + X[:, 1] > 0).astype("float32")


@pytest.fixture
def audit(local_stack, workload, tmp_path):
    auditor = Auditor(**settings(local_stack, tmp_path), common={"workload": workload})
    yield auditor
    auditor.close()


def runs(local_stack, workload) -> dict[str, dict[str, dict]]:
    """run id -> event type -> the stored row."""
    found: dict[str, dict[str, dict]] = {}
    for row in stored_rows(local_stack, workload):
        found.setdefault(row["run_id"], {})[row["event_type"]] = row
    return found


def test_the_core_imports_none_of_the_frameworks():
    code = ("import sys, mlaudit_client, mlaudit_client.integrations; "
            "print(sorted({'torch', 'pytorch_lightning', 'lightning', 'transformers', 'xgboost', 'lightgbm'} "
            "& set(sys.modules)))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # where this test found mlaudit_client
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=env).stdout == "[]\n"


def test_lightning_fit_is_audited_with_its_metrics_and_checkpoint(local_stack, workload, audit, tmp_path):
    import pytorch_lightning as pl
    import torch
    from mlaudit_client.integrations.lightning import MlauditCallback
    from torch.utils.data import DataLoader, TensorDataset

    class Tiny(pl.LightningModule):
        def __init__(self, fail: bool = False) -> None:
            super().__init__()
            self.layer, self.fail = torch.nn.Linear(4, 1), fail

        def training_step(self, batch, _):
            if self.fail:
                raise FloatingPointError("diverged")
            x, y = batch
            loss = torch.nn.functional.binary_cross_entropy_with_logits(self.layer(x).squeeze(1), y)
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(Y)), batch_size=16)

    def trainer(callback):
        return pl.Trainer(max_epochs=2, callbacks=[callback], logger=False, enable_progress_bar=False,
                          enable_model_summary=False, accelerator="cpu",
                          default_root_dir=tmp_path / callback.training.run_id, enable_checkpointing=True)

    good = MlauditCallback(audit, "pl-run", model_id="tiny", datasets=["s3://data/tiny@v1"])
    trainer(good).fit(Tiny(), data)
    with pytest.raises(FloatingPointError):
        trainer(MlauditCallback(audit, "pl-fail", model_id="tiny")).fit(Tiny(fail=True), data)
    assert flushed(audit)
    found = runs(local_stack, workload)
    started, completed = found["pl-run"]["training_started"], found["pl-run"]["training_completed"]
    assert json.loads(started["details"]) == {"framework": "pytorch_lightning", "model_class": "Tiny",
                                              "parameters": 5, "max_epochs": 2, "train_samples": 64}
    assert started["inputs"] == ["s3://data/tiny@v1"] and completed["model_id"] == "tiny"
    assert set(json.loads(completed["metrics"])) == {"train_loss"}
    assert completed["outputs"][0].endswith(".ckpt") and len(completed["model_artifact_sha256"]) == 64
    assert set(found["pl-fail"]) == {"training_started", "training_failed"}
    assert json.loads(found["pl-fail"]["training_failed"]["details"]) == {"error": "FloatingPointError"}


def test_hugging_face_training_is_audited_and_a_raise_ends_it_failed(local_stack, workload, audit, tmp_path):
    import torch
    from mlaudit_client.integrations.transformers import MlauditTrainerCallback
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    config = BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                        intermediate_size=8, max_position_embeddings=8, num_labels=2)

    class Tokens(torch.utils.data.Dataset):
        def __init__(self, labels: int = 2) -> None:
            self.labels = labels

        def __len__(self) -> int:
            return 16

        def __getitem__(self, i):
            return {"input_ids": torch.tensor([1, 2 + i % 20, 3, 4]), "attention_mask": torch.ones(4, dtype=torch.long),
                    "labels": torch.tensor(i % self.labels)}

    def train(callback, dataset) -> None:
        args = TrainingArguments(output_dir=str(tmp_path / callback.training.run_id), num_train_epochs=1,
                                 per_device_train_batch_size=8, logging_steps=1, report_to=[], save_strategy="no",
                                 use_cpu=True, disable_tqdm=True)
        with callback.watching():
            Trainer(model=BertForSequenceClassification(config), args=args, train_dataset=dataset,
                    callbacks=[callback]).train()

    train(MlauditTrainerCallback(audit, "hf-run", model_id="sentiment", datasets=["hf://tokens@v1"]), Tokens())
    with pytest.raises(Exception):  # noqa: B017 - a label out of range: whatever torch raises for it
        train(MlauditTrainerCallback(audit, "hf-fail", model_id="sentiment"), Tokens(labels=9))
    assert flushed(audit)
    found = runs(local_stack, workload)
    started, completed = found["hf-run"]["training_started"], found["hf-run"]["training_completed"]
    details = json.loads(started["details"])
    assert (details["framework"], details["model_class"], details["train_samples"]) == (
        "transformers", "BertForSequenceClassification", 16)
    metrics = json.loads(completed["metrics"])
    assert {"loss", "train_loss", "global_step"} <= set(metrics) and metrics["global_step"] == 2
    assert set(found["hf-fail"]) == {"training_started", "training_failed"}


def test_xgboost_and_lightgbm_training_are_audited_with_their_evaluation_metrics(local_stack, workload, audit,
                                                                                   tmp_path):
    import lightgbm
    import xgboost
    from mlaudit_client.integrations.lightgbm import MlauditLightGBMCallback
    from mlaudit_client.integrations.xgboost import MlauditXGBoostCallback

    dtrain = xgboost.DMatrix(X, label=Y)
    model_file = tmp_path / "xgb.json"
    xgb_callback = MlauditXGBoostCallback(audit, "xgb-run", model_id="churn", datasets=["s3://data/churn@v3"],
                                          model_path=str(model_file))
    with xgb_callback.watching():
        booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2}, dtrain, 3,
                                evals=[(dtrain, "train")], callbacks=[xgb_callback], verbose_eval=False)
        booster.save_model(model_file)
    failing = MlauditXGBoostCallback(audit, "xgb-fail")
    with pytest.raises(xgboost.core.XGBoostError), failing.watching():
        xgboost.train({"objective": "no:such"}, dtrain, 3, callbacks=[failing])
    lgb_callback = MlauditLightGBMCallback(audit, "lgb-run", model_id="churn")
    train = lightgbm.Dataset(X, label=Y)
    with lgb_callback.watching():
        lightgbm.train({"objective": "binary", "verbose": -1, "num_leaves": 4, "min_data_in_leaf": 5}, train, 4,
                       valid_sets=[train], valid_names=["train"], callbacks=[lgb_callback])
    assert flushed(audit)
    found = runs(local_stack, workload)
    xgb = found["xgb-run"]["training_completed"]
    assert set(json.loads(xgb["metrics"])) == {"train-logloss", "boosted_rounds"}
    assert xgb["outputs"] == [model_file.resolve().as_uri()] and len(xgb["model_artifact_sha256"]) == 64
    assert set(found["xgb-fail"]) == {"training_started", "training_failed"}
    lgb = found["lgb-run"]
    assert json.loads(lgb["training_started"]["details"])["train_samples"] == 64
    assert set(json.loads(lgb["training_completed"]["metrics"])) == {"train-binary_logloss", "iterations"}
