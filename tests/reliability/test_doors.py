"""Issue #28, one test per finding of the red team against the newer doors (imports,
lineage, the queue, the query routes): each failed before its fix.

Handler-level tests run the Lambda entry points on the in-memory adapters (the status
code is the point); the pipeline tests run the real adapters on moto."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from mlaudit.adapters.memory import MemoryIdempotencyStore, MemoryLedger, MemoryQueue
from mlaudit.handlers import ingest as ingest_handler
from mlaudit.ingest.request import IngestLimits
from mlaudit.ingest.service import IngestService
from mlaudit.principal import Principal

from local.runtime import LambdaContext

WORKLOAD = Principal(kind="workload", actor_id="doors", client_id="doors", scopes=("events.write", "lineage.write"))
EVENT = {"event_type": "prediction", "occurred_at": "2026-11-26T06:59:00Z", "model_id": "m"}
LINEAGE = {
    "eventType": "START", "eventTime": "2026-11-26T06:59:00Z",
    "run": {"runId": "3f5e1c2a-8d4b-4f6e-9a7c-1b2d3e4f5a6b"},
    "job": {"namespace": "airflow", "name": "nightly"},
    "producer": "https://github.com/OpenLineage/OpenLineage",
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
}


@pytest.fixture
def queue():
    queue = MemoryQueue()
    service = IngestService(store=MemoryIdempotencyStore(MemoryLedger()), queue=queue, limits=IngestLimits())
    ingest_handler.APP.configure(service=service)
    yield queue
    ingest_handler.APP.reset()


def post(path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    event = {
        "resource": path, "path": path, "httpMethod": "POST", "headers": {"content-type": "application/json"},
        "body": base64.b64encode(body).decode(), "isBase64Encoded": True,
        "requestContext": {"authorizer": WORKLOAD.to_context(), "identity": {"sourceIp": "10.0.0.1"},
                           "requestId": "doors"},
    }
    answer = ingest_handler.handler(event, LambdaContext("ingest", 30))
    return answer["statusCode"], json.loads(answer["body"]) if answer["body"] else {}


# ---- 5xx for malformed input: invalid UTF-8 inside a string

BAD_UTF8 = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80"]


@pytest.mark.parametrize("raw", BAD_UTF8)
def test_invalid_utf8_in_an_event_is_a_400_naming_the_field(queue, raw):
    body = b'{"events":[' + json.dumps(EVENT).encode() + b',{"event_type":"prediction","model_id":"a' + raw \
        + b'b","occurred_at":"2026-11-26T06:59:00Z"}]}'
    status, answer = post("/v1/events", body)
    assert status == 400, answer
    assert [(p["index"], p["path"], p["rule"]) for p in answer["errors"]] == [(1, "events[1].model_id", "utf8")]
    assert queue.packs == []


def test_invalid_utf8_in_a_key_is_named_masked(queue):
    body = b'{"event_type":"prediction","occurred_at":"2026-11-26T06:59:00Z","features":{"jane\xff":1}}'
    status, answer = post("/v1/events", body)
    assert status == 400 and answer["errors"][0]["rule"] == "utf8"
    assert answer["errors"][0]["path"].startswith("events[0].features.<name sha256:")
    assert "jane" not in json.dumps(answer)


@pytest.mark.parametrize("raw", BAD_UTF8)
def test_invalid_utf8_in_lineage_is_a_400_naming_the_field(queue, raw):
    body = json.dumps(LINEAGE).encode().replace(b'"nightly"', b'"night' + raw + b'ly"')
    status, answer = post("/v1/lineage", body)
    assert status == 400, answer
    assert [(p["path"], p["rule"]) for p in answer["errors"]] == [("$.job.name", "utf8")]
    assert queue.packs == []


# ---- 5xx for malformed input: 1.0 where the schema says const 1

@pytest.mark.parametrize("spelling", [b"1.0", b"1e0", b"1E0", b"1.00", b"10e-1"])
def test_schema_version_written_as_a_float_is_a_422_naming_the_field(queue, spelling):
    body = json.dumps({**EVENT, "schema_version": 1}).encode().replace(b'"schema_version": 1', b'"schema_version": '
                                                                       + spelling)
    status, answer = post("/v1/events", body)
    assert status == 422, answer
    assert [(p["path"], p["rule"]) for p in answer["errors"]] == [("events[0].schema_version", "int_type")]
    assert "1.0" in answer["errors"][0]["message"]
    assert queue.packs == []
    assert post("/v1/events", json.dumps({**EVENT, "schema_version": 1}).encode())[0] == 202


# ---- 5xx for malformed input: Unicode digits in query parameters

UNICODE_DIGITS = ["²", "١٢", "１２", "߁", "12\n", " 12", "+12", "1_0", "𝟙𝟚"]


@pytest.fixture
def queries():
    from mlaudit.adapters.memory import MemorySelfAudit
    from mlaudit.handlers import queries as handler
    from mlaudit.queries.catalog import load_catalog
    from mlaudit.queries.service import QueryService

    handler.APP.configure(service=QueryService(load_catalog(), None, MemorySelfAudit()))
    yield handler
    handler.APP.reset()


def get(handler, resource: str, path: dict[str, str], query: dict[str, str], who: dict[str, str]):
    event = {"httpMethod": "GET", "resource": resource, "pathParameters": path, "queryStringParameters": query,
             "body": None, "isBase64Encoded": False, "requestContext": {"authorizer": who}}
    answer = handler.handler(event, LambdaContext("api", 30))
    return answer["statusCode"], json.loads(answer["body"])


AUDITOR = {"principal_kind": "person", "actor_id": "alice", "client_id": "web", "roles": "auditor", "scopes": ""}


@pytest.mark.parametrize("size", UNICODE_DIGITS)
def test_page_size_in_any_digit_but_ascii_is_a_400_naming_it(queries, size):
    status, answer = get(queries, "/v1/query-executions/{id}", {"id": "a" * 36}, {"page_size": size}, AUDITOR)
    assert status == 400, answer
    assert [(p["path"], p["rule"]) for p in answer["errors"]] == [("page_size", "range")]


@pytest.fixture
def proofs():
    from mlaudit.adapters.memory import MemoryBucket
    from mlaudit.handlers import proofs as handler
    from mlaudit.integrity.proofs import ProofService

    handler.APP.configure(service=ProofService(MemoryBucket()))
    yield handler
    handler.APP.reset()


@pytest.mark.parametrize("size", UNICODE_DIGITS)
def test_tree_sizes_in_any_digit_but_ascii_are_a_400_naming_them(proofs, size):
    status, answer = get(proofs, "/v1/checkpoints/consistency", {}, {"first": "1", "second": size}, AUDITOR)
    assert status == 400, answer
    assert [(p["path"], p["rule"]) for p in answer["errors"]] == [("second", "integer")]


# ---- /v1/lineage: names masked as /v1/events masks them, fields as strict as events'

def lineage(**changes: Any) -> dict[str, Any]:
    event = json.loads(json.dumps(LINEAGE))
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = event
        for name in parents:
            target = target[name]
        target[last] = value
    return event


def test_lineage_errors_mask_caller_chosen_names(queue):
    secret = "jane.doe@example.com"
    status, answer = post("/v1/lineage", json.dumps(lineage(run__facets={secret: {"_producer": "https://x"}})).encode())
    assert status == 422
    assert [p["rule"] for p in answer["errors"]] == ["required"]
    assert answer["errors"][0]["path"].startswith("$.run.facets.<name sha256:")
    status, answer = post("/v1/lineage", json.dumps(lineage(job__facets={"sql": {
        "_producer": "https://x", "_schemaURL": "https://y", "nested": {secret + "x" * 300: 1}}})).encode())
    assert status == 422 and answer["errors"][0]["rule"] == "key_length"
    for body in (lineage(run__facets={secret: {"_producer": "https://x"}}),
                 lineage(job__facets={"sql": {"_producer": "https://x", "_schemaURL": "https://y",
                                              "nested": {secret + "x" * 300: 1}}})):
        answer = post("/v1/lineage", json.dumps(body).encode())[1]
        assert "jane" not in json.dumps(answer), answer
    assert queue.packs == []


@pytest.mark.parametrize(("change", "path", "rule"), [
    ({"run__runId": LINEAGE["run"]["runId"] + "\n"}, "$.run.runId", "uuid"),
    ({"producer": "https://github.com/OpenLineage/OpenLineage\n"}, "$.producer", "uri"),
    ({"schemaURL": LINEAGE["schemaURL"] + "\n"}, "$.schemaURL", "uri"),
    ({"job__namespace": "air\x00flow"}, "$.job.namespace", "characters"),
    ({"job__name": "nightly\n"}, "$.job.name", "characters"),
    ({"job__name": "night\x7fly"}, "$.job.name", "characters"),
    ({"job__name": "night\u0085ly"}, "$.job.name", "characters"),
    ({"inputs": [{"namespace": "s3://b", "name": "k\x1b"}]}, "$.inputs[0].name", "characters"),
    ({"eventTime": "2026-11-26T06:59:00Z\n"}, "$.eventTime", "rfc3339"),
])
def test_lineage_fields_refuse_a_final_newline_and_control_characters(queue, change, path, rule):
    status, answer = post("/v1/lineage", json.dumps(lineage(**change)).encode())
    assert status == 422, answer
    assert [(p["path"], p["rule"]) for p in answer["errors"]] == [(path, rule)]
    assert queue.packs == []


def test_lineage_with_a_key_twice_is_refused(queue):
    text = json.dumps(LINEAGE)
    for body in (text.replace('"eventType": "START"', '"eventType": "START", "eventType": "FAIL"'),
                 text.replace('"name": "nightly"', '"name": "nightly", "name": "other"')):
        status, answer = post("/v1/lineage", body.encode())
        assert (status, answer["error"]) == (400, "duplicate_key"), answer
    assert queue.packs == []
    assert post("/v1/lineage", text.encode())[0] == 201
