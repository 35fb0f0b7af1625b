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
import math
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from mlaudit.codec import PLAIN_FLOAT_HIGH, PLAIN_FLOAT_LOW, canonical_json, canonical_json_fast


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
# Sized for real OpenLineage facets kept in `details`: a 200-column schema facet with
# column lineage (event > outputs > [i] > facets > columnLineage > fields > column >
# inputFields > [j] > transformations > [k] is 11 levels; nested struct columns add two
# per level) is about 90 KB; the whole event must still fit one queue message (ingest's
# max_message_bytes, 240,000), so the size bound stays well below it.
JSON_MAX_BYTES = 131_072  # canonical JSON text
JSON_MAX_DEPTH = 16  # objects and arrays, the value itself being level 1
JSON_MAX_ITEMS = 1_024  # keys per object, items per array
JSON_MAX_KEY_LENGTH = 256  # characters per object key
# The bounds, by the name a violation reports.
JSON_BOUNDS = {"depth": JSON_MAX_DEPTH, "width": JSON_MAX_ITEMS, "key_length": JSON_MAX_KEY_LENGTH,
               "size": JSON_MAX_BYTES}
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(parts: list[str | int]) -> str:
    """`$`, `.key` for identifier-like keys, `["other key"]` (ASCII, cut to 64
    characters) for the rest, `[i]` for array items."""
    out = "$"
    for part in parts:
        if type(part) is int:
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part) and len(part) <= 64:
            out += f".{part}"
        else:
            cut = part if len(part) <= 64 else part[:61] + "..."
            out += "[" + json.dumps(cut, ensure_ascii=True) + "]"
    return out


class JsonBoundsError(ValueError):
    """A free-form JSON value breaks a bound: `bound` is one of depth, width,
    key_length, size, finite; `path` (a list of keys and indexes) is where."""

    def __init__(self, bound: str, detail: str, path: list[str | int] | None = None) -> None:
        super().__init__(bound, detail)
        self.bound = bound
        self.detail = detail
        self.path: list[str | int] = path if path is not None else []

    def __str__(self) -> str:
        return f"{self.bound} bound broken at {json_path(self.path)}: {self.detail}"


def _check_json(value: Any, depth: int = 1) -> bool:
    """Depth, width and key bounds (else JsonBoundsError with the path). True when every
    number in it is one the fast canonical encoder writes as repr does (see
    `canonical_json_fast`)."""
    is_dict = type(value) is dict
    if depth > JSON_MAX_DEPTH:
        raise JsonBoundsError("depth", f"nested deeper than {JSON_MAX_DEPTH} levels of objects and arrays")
    if len(value) > JSON_MAX_ITEMS:
        raise JsonBoundsError(
            "width", f"{'object' if is_dict else 'array'} has {len(value)} items, at most {JSON_MAX_ITEMS}"
        )
    items = value.values() if is_dict else value
    if is_dict and max(map(len, value), default=0) > JSON_MAX_KEY_LENGTH:
        key = next(k for k in value if len(k) > JSON_MAX_KEY_LENGTH)
        raise JsonBoundsError(
            "key_length", f"key of {len(key)} characters, at most {JSON_MAX_KEY_LENGTH}", [key]
        )
    kinds = set(map(type, items))  # one pass in C; most values are flat
    plain = float not in kinds or all(
        x == 0.0 or PLAIN_FLOAT_LOW <= abs(x) < PLAIN_FLOAT_HIGH for x in items if type(x) is float
    )
    if dict in kinds or list in kinds:
        for key, item in value.items() if is_dict else enumerate(value):
            if type(item) is dict or type(item) is list:
                try:
                    plain = _check_json(item, depth + 1) and plain
                except JsonBoundsError as error:
                    error.path.insert(0, key)  # only on the way out of a failure
                    raise
    return plain


def _non_finite_path(value: Any) -> list[str | int] | None:
    """Where the first NaN or infinity is, or None."""
    pairs = value.items() if type(value) is dict else enumerate(value) if type(value) is list else ()
    for key, item in pairs:
        if type(item) is float and not math.isfinite(item):
            return [key]
        found = _non_finite_path(item)
        if found is not None:
            return [key, *found]
    return None


class CanonicalJson(dict):  # type: ignore[type-arg]
    """A validated JSON object that remembers its canonical text (encoded once)."""

    text: str


def _bounded_json(value: dict[str, Any]) -> dict[str, Any]:
    """The contract's check of a free-form JSON field: bounds (JsonBoundsError naming the
    bound and the path), then its canonical text, kept with the value."""
    floats_plain = _check_json(value)
    try:
        text = canonical_json_fast(value, floats_plain)
    except ValueError:  # the definition's encoder refuses NaN and infinities
        raise JsonBoundsError(
            "finite", "numbers must be finite (no NaN or Infinity)", _non_finite_path(value) or []
        ) from None
    if len(text) > JSON_MAX_BYTES:
        largest = max(value, key=lambda k: len(canonical_json(value[k])))
        raise JsonBoundsError(
            "size",
            f"{len(text)} bytes as canonical JSON, at most {JSON_MAX_BYTES} "
            f"(largest member {json_path([largest])}: {len(canonical_json(value[largest]))} bytes)",
        )
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


# Timestamps: RFC 3339 `date-time` exactly (section 5.6), not the ISO 8601 variants a
# lenient parser takes (a space for "T", no seconds, a comma fraction, "+0100"). Refused
# though RFC 3339 allows it: a leap second (":60"); at most 9 fraction digits. The
# instant, in UTC, lies in [TIMESTAMP_MIN, TIMESTAMP_MAX]: every value the lake's
# timestamp column and the canonical text (4-digit years) can hold.
RFC3339_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
_RFC3339 = re.compile(RFC3339_PATTERN)
_RFC3339_NAIVE = re.compile(RFC3339_PATTERN.split("([Zz]")[0] + "$")
TIMESTAMP_MIN = datetime(1, 1, 1, tzinfo=UTC)
TIMESTAMP_MAX = datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)


def _rfc3339_text(value: Any) -> Any:
    """The text of an RFC 3339 date-time -> an aware datetime (the fraction cut to
    microseconds); anything else is left for the strict type check to refuse."""
    if type(value) is not str:
        return value
    if not _RFC3339.match(value):
        if _RFC3339_NAIVE.match(value):
            raise PydanticCustomError("timezone_aware", "needs a UTC offset (Z or +hh:mm)")
        raise PydanticCustomError(
            "rfc3339", "not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm))",
        )
    text = value.upper().replace("Z", "+00:00")
    if "." in text:
        whole, rest = text.split(".", 1)
        digits = rest[:-6]
        text = f"{whole}.{(digits + '000000')[:6]}{rest[-6:]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # a day the month does not have
        raise PydanticCustomError("rfc3339", "not a calendar date-time") from None


def _in_bounds(value: datetime) -> datetime:
    try:
        instant = value.astimezone(UTC)
    except OverflowError:
        instant = None
    if instant is None or not TIMESTAMP_MIN <= instant <= TIMESTAMP_MAX:
        raise PydanticCustomError(
            "timestamp_range", "outside 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z once converted to UTC",
        )
    return value


def _not_bool(value: Any) -> Any:
    if type(value) is bool:
        raise PydanticCustomError("int_type", "must be the integer 1, not a boolean")
    return value


Timestamp = Annotated[
    AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_in_bounds),
    Field(json_schema_extra={"pattern": RFC3339_PATTERN}),
]
SchemaVersion = Annotated[Literal[1], BeforeValidator(_not_bool)]


class EventIn(BaseModel):
    """An audit event as a client sends it (contract v1)."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, allow_inf_nan=False, title="AuditEventV1",
        # Personal data is encrypted under its subject's key: no subject, no personal data.
        json_schema_extra={"dependentRequired": {"personal_data": ["subject_ref"]}},
    )

    event_id: Identifier | None = Field(
        None,
        description="The event's idempotency key, per sender: within the idempotency window "
        "(idempotency_ttl_seconds, default 24 h) an id already stored is acknowledged again and "
        "stored nothing, in any request and any batch; the same id with other content is refused "
        "(409 idempotency_conflict naming the index). After the window the id is new again. When "
        "absent the server derives one from the sender and the event's content, so a retried "
        "identical event keeps its id.",
    )
    schema_version: SchemaVersion = 1
    event_type: EventType
    occurred_at: Timestamp = Field(
        description="When it happened: RFC 3339 date-time with a UTC offset (Z or +hh:mm), seconds "
        "required, '.' and at most 9 digits for a fraction; no leap second (:60). In UTC it must lie "
        "between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z. Stored to the millisecond.",
    )

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
