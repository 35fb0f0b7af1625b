"""Property-based fuzzing of both POST routes through the ingest handler (the function
API Gateway invokes), on the in-memory adapters: whatever the body, the answer is a 202
or a 4xx, never a 5xx; a refused request enqueues nothing."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlaudit.adapters.memory import MemoryIdempotencyStore, MemoryLedger, MemoryQueue
from mlaudit.handlers import ingest as handler
from mlaudit.ingest.request import IngestLimits
from mlaudit.ingest.service import IngestService
from mlaudit.principal import Principal

from local.runtime import LambdaContext

WORKLOAD = Principal(kind="workload", actor_id="fuzz", client_id="fuzz", scopes=("events.write", "lineage.write"))
FIELDS = ["schema_version", "model_id", "prediction_score", "features",
          "latency_ms", "inputs", "details", "received_at", "subject_ref", "colour", "personal_data"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
timestamps = st.sampled_from([
    "2026-11-26T06:59:00Z", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2026-11-26 06:59:00Z",
    "2026-02-30T00:00:00Z", "2026-11-26T06:59:60Z", "2026-11-26T06:59:00.123456789+14:00", "",
]) | st.text(max_size=30)
event_types = st.sampled_from(["prediction", "lineage", "model_deployed", "bogus", ""])
events = st.fixed_dictionaries(
    {"event_type": event_types, "occurred_at": timestamps},
    optional={name: json_values for name in FIELDS} | {"event_id": st.text(max_size=12)},
)
valid_events = st.fixed_dictionaries(
    {"event_type": st.just("prediction"), "occurred_at": st.just("2026-11-26T06:59:00.5+01:00")},
    optional={"model_id": st.text(min_size=1, max_size=10), "event_id": st.from_regex(r"\A[a-z0-9]{1,10}\Z"),
              "prediction_score": st.floats(allow_nan=False, allow_infinity=False),
              "features": st.dictionaries(st.text(max_size=8), json_values, max_size=4)},
)
bodies = st.one_of(
    events.map(json.dumps),
    valid_events.map(json.dumps),
    st.lists(valid_events, min_size=1, max_size=4).map(lambda e: json.dumps({"events": e})),
    st.lists(events, min_size=0, max_size=4).map(lambda e: json.dumps({"events": e})),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.text(max_size=200),
)
lineage_bodies = st.one_of(
    st.fixed_dictionaries({
        "eventType": st.sampled_from(["START", "COMPLETE", "bogus"]),
        "eventTime": st.just("2026-11-26T06:59:00Z") | timestamps,
        "run": st.fixed_dictionaries({"runId": st.uuids().map(str) | st.text(max_size=10)}),
        "job": st.fixed_dictionaries({"namespace": st.text(min_size=1, max_size=10),
                                      "name": st.text(min_size=1, max_size=10)}),
        "producer": st.just("https://example.com/producer"),
        "schemaURL": st.just("https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"),
    }, optional={"inputs": json_values, "outputs": json_values}).map(json.dumps),
    st.text(max_size=100),
)


@pytest.fixture(scope="module")
def wired():
    queue, store = MemoryQueue(), MemoryIdempotencyStore(MemoryLedger())
    service = IngestService(store=store, queue=queue, limits=IngestLimits())
    handler.APP.configure(service=service)
    yield queue
    handler.APP.reset()


def call(path: str, body: str, encoding: str | None, binary: bool) -> dict[str, Any]:
    raw = body.encode("utf-8", "surrogatepass")
    if encoding == "gzip":
        raw = gzip.compress(raw)
    headers = {"content-type": "application/json"}
    if encoding is not None:
        headers["content-encoding"] = encoding
    event = {
        "resource": path, "path": path, "httpMethod": "POST", "headers": headers,
        "body": base64.b64encode(raw).decode() if binary or encoding == "gzip" else body,
        "isBase64Encoded": binary or encoding == "gzip",
        "requestContext": {"authorizer": WORKLOAD.to_context(), "identity": {"sourceIp": "10.0.0.1"},
                           "requestId": "fuzz"},
    }
    return handler.handler(event, LambdaContext("ingest", 30))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, encoding=st.sampled_from([None, None, "gzip", "identity", "br"]), binary=st.booleans())
def test_events_route_answers_202_or_4xx_and_a_refusal_stores_nothing(wired, body, encoding, binary):
    before = len(wired.packs)
    answer = call("/v1/events", body, encoding, binary)
    assert answer["statusCode"] in (202, 400, 403, 409, 413, 415, 422), answer
    if answer["statusCode"] != 202:
        assert len(wired.packs) == before


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=lineage_bodies, encoding=st.sampled_from([None, "gzip", "br"]))
def test_lineage_route_answers_2xx_or_4xx_and_a_refusal_stores_nothing(wired, body, encoding):
    before = len(wired.packs)
    answer = call("/v1/lineage", body, encoding, False)
    assert answer["statusCode"] < 500, answer
    if answer["statusCode"] >= 300:
        assert len(wired.packs) == before
