"""Audit event contract, version 1.

Two models:
- `EventIn`: what a client may send. Strict, bounded, unknown fields rejected.
- `StoredEvent`: one row of the lake. Adds the fields the server owns (who sent it,
  from where, when it arrived, data-quality verdict, leaf hash). The Parquet schema
  and the Glue table are generated from it (see `layout`), never typed twice.

A field is personal data only in `subject_ref` and `personal_data`; neither is ever
stored in clear (the privacy module turns them into a pseudonym and ciphertext).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

SCHEMA_VERSION = 1


class EventType(StrEnum):
    """What happened. One partition per type in the lake."""

    DATA_INGESTED = "data_ingested"
    DATA_ACCESSED = "data_accessed"
    DATASET_REGISTERED = "dataset_registered"
    TRAINING_STARTED = "training_started"
    TRAINING_COMPLETED = "training_completed"
    TRAINING_FAILED = "training_failed"
    MODEL_EVALUATED = "model_evaluated"
    MODEL_REGISTERED = "model_registered"
    MODEL_DEPLOYED = "model_deployed"
    MODEL_RETIRED = "model_retired"
    PREDICTION = "prediction"
    GROUND_TRUTH = "ground_truth"
    LINEAGE = "lineage"
    AUDIT_ACCESS = "audit_access"
    CONFIG_CHANGED = "config_changed"
    SUBJECT_ACCESS = "subject_access"
    SUBJECT_ERASURE = "subject_erasure"


# Bounds for free-form JSON (features, explanation, metrics, details, personal_data).
JSON_MAX_BYTES = 16_384
JSON_MAX_DEPTH = 5
JSON_MAX_ITEMS = 256  # keys per object, items per array


class JsonBoundsError(ValueError):
    pass


def _check_json(value: Any, depth: int = 1) -> bool:
    """Depth, width and key bounds. True when every number in it is one the fast
    canonical encoder writes as repr does (see `canonical_json_fast`)."""
    if depth > JSON_MAX_DEPTH:
        raise JsonBoundsError(f"nested deeper than {JSON_MAX_DEPTH} levels")
    items = value.values() if type(value) is dict else value
    if len(value) > JSON_MAX_ITEMS:
        raise JsonBoundsError(f"{'object' if type(value) is dict else 'array'} has more than {JSON_MAX_ITEMS} items")
    if type(value) is dict and max(map(len, value), default=0) > 128:
        raise JsonBoundsError("object key longer than 128 characters")
    kinds = set(map(type, items))  # one pass in C; most values are flat
    plain = float not in kinds or all(
        x == 0.0 or PLAIN_FLOAT_LOW <= abs(x) < PLAIN_FLOAT_HIGH for x in items if type(x) is float
    )
    if dict in kinds or list in kinds:
        for item in items:
            if type(item) is dict or type(item) is list:
                plain = _check_json(item, depth + 1) and plain
    return plain


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def canonical_json(value: Any) -> str:
    """The one JSON form used for storage and hashing: sorted keys, no spaces, ASCII
    (\\u escapes), floats as Python's repr. This encoder is its definition."""
    return _CANONICAL.encode(value)


_FAST_SORTED = msgspec.json.Encoder(order="sorted")
_FAST_AS_BUILT = msgspec.json.Encoder()
# "Plain" floats, which msgspec writes exactly as Python's repr does: 0, and
# PLAIN_FLOAT_LOW <= |x| < PLAIN_FLOAT_HIGH. Outside, repr uses exponents that msgspec
# spells differently (1e+16 and 2.5e-07 against 1e16 and 2.5e-7), and msgspec writes
# NaN as null; NaN and infinities fail the test too. Hot loops spell the test inline.
PLAIN_FLOAT_LOW, PLAIN_FLOAT_HIGH = 1e-4, 1e16


def canonical_bytes_fast(value: Any, floats_plain: bool, *, sort_keys: bool = True) -> bytes:
    """`canonical_json(value)` as ASCII bytes, for JSON values (dict, list, str, int,
    float, bool, None); about 3x faster when the caller has seen that every float in it
    is plain (see PLAIN_FLOAT_LOW). Text outside printable ASCII (msgspec writes it raw, not
    \\u-escaped) and lone surrogates go the slow way. Tests compare both ways with
    hypothesis. `sort_keys=False` skips sorting on the fast way: canonical only for dicts
    built in sorted key order (a leaf record), or where key order does not matter."""
    if floats_plain:
        try:
            fast = (_FAST_SORTED if sort_keys else _FAST_AS_BUILT).encode(value)
        except (TypeError, UnicodeEncodeError):
            fast = b""
        if fast and fast.isascii() and b"\x7f" not in fast:
            return fast
    return _CANONICAL.encode(value).encode("ascii")


def canonical_json_fast(value: Any, floats_plain: bool) -> str:
    """`canonical_bytes_fast`, as text."""
    return canonical_bytes_fast(value, floats_plain).decode("ascii")


class CanonicalJson(dict):  # type: ignore[type-arg]
    """A validated JSON object that remembers its canonical text (encoded once)."""

    text: str


def _bounded_json(value: dict[str, Any]) -> dict[str, Any]:
    try:
        text = canonical_json_fast(value, _check_json(value))
    except ValueError:
        raise JsonBoundsError("numbers must be finite (no NaN or Infinity)") from None
    if len(text) > JSON_MAX_BYTES:
        raise JsonBoundsError(f"larger than {JSON_MAX_BYTES} bytes as canonical JSON")
    result = CanonicalJson(value)
    result.text = text
    return result


def _text(max_length: int) -> Any:
    # No lone surrogates can get this far: the JSON parser refuses them (tested).
    return Annotated[str, StringConstraints(min_length=1, max_length=max_length)]


Identifier = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")
]
Name = _text(128)
ShortName = _text(64)
Ref = _text(512)
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
FiniteFloat = float  # finite: the models set allow_inf_nan=False (checked in Rust)
BoundedJson = Annotated[dict[str, Any], AfterValidator(_bounded_json)]
RefList = Annotated[list[Ref], Field(max_length=100)]


class EventIn(BaseModel):
    """An audit event as a client sends it (contract v1)."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, allow_inf_nan=False, title="AuditEventV1",
        # Personal data is encrypted under its subject's key: no subject, no personal data.
        json_schema_extra={"dependentRequired": {"personal_data": ["subject_ref"]}},
    )

    event_id: Identifier | None = Field(
        None,
        description="Unique id and idempotency key. When absent the server derives one from "
        "the sender and the event's content, so a retried identical event keeps its id.",
    )
    schema_version: Literal[1] = 1
    event_type: EventType
    occurred_at: AwareDatetime = Field(description="When it happened, with a UTC offset.")

    workload: Name | None = None
    environment: ShortName | None = None
    model_id: Name | None = None
    model_version: ShortName | None = None
    model_artifact_sha256: Sha256Hex | None = None
    dataset_id: _text(256) | None = None
    dataset_version: ShortName | None = None
    run_id: Name | None = None
    parent_run_id: Name | None = None

    prediction_id: Name | None = None
    prediction_label: _text(256) | None = None
    prediction_score: FiniteFloat | None = None
    latency_ms: FiniteFloat | None = None
    features: BoundedJson | None = None
    explanation: BoundedJson | None = None
    metrics: BoundedJson | None = None
    label_for_prediction_id: Name | None = None
    true_label: _text(256) | None = None
    inputs: RefList | None = None
    outputs: RefList | None = None

    resource: Ref | None = Field(None, description="What was accessed or changed.")
    action: ShortName | None = None
    details: BoundedJson | None = Field(
        None, description="Free-form context, such as an OpenLineage facet or a config diff."
    )

    subject_ref: _text(256) | None = Field(
        None,
        description="The data subject's identifier. Personal data: pseudonymized at ingest, "
        "never stored.",
    )
    personal_data: BoundedJson | None = Field(
        None,
        description="Personal fields about the subject. Encrypted under the subject's key at "
        "ingest; only ciphertext is stored.",
    )


class EventBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, title="AuditEventBatchV1")
    events: list[EventIn] = Field(min_length=1)


# Fields a client must never send: the server sets them from the token and request.
SERVER_OWNED_FIELDS = frozenset(
    {
        "actor_id",
        "actor_type",
        "actor_roles",
        "client_id",
        "source_ip",
        "user_agent",
        "received_at",
        "leaf_hash",
        "dq_status",
        "dq_violations",
        "subject_pseudonym",
    }
)

# The JSON columns, stored as canonical JSON text.
JSON_FIELDS = ("features", "explanation", "metrics", "details")
LIST_FIELDS = ("inputs", "outputs")


class StoredEvent(BaseModel):
    """One row of the lake, in column order. `event_type` is also the partition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str
    schema_version: int
    event_type: str
    occurred_at: datetime
    received_at: datetime
    actor_id: str
    actor_type: Literal["service", "user"]
    actor_roles: list[str]
    client_id: str
    source_ip: str | None
    user_agent: str | None
    workload: str | None
    environment: str | None
    model_id: str | None
    model_version: str | None
    model_artifact_sha256: str | None
    dataset_id: str | None
    dataset_version: str | None
    run_id: str | None
    parent_run_id: str | None
    prediction_id: str | None
    prediction_label: str | None
    prediction_score: float | None
    latency_ms: float | None
    features: str | None
    explanation: str | None
    metrics: str | None
    label_for_prediction_id: str | None
    true_label: str | None
    inputs: list[str]
    outputs: list[str]
    resource: str | None
    action: str | None
    details: str | None
    subject_pseudonym: str | None
    personal_data: str | None
    dq_status: Literal["pass", "warn", "fail"]
    dq_violations: list[str]
    leaf_hash: str


def format_timestamp(value: datetime) -> str:
    """UTC, millisecond precision, 'Z': the one timestamp form in canonical records."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
