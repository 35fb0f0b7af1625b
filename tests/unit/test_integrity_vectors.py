"""The committed leaf-encoding and integrity-object vectors still hold."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from mlaudit import leaf, parquet
from mlaudit.codec import canonical_json
from mlaudit.integrity import merkle, records

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
