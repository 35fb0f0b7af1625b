"""The fast path: a valid request's events in one typed decode (msgspec), no pydantic.

The decoder is compiled, at import, from the contract's validation keywords
(`contract_v1.json`, generated from `events.EventIn` with the JSON Schema): types,
lengths, patterns, enums, array bounds, required fields. What a schema cannot say runs
after it, in the functions the pydantic models call too (`contract.bounded_json`,
`contract.parse_timestamp`). A keyword the compiler does not know fails the import, so
the contract cannot gain a rule this path skips.

Unknown fields and duplicate keys: the decoder ignores the first and keeps the last of
the second, so it proves there were none by counting. Every key-value pair of a JSON
text holds one ':' outside strings, and a string's ':' are the same whether the text
spells them raw or as \\u003a; re-encoding what was decoded gives its pairs and its
strings' colons. If the body has as many colons (its \\u003a escapes counted as colons)
as that re-encoding, no pair was dropped: no unknown field, no key twice. Any pair dropped
leaves the body with more.

`decode_events` answers None whenever it does not accept a body; the full path
(`ingest.validation`) then decides and lists every problem. A hypothesis test holds
both paths to the same verdict on any event.
"""

from __future__ import annotations

import re
from operator import itemgetter
from typing import Annotated, Any, Literal, NotRequired, Required, TypedDict

import msgspec

from mlaudit.codec import encode_sorted
from mlaudit.contract import (
    ABSENT,
    JSON_FIELDS,
    CanonicalJson,
    Event,
    EventType,
    JsonBoundsError,
    TimestampError,
    bounded_json_texts,
    contract_keywords,
    parse_rfc3339_matched,
    stored_time_text,
)


class UnknownKeyword(RuntimeError):
    """The contract states a rule this compiler cannot enforce."""


def _pattern(regex: str) -> str:
    # The schema's patterns are ECMA/Rust regexes, where `$` ends the text; Python's `$`
    # also matches before a final newline (and msgspec searches with Python's re).
    return regex[:-1] + r"\Z" if regex.endswith("$") and not regex.endswith(r"\$") else regex


def _compile(schema: dict[str, Any], where: str) -> Any:
    """A msgspec type enforcing `schema` (the subset the contract uses)."""
    if "anyOf" in schema:
        options = [option for option in schema["anyOf"] if option != {"type": "null"}]
        if len(options) != 1 or len(schema["anyOf"]) != 2 or set(schema) - {"anyOf", "default"}:
            raise UnknownKeyword(f"{where}: only `X or null` unions are compiled")
        return _compile(options[0], where) | None
    if schema.get("$ref") == "#/$defs/EventType":
        return EventType
    kind = schema.get("type")
    known = {"type", "default"}
    if kind == "string":
        known |= {"minLength", "maxLength", "pattern", "format"}
        if schema.get("format", "date-time") != "date-time":
            raise UnknownKeyword(f"{where}: format {schema['format']!r}")
        # date-time: the pattern here, the calendar and the range in contract.parse_timestamp
        meta = msgspec.Meta(
            min_length=schema.get("minLength"), max_length=schema.get("maxLength"),
            pattern=_pattern(schema["pattern"]) if "pattern" in schema else None,
        )
        result: Any = Annotated[str, meta]
    elif kind == "integer" and "const" in schema:
        known.add("const")
        result = Literal[schema["const"]]
    elif kind == "number":
        result = float  # JSON has no NaN or infinity; msgspec refuses a number out of range
    elif kind == "object" and schema.get("additionalProperties") is True:
        known.add("additionalProperties")  # free-form: contract.bounded_json checks it after
        result = dict[str, Any]
    elif kind == "array":
        known |= {"items", "maxItems", "minItems"}
        item = _compile(schema["items"], f"{where}[]")
        result = Annotated[list[item], msgspec.Meta(min_length=schema.get("minItems"),  # type: ignore[valid-type]
                                                    max_length=schema.get("maxItems"))]
    else:
        raise UnknownKeyword(f"{where}: {schema}")
    if set(schema) - known:
        raise UnknownKeyword(f"{where}: {sorted(set(schema) - known)}")
    return result


def _event_fields(schema: dict[str, Any], event_types: list[str]) -> list[tuple[str, Any, bool, Any]]:
    """(name, msgspec type, required, default) of each field of the event's schema."""
    known = {"type", "properties", "required", "additionalProperties", "dependentRequired"}
    if set(schema) - known or schema["additionalProperties"] is not False:
        raise UnknownKeyword(f"event: {sorted(set(schema) - known)}")
    if event_types != [t.value for t in EventType]:
        raise UnknownKeyword("the contract's event types are not mlaudit.contract.EventType")
    # dependentRequired (personal_data needs subject_ref) is the service's check, with its
    # own rule name (requires_subject_ref), on both paths.
    return [(name, _compile(spec, name), name in schema["required"], spec.get("default"))
            for name, spec in schema["properties"].items()]


def _batch_min_items(schema: dict[str, Any]) -> int:
    events = schema["properties"]["events"]
    if set(schema) != {"type", "properties", "required", "additionalProperties"} or set(events) != {
            "type", "items", "minItems"}:
        raise UnknownKeyword(f"batch: {schema}")
    return int(events["minItems"])


_KEYWORDS = contract_keywords()
_FIELDS = _event_fields(_KEYWORDS["event"], _KEYWORDS["event_types"])
_MIN_EVENTS = _batch_min_items(_KEYWORDS["batch"])
del _KEYWORDS
_EVENT = TypedDict("AuditEventV1", {  # type: ignore[operator]  # noqa: UP013 - built from the contract
    name: (Required if required else NotRequired)[kind] for name, kind, required, _ in _FIELDS})
_BATCH = TypedDict("AuditEventBatchV1", {  # type: ignore[operator]  # noqa: UP013 - built from the contract
    "events": Required[Annotated[list[_EVENT], msgspec.Meta(min_length=_MIN_EVENTS)]],  # type: ignore[valid-type]
})


def contract_struct(*, batch: bool = False) -> Any:
    """The contract as msgspec Structs that refuse unknown fields (the event, or the
    batch of them): the least a typed decoder must check, the benchmark's floor. The
    service decodes into the TypedDicts above instead, which keep what was sent apart
    from what was absent."""
    fields = [(name, kind) if required else (name, kind, default) for name, kind, required, default in _FIELDS]
    event = msgspec.defstruct("AuditEventV1", fields, kw_only=True, forbid_unknown_fields=True)
    if not batch:
        return event
    events = Annotated[list[event], msgspec.Meta(min_length=_MIN_EVENTS)]  # type: ignore[valid-type]
    return msgspec.defstruct("AuditEventBatchV1", [("events", events)], forbid_unknown_fields=True)


_JSON_FIELDS = (*JSON_FIELDS, "personal_data")  # free-form objects: contract.bounded_json
_TYPE_NAMES = {event_type: event_type.value for event_type in EventType}

_DECODE_BATCH = msgspec.json.Decoder(_BATCH).decode
_DECODE_EVENT = msgspec.json.Decoder(_EVENT).decode
_ESCAPED_COLON = re.compile(rb"\\u003[aA]")


def decode_events(body: bytes) -> list[Event] | None:
    """The events of a body that meets the contract (one event object, or
    {"events": [...]}); None when it may not (the full path says why)."""
    try:
        sent, batch = _decode(body)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):  # (a ValidationError is a DecodeError)
        return None
    colons = body.count(b":")
    if b"\\u003" in body:
        colons += len(_ESCAPED_COLON.findall(body))
    try:
        events, encoded_colons = _events(sent, nulls=b"null" in body)
    except (JsonBoundsError, TimestampError, RecursionError):
        return None
    if colons != encoded_colons + batch:
        return None  # a pair was dropped: an unknown field, or a key twice
    return events


def events_of(body: bytes) -> list[Event]:
    """The events of a body the full path has accepted, made as the fast path makes them."""
    return _events(_decode(body)[0], nulls=True)[0]


def _decode(body: bytes) -> tuple[list[dict[str, Any]], int]:
    """(the events' fields as sent, 1 for a batch and 0 for one event object)."""
    try:
        return _DECODE_BATCH(body)["events"], 1  # the batch's one key: "events"
    except msgspec.ValidationError:
        return [_DECODE_EVENT(body)], 0


def _events(decoded: list[dict[str, Any]], *, nulls: bool) -> tuple[list[Event], int]:
    """Events from the decoder's dicts, and how many colons their encodings hold (with
    the null fields sent: every pair the decoder kept). `nulls`: whether any field may
    have been sent as null (False when the body has no "null")."""
    contents = list(map(encode_sorted, decoded))
    colons = b"".join(contents).count(b":")
    events: list[Event] = []
    fields: list[dict[str, Any]] = []  # each event's __dict__
    for index, sent in enumerate(decoded):
        if nulls and None in sent.values():  # a field sent as null is absent: the same content
            sent = {name: value for name, value in sent.items() if value is not None}
            contents[index] = encode_sorted(sent)
        values = {**ABSENT, **sent}
        text = values["occurred_at"]
        values["occurred_at"] = occurred_at = parse_rfc3339_matched(text)  # the decoder matched the pattern
        event = Event.__new__(Event)
        event.__dict__ = values
        fields.append(values)
        event.content = contents[index]
        event.stored = {"occurred_at": stored_time_text(text, occurred_at),
                        "event_type": _TYPE_NAMES[values["event_type"]]}
        events.append(event)
    for name in _JSON_FIELDS:  # free-form objects, field by field across the request
        present = [event for event, value in zip(events, map(itemgetter(name), fields), strict=True)
                   if value is not None]
        texts = bounded_json_texts([event.__dict__[name] for event in present])
        stored = name in JSON_FIELDS  # (personal_data is stored encrypted: the protector reads its text)
        for event, text in zip(present, texts, strict=True):
            event.__dict__[name] = CanonicalJson(event.__dict__[name], text)
            if stored:
                event.stored[name] = text
    return events, colons
