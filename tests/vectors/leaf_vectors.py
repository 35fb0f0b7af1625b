"""Leaf encoding v1 and integrity-object vectors (written to tests/vectors/leaf_v1.json).

Each record lists every v1 leaf field; `canonical` is the exact byte string hashed
(ASCII), `leaf_hash` = SHA-256(0x00 || canonical). The `file` section chains them into
a file root, manifest, seals and the first log entry (signed with the entry key) and a
signed checkpoint, as docs/integrity.md describes; `keys` holds the public keys that
verify them. The keys are made from fixed seeds (test keys, not secrets): PKCS#1 v1.5 and
Ed25519 signatures are deterministic, so the file regenerates byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from mlaudit import leaf
from mlaudit.codec import canonical_json
from mlaudit.integrity.primitives import merkle, records
from mlaudit.integrity.primitives.signing import LocalSigner
from mlaudit.integrity.services import seals
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
LOG_ID = "mlaudit/example"
PACK_ID = "0" * 40


def _seeded_prime(seed: bytes, bits: int) -> int:
    """A prime from a seed: SHA-256 in counter mode, then the next prime (Miller-Rabin)."""
    counter = 0
    while True:
        stream = b"".join(hashlib.sha256(seed + (counter * 64 + i).to_bytes(8, "big")).digest()
                          for i in range(bits // 256))
        counter += 1
        candidate = int.from_bytes(stream, "big") | (3 << (bits - 2)) | 1
        while candidate.bit_length() == bits:
            if _probably_prime(candidate):
                return candidate
            candidate += 2


def _probably_prime(n: int) -> bool:
    for p in (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47):
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def seeded_rsa(name: str, bits: int = 2048) -> LocalSigner:
    """A fixed RSA test key (the vectors' entry, checkpoint and seal keys)."""
    e = 65537
    p = _seeded_prime(f"{name}/p".encode(), bits // 2)
    q = _seeded_prime(f"{name}/q".encode(), bits // 2)
    phi = (p - 1) * (q - 1)
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q))
    return LocalSigner(numbers.private_key(), key_id=f"example-{name}-key")


def _pem(signer: LocalSigner) -> str:
    return signer.public_key_pem().decode("ascii")


def leaf_vectors() -> dict[str, Any]:
    canonical = [leaf.canonical_leaf(r) for r in RECORDS]
    leaves = [leaf.leaf_hash_bytes(c) for c in canonical]
    root = merkle.root(leaves).hex()
    entry_key, checkpoint_key, seal_key = seeded_rsa("entry"), seeded_rsa("checkpoint"), seeded_rsa("seal")
    # Ingest's seal over the one pack that holds the three events: a certified Ed25519 key.
    sealing = ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"example sealing key").digest())
    raw = sealing.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    certified = seals.seal_key_body(public_key=raw, function="ingest", issued_at="2026-11-26T06:00:00.000Z",
                                    key_id=seal_key.key_id)
    certificate = {"seal_key": certified,
                   "signature": base64.b64encode(seal_key.sign(records.encode(certified))).decode("ascii")}
    seal = seals.seal_body(pack_id=PACK_ID, count=len(leaves), root=root, seal_key=seals.seal_key_name(certificate))
    sealed = seals.file_seals(OBJECT_KEY, [seals.SealedPart(0, len(leaves), seals.Seal(
        seal, base64.b64encode(sealing.sign(records.encode(seal))).decode("ascii"), certificate))])
    manifest = records.encode(
        records.manifest(
            object_key=OBJECT_KEY,
            object_sha256=OBJECT_SHA256,
            record_count=len(leaves),
            merkle_root=root,
            first_event_id="ev-0001",
            last_event_id="ev-0003",
            seals_sha256=records.sha256_hex(sealed),
        )
    )
    entry = records.encode(records.sign_entry(entry_key, records.log_entry(
        log_id=LOG_ID,
        index=0,
        prev=records.ZERO_HASH,
        object_key=OBJECT_KEY,
        object_sha256=OBJECT_SHA256,
        record_count=len(leaves),
        merkle_root=root,
        manifest_sha256=records.sha256_hex(manifest),
        appended_at="2026-11-26T07:00:05.000Z",
    )))
    body = records.checkpoint_body(
        log_id=LOG_ID,
        seq=0,
        tree_size=1,
        root=records.entry_leaf(entry).hex(),
        time="2026-11-26T08:00:00.000Z",
        prev=records.ZERO_HASH,
        key_id=checkpoint_key.key_id,
    )
    checkpoint = records.encode(body)
    signed = records.SignedCheckpoint(body, checkpoint_key.sign(checkpoint))
    return {
        "description": "mlaudit leaf encoding v1 and integrity objects (docs/integrity.md).",
        "keys": {"entry_public_key": _pem(entry_key), "checkpoint_public_key": _pem(checkpoint_key),
                 "seal_public_key": _pem(seal_key)},
        "records": [
            {"record": r, "canonical": c.decode("ascii"), "leaf_hash": h.hex()}
            for r, c, h in zip(RECORDS, canonical, leaves, strict=True)
        ],
        "file": {
            "object_key": OBJECT_KEY,
            "merkle_root": root,
            "seal_key_certificate": records.encode(certificate).decode("ascii"),
            "seal_key_name": seals.seal_key_name(certificate),
            "seals": sealed.decode("ascii"),
            "seals_sha256": records.sha256_hex(sealed),
            "manifest": manifest.decode("ascii"),
            "manifest_sha256": records.sha256_hex(manifest),
            "log_entry_0": entry.decode("ascii"),
            "log_leaf_0": records.entry_leaf(entry).hex(),
            "checkpoint_message": checkpoint.decode("ascii"),
            "checkpoint_sha256": records.sha256_hex(checkpoint),
            "checkpoint": signed.encode().decode("ascii"),
        },
    }
