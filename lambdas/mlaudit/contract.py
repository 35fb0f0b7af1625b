"""The audit event contract, version 1, in plain Python: what every path shares.

The wire contract itself is `events.EventIn` (pydantic), from which the JSON Schema
(docs/event-schema.json) and the ingest function's fast decoder (`ingest.decode`) are
generated. What the schema cannot state lives here, in functions both validation paths
call: the bounds of free-form JSON (with their canonical text) and RFC 3339 timestamps.
Also here: the event types, the field groups and `StoredEvent`, one row of the lake.

No pydantic here: the ingest function imports this module on its cold path.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from mlaudit.codec import (
    PLAIN_FLOAT_HIGH,
    PLAIN_FLOAT_LOW,
    canonical_json,
    canonical_json_fast,
    encode_sorted,
    format_timestamp,
)


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
    # A call to a generative model (Bedrock's invocation logs): model, tokens, latency,
    # guardrail action and caller; prompt and output as hashes (docs/capture.md).
    GENERATIVE_INFERENCE = "generative_inference"
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

    def __init__(self, value: dict[str, Any], text: str = "") -> None:
        super().__init__(value)
        self.text = text


# Where msgspec writes a float other than repr does (see codec.plain_float): with an
# exponent repr would not use or spells otherwise ("1e16" against "1e+16"), or
# positionally below 1e-4 ("0.00001" against "1e-05"); msgspec's exponent is a lower-case
# "e" after a digit (found as "0e" once every digit reads "0": faster than a regex).
# Text in strings may look the same: then the full check.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")


def bounded_json_texts(values: list[dict[str, Any]]) -> list[str]:
    """The canonical text of each object (JsonBoundsError if one breaks a bound), for
    objects whose numbers are known to be finite (decoded by msgspec, which has no NaN or
    infinity): their texts, encoded once, are checked together, and only those whose text
    cannot show that no bound is broken get the full check (`bounded_json`)."""
    texts = list(map(encode_sorted, values))
    if values and _plain_texts(values, texts):
        return [text.decode("ascii") for text in texts]
    return [text.decode("ascii") if len(values) > 1 and _plain_texts([value], [text])
            else bounded_json(value).text  # type: ignore[attr-defined]
            for value, text in zip(values, texts, strict=True)]


def _plain_texts(values: list[dict[str, Any]], texts: list[bytes]) -> bool:
    """Whether these msgspec texts of flat, finite objects are their canonical JSON and
    break no bound."""
    joined = b"\n".join(texts)
    # One "{" each and no "[": depth 1 (a bracket in a string means the full check).
    return (joined.count(b"{") == len(texts) and b"[" not in joined
            and joined.isascii() and b"\x7f" not in joined
            and b"0.0000" not in joined and b"0e" not in joined.translate(_DIGITS_AS_ZERO)
            and max(map(len, texts)) <= JSON_MAX_BYTES and max(map(len, values)) <= JSON_MAX_ITEMS
            # Every key is in its text: a short text has no long key.
            and all(max(map(len, value)) <= JSON_MAX_KEY_LENGTH
                    for value, text in zip(values, texts, strict=True) if len(text) > JSON_MAX_KEY_LENGTH))


def bounded_json(value: dict[str, Any]) -> dict[str, Any]:
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
    return CanonicalJson(value, text)


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


class TimestampError(ValueError):
    """Not a timestamp the contract takes: `code` names the rule (timezone_aware,
    rfc3339, timestamp_range), `message` says it without the value."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


def parse_timestamp(text: str) -> datetime:
    """The text of an RFC 3339 date-time -> an aware datetime (the fraction cut to
    microseconds) whose instant lies in [TIMESTAMP_MIN, TIMESTAMP_MAX]; else TimestampError."""
    if not _RFC3339.fullmatch(text):
        if _RFC3339_NAIVE.fullmatch(text):
            raise TimestampError("timezone_aware", "needs a UTC offset (Z or +hh:mm)")
        raise TimestampError(
            "rfc3339", "not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm))",
        )
    return parse_rfc3339_matched(text)


def stored_time_text(text: str, value: datetime) -> str:
    """`codec.format_timestamp(value)`, where `value` is `parse_timestamp(text)`: sliced
    from the text when it is in UTC already (Z, +00:00 or -00:00), which is most of them
    and three times faster."""
    tail = text[19:]
    if tail[-1:] in ("Z", "z"):
        fraction = tail[1:-1]
    elif tail[-6:] in ("+00:00", "-00:00"):
        fraction = tail[1:-6]
    else:
        return format_timestamp(value)
    return f"{text[:10]}T{text[11:19]}.{(fraction + '000')[:3]}Z"


def parse_rfc3339_matched(text: str) -> datetime:
    """`parse_timestamp` of a text already known to match RFC3339_PATTERN (the fast
    decoder checks the pattern as it decodes): the calendar and the range."""
    try:  # Python 3.11 reads RFC 3339's upper-case form, cutting a fraction to microseconds
        value = datetime.fromisoformat(text)
    except ValueError:  # lower-case "t" or "z", or a day the month does not have
        value = _from_rfc3339_lenient(text)
    try:
        instant = value if value.tzinfo is UTC else value.astimezone(UTC)
    except OverflowError:
        instant = None
    if instant is None or not TIMESTAMP_MIN <= instant <= TIMESTAMP_MAX:
        raise TimestampError(
            "timestamp_range", "outside 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z once converted to UTC",
        )
    return value


def _from_rfc3339_lenient(text: str) -> datetime:
    text = text.upper().replace("Z", "+00:00")
    if "." in text:
        whole, rest = text.split(".", 1)
        digits = rest[:-6]
        text = f"{whole}.{(digits + '000000')[:6]}{rest[-6:]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # a day the month does not have
        raise TimestampError("rfc3339", "not a calendar date-time") from None


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

# The contract's validation keywords, generated from `events.EventIn` with the JSON Schema
# (`python -m mlaudit.schema_export`; a test fails when it is stale).
CONTRACT_FILE = Path(__file__).with_name("contract_v1.json")


def contract_keywords() -> dict[str, Any]:
    """{"event": <AuditEventV1's schema>, "batch": <AuditEventBatchV1's>, "event_types": [...]},
    without titles and descriptions."""
    return json.loads(CONTRACT_FILE.read_text())


_EVENT_PROPERTIES = contract_keywords()["event"]["properties"]
# The fields a client may send, and their values when absent: what an Event holds.
EVENT_FIELDS: tuple[str, ...] = tuple(_EVENT_PROPERTIES)
ABSENT: dict[str, Any] = {name: spec.get("default") for name, spec in _EVENT_PROPERTIES.items()}


class Event:
    """A client's event once validated: every contract field an attribute, all of them
    in `__dict__` (None when absent), as `events.EventIn` holds them: JSON fields are
    `CanonicalJson`, `occurred_at` an aware datetime, `event_type` an `EventType`.
    `content` (not in `__dict__`) is what was sent, as parsed, in one encoding: the
    fields sent and not null, sorted keys, msgspec's spelling; what its fingerprints
    hash. `stored` (not in `__dict__` either) holds the fields the lake stores in another
    form: `occurred_at` as `codec.format_timestamp` writes it, `event_type` by name, each
    JSON column present as its canonical text. Made by `ingest.decode`, never by hand."""

    __slots__ = ("__dict__", "content", "stored")

    def __repr__(self) -> str:
        return f"Event({self.__dict__!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]




@dataclass(frozen=True)
class StoredEvent:
    """One row of the lake, in column order. `event_type` is also the partition."""

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
