"""End to end on moto: ingest -> SQS -> writer (with the integrity sink) -> checkpoint
signed by KMS -> the verifier CLI over a moto server, with only the public key."""

from __future__ import annotations

import json
import socket

import boto3
import pytest
from mlaudit.adapters.bucket import S3Bucket
from mlaudit.integrity.primitives.signing import KmsSigner, kms_public_key_pem
from mlaudit.integrity.services.checkpoint import Checkpointer
from mlaudit.integrity.services.sink import IntegritySink
from mlaudit.integrity.verifier.command import main

from tests.unit import moto_pipeline

EVENT = {
    "event_type": "prediction",
    "occurred_at": "2026-11-26T06:59:00Z",
    "model_id": "m",
    "model_version": "1",
    "prediction_score": 0.25,
    "latency_ms": 4,
    "features": {"age": 41},
    "inputs": ["s3://bucket/f.parquet"],
}


class Protector:
    """Stands in for the privacy module: a pseudonym and opaque ciphertext, as stored."""

    def prepare(self, subject_refs):
        pass

    def protect(self, subject_ref, personal_data):
        import base64
        import hashlib

        secret = json.dumps(personal_data, sort_keys=True).encode()
        ciphertext = base64.b64encode(bytes(b ^ 0x5A for b in secret)).decode()
        return hashlib.sha256(subject_ref.encode()).hexdigest(), ciphertext


@pytest.fixture
def lake(aws):
    pipeline = moto_pipeline.Pipeline()
    pipeline.ingest.protector = pipeline.ingest.recorder.protector = Protector()
    store = S3Bucket(pipeline.s3, pipeline.bucket, pipeline.key_id)
    pipeline.writer.integrity = IntegritySink(store, log_id="mlaudit/audit")
    events = [{**EVENT, "event_id": f"ev-{i}"} for i in range(20)]
    # personal data reaches the lake only as ciphertext, and still verifies
    events += [
        {**EVENT, "event_id": f"ev-{i}", "subject_ref": f"patient-{i}", "personal_data": {"name": "Ann"}}
        for i in range(20, 30)
    ]
    events += [{**EVENT, "event_id": f"dep-{i}", "event_type": "model_deployed"} for i in range(3)]
    pipeline.post(json.dumps({"events": events}))
    assert pipeline.drain() == []
    kms = boto3.client("kms")
    signing = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    Checkpointer(store, KmsSigner(kms, signing), log_id="mlaudit/audit").run()
    return pipeline, signing


def run_cli(pipeline, signing, *extra, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        code = main(
            [
                "--bucket",
                pipeline.bucket,
                "--endpoint-url",
                f"http://127.0.0.1:{port}",
                "--region",
                "us-east-1",
                "--kms-key-id",
                signing,
                "--jobs",
                "1",
                *extra,
            ]
        )
    finally:
        server.stop()
    return code, capsys.readouterr().out


def test_pipeline_output_verifies_and_tampering_is_named(lake, capsys):
    pipeline, signing = lake
    keys = pipeline.objects()
    assert len(keys) == 2
    code, out = run_cli(pipeline, signing, capsys=capsys)
    assert code == 0, out
    assert "events checked: 33" in out
    rows = {r["event_id"]: r for r in pipeline.rows()}
    assert rows["ev-25"]["personal_data"] and "Ann" not in rows["ev-25"]["personal_data"]
    code, out = run_cli(pipeline, signing, "--event-id", "ev-7", capsys=capsys)
    assert code == 0, out
    # When a stored object is replaced
    pipeline.s3.put_object(
        Bucket=pipeline.bucket,
        Key=keys[0],
        Body=pipeline.s3.get_object(Bucket=pipeline.bucket, Key=keys[1])["Body"].read(),
    )
    code, out = run_cli(pipeline, signing, capsys=capsys)
    assert code == 1 and f"[modified_file] {keys[0]}" in out


def test_public_key_from_kms_is_enough(lake):
    pipeline, signing = lake
    pem = kms_public_key_pem(boto3.client("kms"), signing)
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")


def test_a_value_changed_on_the_way_to_the_writer_is_named_by_the_verifier(aws):
    from mlaudit.integrity.primitives.signing import LocalSigner, load_public_key
    from mlaudit.integrity.verifier import Verifier
    from mlaudit.pack import pack_id_of
    from mlaudit.writer import Message

    pipeline = moto_pipeline.Pipeline()
    store = S3Bucket(pipeline.s3, pipeline.bucket, pipeline.key_id)
    pipeline.writer.integrity = IntegritySink(store, log_id="mlaudit/audit")
    pipeline.post(json.dumps({"events": [{**EVENT, "event_id": f"ev-{i}"} for i in range(3)]}))
    (message,) = pipeline.to_messages(pipeline.receive())
    # The writer re-derives only the first leaf of a pack; a later value altered in the
    # queue (by whoever can send to it, with the id of the body it sends) is stored with the
    # hash ingest computed, and verification names the event.
    header, first, second, third = message.body.split("\n")
    altered = second.replace('"prediction_score":0.25', '"prediction_score":0.5')
    assert altered != second
    body = "\n".join([header, first, altered, third])
    report = pipeline.writer.process([Message(message.message_id, pack_id_of(body), body)])
    assert report.failed_message_ids == []
    signer = LocalSigner.generate()
    Checkpointer(store, signer, log_id="mlaudit/audit").run()
    result = Verifier(store, load_public_key(signer.public_key_pem()), jobs=1).run()
    assert [p.kind for p in result.problems] == ["event_modified"]
    assert "event ev-1" in result.problems[0].where
