"""A byte-level fuzzer over request bodies (POST /v1/events, /v1/lineage) and import lines:
valid bodies and lines mutated byte by byte (flips, invalid UTF-8, cuts, numbers spelled
otherwise, Unicode digits, controls, keys twice, nesting), seeded so a failure repeats.
Whatever the bytes: a 2xx or a 4xx, never a 5xx or an exception; a refused body stores
nothing; an import reads every line, stores exactly the lines it accepts and rejects the
rest one by one (issue #28: one line holding 0xff made the import raise)."""

from __future__ import annotations

import base64
import io
import json
import random
from typing import Any

import pytest
from mlaudit.adapters.memory import MemoryIdempotencyStore, MemoryLedger, MemoryQueue
from mlaudit.handlers import ingest as handler
from mlaudit.imports import FileImporter, ImportSource, line_event_id
from mlaudit.ingest.request import IngestLimits
from mlaudit.ingest.service import IngestService
from mlaudit.principal import Principal

from local.runtime import LambdaContext

SEED = 28
BODIES = 5_000  # split between the two routes
LINES = 1_500
WORKLOAD = Principal(kind="workload", actor_id="bytes", client_id="bytes", scopes=("events.write", "lineage.write"))
EVENTS = [
    {"event_type": "prediction", "occurred_at": "2026-11-26T06:59:00.5+01:00", "model_id": "churn",
     "model_version": "7", "prediction_score": 0.25, "latency_ms": 12, "features": {"tenure": 3, "plan": "gold"}},
    {"event_type": "lineage", "occurred_at": "2026-11-26T06:59:00Z", "run_id": "r-1", "inputs": ["s3://a/b"],
     "details": {"sql": "select 1", "n": [1, 2.5, None, True]}},
    {"event_type": "ground_truth", "occurred_at": "2026-11-26T07:00:00Z", "label_for_prediction_id": "p-1",
     "true_label": "yes", "schema_version": 1},
]
LINEAGE = {
    "eventType": "COMPLETE", "eventTime": "2026-11-26T06:59:00.123Z",
    "run": {"runId": "3f5e1c2a-8d4b-4f6e-9a7c-1b2d3e4f5a6b", "facets": {"parent": {
        "_producer": "https://x.test", "_schemaURL": "https://x.test/p",
        "run": {"runId": "4f5e1c2a-8d4b-4f6e-9a7c-1b2d3e4f5a6b"}, "job": {"namespace": "n", "name": "p"}}}},
    "job": {"namespace": "airflow", "name": "nightly"},
    "inputs": [{"namespace": "s3://b", "name": "in", "facets": {"schema": {
        "_producer": "https://x.test", "_schemaURL": "https://x.test/s", "fields": [{"name": "a"}]}}}],
    "outputs": [{"namespace": "s3://b", "name": "out"}],
    "producer": "https://github.com/OpenLineage/OpenLineage",
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
}
# What a mutation may put in: invalid UTF-8 (lone, overlong, surrogate, cut, past U+10FFFF),
# controls, numbers spelled as floats or in other digits, JSON's own punctuation.
INSERTS = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\x80", b"\x00", b"\x1f",
           b"\x7f", "\u0085".encode(), b"\\u0000", b"\\ud800", b"1.0", b"1e0", b"-0", b"1e400", "²".encode(),
           "١٢".encode(), "１".encode(), b"NaN", b"Infinity", b"null", b"true", b"{", b"}", b"[", b"]", b",", b":",
           b'"', b"\\", b"\n", b"\r\n", b" ", b'"event_type":"prediction",', b'"x":1,', b"[" * 40,
           # odd and huge keys: empty, controls, escapes, non-ASCII, an address, a dotted path, 5,000 characters
           b'"":1,', b'"\\u0000":1,', b'"\x01":1,', '"é":1,'.encode(), b'"jane.doe@example.com":{},', b'"a.b[0]":1,',
           b'"__proto__":null,', b'"' + b"k" * 5_000 + b'":1,', b'"' + "é".encode() * 3_000 + b'":"v",',
           b'"features":{"' + b"f" * 300 + b'":1},', b'"details":{"\\ud83d\\ude00":[1e308]},']


def mutate(data: bytes, rng: random.Random) -> bytes:
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        at = rng.randrange(len(data) + 1)
        kind = rng.randrange(7)
        if kind == 0:  # flip a byte
            if data:
                at = min(at, len(data) - 1)
                data = data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1:]
        elif kind == 1:  # insert something
            data = data[:at] + rng.choice(INSERTS) + data[at:]
        elif kind == 2:  # replace a run with something
            data = data[:at] + rng.choice(INSERTS) + data[at + rng.randrange(1, 6):]
        elif kind == 3:  # cut
            data = data[:at]
        elif kind == 4:  # a number spelled otherwise
            data = data.replace(b"1", rng.choice([b"1.0", b"1e0", "١".encode(), b"01", b"1_0"]), 1)
        elif kind == 5:  # a random byte anywhere
            data = data[:at] + bytes([rng.randrange(256)]) + data[at:]
        else:  # duplicate a slice (keys twice, nesting)
            end = min(len(data), at + rng.randrange(1, 40))
            data = data[:end] + data[at:end] + data[end:]
    return data


def bodies(rng: random.Random, route: str, count: int) -> list[bytes]:
    if route == "/v1/lineage":
        seeds = [json.dumps(LINEAGE).encode(), json.dumps(LINEAGE, ensure_ascii=False).encode()]
    else:
        seeds = [json.dumps(e).encode() for e in EVENTS] + [json.dumps({"events": EVENTS}).encode()]
    return [mutate(rng.choice(seeds), rng) for _ in range(count)]


@pytest.fixture
def queue():
    queue = MemoryQueue()
    handler.APP.configure(service=IngestService(store=MemoryIdempotencyStore(MemoryLedger()), queue=queue,
                                                limits=IngestLimits()))
    yield queue
    handler.APP.reset()


def call(route: str, body: bytes) -> dict[str, Any]:
    event = {
        "resource": route, "path": route, "httpMethod": "POST", "headers": {"content-type": "application/json"},
        "body": base64.b64encode(body).decode(), "isBase64Encoded": True,
        "requestContext": {"authorizer": WORKLOAD.to_context(), "identity": {"sourceIp": "10.0.0.1"},
                           "requestId": "bytes"},
    }
    return handler.handler(event, LambdaContext("ingest", 30))


@pytest.mark.parametrize("route", ["/v1/events", "/v1/lineage"])
def test_bodies_mutated_byte_by_byte_get_a_2xx_or_a_4xx_and_a_refusal_stores_nothing(queue, route):
    rng = random.Random(f"{SEED}{route}")
    statuses: dict[int, int] = {}
    answered: set[str] = set()  # the event ids 2xx answers named
    for body in bodies(rng, route, BODIES // 2):
        before = len(queue.packs)
        answer = call(route, body)
        status = answer["statusCode"]
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500, (body, answer)
        if status >= 300:
            assert len(queue.packs) == before, body  # nothing stored from a refused body
            assert json.loads(answer["body"])["error"], body
        elif route == "/v1/events":
            answered.update(json.loads(answer["body"])["event_ids"])
    assert sum(statuses.values()) == BODIES // 2
    assert min(statuses) < 300 and max(statuses) >= 400, statuses  # both stored and refused bodies were seen
    stored = queue.event_ids()
    assert len(stored) == len(set(stored)), "an event sent twice"  # every 2xx stored once
    assert answered <= set(stored)


def test_import_lines_mutated_byte_by_byte_are_each_stored_or_rejected():
    rng = random.Random(SEED)
    seeds = [json.dumps(e).encode() for e in EVENTS]
    lines = [rng.choice(seeds) if n % 4 == 0 else mutate(rng.choice(seeds), rng) for n in range(LINES)]
    lines = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines]  # one line each
    data = b"\n".join(lines) + b"\n"
    queue = MemoryQueue()
    service = IngestService(store=MemoryIdempotencyStore(MemoryLedger()), queue=queue, limits=IngestLimits())
    source = ImportSource("sha256:fuzz", "imports/fuzz.jsonl", "jsonl")
    report = FileImporter(ingest=service).run(io.BytesIO(data), source, WORKLOAD)
    read = [n for n, line in enumerate(lines, 1) if line.strip()]
    assert report.lines == len(read)
    assert report.accepted + report.rejected + report.already_stored == report.lines
    assert report.rejected > LINES // 4 and report.accepted >= LINES // 4  # both kinds seen
    rejected = {r["line"] for r in report.rejections}
    assert report.rejections_listed and len(rejected) == report.rejected
    stored = queue.event_ids()
    assert len(stored) == len(set(stored)) == report.accepted
    # Nothing stored from a rejected line: the lines without their own id are stored under
    # theirs (file and line number); none of those is a rejected line's.
    derived = {line_event_id(source.file_id, n) for n in rejected}
    assert derived.isdisjoint(stored)
