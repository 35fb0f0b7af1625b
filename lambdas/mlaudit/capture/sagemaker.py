"""SageMaker's state changes on EventBridge -> contract events.

SageMaker sends each change of a training job, a model package (the model registry), an
endpoint and an endpoint config to the account's default event bus. One EventBridge event
maps to at most one contract event, whose `event_id` is the EventBridge event's `id`: a
redelivery (EventBridge delivers at least once, Lambda retries) is stored once.

| detail-type | state | event |
| --- | --- | --- |
| Training Job State Change | InProgress (secondary status Starting) | training_started |
| | Completed | training_completed: final metrics, input channels, model artifact |
| | Failed, Stopped | training_failed: the failure reason, the metrics so far |
| Model Package State Change | Completed: pending, approved, rejected | model_registered (action) |
| Endpoint State Change | InService | model_deployed |
| | Deleting | model_retired |
| Endpoint Config State Change | any | config_changed: the models each variant serves |

Other states (a running job's later steps, Stopping, a package still in progress, an
endpoint creating or updating) record nothing. The source ARN is the event's `resource`.
A job, package or endpoint names its model through the tags `mlaudit:model_id` and
`mlaudit:model_version`; without them, a model package's group and version, an
endpoint's name and endpoint config name stand in.
"""

from __future__ import annotations

from typing import Any

from mlaudit.capture.common import Refused, as_event_id, compact, need, timestamp

SOURCE = "aws.sagemaker"
TRAINING, MODEL_PACKAGE = "SageMaker Training Job State Change", "SageMaker Model Package State Change"
ENDPOINT, ENDPOINT_CONFIG = "SageMaker Endpoint State Change", "SageMaker Endpoint Config State Change"
DETAIL_TYPES = (TRAINING, MODEL_PACKAGE, ENDPOINT, ENDPOINT_CONFIG)
# The rule's pattern (stacks/capture.py, and the local stack's rule on its bus).
PATTERN = {"source": [SOURCE], "detail-type": list(DETAIL_TYPES)}
MODEL_ID_TAG, MODEL_VERSION_TAG = "mlaudit:model_id", "mlaudit:model_version"
FAILURE_REASON_CHARS = 1024
_TRAINING_STATES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
_APPROVALS = {"PendingManualApproval": "register", "Approved": "approve", "Rejected": "reject"}


def map_event(envelope: Any) -> dict[str, Any] | None:
    """The contract event one EventBridge event stands for (before the contract checks it);
    None when its change records nothing; Refused naming what it lacks."""
    if not isinstance(envelope, dict):
        raise Refused("$", "type", "an EventBridge event object")
    event_id = as_event_id(envelope.get("id"), "id")
    if envelope.get("source") != SOURCE:
        raise Refused("source", "allowed", f"the source must be {SOURCE}")
    kind = envelope.get("detail-type")
    if kind not in DETAIL_TYPES:
        raise Refused("detail-type", "allowed", "one of the SageMaker state changes mlaudit captures")
    detail = envelope.get("detail")
    if not isinstance(detail, dict):
        raise Refused("detail", "type", "an object")
    mapped = {TRAINING: _training, MODEL_PACKAGE: _model_package, ENDPOINT: _endpoint,
              ENDPOINT_CONFIG: _endpoint_config}[kind](detail, envelope)
    if mapped is None:
        return None
    origin = compact({"source": SOURCE, "detail_type": kind, "account": envelope.get("account"),
                      "region": envelope.get("region"), "eventbridge_id": envelope.get("id")})
    details = {**mapped.pop("details", {}), "captured_from": origin}
    return compact({"event_id": event_id, **mapped, "details": compact(details)})


def _when(detail: dict[str, Any], envelope: dict[str, Any], *keys: str) -> str:
    for key in keys:
        if detail.get(key) not in (None, ""):
            return timestamp(detail[key], f"detail.{key}")
    return timestamp(envelope.get("time"), "time")


def _tags(detail: dict[str, Any]) -> dict[str, str]:
    tags = detail.get("Tags") or {}
    if isinstance(tags, list):  # the API's [{"Key", "Value"}] form
        tags = {t.get("Key"): t.get("Value") for t in tags if isinstance(t, dict)}
    if not isinstance(tags, dict):
        return {}
    return {k: v for k, v in tags.items() if isinstance(k, str) and isinstance(v, str)}


def _model(detail: dict[str, Any], model_id: Any = None, version: Any = None) -> dict[str, Any]:
    tags = _tags(detail)
    return compact({"model_id": tags.get(MODEL_ID_TAG, model_id),
                    "model_version": tags.get(MODEL_VERSION_TAG, None if version is None else str(version))})


def _channels(detail: dict[str, Any]) -> dict[str, str]:
    """Channel name -> where its data is (S3 URI, or the file system's)."""
    found: dict[str, str] = {}
    channels = detail.get("InputDataConfig") or []
    if not isinstance(channels, list):
        raise Refused("detail.InputDataConfig", "type", "a list of channels")
    for index, channel in enumerate(channels):
        path = f"detail.InputDataConfig[{index}]"
        name = need(channel, "ChannelName", f"{path}.ChannelName")
        source = channel.get("DataSource") or {}
        s3 = source.get("S3DataSource") or {}
        fs = source.get("FileSystemDataSource") or {}
        if s3.get("S3Uri"):
            found[name] = s3["S3Uri"]
        elif fs.get("FileSystemId"):
            found[name] = f"{str(fs.get('FileSystemType', 'fs')).lower()}://{fs['FileSystemId']}" \
                          f"{fs.get('DirectoryPath', '')}"
    return found


def _metrics(detail: dict[str, Any]) -> dict[str, float]:
    found: dict[str, float] = {}
    for index, metric in enumerate(detail.get("FinalMetricDataList") or []):
        name = need(metric, "MetricName", f"detail.FinalMetricDataList[{index}].MetricName")
        value = metric.get("Value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            found[name] = float(value)
    return found


def _training(detail: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any] | None:
    name = need(detail, "TrainingJobName", "detail.TrainingJobName")
    status = need(detail, "TrainingJobStatus", "detail.TrainingJobStatus")
    if status not in _TRAINING_STATES:
        raise Refused("detail.TrainingJobStatus", "allowed", f"one of {', '.join(_TRAINING_STATES)}")
    secondary = detail.get("SecondaryStatus")
    if status == "Stopping" or status == "InProgress" and secondary not in (None, "Starting"):
        return None  # a running job's later steps, or on its way to Stopped
    channels = _channels(detail)
    train = next((uri for channel, uri in channels.items() if channel.lower() in ("train", "training")),
                 next(iter(channels.values()), None))
    algorithm = detail.get("AlgorithmSpecification") or {}
    resources = detail.get("ResourceConfig") or {}
    details = compact({"status": status, "secondary_status": secondary,
                       "channels": channels, "hyperparameters": detail.get("HyperParameters") or None,
                       "training_image": algorithm.get("TrainingImage"),
                       "algorithm": algorithm.get("AlgorithmName"),
                       "instance_type": resources.get("InstanceType"),
                       "instance_count": resources.get("InstanceCount")})
    common = {"run_id": name, "resource": detail.get("TrainingJobArn") or _first(envelope.get("resources")),
              "dataset_id": train, "inputs": list(channels.values())[:100], **_model(detail)}
    if status == "InProgress":
        return {"event_type": "training_started", "occurred_at": _when(detail, envelope, "TrainingStartTime",
                                                                       "CreationTime"), **common,
                "details": details}
    artifacts = (detail.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    ended = _when(detail, envelope, "TrainingEndTime", "LastModifiedTime")
    if status == "Completed":
        return {"event_type": "training_completed", "occurred_at": ended, **common,
                "outputs": [artifacts] if artifacts else None, "metrics": _metrics(detail), "details": details}
    reason = detail.get("FailureReason")
    return {"event_type": "training_failed", "occurred_at": ended, **common, "metrics": _metrics(detail),
            "details": {**details, "failure_reason": reason[:FAILURE_REASON_CHARS] if isinstance(reason, str)
                        else None}}


def _model_package(detail: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any] | None:
    arn = need(detail, "ModelPackageArn", "detail.ModelPackageArn")
    if detail.get("ModelPackageStatus") != "Completed":
        return None  # not in the registry yet (Pending, InProgress) or never (Failed)
    approval = detail.get("ModelApprovalStatus") or "PendingManualApproval"
    if approval not in _APPROVALS:
        raise Refused("detail.ModelApprovalStatus", "allowed", f"one of {', '.join(_APPROVALS)}")
    group = detail.get("ModelPackageGroupName") or detail.get("ModelPackageName")
    if not isinstance(group, str) or not group:
        raise Refused("detail.ModelPackageGroupName", "required", "a versioned package's group (or its name)")
    version = detail.get("ModelPackageVersion")
    containers = (detail.get("InferenceSpecification") or {}).get("Containers") or []
    data = [c["ModelDataUrl"] for c in containers if isinstance(c, dict) and c.get("ModelDataUrl")]
    images = [c.get("Image") + ("@" + c["ImageDigest"] if c.get("ImageDigest") else "")
              for c in containers if isinstance(c, dict) and c.get("Image")]
    return {"event_type": "model_registered", "occurred_at": _when(detail, envelope, "LastModifiedTime",
                                                                     "CreationTime"),
            **_model(detail, group, version), "resource": arn, "action": _APPROVALS[approval],
            "outputs": data[:100] or None,
            "details": compact({"approval": approval, "images": images,
                                "generated_by": (detail.get("MetadataProperties") or {}).get("GeneratedBy")})}


def _endpoint(detail: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any] | None:
    name = need(detail, "EndpointName", "detail.EndpointName")
    status = need(detail, "EndpointStatus", "detail.EndpointStatus")
    state = status.upper().replace("_", "")
    kind = {"INSERVICE": ("model_deployed", "deploy"), "DELETING": ("model_retired", "retire")}.get(state)
    if kind is None:
        return None  # creating, updating, rolling back, failed: the next state says what it came to
    config = detail.get("EndpointConfigName")
    variants = [compact({"name": v.get("VariantName"), "weight": v.get("CurrentWeight", v.get("DesiredWeight")),
                         "instances": v.get("CurrentInstanceCount", v.get("DesiredInstanceCount"))})
                for v in detail.get("ProductionVariants") or [] if isinstance(v, dict)]
    return {"event_type": kind[0], "occurred_at": _when(detail, envelope, "LastModifiedTime", "CreationTime"),
            **_model(detail, name, config), "resource": detail.get("EndpointArn") or _first(envelope.get("resources")),
            "action": kind[1], "details": compact({"status": status, "endpoint_config": config,
                                                    "variants": variants})}


def _endpoint_config(detail: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any]:
    name = need(detail, "EndpointConfigName", "detail.EndpointConfigName")
    variants = [compact({"name": v.get("VariantName"), "model": v.get("ModelName"),
                         "instance_type": v.get("InstanceType"), "instances": v.get("InitialInstanceCount")})
                for v in detail.get("ProductionVariants") or [] if isinstance(v, dict)]
    return {"event_type": "config_changed", "occurred_at": _when(detail, envelope, "CreationTime"),
            "resource": detail.get("EndpointConfigArn") or _first(envelope.get("resources")) or name,
            "action": "endpoint_config", "details": compact({"endpoint_config": name, "variants": variants})}


def _first(values: Any) -> str | None:
    return values[0] if isinstance(values, list) and values and isinstance(values[0], str) else None
