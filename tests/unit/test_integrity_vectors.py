"""The committed leaf-encoding and integrity-object vectors still hold."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from mlaudit import leaf, parquet
from mlaudit.codec import canonical_json
from mlaudit.integrity.primitives import merkle, records
from mlaudit.integrity.primitives.signing import entry_authentic, load_public_key, verify_signature
from mlaudit.integrity.services import seals

from tests.vectors.leaf_vectors import leaf_vectors

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "leaf_v1.json").read_text())


def test_vectors_file_is_what_the_implementation_produces():
    assert json.loads(json.dumps(leaf_vectors())) == VECTORS


def test_canonical_bytes_and_leaf_hashes():
    for case in VECTORS["records"]:
        canonical = canonical_json(case["record"]).encode("ascii")
        assert canonical.decode() == case["canonical"]
        assert hashlib.sha256(b"\x00" + canonical).hexdigest() == case["leaf_hash"] == leaf.leaf_hash(case["record"])


def test_parquet_rows_rebuild_the_same_leaves():
    rows = [dict(c["record"], leaf_hash=c["leaf_hash"]) for c in VECTORS["records"]]
    table = parquet.read_parquet_bytes(parquet.to_parquet_bytes(parquet.to_table(rows)))
    hashes = leaf.table_leaf_hashes(table, "prediction")
    assert [h.hex() for h in hashes] == [c["leaf_hash"] for c in VECTORS["records"]]


def test_file_root_manifest_log_entry_and_checkpoint_message_chain():
    file = VECTORS["file"]
    root = merkle.root([bytes.fromhex(c["leaf_hash"]) for c in VECTORS["records"]]).hex()
    assert root == file["merkle_root"] == json.loads(file["manifest"])["merkle_root"]
    assert hashlib.sha256(file["manifest"].encode()).hexdigest() == file["manifest_sha256"]
    entry = json.loads(file["log_entry_0"])
    assert entry["manifest_sha256"] == file["manifest_sha256"] and entry["prev"] == "0" * 64
    assert records.encode(entry).decode() == file["log_entry_0"]
    log_leaf = hashlib.sha256(b"\x00" + file["log_entry_0"].encode()).hexdigest()
    assert log_leaf == file["log_leaf_0"] == json.loads(file["checkpoint_message"])["root"]
    assert hashlib.sha256(file["checkpoint_message"].encode()).hexdigest() == file["checkpoint_sha256"]


def test_every_signature_verifies_with_the_published_public_keys_alone():
    file, keys = VECTORS["file"], VECTORS["keys"]
    entry = json.loads(file["log_entry_0"])
    # The entry: its log id, key id and a signature over the entry without "signature".
    assert entry["log_id"] == "mlaudit/example" and entry["key_id"] == "example-entry-key"
    unsigned = canonical_json({k: v for k, v in entry.items() if k != "signature"}).encode()
    entry_key = load_public_key(keys["entry_public_key"].encode())
    assert verify_signature(entry_key, unsigned, base64.b64decode(entry["signature"]))
    assert entry_authentic(entry_key, entry)
    # The checkpoint object: its body is the signed message.
    signed = json.loads(file["checkpoint"])
    assert canonical_json(signed["checkpoint"]) == file["checkpoint_message"]
    checkpoint_key = load_public_key(keys["checkpoint_public_key"].encode())
    assert verify_signature(checkpoint_key, file["checkpoint_message"].encode(), base64.b64decode(signed["signature"]))
    assert not verify_signature(entry_key, file["checkpoint_message"].encode(), base64.b64decode(signed["signature"]))
    # The seals: the manifest names them; each row's leaf is under a seal by a certified key.
    assert json.loads(file["manifest"])["seals_sha256"] == hashlib.sha256(file["seals"].encode()).hexdigest()
    checker = seals.SealChecker(load_public_key(keys["seal_public_key"].encode()))
    certificate = {file["seal_key_name"]: file["seal_key_certificate"].encode()}
    row_leaves = [bytes.fromhex(c["leaf_hash"]) for c in VECTORS["records"]]
    assert seals.check_file_seals(file["seals"].encode(), file["object_key"], row_leaves, checker,
                                  certificate.get) == []
    assert seals.check_file_seals(file["seals"].encode(), file["object_key"], row_leaves[::-1], checker,
                                  certificate.get) != []
