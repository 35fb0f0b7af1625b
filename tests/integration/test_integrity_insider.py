"""Issues #15 and #23 on the local stack: attacks by someone with access, each caught; and a
receipt a third party checks with the two public keys only.

The attacker writes straight to moto's S3 as an account admin would (the write-once
policies lifted: put without If-None-Match, delete markers, versions destroyed with
governance bypass; the witness's COMPLIANCE-locked versions stay), or acts with one
function's role exactly as declared (the local stack's IAM model: `role_client`). Nobody
but the functions holds kms:Sign on the entry, checkpoint or seal keys. The scheduled signer
runs every 2 s; the verifier is the command line with the three public keys and the witness.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from mlaudit import resource_policies
from mlaudit.adapters.bucket import S3Bucket
from mlaudit.bootstrap import Clients, build_checkpoint
from mlaudit.functions import CheckpointEnv, spec
from mlaudit.integrity.primitives import records
from mlaudit.integrity.primitives.signing import KmsSigner, kms_public_key_pem
from mlaudit.integrity.services.checkpoint import ChainRestarted
from mlaudit.integrity.services.proofs import check_receipt
from mlaudit.integrity.services.sink import IntegritySink
from mlaudit.integrity.services.witness import Witness
from mlaudit.parquet import read_parquet_bytes, to_parquet_bytes
from mlaudit.resources import Resource

from local import client
from tests.integration.conftest import LOCAL_STACK_ARGS, running_local_stack
from tests.integration.helpers import drained, get, make_events, post, signed_checkpoint_covering


def _stack(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[dict[str, Any]]:
    with running_local_stack(tmp_path_factory.mktemp(name), *LOCAL_STACK_ARGS) as config:
        yield config


def _module_stack(name: str) -> Any:
    @pytest.fixture(scope="module")
    def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
        yield from _stack(tmp_path_factory, name)

    return stack


# One stack per attack that leaves its lake unusable for the next.
forgery_stack, rewrite_stack, emptied_stack = map(_module_stack, ("forgery", "rewrite", "emptied"))
writer_stack, rollback_stack, replaced_stack = map(_module_stack, ("writer", "rollback", "replaced"))


def role_client(config: dict[str, Any], function: str, service: str) -> Any:
    """A client holding exactly ``function``'s declared grants, with both buckets' write-once
    policies enforced: what someone with that role's credentials can do (local/iam.py)."""
    from local import policy
    from local.iam import Enforcer, World, statements_for
    from local.stack import LocalValues

    account, region = config["account_id"], config["region"]
    key = lambda name: f"arn:aws:kms:{region}:{account}:key/{config[name]}"  # noqa: E731
    queue = f"arn:aws:sqs:{region}:{account}:{config['queue_url'].rsplit('/', 1)[1]}"
    arns = {Resource.AUDIT_BUCKET: f"arn:aws:s3:::{config['bucket']}",
            Resource.WITNESS_BUCKET: f"arn:aws:s3:::{config['witness_bucket']}",
            Resource.DATA_KEY: config["kms_key_arn"], Resource.SIGNING_KEY: key("signing_key_id"),
            Resource.ENTRY_KEY: key("entry_key_id"), Resource.SEAL_KEY: key("seal_key_id"),
            Resource.EVENTS_QUEUE: queue, Resource.WITNESS_TOPIC: config["witness_topic_arn"],
            Resource.LEDGER_TABLE: f"arn:aws:dynamodb:{region}:{account}:table/{config['tables']['ledger']}"}
    key_arns = {config[name]: key(name) for name in ("signing_key_id", "entry_key_id", "seal_key_id")}
    world = World(account=account, region=region, arns=arns,
                  key_arns={**key_arns, config["kms_key_id"]: config["kms_key_arn"]},
                  encrypted_with={config["bucket"]: config["kms_key_arn"],
                                  config["witness_bucket"]: config["kms_key_arn"]})
    # The resource policies of these resources, as the stack declares them (both buckets'
    # write-once statements, the keys' policies), rendered on this stack's ARNs.
    values = LocalValues(world, "", "", lambda name: name)
    for holder, statements in resource_policies.declared().items():
        if holder.resource in arns:
            world.policies[arns[holder.resource]] = [policy.Statement.from_json(s.render(values)) for s in statements]
    return Enforcer(function, statements_for(spec(function), arns), world).guard(client.aws_client(config, service))


def witness_keys(config: dict[str, Any]) -> list[tuple[int, str]]:
    """The witness's visible checkpoints of this log: (seq, key)."""
    s3 = client.aws_client(config, "s3")
    prefix = records.witness_prefix(records.log_id(config["bucket"]))
    found = []
    for item in s3.list_objects_v2(Bucket=config["witness_bucket"], Prefix=prefix).get("Contents", []):
        seq = records.checkpoint_seq(records.CHECKPOINTS + item["Key"][len(prefix):])
        if seq is not None:
            found.append((seq, item["Key"]))
    return sorted(found)


def hide_witness_after(config: dict[str, Any], seq: int) -> list[int]:
    """Delete markers on every visible witness checkpoint after ``seq``, again until none
    is left (the signer may publish one more meanwhile; once one is hidden it stops)."""
    s3, hidden = client.aws_client(config, "s3"), []
    deadline = time.monotonic() + 120
    while pending := [(n, k) for n, k in witness_keys(config) if n > seq]:
        assert time.monotonic() < deadline, "the witness kept growing"
        refusals = signer_log(config).count(HIDDEN)
        for number, key in pending:
            s3.delete_object(Bucket=config["witness_bucket"], Key=key)
            hidden.append(number)
        # The signer runs one at a time: once a run has refused over the markers, a run that
        # read the witness before them has ended, and whatever it published is listed above.
        wait_until(lambda refusals=refusals: signer_log(config).count(HIDDEN) > refusals,
                   "the signer never refused over the delete markers")
    return hidden


def destroy(config: dict[str, Any], key: str) -> None:
    """Every version of a key removed with governance bypass: nothing left in the bucket's history."""
    s3 = client.aws_client(config, "s3")
    for version in s3.list_object_versions(Bucket=config["bucket"], Prefix=key).get("Versions", []):
        if version["Key"] == key:
            s3.delete_object(Bucket=config["bucket"], Key=key, VersionId=version["VersionId"],
                             BypassGovernanceRetention=True)


def verify(config: dict[str, Any], *extra: str, bucket: str | None = None) -> tuple[int, str]:
    """The verifier CLI as an auditor runs it: the three public keys from KMS, the witness bucket."""
    result = subprocess.run(
        [sys.executable, "-m", "mlaudit.integrity.verifier", "--bucket", bucket or config["bucket"],
         "--endpoint-url", config["aws_endpoint_url"], "--region", config["region"],
         "--kms-key-id", config["signing_key_id"], "--entry-kms-key-id", config["entry_key_id"],
         "--seal-kms-key-id", config["seal_key_id"],
         "--witness-bucket", config["witness_bucket"], "--jobs", "1", *extra],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return result.returncode, result.stdout + result.stderr


def log_size(config: dict[str, Any]) -> int:
    s3 = client.aws_client(config, "s3")
    return len(s3.list_objects_v2(Bucket=config["bucket"], Prefix=records.LOG).get("Contents", []))


def fill(config: dict[str, Any], prefix: str, batches: int = 2) -> dict[str, Any]:
    """A few files in the lake, every one of them signed; the latest checkpoint."""
    token = client.machine_token(config)
    for n in range(batches):
        assert post(config, {"events": make_events(f"{prefix}-{n}", 8)}, token).status_code == 202
        drained(config)
    return signed_checkpoint_covering(config, client.user_tokens(config, "auditor")["id_token"], log_size(config))


def get_object(s3: Any, config: dict[str, Any], key: str) -> bytes:
    return s3.get_object(Bucket=config["bucket"], Key=key)["Body"].read()


def latest_signed(config: dict[str, Any]) -> dict[str, Any] | None:
    answer = get(config, "/v1/checkpoints/latest", client.user_tokens(config, "auditor")["id_token"])
    return answer.json()["checkpoint"] if answer.status_code == 200 else None


HIDDEN = "behind a delete marker"  # what the signer says when it refuses over a hidden checkpoint


def signer_log(config: dict[str, Any]) -> str:
    with open(config["log_path"], errors="replace") as handle:
        return handle.read()


def wait_until(condition: Any, what: str, timeout: float = 120) -> None:
    """Poll ``condition`` until it holds (a generous deadline: the machine may be busy)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def wait_for_signer_runs(config: dict[str, Any], marker: str, runs: int = 2) -> None:
    """Until the signer has reported ``marker``, and again in ``runs`` later runs (a signer
    that refuses reports it at every run): what it does is settled, not a race."""
    wait_until(lambda: marker in signer_log(config), f"the signer never reported {marker}")
    seen = signer_log(config).count(marker)
    wait_until(lambda: signer_log(config).count(marker) >= seen + runs,
               f"the signer stopped reporting {marker}")


def test_a_forged_file_is_refused_by_the_signer_and_reported_by_the_verifier(forgery_stack):
    config, s3 = forgery_stack, client.aws_client(forgery_stack, "s3")
    signed = fill(config, f"forge-{uuid.uuid4().hex[:6]}")["checkpoint"]
    n = log_size(config)
    assert n == signed["tree_size"]
    # Attack 1: a Parquet file of invented events (a copy of a real one, other ids and values),
    # its manifest, log entry n with the right prev and its log-by-file record, all created
    # with If-None-Match (the write-once policy allows new keys).
    last = records.decode(get_object(s3, config, records.log_key(n - 1)), "entry")
    table = read_parquet_bytes(get_object(s3, config, last["object_key"]))
    rows = [dict(r, event_id=f"forged-{i}", prediction_label="approved") for i, r in enumerate(table.to_pylist())]
    import pyarrow as pa

    body = to_parquet_bytes(pa.Table.from_pylist(rows, schema=table.schema))
    key = last["object_key"].rsplit("/", 1)[0] + "/forged.parquet"
    leaves = [bytes.fromhex(r["leaf_hash"]) for r in rows]
    root = records.merkle.root(leaves).hex()
    manifest = records.encode(records.manifest(
        object_key=key, object_sha256=records.sha256_hex(body), record_count=len(rows), merkle_root=root,
        first_event_id=rows[0]["event_id"], last_event_id=rows[-1]["event_id"]))
    entry = records.encode(records.log_entry(
        log_id=f"mlaudit/{config['bucket']}", index=n, object_key=key,
        prev=records.entry_leaf(get_object(s3, config, records.log_key(n - 1))).hex(),
        object_sha256=records.sha256_hex(body), record_count=len(rows), merkle_root=root,
        manifest_sha256=records.sha256_hex(manifest), appended_at=last["appended_at"]))
    for k, v in ((key, body), (records.manifest_key(key), manifest), (records.log_key(n), entry),
                 (records.log_by_file_key(key), records.encode({"index": n}))):
        s3.put_object(Bucket=config["bucket"], Key=k, Body=v, IfNoneMatch="*")

    # The signer refuses it: it goes on signing the prefix before it, never the forged entry.
    wait_for_signer_runs(config, "is not signed with the writer's entry key")
    # (the verifier below also names the forged events as unsealed: nobody sealed them)
    after = latest_signed(config)
    assert after["seq"] > signed["seq"] and after["tree_size"] == n
    # The proof API has no signed receipt for a forged event.
    receipt = get(config, "/v1/events/forged-0/proof", client.user_tokens(config, "auditor")["id_token"])
    assert receipt.status_code == 200 and receipt.json()["checkpoint"] is None
    # The verifier names the forged entry.
    code, output = verify(config)
    assert code == 1, output
    assert f"[log_entry_unauthenticated] log index {n} ({records.log_key(n)})" in output, output


def _rewrite_history(config: dict[str, Any]) -> str:
    """Attack 2, as an account admin: change an already-signed event's value, rewrite its
    leaf, root, manifest and log entry, re-chain the later entries, then DeleteObject (no
    version id) every checkpoint and log-leaves segment."""
    s3 = client.aws_client(config, "s3")
    bucket = config["bucket"]
    first = records.decode(get_object(s3, config, records.log_key(0)), "entry")
    table = read_parquet_bytes(get_object(s3, config, first["object_key"]))
    rows = table.to_pylist()
    target = rows[0]["event_id"]
    from mlaudit.layout import parse_partition
    from mlaudit.leaf import leaf_hash, leaf_record_from_row

    rows[0]["model_version"] = "8"
    rows[0]["leaf_hash"] = leaf_hash(leaf_record_from_row(rows[0], parse_partition(first["object_key"])[1]))
    import pyarrow as pa

    body = to_parquet_bytes(pa.Table.from_pylist(rows, schema=table.schema))
    root = records.merkle.root([bytes.fromhex(r["leaf_hash"]) for r in rows]).hex()
    manifest = records.decode(get_object(s3, config, records.manifest_key(first["object_key"])), "manifest")
    manifest.update(object_sha256=records.sha256_hex(body), merkle_root=root)
    s3.put_object(Bucket=bucket, Key=first["object_key"], Body=body)
    s3.put_object(Bucket=bucket, Key=records.manifest_key(first["object_key"]), Body=records.encode(manifest))
    prev = records.ZERO_HASH
    for index in range(log_size(config)):
        entry = records.decode(get_object(s3, config, records.log_key(index)), "entry")
        entry["prev"] = prev
        if index == 0:
            entry.update(object_sha256=records.sha256_hex(body), merkle_root=root,
                         manifest_sha256=records.sha256_hex(records.encode(manifest)))
        data = records.encode(entry)
        s3.put_object(Bucket=bucket, Key=records.log_key(index), Body=data)
        prev = records.entry_leaf(data).hex()
    for prefix in (records.CHECKPOINTS, records.LOG_LEAVES):
        for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
    return target


def test_a_rewritten_history_is_refused_by_the_signer_and_reported_by_the_verifier(rewrite_stack):
    config = rewrite_stack
    fill(config, f"rewrite-{uuid.uuid4().hex[:6]}")
    _rewrite_history(config)
    # A signer starting cold finds no checkpoint, but the witness holds the chain: it refuses.
    wait_for_signer_runs(config, "checkpoints were removed or replaced, never signed over")
    assert latest_signed(config) is None
    code, output = verify(config)
    assert code == 1, output
    for kind in ("delete_marker", "object_rewritten", "witness_checkpoint_missing", "log_entry_unauthenticated"):
        assert f"[{kind}]" in output, output
    assert f"[delete_marker] {records.checkpoint_key(0)}" in output
    assert f"[object_rewritten] {records.log_key(0)}" in output


def test_attacks_2_and_5_an_emptied_lake_behind_a_hidden_witness_and_a_cold_signer(emptied_stack):
    config, s3 = emptied_stack, client.aws_client(emptied_stack, "s3")
    fill(config, f"empty-{uuid.uuid4().hex[:6]}", batches=1)
    # Attack 2: the lake emptied, and a delete marker on every witness checkpoint (hiding, again,
    # any the running signer publishes meanwhile, until none is visible)

    def empty_lake() -> None:
        for prefix in ("events/", "integrity/"):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=config["bucket"], Prefix=prefix):
                for item in page.get("Contents", []):
                    s3.delete_object(Bucket=config["bucket"], Key=item["Key"])

    empty_lake()
    hide_witness_after(config, -1)
    # A signer run that read the witness before its markers may have written to the lake after
    # it was emptied (on a busy machine the emptying takes seconds); the signer has refused
    # since, so a second pass leaves the lake empty for good, as the attacker would.
    empty_lake()
    code, output = verify(config, "--max-age-hours", "1")
    assert code == 1, output
    for kind in ("witness_delete_marker", "witness_checkpoint_missing", "log_shrunk", "delete_marker",
                 "checkpoint_stale", "nothing_verified"):
        assert f"[{kind}]" in output, output
    # Attack 5: the signer, finding no visible checkpoint anywhere, never starts a chain over them:
    # neither the scheduled one nor a cold one (a new container, the checkpoint role's grants)
    wait_for_signer_runs(config, "checkpoint 0 of mlaudit/")
    assert HIDDEN in signer_log(config)
    cold = build_checkpoint(
        CheckpointEnv(audit_bucket=config["bucket"], kms_key_id=config["kms_key_arn"],
                      signing_key_id=config["signing_key_id"], entry_key_id=config["entry_key_id"],
                      witness_bucket=config["witness_bucket"], witness_topic_arn=config["witness_topic_arn"]),
        Clients(lambda service: role_client(config, "checkpoint", service)))
    with pytest.raises(ChainRestarted, match=re.escape(f"checkpoint 0 of mlaudit/{config['bucket']} {HIDDEN}")):
        cold.run()
    witness = Witness(S3Bucket(s3, config["witness_bucket"]), records.log_id(config["bucket"]))
    assert witness.latest_seq() is None and latest_signed(config) is None
    assert not s3.list_objects_v2(Bucket=config["bucket"], Prefix=records.CHECKPOINTS).get("Contents")
    code, output = verify(config)
    assert code == 1, output
    assert f"[witness_delete_marker] {records.witness_key(records.log_id(config['bucket']), 0)}" in output, output


def test_a_copied_bucket_fails_verification(local_stack, machine_token, user_tokens):
    config, s3 = local_stack, client.aws_client(local_stack, "s3")
    assert post(config, {"events": make_events(f"copy-{uuid.uuid4().hex[:6]}", 4)},
                machine_token(["events.write"])).status_code == 202
    drained(config)
    signed_checkpoint_covering(config, user_tokens("auditor")["id_token"], log_size(config))
    copy = f"copy-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=copy)
    for prefix in ("events/", "integrity/"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=config["bucket"], Prefix=prefix):
            for item in page.get("Contents", []):
                source = {"Bucket": config["bucket"], "Key": item["Key"]}
                s3.copy_object(Bucket=copy, Key=item["Key"], CopySource=source)
    code, output = verify(config, bucket=copy)
    assert code == 1, output
    assert "[checkpoint_other_log]" in output and "[witness_missing]" in output, output


# -- a third party's check, from docs/integrity.md alone --------------------------------------


def _inclusion_root(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def _signed_by(pem: bytes, message: bytes, signature: bytes) -> bool:
    key = serialization.load_pem_public_key(pem)
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        return True
    except Exception:  # noqa: BLE001 - any failure is "not signed"
        return False


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def test_a_third_party_verifies_a_receipt_from_what_it_sent_and_the_two_public_keys(
        local_stack, machine_token, user_tokens):
    config = local_stack
    sent = make_events(f"third-{uuid.uuid4().hex[:6]}", 4)[0]  # a prediction, as the workload sent it
    assert post(config, {"events": [sent]}, machine_token(["events.write"])).status_code == 202
    drained(config)
    signed_checkpoint_covering(config, user_tokens("auditor")["id_token"], log_size(config))
    answer = get(config, f"/v1/events/{sent['event_id']}/proof", machine_token(["events.read"]))
    assert answer.status_code == 200, answer.text
    receipt = answer.json()
    kms = client.aws_client(config, "kms")
    checkpoint_pem = kms_public_key_pem(kms, config["signing_key_id"])
    entry_pem = kms_public_key_pem(kms, config["entry_key_id"])

    # 1. The record holds what the workload sent (in the leaf encoding), plus the server's values.
    record = json.loads(receipt["leaf_record"])
    assert _canonical(record) == receipt["leaf_record"].encode("ascii")
    for name in ("event_id", "event_type", "model_id", "model_version", "prediction_id", "prediction_label",
                 "prediction_score", "latency_ms", "workload", "environment"):
        assert record[name] == sent[name], name
    assert record["features"] == _canonical(sent["features"]).decode()
    assert record["occurred_at"] == sent["occurred_at"].replace("+00:00", "Z")[:23] + "Z"
    assert record["received_at"] and record["client_id"]  # added by the server
    # 2. The leaf is recomputed from the record, then the file's tree.
    leaf = hashlib.sha256(b"\x00" + receipt["leaf_record"].encode("ascii")).digest()
    assert leaf.hex() == receipt["leaf_hash"]
    file_path = [bytes.fromhex(p) for p in receipt["file_path"]]
    assert _inclusion_root(receipt["leaf_index"], receipt["file_size"], leaf, file_path).hex() == receipt["file_root"]
    # 3. The log entry: this file and root, its size, the manifest, signed by the writer's key.
    entry_text = receipt["log_entry"].encode("ascii")
    entry = json.loads(entry_text)
    assert (entry["object_key"], entry["merkle_root"]) == (receipt["object_key"], receipt["file_root"])
    assert entry["record_count"] == receipt["file_size"]
    assert hashlib.sha256(receipt["manifest"].encode("ascii")).hexdigest() == entry["manifest_sha256"]
    unsigned = _canonical({k: v for k, v in entry.items() if k != "signature"})
    assert _signed_by(entry_pem, unsigned, base64.b64decode(entry["signature"]))
    # 4. The checkpoint's signature, then 5. the entry in the signed log tree.
    checkpoint = receipt["checkpoint"]["checkpoint"]
    assert _signed_by(checkpoint_pem, _canonical(checkpoint), base64.b64decode(receipt["checkpoint"]["signature"]))
    assert checkpoint["log_id"] == f"mlaudit/{config['bucket']}"
    log_leaf = hashlib.sha256(b"\x00" + entry_text).digest()
    log_path = [bytes.fromhex(p) for p in receipt["log_path"]]
    root = _inclusion_root(receipt["log_index"], checkpoint["tree_size"], log_leaf, log_path)
    assert root.hex() == checkpoint["root"]

    # The reference check agrees, and a value other than the one sent fails it.
    assert check_receipt(receipt, checkpoint_pem, entry_public_key_pem=entry_pem, sent=sent) == []
    assert check_receipt(receipt, checkpoint_pem, entry_public_key_pem=entry_pem,
                         sent={**sent, "model_version": "8"}) == ["model_version: the stored value is not the one sent"]


# -- issue 23: what the writer's role can do, and the witness attacks ---------------------------------


def test_events_the_writer_role_invents_are_named_by_the_verifier(writer_stack):
    config = writer_stack
    fill(config, f"writer-{uuid.uuid4().hex[:6]}", batches=1)
    s3, kms = role_client(config, "writer", "s3"), role_client(config, "writer", "kms")
    # The writer's role cannot certify a sealing key: the seal key is not its to use
    from local.iam import AccessDenied

    with pytest.raises(AccessDenied, match="kms:Sign"):
        KmsSigner(kms, config["seal_key_id"]).sign(b"a certificate of my own")
    # It can store a file of invented events and log it with its entry key, as it logs any file
    real = records.decode(get_object(client.aws_client(config, "s3"), config, records.log_key(1)), "entry")
    table = read_parquet_bytes(get_object(client.aws_client(config, "s3"), config, real["object_key"]))
    from mlaudit.layout import parse_partition
    from mlaudit.leaf import leaf_hash, leaf_record_from_row

    rows = []
    for i, row in enumerate(table.to_pylist()[:3]):
        row = dict(row, event_id=f"invented-{i}", prediction_label="approved")
        row["leaf_hash"] = leaf_hash(leaf_record_from_row(row, parse_partition(real["object_key"])[1]))
        rows.append(row)
    import pyarrow as pa

    body = to_parquet_bytes(pa.Table.from_pylist(rows, schema=table.schema))
    key = real["object_key"].rsplit("/", 1)[0] + "/invented.parquet"
    bucket = S3Bucket(s3, config["bucket"], config["kms_key_arn"])
    bucket.put(key, body)
    sink = IntegritySink(bucket, log_id=records.log_id(config["bucket"]),
                         entry_signer=KmsSigner(kms, config["entry_key_id"]))
    index = sink.file_written(key, body, [bytes.fromhex(r["leaf_hash"]) for r in rows], "invented-0",
                              "invented-2")
    # The entry is the writer's, so the signer signs over it; the verifier names the invented events
    signed_checkpoint_covering(config, client.user_tokens(config, "auditor")["id_token"], index + 1)
    code, output = verify(config)
    assert code == 1, output
    assert f"[event_unsealed] {key}" in output, output
    assert "[log_entry_unauthenticated]" not in output


def test_attack_1_a_rollback_behind_the_witness(rollback_stack):
    config = rollback_stack
    fill(config, f"rollback-{uuid.uuid4().hex[:6]}", batches=2)
    s3 = client.aws_client(config, "s3")
    # The admin keeps the chain up to a checkpoint that covered the first batch only ...
    keep = next(n for n, _ in witness_keys(config)
                if 0 < Witness(S3Bucket(s3, config["witness_bucket"]), records.log_id(config["bucket"])).load(n)
                .body["tree_size"] < log_size(config))
    kept = Witness(S3Bucket(s3, config["witness_bucket"]), records.log_id(config["bucket"])).load(keep).body
    # ... hides the witness's newer checkpoints, and destroys the newer entries, files and checkpoints
    hidden = hide_witness_after(config, keep)
    for index in range(kept["tree_size"], log_size(config)):
        entry = records.decode(get_object(s3, config, records.log_key(index)), "entry")
        for key in (entry["object_key"], records.manifest_key(entry["object_key"]), records.log_key(index)):
            destroy(config, key)
    for seq in hidden:
        destroy(config, records.checkpoint_key(seq))
    wait_for_signer_runs(config, "behind a delete marker")
    code, output = verify(config)
    assert code == 1, output
    witness = records.witness_key(records.log_id(config["bucket"]), hidden[0])
    assert f"[witness_delete_marker] {witness}" in output, output
    for kind in ("witness_checkpoint_missing", "log_shrunk"):
        assert f"[{kind}]" in output, output


def test_attacks_3_and_4_a_replaced_witness_checkpoint(replaced_stack):
    config = replaced_stack
    fill(config, f"replaced-{uuid.uuid4().hex[:6]}", batches=1)
    s3 = client.aws_client(config, "s3")
    witness = Witness(S3Bucket(s3, config["witness_bucket"]), records.log_id(config["bucket"]))
    # The signer's role cannot write a second version in the witness, with or without a header
    signer_s3 = role_client(config, "checkpoint", "s3")
    from local.iam import AccessDenied

    latest, key = witness_keys(config)[-1]
    older = witness.load(latest - 1).encode()
    for header in ({}, {"IfNoneMatch": '"x"'}):
        with pytest.raises(AccessDenied, match="WriteOnceNoOverwrite"):
            signer_s3.put_object(Bucket=config["witness_bucket"], Key=key, Body=older, **header)
    # Attack 3 (an admin): a new version of the latest witness checkpoint, holding an older one
    s3.put_object(Bucket=config["witness_bucket"], Key=key, Body=older)
    code, output = verify(config)
    assert code == 1, output
    assert f"[witness_checkpoint_replaced] {key}" in output and "[checkpoint_replayed]" in output, output
    # Attack 4: and the lake's copy of that checkpoint destroyed
    destroy(config, records.checkpoint_key(latest))
    code, output = verify(config)
    assert code == 1, output
    for kind in ("witness_checkpoint_replaced", "witness_checkpoint_missing"):
        assert f"[{kind}]" in output, output
