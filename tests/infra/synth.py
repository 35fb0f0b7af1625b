"""The synthesized app as tests see it, and the variants the fixtures build."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template
from mlaudit.routes import ROUTES, Route
from mlaudit.settings import Settings

from app import build_app
from stacks.app_stack import MlAuditStack

CUSTOM_CONTEXT: dict[str, str] = {
    "object_lock_mode": "COMPLIANCE",
    "object_lock_days": "400",
    "archive_after_days": "45",
    "archive_storage_class": "DEEP_ARCHIVE",
    "noncurrent_archive_after_days": "10",
    "access_log_retention_days": "365",
    "log_retention_days": "3653",
    "api_throttle_rate": "250",
    "api_throttle_burst": "500",
    "waf_enabled": "true",
    "waf_rate_limit_per_5min": "3000",
    "ingest_provisioned_min": "2",
    "ingest_provisioned_max": "7",
    "ingest_provisioned_target": "0.5",
    "writer_batch_size": "500",
    "writer_batch_window_seconds": "20",
    "writer_timeout_seconds": "120",
    "writer_reserved_concurrency": "3",
    "queue_visibility_timeout_seconds": "720",
    "max_receive_count": "3",
    "athena_bytes_scanned_cutoff": "1073741824",
    "quicksight_principal_arn": "arn:aws:quicksight:us-east-1:123456789012:group/default/auditors",
    "alarm_email": "ops@example.com",
    "api_p99_latency_ms": "1500",
    "writer_max_message_age_seconds": "600",
    "capture_sagemaker": "true",
    "capture_dynamodb_stream_arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/predictions/stream/"
                                   "2026-11-01T00:00:00.000",
    "capture_bedrock_prompts": "encrypted",
}


@dataclass
class Synth:
    stack: MlAuditStack
    settings: Settings
    template: Template
    resources: dict[str, dict[str, Any]]
    outdir: Path

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == cfn_type}

    def props(self, cfn_type: str) -> list[dict[str, Any]]:
        return [r.get("Properties", {}) for r in self.of_type(cfn_type).values()]

    def logical_id(self, path: str) -> str:
        """Logical id of the L1 resource at a construct path below the stack."""
        node = self.stack
        for part in [*path.split("/"), "Resource"]:
            node = node.node.find_child(part)
        return self.stack.get_logical_id(node)  # type: ignore[arg-type]


def synthesize(tmp: Path, context: dict[str, str] | None, routes: tuple[Route, ...] = ROUTES) -> Synth:
    app, stack = build_app(context, outdir=str(tmp), routes=routes)
    assembly = app.synth()  # raises if any rule pack finding is not acknowledged
    template = assembly.get_stack_by_name(stack.stack_name).template
    return Synth(stack, stack.settings, Template.from_json(template), template["Resources"], tmp)


def path_of(synth: Synth, resource_id: dict) -> str:
    """The API path of an AWS::ApiGateway::Resource reference, e.g. /v1/events."""
    parts = []
    while "Ref" in resource_id and synth.resources[resource_id["Ref"]]["Type"] == "AWS::ApiGateway::Resource":
        props = synth.resources[resource_id["Ref"]]["Properties"]
        parts.append(props["PathPart"])
        resource_id = props["ParentId"]
    return "/" + "/".join(reversed(parts))
