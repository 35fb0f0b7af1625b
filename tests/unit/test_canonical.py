"""The fast canonical encoder writes exactly what the definition (json.dumps) writes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlaudit.codec import canonical_json, canonical_json_fast
from mlaudit.events import EventIn, JsonBoundsError, _bounded_json, _check_json
from mlaudit.leaf import encode_leaf
from pydantic import ValidationError

# Any JSON value within the contract's bounds: every float magnitude, ints past 64 bits,
# any text (control characters, DEL, non-ASCII, astral).
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=20,
)
objects = st.dictionaries(st.text(max_size=6), values, max_size=5).filter(lambda d: _depth(d) <= 5)


def _depth(value, level=1):
    if isinstance(value, dict):
        return max([level, *(_depth(v, level + 1) for v in value.values())])
    if isinstance(value, list):
        return max([level, *(_depth(v, level + 1) for v in value)])
    return level - 1


@settings(max_examples=400, deadline=None)
@given(objects)
def test_fast_encoding_equals_the_definition(value):
    assert canonical_json_fast(value, _check_json(value)) == canonical_json(value)


@pytest.mark.parametrize("number", [1e16, 1e-05, 2.5e-07, 1.7976931348623157e308, -1e22])
def test_floats_the_fast_encoder_writes_otherwise_are_flagged(number):
    # msgspec writes these as 1e16, 0.00001, 2.5e-7 ...: the flag must send them the slow way
    assert _check_json({"x": [number]}) is False
    assert canonical_json_fast({"x": number}, False) == canonical_json({"x": number})


def test_text_outside_printable_ascii_is_escaped_as_json_dumps_does():
    value = {"k": "caf\u00e9 \u2028 \x7f \x1f \ud83d\ude00", "\u00e9": 1}
    assert canonical_json_fast(value, True) == canonical_json(value)
    assert "\\u00e9" in canonical_json_fast(value, True)


def test_lone_surrogates_fall_back_instead_of_failing():
    assert canonical_json_fast({"k": "\ud800"}, True) == '{"k":"\\ud800"}'


def test_non_finite_numbers_are_refused_not_written_as_null():
    for number in (math.nan, math.inf, -math.inf):
        with pytest.raises(JsonBoundsError, match="finite"):
            _bounded_json({"deep": {"list": [1.0, number]}})
    with pytest.raises(ValidationError, match="finite"):
        EventIn.model_validate_json(
            '{"event_type":"prediction","occurred_at":"2026-11-26T06:00:00Z","model_id":"m",'
            '"model_version":"1","features":{"x":NaN}}'
        )


@pytest.mark.parametrize("score", [0.25, 1e-07, 1e16, 0.0, -0.0])
def test_leaf_records_encode_as_the_definition(score):
    record = {"prediction_score": score, "latency_ms": None, "resource": "s\u00e9rie", "event_id": "e"}
    assert encode_leaf(record) == canonical_json(record).encode()


def test_ingest_builds_leaf_records_in_canonical_key_order():
    # encode_leaf skips sorting for records in LEAF_ORDER: ingest must build them so
    import json

    from mlaudit.ingest.identity import RequestMeta, server_fields
    from mlaudit.ingest.records import leaf_record
    from mlaudit.ingest.request import IngestLimits, parse_events
    from mlaudit.leaf import LEAF_ORDER
    from mlaudit.principal import Principal

    (event,) = parse_events(json.dumps({
        "event_type": "prediction", "occurred_at": "2026-11-26T06:00:00Z", "model_id": "m\u00e9",
        "model_version": "1", "prediction_score": 2.5e-07, "features": {"z": 1, "a": [1e-05, "\x7f"]},
    }).encode(), IngestLimits())
    principal = Principal(kind="workload", actor_id="svc", client_id="svc")
    server = server_fields(principal, RequestMeta("10.0.0.1", None), "2026-11-26T06:00:01.000Z")
    record = leaf_record(event, "e1", server, "pass", ())
    assert list(record) == list(LEAF_ORDER)
    assert encode_leaf(record) == canonical_json(record).encode()
    record["prediction_score"] = 0.5
    assert encode_leaf(record) == canonical_json(record).encode()  # the fast path, same bytes
