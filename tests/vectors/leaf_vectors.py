"""Leaf encoding v1 and integrity-object vectors (written to tests/vectors/leaf_v1.json).

Each record lists every v1 leaf field; `canonical` is the exact byte string hashed
(ASCII), `leaf_hash` = SHA-256(0x00 || canonical). The `file` section chains them into
a file root, manifest and first log entry as docs/integrity.md describes.
"""

from __future__ import annotations

from typing import Any

from mlaudit import leaf
from mlaudit.codec import canonical_json
from mlaudit.integrity import merkle, records
from mlaudit.layout import LEAF_FIELDS


def _record(**values: Any) -> dict[str, Any]:
    record = {name: None for name in LEAF_FIELDS}
    record.update(
        schema_version=1,
        actor_type="service",
        actor_roles=[],
        inputs=[],
        outputs=[],
        dq_status="pass",
        dq_violations=[],
        actor_id="client-abc",
        client_id="client-abc",
    )
    record.update(values)
    return record


RECORDS = [
    _record(
        event_id="ev-0001",
        event_type="prediction",
        occurred_at="2026-11-26T06:59:59.120Z",
        received_at="2026-11-26T07:00:00.000Z",
        model_id="fraud",
        model_version="3",
        prediction_id="p-1",
        prediction_label="legit",
        prediction_score=0.125,
        latency_ms=12.0,
        features=canonical_json({"amount": 42.5, "country": "DE"}),
        subject_pseudonym="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        personal_data="ZXhhbXBsZSBjaXBoZXJ0ZXh0",
        source_ip="10.0.0.1",
        user_agent="mlaudit-client/1",
    ),
    _record(
        event_id="ev-0002",
        event_type="prediction",
        occurred_at="2026-11-26T07:00:01.000Z",
        received_at="2026-11-26T07:00:01.500Z",
        model_id='m\u00fcnchen "quoted" \\ model',
        prediction_score=1e-05,
        latency_ms=1e16,
        dq_status="warn",
        dq_violations=["latency_high"],
        inputs=["s3://datasets/a", "s3://datasets/b"],
    ),
    _record(
        event_id="ev-0003",
        event_type="prediction",
        occurred_at="2026-11-26T07:00:02.000Z",
        received_at="2026-11-26T07:00:02.001Z",
        actor_type="user",
        actor_roles=["auditor"],
        details=canonical_json({"note": "line1\nline2"}),
    ),
]
OBJECT_KEY = "events/event_date=2026-11-26/event_type=prediction/example.parquet"
OBJECT_SHA256 = "5" * 64  # stands in for SHA-256 of the Parquet object's bytes


def leaf_vectors() -> dict[str, Any]:
    canonical = [leaf.canonical_leaf(r) for r in RECORDS]
    leaves = [leaf.leaf_hash_bytes(c) for c in canonical]
    root = merkle.root(leaves).hex()
    manifest = records.encode(
        records.manifest(
            object_key=OBJECT_KEY,
            object_sha256=OBJECT_SHA256,
            record_count=len(leaves),
            merkle_root=root,
            first_event_id="ev-0001",
            last_event_id="ev-0003",
        )
    )
    entry = records.encode(
        records.log_entry(
            index=0,
            prev=records.ZERO_HASH,
            object_key=OBJECT_KEY,
            object_sha256=OBJECT_SHA256,
            record_count=len(leaves),
            merkle_root=root,
            manifest_sha256=records.sha256_hex(manifest),
            appended_at="2026-11-26T07:00:05.000Z",
        )
    )
    checkpoint = records.encode(
        records.checkpoint_body(
            log_id="mlaudit/example",
            seq=0,
            tree_size=1,
            root=records.entry_leaf(entry).hex(),
            time="2026-11-26T08:00:00.000Z",
            prev=records.ZERO_HASH,
            key_id="example-key",
        )
    )
    return {
        "description": "mlaudit leaf encoding v1 and integrity objects (docs/integrity.md).",
        "records": [
            {"record": r, "canonical": c.decode("ascii"), "leaf_hash": h.hex()}
            for r, c, h in zip(RECORDS, canonical, leaves, strict=True)
        ],
        "file": {
            "object_key": OBJECT_KEY,
            "merkle_root": root,
            "manifest": manifest.decode("ascii"),
            "manifest_sha256": records.sha256_hex(manifest),
            "log_entry_0": entry.decode("ascii"),
            "log_leaf_0": records.entry_leaf(entry).hex(),
            "checkpoint_message": checkpoint.decode("ascii"),
            "checkpoint_sha256": records.sha256_hex(checkpoint),
        },
    }
