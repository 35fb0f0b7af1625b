"""Receipts, consistency proofs, KMS-signed checkpoints on moto, and the two handlers."""

from __future__ import annotations

import json

import boto3
import pytest
from mlaudit.adapters.bucket import S3Bucket
from mlaudit.adapters.memory import MemoryBucket
from mlaudit.errors import Invalid, NotFound
from mlaudit.integrity.primitives import records
from mlaudit.integrity.primitives.signing import KmsSigner, kms_public_key_pem, load_public_key
from mlaudit.integrity.services.checkpoint import latest_checkpoint
from mlaudit.integrity.services.proofs import ProofService, check_consistency, check_receipt
from mlaudit.integrity.verifier import Verifier
from mlaudit.leaf import table_leaf_hashes

from tests.unit.test_integrity_support import SIGNER, Lake, parquet_file


@pytest.fixture
def lake():
    return Lake(MemoryBucket())


def test_receipt_proves_an_event_up_to_the_signed_checkpoint(lake):
    key = lake.keys[2]
    wanted = lake.events[key][4]
    receipt = ProofService(lake.store).receipt(wanted["event_id"])
    assert receipt["object_key"] == key and receipt["leaf_hash"] == wanted["leaf_hash"]
    assert receipt["log_index"] == 2 and receipt["checkpoint"]["checkpoint"]["tree_size"] == 4
    assert check_receipt(receipt, SIGNER.public_key_pem(), bytes.fromhex(wanted["leaf_hash"])) == []
    # The receipt is plain JSON: it survives the wire
    assert check_receipt(json.loads(json.dumps(receipt)), SIGNER.public_key_pem()) == []


def test_tampered_receipts_fail(lake):
    receipt = ProofService(lake.store).receipt(lake.events[lake.keys[0]][1]["event_id"])
    pem = SIGNER.public_key_pem()
    assert check_receipt(receipt, pem, b"\0" * 32) == ["the event's values do not hash to the receipt's leaf"]
    bad_path = dict(receipt, file_path=list(reversed(receipt["file_path"])))
    assert "the leaf is not in the file's Merkle tree" in check_receipt(bad_path, pem)
    bad_log = dict(receipt, log_path=["00" * 32] * len(receipt["log_path"]))
    assert "the log entry is not in the signed checkpoint's tree" in check_receipt(bad_log, pem)
    from mlaudit.integrity.primitives.signing import LocalSigner

    assert "the checkpoint signature is not valid for this public key" in check_receipt(
        receipt, LocalSigner.generate().public_key_pem()
    )


def test_events_after_the_latest_checkpoint_get_a_pending_receipt(lake):
    key = lake.add_file("2026-11-26", "prediction", 2, name="late")
    receipt = ProofService(lake.store).receipt(
        lake.events[key][0]["event_id"], event_date="2026-11-26", event_type="prediction"
    )
    assert receipt["log_index"] == 4 and receipt["checkpoint"] is None
    assert check_receipt(receipt, SIGNER.public_key_pem()) == ["not yet covered by a signed checkpoint"]
    lake.checkpoint()
    receipt = ProofService(lake.store).receipt(lake.events[key][0]["event_id"])
    assert check_receipt(receipt, SIGNER.public_key_pem()) == []


def test_workloads_get_receipts_for_their_own_events_only(lake):
    event_id = lake.events[lake.keys[0]][0]["event_id"]
    assert ProofService(lake.store).receipt(event_id, client_id="client-abc")
    with pytest.raises(NotFound):
        ProofService(lake.store).receipt(event_id, client_id="someone-else")


def test_consistency_between_checkpoints(lake):
    older = records.decode(lake.store.get(records.checkpoint_key(0)), "c")["checkpoint"]
    newer = records.decode(lake.store.get(records.checkpoint_key(1)), "c")["checkpoint"]
    proof = ProofService(lake.store).consistency(older["tree_size"], newer["tree_size"])
    assert check_consistency(proof, older, newer)
    assert not check_consistency(proof, dict(older, root="00" * 32), newer)
    with pytest.raises(Invalid):
        ProofService(lake.store).consistency(1, 99)


class S3TestStore(S3Bucket):
    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body)


def test_kms_signed_checkpoints_on_moto_verify_offline(aws):
    # Given the audit bucket with Object Lock and an RSA signing key in KMS
    s3, kms = boto3.client("s3"), boto3.client("kms")
    s3.create_bucket(Bucket="audit", ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket="audit",
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    sse = kms.create_key()["KeyMetadata"]["KeyId"]
    signing = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_3072")["KeyMetadata"]["KeyId"]
    store = S3TestStore(s3, "audit", sse)
    lake = Lake(store, signer=KmsSigner(kms, signing))
    # When the verifier has only the public key from GetPublicKey
    public = load_public_key(kms_public_key_pem(kms, signing))
    report = Verifier(store, public, jobs=1).run()
    # Then the lake verifies, and integrity objects sit under the default retention
    assert report.ok, report.text()
    head = s3.head_object(Bucket="audit", Key=records.checkpoint_key(1))
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ServerSideEncryption"] == "aws:kms"
    # And a tampered file is caught on S3 too
    store.put(lake.keys[0], parquet_file([dict(e, action="edited") for e in lake.events[lake.keys[0]]]))
    assert "modified_file" in Verifier(store, public, jobs=1).run().kinds()


class _Context:
    function_name = "checkpoint"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:checkpoint"
    aws_request_id = "req-1"


def api_event(path: str, resource: str, roles="auditor", scopes="", kind="person", params=None, query=None):
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "GET",
        "pathParameters": params,
        "queryStringParameters": query,
        "requestContext": {
            "authorizer": {
                "principal_kind": kind,
                "actor_id": "u1",
                "client_id": "client-abc" if kind == "workload" else "web",
                "roles": roles,
                "scopes": scopes,
            }
        },
    }


def test_proof_routes(lake):
    from mlaudit.handlers import proofs

    from local.runtime import LambdaContext

    proofs.APP.configure(service=ProofService(lake.store))

    def route(event):
        return proofs.handler(event, LambdaContext("proofs", 29))

    try:
        event_id = lake.events[lake.keys[1]][0]["event_id"]
        ok = route(
            api_event(f"/v1/events/{event_id}/proof", "/v1/events/{event_id}/proof", params={"event_id": event_id}),
        )
        assert ok["statusCode"] == 200 and json.loads(ok["body"])["log_index"] == 1
        mine = route(
            api_event(
                f"/v1/events/{event_id}/proof",
                "/v1/events/{event_id}/proof",
                roles="",
                scopes="events.read",
                kind="workload",
                params={"event_id": event_id},
            ),
        )
        assert mine["statusCode"] == 200
        latest = route(api_event("/v1/checkpoints/latest", "/v1/checkpoints/latest"))
        assert json.loads(latest["body"])["checkpoint"]["seq"] == 1
        proof = route(
            api_event("/v1/checkpoints/consistency", "/v1/checkpoints/consistency",
                      query={"first": "2", "second": "4"}),
        )
        assert proof["statusCode"] == 200 and json.loads(proof["body"])["first_root"]

        for bad in (
            api_event("/v1/events/%20/proof", "/v1/events/{event_id}/proof", params={"event_id": " "}),
            api_event("/v1/checkpoints/consistency", "/v1/checkpoints/consistency", query={"first": "x"}),
            api_event("/v1/checkpoints/consistency", "/v1/checkpoints/consistency",
                      query={"first": "3", "second": "9"}),
        ):
            assert route(bad)["statusCode"] == 400
        missing = route(api_event("/v1/events/nope/proof", "/v1/events/{event_id}/proof",
                                  params={"event_id": "nope"}))
        assert missing["statusCode"] == 404
    finally:
        proofs.APP.reset()


def test_verifier_leaves_match_the_writers_leaf_hash_column(lake):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(lake.store.get(lake.keys[3])))
    assert [h.hex() for h in table_leaf_hashes(table, "lineage")] == table.column("leaf_hash").to_pylist()


def test_a_checkpointer_run_without_new_entries_still_signs_a_fresh_head(lake):
    before = latest_checkpoint(lake.store)
    after = lake.checkpoint()
    assert after.body["tree_size"] == before.body["tree_size"] and after.body["prev"] == before.sha256


def test_a_plugged_in_locator_is_asked_instead_of_scanning(lake):
    wanted = lake.events[lake.keys[3]][2]
    asked = []

    def locator(event_id, event_date, event_type):
        asked.append(event_id)
        return [lake.keys[3]]

    receipt = ProofService(lake.store, locator=locator).receipt(wanted["event_id"])
    assert asked == [wanted["event_id"]] and receipt["object_key"] == lake.keys[3]
    with pytest.raises(NotFound):
        ProofService(lake.store, locator=lambda *_: []).receipt(wanted["event_id"])


def test_the_signer_refuses_to_sign_a_shrunk_or_rewritten_log(lake):
    from mlaudit.integrity.services.checkpoint import LogRewritten

    # Given someone replaced the last signed log entry
    entry = json.loads(lake.store.get(records.log_key(3)))
    entry["record_count"] = 99
    lake.store.put(records.log_key(3), records.encode(entry))
    with pytest.raises(LogRewritten):
        lake.checkpoint()
    # Or removed the newest entry
    fresh = Lake(MemoryBucket())
    del fresh.store.objects[records.log_key(3)]
    with pytest.raises(LogRewritten):
        fresh.checkpoint()
    assert latest_checkpoint(fresh.store).body["seq"] == 1  # nothing new was signed
