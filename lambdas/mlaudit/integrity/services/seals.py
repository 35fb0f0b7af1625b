"""Ingest's seals: the authentication every stored event carries, made where events are
accepted with a key the writer cannot use (docs/integrity.md, section 4b).

Each function that puts events on the queue (ingest, imports and the self-auditing
queries, privacy, config and monitors) makes an Ed25519 key in memory when it first
seals, and has the *seal key* in KMS (RSA, PKCS#1 v1.5 over the raw message, like
checkpoints; only those functions may call kms:Sign with it) sign a certificate for it:
one KMS call per container, not per request. It then signs each pack: its id, its number
of events and the Merkle root of their leaf hashes. The seal travels with the pack as an
SQS message attribute; the writer checks it, stores it with the file
(``integrity/seals/<object key>.json``, hashed into the manifest) and stores the
certificate once (``integrity/seal-keys/<sha256>.json``). A verifier checks every stored
event against a seal with the seal key's public key alone.

The writer's role has neither the in-memory keys nor kms:Sign on the seal key, so an event
it invents has no seal, and a real seal cannot cover other leaves.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from mlaudit.codec import format_timestamp
from mlaudit.integrity.primitives import merkle, records
from mlaudit.integrity.primitives.signing import Signer, verify_signature

SEAL_ALGORITHM = "Ed25519"
# What a seal attribute adds to a message, at most (a certificate with a 4096-bit
# signature, the seal, a 64-character pack id: 1,472 bytes with the attribute's name and
# type): ingest packs events this much below the message size limit.
SEAL_RESERVE_BYTES = 1536


class SealError(ValueError):
    """A pack's seal is missing, malformed, or does not authenticate its events."""


def seal_key_body(*, public_key: bytes, function: str, issued_at: str, key_id: str) -> dict[str, Any]:
    return {
        "v": records.FORMAT_VERSION,
        "type": "mlaudit.seal_key",
        "algorithm": SEAL_ALGORITHM,
        "public_key": base64.b64encode(public_key).decode("ascii"),  # raw 32-byte Ed25519 key
        "function": function,  # which function made it (informational)
        "issued_at": issued_at,
        "key_id": key_id,  # the KMS seal key that certified it (informational)
        "signature_algorithm": records.SIGNATURE_ALGORITHM,
    }


def seal_body(*, pack_id: str, count: int, root: str, seal_key: str) -> dict[str, Any]:
    return {
        "v": records.FORMAT_VERSION,
        "type": "mlaudit.pack_seal",
        "pack_id": pack_id,
        "count": count,  # events in the pack
        "root": root,  # MTH of their leaf hashes, in pack order
        "seal_key": seal_key,  # SHA-256 of the certificate's signed body
    }


def seal_key_name(certificate: dict[str, Any]) -> str:
    return hashlib.sha256(records.encode(certificate["seal_key"])).hexdigest()


def seal_key_object_key(name: str) -> str:
    return f"{records.SEAL_KEYS}{name}.json"


def seals_key(object_key: str) -> str:
    return f"{records.SEALS}{object_key}.json"


class PackSealer:
    """Seals packs for one container of an enqueuing function (thread-safe)."""

    reserve_bytes = SEAL_RESERVE_BYTES

    def __init__(self, signer: Signer, function: str, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.signer = signer
        self.function = function
        self.clock = clock
        self._lock = threading.Lock()
        self._key: ed25519.Ed25519PrivateKey | None = None
        self._certificate: dict[str, Any] | None = None
        self._name = ""

    def _ready(self) -> tuple[ed25519.Ed25519PrivateKey, dict[str, Any], str]:
        with self._lock:
            if self._key is None:
                key = ed25519.Ed25519PrivateKey.generate()
                raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                body = seal_key_body(public_key=raw, function=self.function,
                                     issued_at=format_timestamp(self.clock()), key_id=self.signer.key_id)
                signature = self.signer.sign(records.encode(body))  # the one KMS call of this container
                self._certificate = {"seal_key": body, "signature": base64.b64encode(signature).decode("ascii")}
                self._name = seal_key_name(self._certificate)
                self._key = key
            assert self._certificate is not None
            return self._key, self._certificate, self._name

    def seal(self, pack_id: str, leaves: Sequence[bytes]) -> str:
        """The message attribute for a pack of these leaf hashes."""
        key, certificate, name = self._ready()
        body = seal_body(pack_id=pack_id, count=len(leaves), root=merkle.root(list(leaves)).hex(), seal_key=name)
        signature = base64.b64encode(key.sign(records.encode(body))).decode("ascii")
        return records.encode({"seal": body, "signature": signature, "seal_key": certificate}).decode("ascii")


@dataclass(frozen=True)
class Seal:
    """A checked seal: its body, signature and the certificate of the key that made it."""

    body: dict[str, Any]
    signature: str
    certificate: dict[str, Any]

    @property
    def seal_key(self) -> str:
        return str(self.body["seal_key"])


class SealChecker:
    """Checks seals against the seal key's public key (the KMS key's, RSA). Certificates
    are checked once and remembered."""

    def __init__(self, public_key: Any) -> None:
        self.public_key = public_key
        self._keys: dict[str, ed25519.Ed25519PublicKey] = {}

    def certified_key(self, certificate: Any) -> tuple[str, ed25519.Ed25519PublicKey]:
        """The certificate's Ed25519 key, if the seal key signed it (else SealError)."""
        try:
            body, signature = certificate["seal_key"], base64.b64decode(certificate["signature"], validate=True)
            name = seal_key_name(certificate)
        except (KeyError, TypeError, ValueError):
            raise SealError("the seal key certificate is malformed") from None
        known = self._keys.get(name)
        if known is not None:
            return name, known
        if (not isinstance(body, dict) or body.get("type") != "mlaudit.seal_key" or body.get("v") != 1
                or body.get("algorithm") != SEAL_ALGORITHM):
            raise SealError("the seal key certificate is not a v1 Ed25519 seal key")
        if not verify_signature(self.public_key, records.encode(body), signature):
            raise SealError("the seal key certificate is not signed with the seal key")
        try:
            key = ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(body["public_key"], validate=True))
        except (KeyError, TypeError, ValueError):
            raise SealError("the certified seal key is not an Ed25519 public key") from None
        self._keys[name] = key
        return name, key

    def check(self, body: Any, signature: Any, certificate: Any) -> None:
        """Is ``body`` a seal signed by a key the seal key certified? (SealError if not)."""
        name, key = self.certified_key(certificate)
        if not isinstance(body, dict) or body.get("type") != "mlaudit.pack_seal" or body.get("v") != 1:
            raise SealError("not a v1 pack seal")
        if body.get("seal_key") != name:
            raise SealError("the seal names another seal key than its certificate")
        try:
            key.verify(base64.b64decode(signature, validate=True), records.encode(body))
        except (InvalidSignature, TypeError, ValueError):
            raise SealError("the seal's signature does not verify with its certified key") from None

    def check_pack(self, attribute: str | None, pack_id: str | None, leaves: Sequence[bytes]) -> Seal:
        """The writer's check of a message: its seal covers exactly these leaves, in order."""
        if not attribute:
            raise SealError("the pack has no seal (only the functions that enqueue can seal)")
        try:
            document = records.decode(attribute.encode("ascii"), "pack seal")
            body, signature, certificate = document["seal"], document["signature"], document["seal_key"]
        except (KeyError, TypeError, UnicodeEncodeError, records.FormatError):
            raise SealError("the pack's seal is malformed") from None
        self.check(body, signature, certificate)
        if body.get("pack_id") != pack_id:
            raise SealError("the seal is another pack's")
        if body.get("count") != len(leaves) or body.get("root") != merkle.root(list(leaves)).hex():
            raise SealError("the seal does not cover this pack's events")
        return Seal(body, signature, certificate)


# -- a file's seals ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SealedPart:
    """Rows [start, end) of a file, sealed by ``seal``. When they are not the whole pack
    (a pack split over partitions), ``positions`` are their places in the pack and
    ``pack_leaves`` all the pack's leaves, so the seal's root can be recomputed."""

    start: int
    end: int
    seal: Seal
    positions: tuple[int, ...] | None = None
    pack_leaves: tuple[bytes, ...] | None = None


def file_seals(object_key: str, parts: Sequence[SealedPart]) -> bytes:
    """The seals object of a file (canonical JSON)."""
    out = []
    for part in parts:
        item: dict[str, Any] = {"rows": [part.start, part.end], "seal": part.seal.body,
                                "signature": part.seal.signature}
        if part.positions is not None and part.pack_leaves is not None:
            item["positions"] = list(part.positions)
            item["leaves"] = [leaf.hex() for leaf in part.pack_leaves]
        out.append(item)
    return records.encode({"v": records.FORMAT_VERSION, "type": "mlaudit.file_seals", "object_key": object_key,
                           "parts": out})


def seal_names(data: bytes) -> set[str]:
    """The seal keys a seals object refers to."""
    try:
        return {str(p["seal"]["seal_key"]) for p in json.loads(data)["parts"]}
    except (KeyError, TypeError, ValueError):
        return set()


def check_file_seals(
    data: bytes, object_key: str, leaves: Sequence[bytes], checker: SealChecker | None,
    certificates: Callable[[str], bytes | None] = lambda _: None,
) -> list[str]:
    """Problems (empty: every row of the file is sealed). ``leaves``: the file's leaf hashes
    in row order (as recomputed from the values); ``certificates``: name -> certificate
    object bytes (``integrity/seal-keys/``). Without a checker, only the rows and roots are
    checked, not the signatures."""
    try:
        document = records.decode(data, "seals")
        if document.get("type") != "mlaudit.file_seals" or document.get("object_key") != object_key:
            raise records.FormatError("not this file's v1 seals object")
        parts = document["parts"]
        if not isinstance(parts, list):
            raise records.FormatError("no list of parts")
    except (KeyError, records.FormatError) as exc:
        return [f"the seals object is invalid: {exc}"]
    problems: list[str] = []
    covered = 0
    for number, part in enumerate(parts):
        where = f"part {number}"
        try:
            start, end = part["rows"]
            body = part["seal"]
            if not (isinstance(start, int) and isinstance(end, int) and start == covered and start < end):
                problems.append(f"{where}: rows {part['rows']} do not follow row {covered}")
                break
            covered = end
            if checker is not None:
                name = body.get("seal_key") if isinstance(body, dict) else None
                certificate = certificates(str(name)) if isinstance(name, str) else None
                if certificate is None:
                    problems.append(f"{where} (rows {start}..{end - 1}): its seal key certificate is not in the lake")
                    continue
                checker.check(body, part["signature"], records.decode(certificate, "seal key"))
            mine = list(leaves[start:end])
            if "positions" in part:
                pack = [bytes.fromhex(h) for h in part["leaves"]]
                positions = part["positions"]
                if len(positions) != len(mine) or any(pack[p] != leaf for p, leaf in zip(positions, mine, strict=True)):
                    raise SealError("the rows are not the sealed pack's events at the positions given")
                mine = pack
            if body.get("count") != len(mine) or body.get("root") != merkle.root(mine).hex():
                raise SealError("the seal does not cover these rows' events")
        except SealError as exc:
            problems.append(f"{where} (rows {part['rows'][0]}..{part['rows'][1] - 1}): {exc}")
        except (KeyError, TypeError, ValueError, IndexError, records.FormatError) as exc:
            problems.append(f"{where}: malformed ({type(exc).__name__})")
    if covered != len(leaves) and not problems:
        problems.append(f"rows {covered}..{len(leaves) - 1} have no seal")
    return problems
