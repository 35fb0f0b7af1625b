"""Audit event contract, version 1: `EventIn`, what a client may send, defined once.

Strict, bounded, unknown fields rejected. The JSON Schema (docs/event-schema.json) and
the validation keywords the ingest function's fast decoder is compiled from
(`contract_v1.json`, see `ingest.decode`) are generated from these models; what a
schema cannot say (bounded free-form JSON, exact RFC 3339 timestamps) is checked by
functions in `mlaudit.contract` that both paths call. pydantic validates a request
only when the fast decoder does not accept it: then every problem is listed
(`ingest.validation`).

A field is personal data only in `subject_ref` and `personal_data`; neither is ever
stored in clear (the privacy module turns them into a pseudonym and ciphertext).
"""

from __future__ import annotations

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

from mlaudit.codec import canonical_json  # noqa: F401 - also read from here
from mlaudit.contract import (  # noqa: F401 - the contract's names, also read from here
    JSON_BOUNDS,
    JSON_FIELDS,
    JSON_MAX_BYTES,
    JSON_MAX_DEPTH,
    JSON_MAX_ITEMS,
    JSON_MAX_KEY_LENGTH,
    LIST_FIELDS,
    RFC3339_PATTERN,
    SERVER_OWNED_FIELDS,
    TIMESTAMP_MAX,
    TIMESTAMP_MIN,
    CanonicalJson,
    EventType,
    JsonBoundsError,
    TimestampError,
    _check_json,
    bounded_json,
    json_path,
    parse_timestamp,
)

_bounded_json = bounded_json


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


def _rfc3339_text(value: Any) -> Any:
    """The text of an RFC 3339 date-time -> an aware datetime in bounds
    (`contract.parse_timestamp`); anything else is left for the strict type check to refuse."""
    if type(value) is not str:
        return value
    try:
        return parse_timestamp(value)
    except TimestampError as error:
        raise PydanticCustomError(error.code, error.message) from None


def _not_bool(value: Any) -> Any:
    if type(value) is bool:
        raise PydanticCustomError("int_type", "must be the integer 1, not a boolean")
    if type(value) is float:  # JSON Schema's const 1 also admits 1.0 and 1e0: the contract does not
        raise PydanticCustomError("int_type", "must be the integer 1 written as 1 (not 1.0 or 1e0)")
    return value


Timestamp = Annotated[
    AwareDatetime, BeforeValidator(_rfc3339_text),
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
    schema_version: SchemaVersion = Field(
        1, description="The contract's version: the integer 1, written 1. JSON Schema's const also admits "
        "1.0 and 1e0; the API refuses them (422, rule int_type).",
    )
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
