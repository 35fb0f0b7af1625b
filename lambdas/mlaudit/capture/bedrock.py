"""Bedrock's model invocation log records -> `generative_inference` events.

Bedrock delivers its invocation logs (with S3 as the destination) as gzipped JSON Lines
under `<prefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/<yyyy>/<mm>/<dd>/<hh>/`.
With the landing bucket as that destination and `bedrock` as the prefix, the import
function reads each file like any other import (docs/capture.md): one record per line,
each mapped here and then checked by the contract.

Per record: the model (`modelId`; `resource` is its ARN), the operation (`action`), the
token counts (`metrics`), the latency Bedrock reports, the guardrail's action, the caller
(`identity.arn`, as CloudTrail keeps it), the request id (the `event_id`: the same
invocation in two deliveries is stored once). The prompt and the output are stored only
as SHA-256 hashes of their canonical JSON, unless `capture_bedrock_prompts` is
`encrypted`: then they are `personal_data`, encrypted under the key of the subject the
request names (request metadata `subject_ref`), or of the caller, like any personal data.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from typing import IO, Any

from mlaudit.capture.common import Refused, as_event_id, compact, need, timestamp
from mlaudit.codec import canonical_json
from mlaudit.contract import JSON_MAX_BYTES
from mlaudit.imports.readers import Unreadable, read_jsonl

SCHEMA_TYPE = "ModelInvocationLog"
KEY_PREFIX = "bedrock/"  # where the landing bucket takes Bedrock's deliveries
LOGS_PATH = "AWSLogs/{account}/BedrockModelInvocationLogs/"  # below the prefix (Bedrock's layout)
PROMPTS = ("hash", "encrypted")
SUBJECT_METADATA_KEY = "subject_ref"
_TOKENS = {"inputTokenCount": "input_tokens", "cacheReadInputTokenCount": "cache_read_input_tokens",
           "cacheWriteInputTokenCount": "cache_write_input_tokens"}


def is_log_file(key: str) -> bool:
    """A delivery of records (not the large-data objects under data/, nor the permission
    check Bedrock writes when logging is switched on)."""
    return key.startswith(KEY_PREFIX) and "/BedrockModelInvocationLogs/" in key and "/data/" not in key \
        and key.endswith((".json.gz", ".json"))


def map_record(record: Any, prompts: str = "hash") -> dict[str, Any]:
    if prompts not in PROMPTS:
        raise ValueError(f"prompts must be one of {PROMPTS}")
    if not isinstance(record, dict):
        raise Refused("$", "type", "an invocation log record object")
    if record.get("schemaType") != SCHEMA_TYPE:
        raise Refused("schemaType", "allowed", f"Bedrock's {SCHEMA_TYPE}")
    model = need(record, "modelId", "modelId")
    region, account = record.get("region"), record.get("accountId")
    given_input, given_output = record.get("input") or {}, record.get("output") or {}
    if not isinstance(given_input, dict) or not isinstance(given_output, dict):
        raise Refused("input" if not isinstance(given_input, dict) else "output", "type", "an object")
    body_in, body_out = given_input.get("inputBodyJson"), given_output.get("outputBodyJson")
    tokens = {name: given_input[key] for key, name in _TOKENS.items() if _count(given_input.get(key))}
    if _count(given_output.get("outputTokenCount")):
        tokens["output_tokens"] = given_output["outputTokenCount"]
    metrics_out = body_out.get("metrics") if isinstance(body_out, dict) else None
    latency = metrics_out.get("latencyMs") if isinstance(metrics_out, dict) else None
    caller = (record.get("identity") or {}).get("arn") if isinstance(record.get("identity"), dict) else None
    metadata = record.get("requestMetadata") if isinstance(record.get("requestMetadata"), dict) else {}
    subject = metadata.get(SUBJECT_METADATA_KEY)
    details = compact({
        "request_id": record.get("requestId"), "caller_arn": caller, "region": region, "account": account,
        "operation": record.get("operation"), "status": record.get("status"), "error_code": record.get("errorCode"),
        "guardrail_action": _guardrail(body_out), "stop_reason": body_out.get("stopReason")
        if isinstance(body_out, dict) else None,
        "input_sha256": _digest(body_in), "output_sha256": _digest(body_out),
        "input_s3_path": given_input.get("inputBodyS3Path"), "output_s3_path": given_output.get("outputBodyS3Path"),
        "request_metadata": {k: v for k, v in metadata.items() if k != SUBJECT_METADATA_KEY} or None,
        "captured_from": {"source": "aws.bedrock", "schema_version": record.get("schemaVersion")},
    })
    event = compact({
        "event_id": as_event_id(record.get("requestId"), "requestId"),
        "event_type": "generative_inference",
        "occurred_at": timestamp(record.get("timestamp"), "timestamp"),
        "model_id": model,
        "resource": model if model.startswith("arn:") else f"arn:aws:bedrock:{region}::foundation-model/{model}",
        "action": record.get("operation"),
        "latency_ms": float(latency) if isinstance(latency, int | float) and not isinstance(latency, bool) else None,
        "metrics": tokens,
        "details": details,
    })
    if prompts == "encrypted":
        _encrypted(event, body_in, body_out, subject if isinstance(subject, str) and subject else caller)
    elif isinstance(subject, str) and subject:
        event["subject_ref"] = subject  # who the call was about, pseudonymized as always
    return event


def _encrypted(event: dict[str, Any], body_in: Any, body_out: Any, subject: str | None) -> None:
    """The prompt and the output as personal data of `subject`, when they fit the contract."""
    text = compact({"input": body_in, "output": body_out})
    if not subject or not text:
        event["details"]["text_stored"] = False
        return
    if len(canonical_json(text)) > JSON_MAX_BYTES:
        event["details"]["text_stored"] = False
        event["details"]["text_not_stored_because"] = f"larger than {JSON_MAX_BYTES} bytes"
        event["subject_ref"] = subject
        return
    event["subject_ref"], event["personal_data"] = subject, text
    event["details"]["text_stored"] = True


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _digest(body: Any) -> str | None:
    if body is None:
        return None
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _guardrail(body: Any) -> str | None:
    """INTERVENED or NONE where the call went through a guardrail, else None."""
    if not isinstance(body, dict):
        return None
    action = body.get("amazon-bedrock-guardrailAction")  # InvokeModel with a guardrail
    if isinstance(action, str):
        return action
    if body.get("stopReason") == "guardrail_intervened":  # Converse
        return "INTERVENED"
    trace = body.get("trace")
    return "NONE" if isinstance(trace, dict) and "guardrail" in trace else None


def read_log(stream: IO[bytes], prompts: str = "hash",
             max_line_bytes: int = 1_000_000) -> Iterator[tuple[int, bytes | Unreadable]]:
    """A delivered log file (gzipped or not), record by record: (line number, the mapped
    event as JSON, or Unreadable naming the record's problem)."""
    head = stream.peek(2)[:2] if hasattr(stream, "peek") else b""
    if head == b"\x1f\x8b" or not head and _gzipped(stream):
        stream = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
    try:
        for number, line in read_jsonl(stream, max_line_bytes):
            if isinstance(line, Unreadable):
                yield number, line
                continue
            try:
                record = json.loads(line)
            except ValueError:
                yield number, Unreadable("malformed_json", "not a JSON object")
                continue
            try:
                yield number, json.dumps(map_record(record, prompts), ensure_ascii=False).encode()
            except Refused as refused:
                yield number, Unreadable(refused.rule, refused.message, refused.path)
    except (OSError, EOFError):  # gzip.BadGzipFile is an OSError
        yield 0, Unreadable("not_gzip", "the file is not readable as gzip")


def _gzipped(stream: IO[bytes]) -> bool:
    if not getattr(stream, "seekable", lambda: False)():
        return False
    position = stream.tell()
    head = stream.read(2)
    stream.seek(position)
    return head == b"\x1f\x8b"
