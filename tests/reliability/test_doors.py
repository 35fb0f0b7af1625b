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
    from mlaudit.integrity.services.proofs import ProofService

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


# ---- imports: one claim path for every door

def import_file(importer, lines: list[bytes], name: str):
    import hashlib
    import io

    from mlaudit.imports import ImportSource

    data = b"".join(lines)
    return importer.run(io.BytesIO(data), ImportSource("sha256:" + hashlib.sha256(data).hexdigest(), name, "jsonl"),
                        IMPORTER)


IMPORTER = Principal(kind="workload", actor_id="mlaudit-import", client_id="s3://landing",
                     scopes=("events.write", "lineage.write"))


@pytest.fixture
def pipeline(aws):
    from tests.unit.moto_pipeline import Pipeline

    return Pipeline()


def importer_on(pipeline, **limits):
    from mlaudit.imports import FileImporter, ImportLimits

    from tests.unit.moto_pipeline import NOW

    return FileImporter(ingest=pipeline.ingest, limits=ImportLimits(**limits), clock=lambda: NOW)


def own_id_lines(n: int, ending: bytes = b"\n", start: int = 0) -> list[bytes]:
    return [json.dumps({**EVENT, "event_id": f"line-{i}", "prediction_id": f"p-{i}"}).encode() + ending
            for i in range(start, start + n)]


def test_three_files_with_the_same_events_store_each_event_once(pipeline):
    """The finding: a.jsonl (5 events with their own ids), the same lines with CRLF endings,
    and a.jsonl plus one line gave 3 imported reports and each event 3 times."""
    importer = importer_on(pipeline)
    first = import_file(importer, own_id_lines(5), "imports/a.jsonl")
    crlf = import_file(importer, own_id_lines(5, b"\r\n"), "imports/a-crlf.jsonl")
    more = import_file(importer, own_id_lines(6), "imports/a-plus-one.jsonl")
    assert pipeline.drain() == []
    ids = sorted(r["event_id"] for r in pipeline.rows())
    assert ids == sorted(f"line-{i}" for i in range(6))  # every event once
    assert (first.state, first.accepted, first.already_stored, first.rejected) == ("imported", 5, 0, 0)
    assert (crlf.state, crlf.accepted, crlf.already_stored, crlf.rejected) == ("imported", 0, 5, 0)
    assert (more.accepted, more.already_stored, more.rejected) == (1, 5, 0)
    # the second and third reports say which lines were already stored
    assert crlf.body()["already_stored_lines"] == [1, 2, 3, 4, 5]
    assert more.body()["already_stored_lines"] == [1, 2, 3, 4, 5]
    assert first.body()["already_stored_lines"] == []


def test_an_imported_id_sent_again_with_other_content_is_a_rejected_line(pipeline):
    importer = importer_on(pipeline)
    import_file(importer, own_id_lines(3), "imports/a.jsonl")
    changed = own_id_lines(3)
    changed[1] = json.dumps({**EVENT, "event_id": "line-1", "prediction_id": "other"}).encode() + b"\n"
    report = import_file(importer, [*changed, *own_id_lines(1, start=7)], "imports/b.jsonl")
    assert (report.accepted, report.already_stored, report.rejected) == (1, 2, 1)
    assert report.rejections == [{"line": 2, "errors": [
        {"path": "event_id", "rule": "idempotency_conflict",
         "message": "this event_id was stored with other content within the idempotency window"}]}]
    assert pipeline.drain() == []
    assert sorted(r["event_id"] for r in pipeline.rows()) == ["line-0", "line-1", "line-2", "line-7"]
    stored = next(r for r in pipeline.rows() if r["event_id"] == "line-1")
    assert stored["prediction_id"] == "p-1"  # the first content stands


def test_an_import_line_that_is_not_utf8_is_one_rejected_line(pipeline):
    lines = own_id_lines(3)
    lines[1] = lines[1].replace(b'"m"', b'"\xffm"')
    report = import_file(importer_on(pipeline), lines, "imports/bad-byte.jsonl")
    assert (report.accepted, report.rejected) == (2, 1)
    assert [(r["line"], r["errors"][0]["path"], r["errors"][0]["rule"]) for r in report.rejections] == [
        (2, "model_id", "utf8")]
    assert pipeline.drain() == [] and sorted(r["event_id"] for r in pipeline.rows()) == ["line-0", "line-2"]


@pytest.mark.parametrize("line", [b"x", b"\xff", b"{", b"[]"])
def test_the_rejected_lines_report_is_bounded_by_its_input(line):
    from mlaudit.adapters.memory import MemoryIdempotencyStore, MemoryLedger, MemoryQueue
    from mlaudit.imports import FileImporter

    service = IngestService(store=MemoryIdempotencyStore(MemoryLedger()), queue=MemoryQueue(), limits=IngestLimits())
    lines = [line + b"\n"] * 100_000  # 200 KB of "x\n": a 10.2 MB report before
    report = import_file(FileImporter(ingest=service), lines, "imports/x.jsonl")
    size = len(json.dumps(report.body()))
    data = len(line + b"\n") * len(lines)
    assert size <= 2 * data + 70_000, size  # a small constant of the input, plus the cap
    assert report.rejected == 100_000 and not report.rejections_listed
    assert sum(report.body()["rejected_by_rule"].values()) == 100_000


# ---- `mlaudit import FILE --name N` printed the previous import's report for N

def test_import_with_a_name_used_before_waits_for_its_own_report(aws, tmp_path, capsys):
    """A stale report for the name (another version of it) is there from the start: the
    command must wait for the report of the version it uploaded, and exit by that one."""
    import argparse
    import threading

    import boto3

    from cli import imports as command

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="landing")
    s3.put_bucket_versioning(Bucket="landing", VersioningConfiguration={"Status": "Enabled"})
    stale = {"state": "imported", "version_id": "an-older-upload", "lines": 3, "accepted": 1, "rejected": 2,
             "already_stored": 0, "dq": {"pass": 1, "warn": 0, "fail": 0}, "rejections": []}
    s3.put_object(Bucket="landing", Key="reports/scores.jsonl.json", Body=json.dumps(stale).encode())
    file = tmp_path / "clean.jsonl"
    file.write_text(json.dumps(EVENT) + "\n")

    def import_function():  # what the import function does once the file lands, a little later
        deadline = __import__("time").monotonic() + 60
        while __import__("time").monotonic() < deadline:
            versions = s3.list_object_versions(Bucket="landing", Prefix="imports/").get("Versions", [])
            if versions:
                fresh = {**stale, "version_id": versions[0]["VersionId"], "lines": 1, "accepted": 1, "rejected": 0}
                __import__("time").sleep(1.5)
                s3.put_object(Bucket="landing", Key="reports/scores.jsonl.json", Body=json.dumps(fresh).encode())
                return
            __import__("time").sleep(0.1)

    worker = threading.Thread(target=import_function)
    worker.start()
    args = argparse.Namespace(file=file, name="scores.jsonl", timeout=60, report=None)
    status = command.wait_and_report(args, s3, "landing")
    worker.join()
    assert status == 0
    assert "1 lines, 1 accepted, 0 rejected" in capsys.readouterr().out


# ---- local only: a landing key holding NUL made every later listing fail (moto answers 500)

def test_the_landing_watcher_survives_any_key():
    import boto3

    from local.landing import LandingWatcher
    from local.moto_server import MotoServer

    server = MotoServer()
    url = server.start()
    try:
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        s3.create_bucket(Bucket="landing")
        s3.put_bucket_versioning(Bucket="landing", VersioningConfiguration={"Status": "Enabled"})
        calls: list[dict[str, Any]] = []
        watcher = LandingWatcher(s3, "landing", region="us-east-1", deliver=calls.append)
        for key in ("imports/a.jsonl", "imports/b\x00c.jsonl", "imports/d\x01<&>.jsonl"):
            s3.put_object(Bucket="landing", Key=key, Body=b"{}\n")
        watcher.tick()
        s3.put_object(Bucket="landing", Key="imports/e.jsonl", Body=b"{}\n")
        s3.put_object(Bucket="landing", Key="imports/a.jsonl", Body=b"{}\n{}\n")  # a new version of a
        watcher.tick()
        watcher.tick()  # nothing new: nothing again
        keys = [e["detail"]["object"]["key"] for e in calls]
        assert sorted(keys) == sorted(["imports/a.jsonl", "imports/b\x00c.jsonl", "imports/d\x01<&>.jsonl",
                                       "imports/e.jsonl", "imports/a.jsonl"])
        versions = {e["detail"]["object"]["version-id"] for e in calls}
        assert len(versions) == 5 and None not in versions
    finally:
        server.stop()


# ---- one queue message sank its whole writer batch; a copy displaced the genuine pack

def redrive_to_dlq(pipeline, receives: int = 3) -> str:
    dlq = pipeline.sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    arn = pipeline.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pipeline.sqs.set_queue_attributes(QueueUrl=pipeline.queue_url, Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": arn, "maxReceiveCount": str(receives)})})
    return dlq


def event_source(pipeline, rounds: int = 20) -> None:
    """What Lambda's SQS event source does: batches of up to 10, a failed message back at
    once (visibility 0 here), the DLQ after maxReceiveCount receives."""
    for _ in range(rounds):
        raw = pipeline.sqs.receive_message(QueueUrl=pipeline.queue_url, MaxNumberOfMessages=10,
                                           MessageAttributeNames=["All"], VisibilityTimeout=0).get("Messages", [])
        if not raw:
            return
        failed = set(pipeline.writer.process(pipeline.to_messages(raw)).failed_message_ids)
        for m in raw:
            if m["MessageId"] not in failed:
                pipeline.sqs.delete_message(QueueUrl=pipeline.queue_url, ReceiptHandle=m["ReceiptHandle"])


def dead_letters(pipeline, dlq: str) -> list[dict[str, Any]]:
    return pipeline.sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10,
                                        MessageAttributeNames=["All"]).get("Messages", [])


def test_a_pack_with_a_3000_character_id_fails_alone_and_reaches_the_dlq_alone(pipeline):
    dlq = redrive_to_dlq(pipeline)
    pipeline.post(json.dumps({"events": [{**EVENT, "event_id": f"g{i}"} for i in range(4)]}))
    (raw,) = pipeline.receive()
    pipeline.sqs.change_message_visibility(QueueUrl=pipeline.queue_url, ReceiptHandle=raw["ReceiptHandle"],
                                           VisibilityTimeout=0)  # back on the queue, beside the bad one
    (good,) = pipeline.to_messages([raw])
    pipeline.post(json.dumps({"events": [{**EVENT, "event_id": f"h{i}"} for i in range(3)]}))
    pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=good.body, MessageAttributes={
        "pack_id": {"DataType": "String", "StringValue": "x" * 3000}})
    event_source(pipeline)
    assert sorted(r["event_id"] for r in pipeline.rows()) == sorted([*(f"g{i}" for i in range(4)),
                                                                       *(f"h{i}" for i in range(3))])
    (dead,) = dead_letters(pipeline, dlq)
    assert len(dead["MessageAttributes"]["pack_id"]["StringValue"]) == 3000


def test_a_message_carrying_another_packs_id_cannot_displace_it(pipeline):
    dlq = redrive_to_dlq(pipeline)
    pipeline.post(json.dumps({"events": [{**EVENT, "event_id": "genuine"}]}))
    (genuine,) = pipeline.to_messages(pipeline.receive(limit=1))
    pipeline.post(json.dumps({"events": [{**EVENT, "event_id": "forged", "model_id": "other"}]}))
    (other,) = pipeline.to_messages(pipeline.receive(limit=1))
    from mlaudit.writer import Message

    forged = Message("forged-copy", genuine.pack_id, other.body)  # first in the batch: it would pass for the pack
    report = pipeline.writer.process([forged, genuine])
    assert report.failed_message_ids == ["forged-copy"]
    assert [r["event_id"] for r in pipeline.rows()] == ["genuine"]
    again = pipeline.writer.process([forged])  # and after the genuine one is stored, it is no copy either
    assert again.failed_message_ids == ["forged-copy"]
    pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=other.body, MessageAttributes={
        "pack_id": {"DataType": "String", "StringValue": genuine.pack_id}})
    event_source(pipeline)
    (dead,) = dead_letters(pipeline, dlq)
    assert dead["MessageAttributes"]["pack_id"]["StringValue"] == genuine.pack_id and dead["Body"] == other.body


@pytest.mark.parametrize("pack_id", [None, "", "A" * 64, "p1", "a" * 63, "a" * 2049])
def test_a_message_whose_id_is_not_its_bodys_fails_alone(pipeline, pack_id):
    from mlaudit.writer import Message

    pipeline.post(json.dumps({"events": [{**EVENT, "event_id": f"k{i}"} for i in range(2)]}))
    (good,) = pipeline.to_messages(pipeline.receive())
    report = pipeline.writer.process([Message("bad", pack_id, good.body), good])
    assert report.failed_message_ids == ["bad"] and len(pipeline.rows()) == 2


# ---- a slow writer left unlogged files: the recovery sweep adopts them

def test_a_file_put_and_never_logged_is_adopted_by_the_sweep(pipeline, monkeypatch):
    from datetime import timedelta

    from mlaudit.adapters.bucket import S3Bucket
    from mlaudit.integrity.primitives.signing import LocalSigner, load_public_key
    from mlaudit.integrity.services.checkpoint import Checkpointer
    from mlaudit.integrity.services.sink import IntegritySink
    from mlaudit.integrity.verifier import Verifier
    from mlaudit.recovery import RecoverySweep

    from tests.unit.moto_pipeline import NOW

    store = S3Bucket(pipeline.s3, pipeline.bucket, pipeline.key_id)
    sink = pipeline.writer.integrity = IntegritySink(store, log_id="mlaudit/audit")
    pipeline.post(json.dumps({"events": [{**EVENT, "event_id": f"o{i}"} for i in range(5)]}))
    pipeline.post(json.dumps({"events": [{**EVENT, "event_id": "logged", "event_type": "model_deployed"}]}))
    messages = pipeline.to_messages(pipeline.receive())
    real = sink.file_written

    def log_down(key, *args, **kwargs):  # the log cannot be written for the prediction file
        if "event_type=prediction" in key:
            raise ConnectionError("S3 unavailable")
        return real(key, *args, **kwargs)

    monkeypatch.setattr(sink, "file_written", log_down)
    report = pipeline.writer.process(messages)
    assert report.failed_message_ids == []  # stored: acknowledged, never to the DLQ
    orphan = next(key for key in pipeline.objects() if "event_type=prediction" in key)
    signer = LocalSigner.generate()
    Checkpointer(store, signer, log_id="mlaudit/audit").run()
    before = Verifier(store, load_public_key(signer.public_key_pem()), jobs=1).run()
    assert [(p.kind, p.where) for p in before.problems] == [("foreign_file", orphan)]  # the finding

    sweep = RecoverySweep(objects=store, ledger=pipeline.writer.ledger, integrity=sink, grace=timedelta(minutes=15),
                          clock=lambda: NOW)
    assert sweep.run().summary() == {"adopted": 0, "logged": 0, "never_stored": 0, "left": 0}  # a writer may be at it
    sweep.clock = lambda: NOW + timedelta(minutes=17)
    assert sweep.run().summary() == {"adopted": 0, "logged": 0, "never_stored": 0, "left": 1}  # the log is still down
    monkeypatch.setattr(sink, "file_written", real)
    adopted = sweep.run()
    assert (adopted.adopted, adopted.summary()["left"]) == ([orphan], 0)  # (the writer took the other off itself)
    assert pipeline.writer.ledger.expected(NOW - timedelta(days=1), NOW + timedelta(minutes=17)) == {}
    Checkpointer(store, signer, log_id="mlaudit/audit").run()
    after = Verifier(store, load_public_key(signer.public_key_pem()), jobs=1).run()
    assert after.problems == []
    assert sorted(r["event_id"] for r in pipeline.rows()) == ["logged", *(f"o{i}" for i in range(5))]


def test_a_listed_file_never_put_is_taken_off_the_list(pipeline):
    from datetime import timedelta

    from mlaudit.adapters.bucket import S3Bucket
    from mlaudit.integrity.services.sink import IntegritySink
    from mlaudit.recovery import RecoverySweep

    from tests.unit.moto_pipeline import NOW

    store = S3Bucket(pipeline.s3, pipeline.bucket, pipeline.key_id)
    pipeline.writer.ledger.expect(["events/event_date=2026-11-26/event_type=prediction/never.parquet"], NOW)
    sink = IntegritySink(store, log_id="mlaudit/audit")
    sweep = RecoverySweep(objects=store, ledger=pipeline.writer.ledger, integrity=sink,
                          grace=timedelta(minutes=5), clock=lambda: NOW + timedelta(minutes=4, seconds=59))
    assert sweep.run().summary() == {"adopted": 0, "logged": 0, "never_stored": 0, "left": 0}  # a writer may be at it
    sweep.clock = lambda: NOW + timedelta(minutes=5)
    assert sweep.run().summary() == {"adopted": 0, "logged": 0, "never_stored": 1, "left": 0}
    assert sweep.run().summary() == {"adopted": 0, "logged": 0, "never_stored": 0, "left": 0}


def test_a_ledger_claim_that_took_effect_without_an_answer_is_known_as_its_own(pipeline, monkeypatch):
    from botocore.exceptions import ReadTimeoutError
    from mlaudit.writer import LedgerEntry

    from tests.unit.moto_pipeline import NOW

    ledger = pipeline.writer.ledger
    real = pipeline.ddb.put_item
    calls = []

    def lost_answer(**kwargs):
        calls.append(1)
        real(**kwargs)
        if len(calls) == 1:
            raise ReadTimeoutError(endpoint_url="dynamodb")
        return {}

    monkeypatch.setattr(pipeline.ddb, "put_item", lost_answer)
    monkeypatch.setattr("mlaudit.retry.FIRST_PAUSE_SECONDS", 0.0)
    assert ledger.claim({"p" * 64: LedgerEntry({"2026-11-26/prediction": "k"}, NOW)}, {}) == {"p" * 64}
    assert len(calls) == 2  # retried, and the retry's refusal was this claim's own write
    # Another delivery's claim is still refused.
    assert ledger.claim({"p" * 64: LedgerEntry({"2026-11-26/prediction": "k2"}, NOW)}, {}) == set()


def test_lines_without_their_own_id_are_held_by_their_files_import_alone():
    """A line's derived id (the file's identity and its line number) can be held by no other
    request: no claim of its own (a conditional write per line for nothing); lines with
    their own ids are claimed per (sender, event_id)."""
    from mlaudit.adapters.memory import MemoryIdempotencyStore, MemoryLedger, MemoryQueue
    from mlaudit.imports import FileImporter

    store = MemoryIdempotencyStore(MemoryLedger())
    service = IngestService(store=store, queue=MemoryQueue(), limits=IngestLimits())
    lines = [json.dumps(EVENT).encode() + b"\n", *own_id_lines(2)]
    report = import_file(FileImporter(ingest=service), lines, "imports/mixed.jsonl")
    assert (report.accepted, report.rejected) == (3, 0)
    assert len(store.events) == 2  # the two lines with their own ids
    again = import_file(FileImporter(ingest=service), [b"\n", *lines], "imports/mixed-again.jsonl")
    assert (again.accepted, again.already_stored) == (1, 2)  # another file: its line 2 is another event


def test_passing_ledger_failures_in_a_batch_of_many_packs_and_a_copy_send_nothing_back(pipeline, monkeypatch):
    """The soak's redundant DLQ copies: one ledger read or claim that raised failed the whole
    batch (most batches of 70 messages drew one of its 2% faults), and a copy behind its
    first copy's failed batch found the pack claimed and in flight: both came back until the
    copy ran out of receives. Here every first attempt of each ledger call fails: each is
    retried in the invocation, and the whole batch, copy included, is acknowledged."""
    from collections import Counter

    from botocore.exceptions import ClientError
    from mlaudit.writer import Message

    for i in range(8):
        pipeline.post(json.dumps({"events": [{**EVENT, "event_id": f"s{i}-{j}"} for j in range(3)]}))
    messages = pipeline.to_messages(pipeline.receive())
    assert len(messages) == 8
    copy = Message("copy-of-the-first", messages[0].pack_id, messages[0].body)
    calls: Counter[str] = Counter()

    def flaky(name: str) -> Any:
        real = getattr(pipeline.ddb, name)

        def call(**kwargs: Any) -> Any:
            calls[name] += 1
            if calls[name] % 2 == 1:  # every other call, before it takes effect
                raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                             "Message": "slow down"}}, name)
            return real(**kwargs)
        return call

    monkeypatch.setattr("mlaudit.retry.FIRST_PAUSE_SECONDS", 0.0)
    for name in ("batch_get_item", "put_item", "update_item"):
        monkeypatch.setattr(pipeline.ddb, name, flaky(name))
    report = pipeline.writer.process([*messages, copy])
    assert report.failed_message_ids == []
    assert calls["batch_get_item"] >= 2 and calls["put_item"] >= 16  # the read and each claim failed once
    monkeypatch.undo()
    assert sorted(r["event_id"] for r in pipeline.rows()) == sorted(f"s{i}-{j}" for i in range(8) for j in range(3))
