"""MLflow runs and model-registry changes as audit events.

    with audited_run(audit, model_id="churn", datasets=["s3://data/churn@v3"]) as run:
        ...                                   # mlflow.log_metric(...) as usual
    registry = AuditedMlflowClient(audit)     # an MlflowClient that audits what it changes
    version = registry.create_model_version("churn", f"runs:/{run.info.run_id}/model", run.info.run_id)
    registry.set_registered_model_alias("churn", "champion", version.version)

`audited_run` is `mlflow.start_run` between a `training_started` event and a
`training_completed` (with the run's logged metrics, read back from the tracking store)
or `training_failed` one; the audit run id is MLflow's run id. `AuditedMlflowClient`
emits, after each change succeeds: `model_registered` for a new version; `model_deployed`
when a version moves to the Production stage or gets an alias (resource
`models:/<name>@<alias>`); `model_retired` when it is archived or an alias is removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import mlflow
from mlflow import MlflowClient

from mlaudit_client.events import EventHelpers, now


@contextmanager
def audited_run(audit: EventHelpers, *, model_id: str | None = None, model_version: str | None = None,
                datasets: Iterable[str] = (), **start_run: Any) -> Iterator[Any]:
    with mlflow.start_run(**start_run) as active:
        run_id = active.info.run_id
        with audit.training_run(run_id, model_id=model_id, model_version=model_version, datasets=datasets,
                                details={"mlflow_experiment_id": active.info.experiment_id}) as training:
            try:
                yield active
            finally:  # the metrics logged so far, whether the run completes or fails
                training.metrics.update(MlflowClient().get_run(run_id).data.metrics)


class AuditedMlflowClient(MlflowClient):
    def __init__(self, audit: EventHelpers, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.audit = audit

    def create_model_version(self, name: str, source: str, run_id: str | None = None, *args: Any,
                             **kwargs: Any) -> Any:
        version = super().create_model_version(name, source, run_id, *args, **kwargs)
        self.audit.model_registered(name, str(version.version), run_id=run_id, details={"source": source})
        return version

    def transition_model_version_stage(self, name: str, version: str, stage: str, *args: Any,
                                       **kwargs: Any) -> Any:
        result = super().transition_model_version_stage(name, version, stage, *args, **kwargs)
        if stage.lower() == "production":
            self.audit.model_deployed(name, str(version), resource=f"models:/{name}/Production")
        elif stage.lower() == "archived":
            self._retired(name, str(version), f"models:/{name}/Archived")
        return result

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        super().set_registered_model_alias(name, alias, version)
        self.audit.model_deployed(name, str(version), resource=f"models:/{name}@{alias}")

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        version = self.get_model_version_by_alias(name, alias).version
        super().delete_registered_model_alias(name, alias)
        self._retired(name, str(version), f"models:/{name}@{alias}")

    def _retired(self, name: str, version: str, resource: str) -> None:
        self.audit.emit({"event_type": "model_retired", "occurred_at": now(), "model_id": name,
                         "model_version": version, "resource": resource, "action": "retire"})
