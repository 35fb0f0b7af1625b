"""Erasure keeps the proof: on moto, ingest with the real protector and key store ->
writer with the integrity sink -> signed checkpoint; then subject access and erasure
through the privacy service; the offline verifier still passes over the same lake."""

from __future__ import annotations

import json

import boto3
import pytest
from mlaudit.adapters.bucket import S3Bucket
from mlaudit.adapters.queue import SqsQueue
from mlaudit.adapters.subject_keys import SUBJECT_PREFIX, DynamoKmsKeyStore
from mlaudit.adapters.subject_lake import S3SubjectEvents
from mlaudit.errors import DomainError
from mlaudit.http import status_of
from mlaudit.integrity.primitives.signing import LocalSigner, load_public_key
from mlaudit.integrity.services.checkpoint import Checkpointer
from mlaudit.integrity.services.sink import IntegritySink
from mlaudit.integrity.verifier import Verifier
from mlaudit.principal import Principal
from mlaudit.privacy import PrivacyService, SealedDataError, SubjectProtector, open_sealed
from mlaudit.self_audit import QueueSelfAudit
from mlaudit.subject_index import SubjectIndex

from .moto_pipeline import Pipeline

OFFICER = Principal(kind="person", actor_id="user-po", client_id="people", roles=("privacy_officer",))
EVENT = {"event_type": "prediction", "occurred_at": "2026-11-26T06:59:00Z", "model_id": "m",
         "model_version": "1", "prediction_id": "p", "prediction_score": 0.5, "latency_ms": 3}
PEOPLE = {"patient-A": {"name": "Alice Averylongname"}, "patient-B": {"name": "Bob Bobsonlastname"}}


@pytest.fixture
def world(aws):
    pipeline = Pipeline()
    pipeline.ddb.create_table(
        TableName="subject-keys", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    keys = DynamoKmsKeyStore(pipeline.ddb, boto3.client("kms"), "subject-keys", pipeline.key_id)
    protector = SubjectProtector(keys, cache_seconds=0)
    pipeline.ingest.protector = pipeline.ingest.recorder.protector = protector
    store = S3Bucket(pipeline.s3, pipeline.bucket, pipeline.key_id)
    pipeline.writer.integrity = IntegritySink(store, log_id="mlaudit/audit")
    pipeline.writer.subject_index = SubjectIndex(store)
    events = [{**EVENT, "event_id": f"{ref}-{i}", "subject_ref": ref, "personal_data": data}
              for ref, data in PEOPLE.items() for i in range(3)]
    events.append({**EVENT, "event_id": "anonymous"})
    assert pipeline.post(json.dumps({"events": events}))[0] == 202
    assert pipeline.drain() == []
    audit = QueueSelfAudit(SqsQueue(pipeline.sqs, pipeline.queue_url))
    service = PrivacyService(keys, S3SubjectEvents(S3Bucket(pipeline.s3, pipeline.bucket)), audit)
    return pipeline, keys, service, store


def test_erasure_shreds_one_subject_and_the_lake_still_verifies(world):
    pipeline, keys, service, store = world
    signer = LocalSigner.generate()
    checkpoints = Checkpointer(store, signer, log_id="mlaudit/audit")
    checkpoints.run()

    # Before: the subject's events come back decrypted
    before = service.access(OFFICER, "patient-A")
    assert [e["event_id"] for e in before["events"]] == ["patient-A-0", "patient-A-1", "patient-A-2"]
    assert all(e["personal_data"] == PEOPLE["patient-A"] for e in before["events"])
    alias = before["subject_pseudonym"]

    summary = service.erase(OFFICER, "patient-A")
    assert summary["erased"] and summary["subject_pseudonym"] == alias

    # After: no key, so no access; the stored ciphertext opens under no key the table holds
    with pytest.raises(DomainError) as gone:
        service.access(OFFICER, "patient-A")
    assert status_of(gone.value) == 404
    stored = [r for r in pipeline.rows() if r["event_id"].startswith("patient-A-")]
    assert {r["subject_pseudonym"] for r in stored} == {alias}
    held = [keys._open(item) for item in pipeline.ddb.scan(TableName="subject-keys")["Items"]
            if item["pk"]["S"].startswith(SUBJECT_PREFIX)]
    assert len(held) == 1  # patient-B's only
    for row in stored:
        for key in held:
            with pytest.raises(SealedDataError):
                open_sealed(key, row["personal_data"], alias)
    # Other subjects untouched
    other = service.access(OFFICER, "patient-B")
    assert [e["personal_data"] for e in other["events"]] == [PEOPLE["patient-B"]] * 3

    # The privacy actions are audit events in the lake, under the pseudonym only
    assert pipeline.drain() == []
    actions = [r for r in pipeline.rows() if r["event_type"] in ("subject_access", "subject_erasure")]
    # access A, erase A, access A refused (audited, no pseudonym: none exists), access B
    assert sorted(r["event_type"] for r in actions) == ["subject_access"] * 3 + ["subject_erasure"]
    refused = [r for r in actions if r["subject_pseudonym"] is None]
    assert len(refused) == 1 and json.loads(refused[0]["details"])["outcome"] == "not_found"
    erasure = next(r for r in actions if r["event_type"] == "subject_erasure")
    assert erasure["subject_pseudonym"] == alias and erasure["actor_roles"] == ["privacy_officer"]
    assert "patient-A" not in json.dumps(actions, default=str)

    # And every hash still verifies: erasure rewrote nothing
    checkpoints.run()
    report = Verifier(store, load_public_key(signer.public_key_pem()), jobs=1).run()
    assert report.ok, report.text()
    assert report.events_checked == len(pipeline.rows()) == 7 + 4
