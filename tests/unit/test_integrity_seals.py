"""The writer cannot invent events: every pack is sealed where it is accepted (a key made in
memory, certified once with the KMS seal key), the writer checks and stores the seals, and
the verifier checks every stored event against one, with the seal key's public key alone."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from mlaudit.adapters.bucket import S3Bucket
from mlaudit.integrity.primitives import merkle, records
from mlaudit.integrity.primitives.signing import KmsSigner, LocalSigner, kms_public_key_pem, load_public_key
from mlaudit.integrity.services import seals
from mlaudit.integrity.services.checkpoint import Checkpointer
from mlaudit.integrity.services.sink import IntegritySink
from mlaudit.integrity.verifier import Verifier
from mlaudit.writer import Message

from tests.unit import moto_pipeline
from tests.unit.test_integrity_support import event, parquet_file

LOG_ID = "mlaudit/audit"
EVENT = {"event_type": "prediction", "occurred_at": "2026-11-26T06:59:00Z", "model_id": "m", "model_version": "1",
         "prediction_score": 0.25, "latency_ms": 4}


class CountingSigner(KmsSigner):
    calls = 0

    def sign(self, message: bytes) -> bytes:
        CountingSigner.calls += 1
        return super().sign(message)


class Sealed:
    """Ingest (sealing) -> SQS -> writer (checking, storing seals, logging) -> signer, on moto."""

    def __init__(self) -> None:
        self.pipeline = pipeline = moto_pipeline.Pipeline()
        kms = boto3.client("kms")
        seal_key = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
        self.entry_signer = LocalSigner.generate("entries")
        self.seal_pem = kms_public_key_pem(kms, seal_key)
        self.sealer = seals.PackSealer(CountingSigner(kms, seal_key), "ingest")
        pipeline.ingest.recorder.sealer = self.sealer
        self.store = S3Bucket(pipeline.s3, pipeline.bucket, pipeline.key_id)
        self.sink = IntegritySink(self.store, log_id=LOG_ID, entry_signer=self.entry_signer)
        pipeline.writer.integrity = self.sink
        pipeline.writer.seals = seals.SealChecker(load_public_key(self.seal_pem))
        self.signer = LocalSigner.generate("checkpoints")

    def sign(self):
        return Checkpointer(self.store, self.signer, log_id=LOG_ID,
                            entry_key=load_public_key(self.entry_signer.public_key_pem())).run()

    def verify(self, **kwargs):
        return Verifier(self.store, load_public_key(self.signer.public_key_pem()), jobs=1, log_id=LOG_ID,
                        entry_key=load_public_key(self.entry_signer.public_key_pem()), seal_key_pem=self.seal_pem,
                        **kwargs).run()


@pytest.fixture
def sealed(aws):
    return Sealed()


def test_every_stored_event_is_sealed_by_ingest_and_verifies(sealed):
    # Given two requests, one of them a pack split over two partitions (two event types)
    CountingSigner.calls = 0
    sealed.pipeline.post(json.dumps({"events": [{**EVENT, "event_id": f"a{i}"} for i in range(5)]}))
    mixed = [{**EVENT, "event_id": f"b{i}"} for i in range(4)]
    mixed[1] = {"event_id": "b1", "event_type": "model_deployed", "occurred_at": "2026-11-26T06:59:00Z",
                "model_id": "m", "model_version": "1"}
    sealed.pipeline.post(json.dumps({"events": mixed}))
    # Then one KMS call certified the container's sealing key, however many packs it sealed
    assert CountingSigner.calls == 1
    raw = sealed.pipeline.receive()
    assert all("pack_seal" in m["MessageAttributes"] for m in raw)
    assert sealed.pipeline.writer.process(sealed.pipeline.to_messages(raw)).failed_message_ids == []
    sealed.sign()
    files = sealed.pipeline.objects()
    assert len(files) == 2
    for key in files:
        manifest = records.decode(sealed.store.get(records.manifest_key(key)), "manifest")
        assert manifest["seals_sha256"] == records.sha256_hex(sealed.store.get(seals.seals_key(key)))
    # The split pack's part names its positions and carries the pack's leaves
    deployed = next(k for k in files if "model_deployed" in k)
    (part,) = json.loads(sealed.store.get(seals.seals_key(deployed)))["parts"]
    assert part["positions"] == [1] and len(part["leaves"]) == 4
    report = sealed.verify()
    assert report.ok, report.text()
    assert report.events_checked == 9


def test_the_writer_stores_no_pack_without_a_seal_covering_its_events(sealed):
    sealed.pipeline.post(json.dumps({"events": [{**EVENT, "event_id": f"c{i}"} for i in range(3)]}))
    (message,) = sealed.pipeline.to_messages(sealed.pipeline.receive())
    other = seals.PackSealer(LocalSigner.generate("not the seal key"), "mallory")
    stolen = json.loads(message.seal)
    forged = [
        None,  # no seal
        other.seal(message.pack_id, [merkle.leaf_hash(b"x")]),  # a key the seal key never certified
        sealed.sealer.seal(message.pack_id, [merkle.leaf_hash(b"other")]),  # a real seal over other events
        sealed.sealer.seal("another-pack", [bytes(32)]),  # another pack's
        records.encode({**stolen, "seal": {**stolen["seal"], "count": 2}}).decode(),  # altered after signing
    ]
    for seal in forged:
        report = sealed.pipeline.writer.process([Message(message.message_id, message.pack_id, message.body, seal)])
        assert report.failed_message_ids == [message.message_id], seal
    assert sealed.pipeline.objects() == []
    assert sealed.pipeline.writer.process([message]).failed_message_ids == []


def test_a_passing_failure_of_a_seal_write_costs_no_receive(sealed, monkeypatch):
    """The seals and certificate objects are S3 creates like the file's put, and are retried
    like it: one that failed, before or after taking effect, does not send the packs back;
    and a certificate is stored once, not once per pack or file (under the busy-machine
    faults, a dozen unretried creates per file sent its messages back until the DLQ)."""
    from botocore.exceptions import ClientError

    deployed = {"event_type": "model_deployed", "occurred_at": "2026-11-26T06:59:00Z", "model_id": "m",
                "model_version": "1"}
    for request in range(3):  # three packs of one ingest container, each over two partitions
        sealed.pipeline.post(json.dumps({"events": [{**EVENT, "event_id": f"r{request}-0"},
                                                    {**deployed, "event_id": f"r{request}-1"}]}))
    messages = sealed.pipeline.to_messages(sealed.pipeline.receive())
    real, calls = sealed.pipeline.s3.put_object, []

    def flaky(**kwargs):  # each seal object: refused once, then written without an answer once
        key = kwargs["Key"]
        if key.startswith((records.SEALS, records.SEAL_KEYS)):
            calls.append(key)
            if calls.count(key) <= 2:
                if calls.count(key) == 2:
                    real(**kwargs)
                raise ClientError({"Error": {"Code": "ServiceUnavailable"},
                                   "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject")
        return real(**kwargs)

    monkeypatch.setattr(sealed.pipeline.s3, "put_object", flaky)
    report = sealed.pipeline.writer.process(messages)
    assert (len(messages), report.failed_message_ids, len(report.files)) == (3, [], 2)
    assert sum(key.startswith(records.SEAL_KEYS) for key in calls) == 3  # one certificate, struck twice
    assert sum(key.startswith(records.SEALS) for key in calls) == 2 * 3  # two files' seals, each struck twice
    sealed.sign()
    report = sealed.verify()
    assert report.ok and report.events_checked == 6, report.text()


def _invent(sealed: Sealed, *, seal_from: str | None = None) -> str:
    """What the writer's role can do: store a Parquet file of invented events and log it with
    its entry key (S3 PutObject on events/ and integrity/, kms:Sign on the entry key)."""
    events = [event(i, "prediction", "2026-11-26") for i in range(3)]
    key = "events/event_date=2026-11-26/event_type=prediction/invented.parquet"
    body = parquet_file(events)
    leaves = [bytes.fromhex(e["leaf_hash"]) for e in events]
    if seal_from is not None:  # a real seal, copied from a real file onto the invented rows
        part = json.loads(sealed.store.get(seals.seals_key(seal_from)))["parts"][0]
        copied = seals.Seal(part["seal"], part["signature"], json.loads(
            sealed.store.get(seals.seal_key_object_key(part["seal"]["seal_key"]))))
        sealed.sink.seal_file(key, [seals.SealedPart(0, len(events), copied)], leaves)
    assert sealed.store.create(key, body)
    sealed.sink.file_written(key, body, leaves, events[0]["event_id"], events[-1]["event_id"])
    return key


@pytest.mark.parametrize("copied", [False, True], ids=["unsealed", "a-real-seal-copied"])
def test_events_the_writer_invents_are_signed_over_but_named_by_the_verifier(sealed, copied):
    sealed.pipeline.post(json.dumps({"events": [{**EVENT, "event_id": f"d{i}"} for i in range(3)]}))
    assert sealed.pipeline.drain() == []
    (real,) = sealed.pipeline.objects()
    invented = _invent(sealed, seal_from=real if copied else None)
    # The entry is the writer's (its key signed it), so the signer signs over it ...
    assert sealed.sign().body["tree_size"] == 2
    # ... and the verifier names the invented events: no seal by ingest covers them
    report = sealed.verify()
    assert {p.kind for p in report.problems} == {"event_unsealed"}, report.text()
    assert {p.where for p in report.problems} == {invented}
    # Without the seal key, the verifier says what it did not check
    unchecked = Verifier(sealed.store, load_public_key(sealed.signer.public_key_pem()), jobs=1).run()
    assert unchecked.ok and any("seals not checked" in n for n in unchecked.notes)


def test_the_stacks_own_events_are_sealed_too(sealed):
    from mlaudit.adapters.queue import SqsQueue
    from mlaudit.self_audit import QueueSelfAudit

    audit = QueueSelfAudit(SqsQueue(sealed.pipeline.sqs, sealed.pipeline.queue_url), sealer=sealed.sealer,
                           clock=lambda: moto_pipeline.NOW)
    audit.record(moto_pipeline.WORKLOAD, [{"event_type": "audit_access", "occurred_at": "2026-11-26T06:59:00Z",
                                           "resource": "query:x", "action": "run"}])
    assert sealed.pipeline.drain() == []
    sealed.sign()
    assert sealed.verify().ok


def test_a_seal_certificate_names_its_key_and_only_the_seal_key_certifies():
    key = LocalSigner.generate("seal")
    sealer = seals.PackSealer(key, "queries")
    attribute = json.loads(sealer.seal("p", [merkle.leaf_hash(b"e")]))
    assert attribute["seal_key"]["seal_key"]["function"] == "queries"
    assert attribute["seal"]["seal_key"] == seals.seal_key_name(attribute["seal_key"])
    checker = seals.SealChecker(load_public_key(key.public_key_pem()))
    checker.check(attribute["seal"], attribute["signature"], attribute["seal_key"])
    stranger = seals.SealChecker(load_public_key(LocalSigner.generate().public_key_pem()))
    with pytest.raises(seals.SealError, match="not signed with the seal key"):
        stranger.check(attribute["seal"], attribute["signature"], attribute["seal_key"])
    bad = base64.b64encode(b"\0" * 64).decode()
    with pytest.raises(seals.SealError, match="does not verify"):
        checker.check(attribute["seal"], bad, attribute["seal_key"])
