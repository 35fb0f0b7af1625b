"""Receipts, checkpoints and the offline verifier on the local stack, over real HTTP:
events in, the writer logs each file, the scheduled signer signs the log's head, and a
receipt from the API verifies with nothing but the public key."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from mlaudit.integrity.primitives.signing import kms_public_key_pem
from mlaudit.integrity.services.proofs import check_receipt
from mlaudit.leaf import leaf_hash, leaf_record_from_row

from local import client
from tests.integration.helpers import drained, get, lake_rows, make_events, post, signed_checkpoint_covering


def log_size(config):
    s3 = client.aws_client(config, "s3")
    return len(s3.list_objects_v2(Bucket=config["bucket"], Prefix="integrity/log/").get("Contents", []))


def test_receipt_from_the_api_verifies_with_only_the_public_key(local_stack, machine_token, user_tokens):
    prefix = f"rcpt-{uuid.uuid4().hex[:8]}"
    assert post(local_stack, {"events": make_events(prefix, 8)}, machine_token(["events.write"])).status_code == 202
    drained(local_stack)
    auditor = user_tokens("auditor")["id_token"]
    first = signed_checkpoint_covering(local_stack, auditor, log_size(local_stack))

    row = next(r for r in lake_rows(local_stack, prefix) if r["event_type"] == "prediction")
    workload = machine_token(["events.read"])  # a workload reads receipts for its own events
    answer = get(local_stack, f"/v1/events/{row['event_id']}/proof", workload,
                 event_date=row["event_date"], event_type=row["event_type"])
    assert answer.status_code == 200, answer.text
    receipt = answer.json()
    public_key = kms_public_key_pem(client.aws_client(local_stack, "kms"), local_stack["signing_key_id"])
    recomputed = bytes.fromhex(leaf_hash(leaf_record_from_row(row, row["event_type"])))
    assert check_receipt(receipt, public_key, recomputed) == []
    # One changed value no longer matches the receipt.
    forged = bytes.fromhex(leaf_hash(leaf_record_from_row({**row, "model_version": "8"}, row["event_type"])))
    assert check_receipt(receipt, public_key, forged) != []

    # A later checkpoint is consistent with the first one.
    assert post(local_stack, {"events": make_events(f"{prefix}-b", 4)},
                machine_token(["events.write"])).status_code == 202
    drained(local_stack)
    second = signed_checkpoint_covering(local_stack, auditor, log_size(local_stack))
    sizes = {"first": first["checkpoint"]["tree_size"], "second": second["checkpoint"]["tree_size"]}
    proof = get(local_stack, "/v1/checkpoints/consistency", auditor, **sizes)
    assert proof.status_code == 200, proof.text
    assert proof.json()["first_root"] == first["checkpoint"]["root"]
    assert proof.json()["second_root"] == second["checkpoint"]["root"]

    # An analyst may not read receipts.
    assert get(local_stack, "/v1/checkpoints/latest", user_tokens("analyst")["id_token"]).status_code == 403


def test_offline_verifier_passes_on_the_untouched_local_lake(local_stack, machine_token, user_tokens):
    prefix = f"verify-{uuid.uuid4().hex[:8]}"
    assert post(local_stack, {"events": make_events(prefix, 12)}, machine_token(["events.write"])).status_code == 202
    drained(local_stack)
    signed_checkpoint_covering(local_stack, user_tokens("auditor")["id_token"], log_size(local_stack))
    result = subprocess.run(
        [sys.executable, "-m", "mlaudit.integrity.verifier", "--bucket", local_stack["bucket"],
         "--endpoint-url", local_stack["aws_endpoint_url"], "--region", local_stack["region"],
         "--kms-key-id", local_stack["signing_key_id"], "--entry-kms-key-id", local_stack["entry_key_id"],
         "--seal-kms-key-id", local_stack["seal_key_id"],
         "--witness-bucket", local_stack["witness_bucket"], "--max-age-hours", "1"],
        capture_output=True, text=True, timeout=300,
        # The fake AWS credentials come from tests/conftest.py; the import path from pytest's.
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Every check ran: entry signatures, ingest seals, the witness, the version history.
    assert "not checked" not in result.stdout, result.stdout
