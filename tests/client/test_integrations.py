"""The typed helpers and the integrations, with the real libraries on a small model
trained here, their events read back from the lake."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
from mlaudit_client import Auditor, __version__
from mlaudit_client.integrations import audited
from mlaudit_client.integrations.mlflow import AuditedMlflowClient, audited_run
from mlaudit_client.integrations.sklearn import AuditedModel
from sklearn.linear_model import LogisticRegression

from tests.client.conftest import flushed, settings, stored_rows


@pytest.fixture
def audit(local_stack, workload, tmp_path):
    auditor = Auditor(**settings(local_stack, tmp_path), common={"workload": workload})
    yield auditor
    auditor.close()


def by_type(rows):
    out = {}
    for row in rows:
        out.setdefault(row["event_type"], []).append(row)
    return out


def test_helpers_describe_a_training_run_a_model_and_its_predictions(local_stack, workload, audit):
    with audit.training_run("run-1", model_id="churn", model_version="7", datasets=["s3://data/churn@v3"]) as run:
        run.metrics["auc"] = 0.91
        run.outputs.append("s3://models/churn/7")
    with pytest.raises(ZeroDivisionError), audit.training_run("run-2", model_id="churn"):
        1 / 0  # noqa: B018
    audit.model_registered("churn", "7", run_id="run-1")
    audit.model_deployed("churn", "7", resource="endpoint/churn-prod")
    prediction_id = audit.prediction("churn", "7", features={"tenure": 3}, score=0.83, label="churn", latency_ms=2.5)
    audit.ground_truth(prediction_id, "stayed", model_id="churn", model_version="7")
    assert flushed(audit) and audit.stats()["sent"] == 8
    rows = by_type(stored_rows(local_stack, workload))
    assert {r["user_agent"].split()[0] for rs in rows.values() for r in rs} == {f"mlaudit-client/{__version__}"}
    (completed,) = rows["training_completed"]
    assert json.loads(completed["metrics"]) == {"auc": 0.91} and completed["inputs"] == ["s3://data/churn@v3"]
    assert completed["outputs"] == ["s3://models/churn/7"] and completed["run_id"] == "run-1"
    (failed,) = rows["training_failed"]
    assert failed["run_id"] == "run-2" and json.loads(failed["details"]) == {"error": "ZeroDivisionError"}
    assert len(rows["training_started"]) == 2
    assert rows["model_deployed"][0]["resource"] == "endpoint/churn-prod"
    (predicted,) = rows["prediction"]
    assert (predicted["prediction_id"], predicted["prediction_score"], predicted["prediction_label"]) == (
        prediction_id, 0.83, "churn")
    assert rows["ground_truth"][0]["label_for_prediction_id"] == prediction_id


def test_sklearn_wrapper_audits_each_call_as_one_batch_with_sampling(local_stack, workload, audit):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    wrapped = AuditedModel(model, audit, "toy", "1", feature_names=["a", "b", "c"])
    probabilities = wrapped.predict_proba(X[:4], prediction_ids=["r1", "r2", "r3", "r4"])
    labels = wrapped.predict(X[4:6])
    assert (probabilities == model.predict_proba(X[:4])).all() and (labels == model.predict(X[4:6])).all()
    AuditedModel(model, audit, "toy", "1", sample_rate=0.0).predict(X[:50])  # sampled out: no events
    assert wrapped.coef_.shape == (1, 3)  # the estimator's own attributes pass through
    assert flushed(audit) and audit.stats()["sent"] == 6
    rows = {r["prediction_id"]: r for r in stored_rows(local_stack, workload)}
    assert len(rows) == 6
    for i, prediction_id in enumerate(["r1", "r2", "r3", "r4"]):
        row = rows[prediction_id]
        assert json.loads(row["features"]) == dict(zip("abc", X[i].tolist(), strict=True))
        assert row["prediction_score"] == probabilities[i, 1]
        assert row["prediction_label"] == str(int(probabilities[i, 1] > 0.5))
    calls = {json.loads(r["details"])["call_id"] for r in rows.values()}
    assert len(calls) == 2, "one call, one batch"


def test_decorator_audits_each_call_of_a_prediction_function(local_stack, workload, audit):
    @audited(audit, "risk", "2")
    def score(patient: dict) -> float:
        if patient["age"] < 0:
            raise ValueError("age")
        return 0.25 + patient["age"] / 400

    assert score({"age": 40}) == 0.35
    with pytest.raises(ValueError):
        score({"age": -1})
    assert flushed(audit)
    (row,) = stored_rows(local_stack, workload)
    assert (row["model_id"], row["model_version"], row["prediction_score"]) == ("risk", "2", 0.35)
    assert json.loads(row["features"]) == {"age": 40} and row["latency_ms"] >= 0


@pytest.mark.filterwarnings("ignore:.*transition_model_version_stage.*:FutureWarning")  # stages: still in MLflow 3
def test_mlflow_runs_and_registry_changes_become_audit_events(local_stack, workload, audit, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow-skinny: a file store, no server
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    mlflow.set_experiment("churn")
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    with audited_run(audit, model_id="churn", datasets=["s3://data/churn@v3"]) as run:
        LogisticRegression().fit(X, [0, 0, 1, 1])
        mlflow.log_metric("accuracy", 1.0)
    with pytest.raises(RuntimeError), audited_run(audit, model_id="churn"):
        mlflow.log_metric("loss", 9.5)
        raise RuntimeError("diverged")
    registry = AuditedMlflowClient(audit)
    registry.create_registered_model("churn")
    version = str(registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run.info.run_id).version)
    registry.transition_model_version_stage("churn", version, "Production")
    registry.set_registered_model_alias("churn", "champion", version)
    registry.delete_registered_model_alias("churn", "champion")
    assert flushed(audit)
    rows = by_type(stored_rows(local_stack, workload))
    completed, failed = rows["training_completed"][0], rows["training_failed"][0]
    assert completed["run_id"] == run.info.run_id and json.loads(completed["metrics"]) == {"accuracy": 1.0}
    assert json.loads(failed["metrics"]) == {"loss": 9.5} and json.loads(failed["details"])["error"] == "RuntimeError"
    (registered,) = rows["model_registered"]
    assert (registered["model_id"], registered["model_version"], registered["run_id"]) == (
        "churn", version, run.info.run_id)
    assert sorted(r["resource"] for r in rows["model_deployed"]) == ["models:/churn/Production",
                                                                     "models:/churn@champion"]
    assert rows["model_retired"][0]["resource"] == "models:/churn@champion"
