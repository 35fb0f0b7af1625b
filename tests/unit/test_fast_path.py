"""The ingest's fast path (ingest.decode, msgspec) and its full path (ingest.validation,
pydantic) give the same verdict on any body, and the same events when they accept it."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mlaudit import schema_export
from mlaudit.contract import CONTRACT_FILE, EVENT_FIELDS, EventType, bounded_json, bounded_json_texts
from mlaudit.errors import DomainError
from mlaudit.events import EventIn, JsonBoundsError
from mlaudit.ingest import decode, validation
from mlaudit.ingest.identity import event_id_of
from mlaudit.principal import Principal

TYPES = [t.value for t in EventType]
GOOD = {"event_type": "prediction", "occurred_at": "2026-11-26T06:00:00Z", "model_id": "m", "model_version": "1"}


def full_path(body: bytes) -> list[Any] | None:
    try:
        return validation.validate(body)
    except DomainError:
        return None


def same_events(fast: list[Any], full: list[Any]) -> None:
    assert [e.__dict__ for e in fast] == [e.__dict__ for e in full]
    assert [e.content for e in fast] == [e.content for e in full]
    assert [e.stored for e in fast] == [e.stored for e in full]


# --- values near each rule of the contract, valid and not -----------------------------

def text_near(limit: int) -> st.SearchStrategy[Any]:
    lengths = st.sampled_from([0, 1, 2, limit - 1, limit, limit + 1])
    return lengths.flatmap(lambda n: st.text(st.characters(blacklist_categories=["Cs"]), min_size=n, max_size=n))


timestamps = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.builds(
        lambda date, fraction, zone, t, bad: (f"{date}{t}06:07:08{fraction}{zone}" + bad),
        st.sampled_from(["2026-11-26", "2024-02-29", "2026-02-29", "0001-01-01", "9999-12-31", "2026-13-01"]),
        st.sampled_from(["", ".1", ".123", ".123456789", ".1234567890", ","]),
        st.sampled_from(["Z", "z", "+00:00", "-00:00", "+01:00", "-23:59", "+24:00", "", "+0100"]),
        st.sampled_from(["T", "t", " "]),
        st.sampled_from(["", "", "", "\n", " "]),
    ),
    st.sampled_from(["9999-12-31T23:59:59.9999Z", "0001-01-01T00:30:00+01:00", "2026-11-26T23:59:60Z"]),
    st.integers(), st.none(),
)

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e-05, 2.5e-07, 1e16, 1e22, -0.0, 0.0001, 123456789012345678.0]),
    st.text(max_size=20), st.sampled_from(["a:b", "x\u0000y", "é", "[", "{", "1e5", "0.00001", "\x7f", "null"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
free_form = st.one_of(
    st.dictionaries(st.text(max_size=8), json_values, max_size=6),
    st.dictionaries(st.sampled_from(["k" * 256, "k" * 257, "a:b"]), json_scalars, max_size=2),
    st.integers(min_value=14, max_value=18).map(lambda depth: _nested(depth)),
    st.lists(json_scalars, max_size=2),
    st.text(max_size=3),
)


def _nested(depth: int) -> dict[str, Any]:
    value: Any = 1
    for _ in range(depth - 1):
        value = {"k": value}
    return value


FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "event_id": st.one_of(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,10}\Z"), text_near(128),
                          st.sampled_from(["a\n", "-a", "a" * 128, "a" * 129]), st.integers()),
    "schema_version": st.sampled_from([1, 2, True, "1", 1.0, None]),
    "event_type": st.one_of(st.sampled_from(TYPES), st.sampled_from(["model_exploded", "Prediction", ""]),
                            st.integers()),
    "occurred_at": timestamps,
    "model_id": st.one_of(text_near(128), st.integers(), st.none(), st.lists(st.text(max_size=2), max_size=1)),
    "model_version": text_near(64),
    "model_artifact_sha256": st.one_of(st.from_regex(r"\A[0-9a-f]{64}\Z"), st.sampled_from(["A" * 64, "a" * 63])),
    "prediction_score": st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(),
                                  st.booleans(), st.text(max_size=3), st.none()),
    "latency_ms": st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.just(10**400)),
    "features": free_form,
    "explanation": free_form,
    "details": free_form,
    "personal_data": free_form,
    "subject_ref": text_near(256),
    "inputs": st.one_of(st.lists(text_near(512), max_size=3), st.lists(st.just("d"), min_size=100, max_size=101),
                        st.text(max_size=3), st.none()),
    "resource": text_near(512),
    "colour": st.text(max_size=3),  # unknown
    "actor_id": st.text(max_size=3),  # server-owned
}

events = st.fixed_dictionaries(
    {"event_type": FIELD_VALUES["event_type"], "occurred_at": FIELD_VALUES["occurred_at"]},
    optional={name: strategy for name, strategy in FIELD_VALUES.items() if name not in ("event_type", "occurred_at")},
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    batch = draw(st.lists(events, min_size=0, max_size=3))
    single = len(batch) == 1 and draw(st.booleans())
    for event in batch:  # drop the required fields now and then
        for name in ("event_type", "occurred_at"):
            if draw(st.integers(0, 20)) == 0:
                event.pop(name)
    text = json.dumps(batch[0] if single else {"events": batch}, ensure_ascii=draw(st.booleans()))
    twist = draw(st.sampled_from(["none"] * 6 + ["duplicate", "escaped_colon", "trailing", "bare_nan", "bytes"]))
    if twist == "duplicate" and batch:  # a key twice in the first object that has one
        at = text.index('"event_type"') if '"event_type"' in text else text.index("{") + 1
        text = text[:at] + '"event_type": "prediction", ' + text[at:] if text[at] == '"' else text
    elif twist == "escaped_colon":
        text = text.replace("06:07", "06\\u003a07").replace("a:b", "a\\u003Ab")
    elif twist == "trailing":
        text += " x"
    elif twist == "bare_nan":
        text = text.replace("1.0", "NaN", 1)
    raw = text.encode("utf-8", "surrogatepass")
    if twist == "bytes":  # byte-level: invalid UTF-8 (lone, overlong, surrogate, cut) or any byte, anywhere
        at = draw(st.integers(0, len(raw)))
        bad = draw(st.one_of(st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80",
                                              b"\xf4\x90\x80\x80", b"\x00", b"\x1f", b"1.0", b"1e0"]),
                             st.binary(min_size=1, max_size=3)))
        raw = raw[:at] + bad + raw[at + draw(st.integers(0, 2)):]
    return raw


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
@example(json.dumps(GOOD).encode())
@example(json.dumps({"events": [GOOD, {**GOOD, "model_id": None}]}).encode())
@example(json.dumps({"events": [GOOD], "x": 1}).encode())
@example(b'{"events":[{"event_type":"prediction","event_type":"prediction","occurred_at":"2026-11-26T06:00:00Z"}]}')
@example(b'{"event_type":"prediction","occurred_at":"2026-11-26T06:00:00Z","features":{"a":null,"a":null}}')
@example(b'{"event_type":"prediction","occurred_at":"2026-11-26T06\\u003a00:00Z","model_id":"a\\\\u003ab"}')
@example(json.dumps({**GOOD, "event_id": "a\n"}).encode())
@example(json.dumps({**GOOD, "features": {"x": 1e-05, "y": 1e16}}).encode())
@example(json.dumps({**GOOD, "schema_version": 1.0}).encode())
@example(json.dumps({**GOOD, "schema_version": 1}).replace('"schema_version": 1', '"schema_version": 1e0').encode())
@example(json.dumps(GOOD).replace('"m"', '"\xff"').encode("latin-1"))
@example(b'{"events":[' + json.dumps(GOOD).encode() + b',{"event_type":"prediction","model_id":"a\xc0\xafb"}]}')
def test_fast_and_full_paths_agree_on_any_body(body: bytes) -> None:
    fast = decode.decode_events(body)
    full = full_path(body)
    unsure = b"\\u003" in body.lower()  # the fast path may leave an escaped colon to the full path
    if fast is None and full is not None:
        assert unsure, "the fast path refused a body the contract accepts"
        same_events(decode.events_of(body), full)
    assert (fast is not None) <= (full is not None), "the fast path accepted a body the contract refuses"
    if fast is not None and full is not None:
        same_events(fast, full)


def test_a_body_with_an_escaped_colon_is_still_accepted_and_the_same() -> None:
    body = json.dumps({**GOOD, "model_id": "a:b"}).replace("a:b", "a\\u003ab").encode()
    (event,) = validation.validate(body)
    assert event.model_id == "a:b" and event.content == decode.decode_events(json.dumps({**GOOD, "model_id": "a:b"})
                                                                            .encode())[0].content


def test_a_field_sent_as_null_is_the_same_content_as_one_left_out() -> None:
    with_null = decode.decode_events(json.dumps({**GOOD, "run_id": None}).encode())
    without = decode.decode_events(json.dumps(GOOD).encode())
    assert with_null is not None and without is not None
    assert with_null[0].content == without[0].content and with_null[0].__dict__ == without[0].__dict__


# --- free-form JSON: the batched check and the full check -----------------------------

@settings(max_examples=800, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=6), min_size=1, max_size=4))
@example([{"x": 1e-05}, {"x": 2.5e-07}, {"x": 1e16}, {"x": "\x7f"}, {"x": "é"}])
@example([{"k" * 257: 1}])
@example([{"a": [1]}, {"a": "["}])
def test_the_batched_bounds_check_gives_the_full_checks_texts_and_errors(values: list[dict[str, Any]]) -> None:
    def one(value: dict[str, Any]) -> str | tuple[str, list[Any]]:
        try:
            return bounded_json(value).text  # type: ignore[attr-defined]
        except JsonBoundsError as error:
            return error.bound, error.path

    expected = [one(value) for value in values]
    if all(isinstance(e, str) for e in expected):
        assert bounded_json_texts(values) == expected
        return
    with pytest.raises(JsonBoundsError) as caught:
        bounded_json_texts(values)
    assert (caught.value.bound, caught.value.path) == next(e for e in expected if not isinstance(e, str))


# --- what the fast path must keep from before -------------------------------------------

def test_an_event_sent_without_an_id_keeps_the_id_it_was_given_before() -> None:
    """Derived ids: uuid5 over the sender and the model's JSON of the event, as before the
    fast path (a retried id-less event must keep its id across an upgrade)."""
    sent = {**GOOD, "features": {"b": 1.5, "a": [1, "é"]}, "occurred_at": "2026-11-26T07:00:00.5+01:00"}
    (event,) = decode.decode_events(json.dumps(sent).encode())  # type: ignore[misc]
    principal = Principal(kind="workload", actor_id="svc", client_id="svc")
    before = EventIn.model_validate_json(json.dumps(sent)).model_dump_json(exclude_none=True)
    namespace = uuid.UUID("6f1d8a52-3c1e-4c4b-9a57-2f0b1f6f3a10")
    assert event_id_of(event, principal) == str(uuid.uuid5(namespace, f"svc\n{before}"))


def test_the_fast_decoder_is_compiled_from_the_current_contract() -> None:
    assert CONTRACT_FILE.read_text() == schema_export.render_keywords(), "run `make schema` and commit it"
    assert set(EVENT_FIELDS) == set(EventIn.model_fields)


def test_a_keyword_the_compiler_does_not_know_fails_loudly() -> None:
    with pytest.raises(decode.UnknownKeyword):
        decode._compile({"type": "string", "format": "email"}, "x")
    with pytest.raises(decode.UnknownKeyword):
        decode._compile({"type": "number", "exclusiveMinimum": 0}, "x")


STORE_A_REQUEST = """
import json, sys
from bench.pipeline import api_event
from local.runtime import LambdaContext
from mlaudit.adapters.memory import MemoryIdempotencyStore, MemoryQueue
from mlaudit.handlers import ingest
from mlaudit.ingest.request import IngestLimits
from mlaudit.ingest.service import IngestService
import mlaudit.adapters.idempotency, mlaudit.adapters.queue, mlaudit.privacy  # the Lambda's builder
from mlaudit.metrics import MeasuredIngest  # (its metrics are emitted, as on Lambda)

ingest.APP.configure(service=MeasuredIngest(
    IngestService(store=MemoryIdempotencyStore(), queue=MemoryQueue(), limits=IngestLimits())))
response = ingest.handler(api_event(sys.argv[1]), LambdaContext("ingest", 30))
assert response["statusCode"] == 202, response
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("pydantic", "pydantic_core"))))
"""


def test_a_valid_request_never_imports_pydantic() -> None:
    """The ingest function's cold path: its import, its services, and a request stored."""
    body = json.dumps({"events": [{**GOOD, "event_id": f"e{i}", "run_id": None} for i in range(3)]})  # a null too
    loaded = subprocess.run([sys.executable, "-c", STORE_A_REQUEST, body], capture_output=True, text=True,
                            check=True, env={"PYTHONPATH": ":".join(sys.path)}).stdout
    *logs, imported = loaded.splitlines()
    assert any(line.startswith('{"_aws"') for line in logs)  # its metrics were emitted
    assert json.loads(imported) == []


def test_the_plain_float_range_is_where_msgspec_and_repr_agree() -> None:
    import msgspec

    for value in (1e-4, 0.00011, 9999999999999998.0, 123.456, -0.5, 0.0):
        assert msgspec.json.encode(value).decode() == repr(value)
    for value in (9.9e-5, 1e-05, 1e16, 2.5e-07):
        assert msgspec.json.encode(value).decode() != repr(value)
