"""Functions: runtime, architecture, layers, limits and the scaling knobs from settings."""

from __future__ import annotations

from mlaudit.functions import BY_NAME
from mlaudit.settings import Env

from stacks.functions import RUNTIME
from tests.infra.synth import Synth


def _function(synth: Synth, path: str) -> dict:
    return synth.resources[synth.logical_id(f"{path}/Function")]["Properties"]


def test_every_function_runs_the_latest_python_on_arm64_with_tracing(synth: Synth) -> None:
    functions = synth.props("AWS::Lambda::Function")
    assert len(functions) >= 3
    for function in functions:
        assert function["Runtime"] == RUNTIME.name
        assert function["Architectures"] == ["arm64"]
        assert function["TracingConfig"] == {"Mode": "Active"}
        assert function["Handler"].startswith("mlaudit.handlers.")
        assert function["LoggingConfig"]["LogFormat"] == "JSON"


def test_pyarrow_only_where_declared_and_the_core_layer_everywhere(synth: Synth) -> None:
    core, arrow = ({"Ref": synth.logical_id(f"Layers/{name}")} for name in ("Core", "Pyarrow"))
    for path, spec in (("Ingestion/Ingest", "ingest"), ("Ingestion/Writer", "writer"), ("Authorizer", "authorizer")):
        layers = _function(synth, path)["Layers"]
        assert layers == ([core, arrow] if BY_NAME[spec].pyarrow else [core]), path
    for props in synth.props("AWS::Lambda::LayerVersion"):
        assert props["CompatibleArchitectures"] == ["arm64"]
        assert props["CompatibleRuntimes"] == [RUNTIME.name]


def test_no_public_layer_remains(synth: Synth) -> None:
    for function in synth.props("AWS::Lambda::Function"):
        for layer in function["Layers"]:
            assert set(layer) == {"Ref"}, layer  # only this stack's own layers


def test_ingest_alias_has_provisioned_concurrency_and_target_tracking(synth: Synth) -> None:
    s = synth.settings
    (alias,) = synth.props("AWS::Lambda::Alias")
    if not s.ingest_provisioned_min:  # off by default: a fresh account cannot spare it
        assert "ProvisionedConcurrencyConfig" not in alias
        assert not synth.props("AWS::ApplicationAutoScaling::ScalableTarget")
        return
    assert alias["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": s.ingest_provisioned_min}
    (target,) = synth.props("AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (s.ingest_provisioned_min, s.ingest_provisioned_max)
    assert target["ScalableDimension"] == "lambda:function:ProvisionedConcurrency"
    (policy,) = synth.props("AWS::ApplicationAutoScaling::ScalingPolicy")
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == s.ingest_provisioned_target
    metric = tracking["PredefinedMetricSpecification"]["PredefinedMetricType"]
    assert metric == "LambdaProvisionedConcurrencyUtilization"


def test_api_invokes_the_ingest_alias(synth: Synth) -> None:
    alias = synth.logical_id("Ingestion/IngestLive")
    method = synth.resources[synth.logical_id("Api/RestApi/Default/v1/events/POST")]["Properties"]
    assert {"Ref": alias} in method["Integration"]["Uri"]["Fn::Join"][1]


def test_ingest_limits_and_environment(synth: Synth) -> None:
    s = synth.settings
    ingest = _function(synth, "Ingestion/Ingest")
    assert (ingest["Timeout"], ingest["MemorySize"]) == (s.ingest_timeout_seconds, s.ingest_memory_mb)
    env = ingest["Environment"]["Variables"]
    assert {Env.EVENTS_QUEUE_URL, Env.IDEMPOTENCY_TABLE, Env.KMS_KEY_ID, Env.SUBJECT_KEYS_TABLE} <= set(env)
    assert env["MLAUDIT_MAX_BATCH_EVENTS"] == str(s.max_batch_events)


def test_writer_limits_event_source_and_environment(synth: Synth) -> None:
    s = synth.settings
    writer = _function(synth, "Ingestion/Writer")
    assert (writer["Timeout"], writer["MemorySize"]) == (s.writer_timeout_seconds, s.writer_memory_mb)
    assert writer.get("ReservedConcurrentExecutions") == s.writer_reserved_concurrency
    assert {"MLAUDIT_AUDIT_BUCKET", "MLAUDIT_LEDGER_TABLE", "MLAUDIT_KMS_KEY_ID"} <= set(
        writer["Environment"]["Variables"]
    )
    (mapping,) = synth.props("AWS::Lambda::EventSourceMapping")
    assert mapping["BatchSize"] == s.writer_batch_size
    assert mapping["MaximumBatchingWindowInSeconds"] == s.writer_batch_window_seconds
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    pollers = min(s.writer_max_concurrency, s.writer_reserved_concurrency or s.writer_max_concurrency)
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": pollers}


def test_queue_visibility_is_at_least_six_writer_timeouts_with_a_dlq(synth: Synth) -> None:
    s = synth.settings
    queue = synth.resources[synth.logical_id("Ingestion/EventsQueue")]["Properties"]
    assert queue["VisibilityTimeout"] == s.queue_visibility_timeout_seconds >= 6 * s.writer_timeout_seconds
    assert queue["MessageRetentionPeriod"] == s.queue_retention_days * 86_400
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [synth.logical_id("Ingestion/DeadLetterQueue"), "Arn"]},
        "maxReceiveCount": s.max_receive_count,
    }


def test_functions_log_to_their_own_retained_log_group(synth: Synth) -> None:
    for path in ("Ingestion/Ingest", "Ingestion/Writer", "Authorizer"):
        group = synth.logical_id(f"{path}/Logs")
        assert _function(synth, path)["LoggingConfig"]["LogGroup"] == {"Ref": group}
        assert synth.resources[group]["DeletionPolicy"] == "Retain"
