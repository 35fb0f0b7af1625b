"""The integrity objects' formats (v1) and where they live. Pure: no I/O.

Every object under ``integrity/`` is canonical JSON (`codec.canonical_json`, ASCII),
written once and never rewritten, so its SHA-256 is a stable name for it:

- ``integrity/manifests/<object key>.json``   one per Parquet file
- ``integrity/log/<index:012d>.json``          the append-only log of file roots
- ``integrity/log-by-file/<object key>.json``  file -> log index (a lookup aid, not evidence)
- ``integrity/tiles/<level>/<index:012d>[.p<width>].bin``  the log tree's nodes, 32 bytes
  each (`tiles`; a cache for the signer and proofs, not evidence: derivable from the log)
- ``integrity/log-leaves/<start:012d>-<end:012d>.bin``  the log's leaf hashes for entries
  [start, end), as signers before tiles wrote them (read only to migrate a lake to tiles)
- ``integrity/checkpoints/<seq:012d>.json``    signed tree heads of the log
- ``integrity/seals/<object key>.json``        ingest's seals over the file's events (`seals`)
- ``integrity/seal-keys/<sha256>.json``        the keys ingest sealed them with, certified in KMS
- ``integrity/compactions/event_date=<d>/event_type=<t>/<generation:06d>.json``  what one
  compacted file replaces (its sources, in row order; docs/compaction.md)

Outside the bucket, the witness holds a copy of every checkpoint at
``<log id>/checkpoints/<seq:012d>.json`` (`witness_key`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlaudit.codec import canonical_json
from mlaudit.integrity.primitives import merkle
from mlaudit.layout import COMPACTED_PREFIX, EVENTS_PREFIX, INTEGRITY_PREFIX, partition_prefix
from mlaudit.leaf import LEAF_ENCODING_VERSION

FORMAT_VERSION = 1
MANIFESTS = f"{INTEGRITY_PREFIX}manifests/"
LOG = f"{INTEGRITY_PREFIX}log/"
LOG_BY_FILE = f"{INTEGRITY_PREFIX}log-by-file/"
LOG_LEAVES = f"{INTEGRITY_PREFIX}log-leaves/"
TILES = f"{INTEGRITY_PREFIX}tiles/"
CHECKPOINTS = f"{INTEGRITY_PREFIX}checkpoints/"
SEALS = f"{INTEGRITY_PREFIX}seals/"
SEAL_KEYS = f"{INTEGRITY_PREFIX}seal-keys/"
COMPACTIONS = f"{INTEGRITY_PREFIX}compactions/"
ZERO_HASH = "0" * 64  # "prev" of the first log entry and of the first checkpoint
SIGNATURE_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"
# A log entry the writer authenticated carries these two fields; the signature covers the
# canonical JSON of the entry without "signature" (so it covers key_id, index and prev).
ENTRY_KEY_ID, ENTRY_SIGNATURE = "key_id", "signature"


class FormatError(ValueError):
    """An integrity object is not in the v1 form."""


def encode(document: dict[str, Any]) -> bytes:
    return canonical_json(document).encode("ascii")


def decode(data: bytes, what: str) -> dict[str, Any]:
    """Parse an integrity object and insist it is canonical (so its hash is well defined)."""
    try:
        document = json.loads(data)
    except ValueError:
        raise FormatError(f"{what} is not JSON") from None
    if not isinstance(document, dict) or encode(document) != data:
        raise FormatError(f"{what} is not canonical JSON")
    return document


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- file manifests -------------------------------------------------------------------------


def manifest_key(object_key: str) -> str:
    return MANIFESTS + object_key + ".json"


def manifest(
    *,
    object_key: str,
    object_sha256: str,
    record_count: int,
    merkle_root: str,
    first_event_id: str,
    last_event_id: str,
    seals_sha256: str | None = None,
) -> dict[str, Any]:
    # No timestamps: a retried writer rebuilds the identical manifest, which is how
    # the sink recognises a retry (same bytes) from a clash (different bytes).
    # seals_sha256: H of the file's seals object (ingest's authentication of its events).
    return {
        **({"seals_sha256": seals_sha256} if seals_sha256 is not None else {}),
        "v": FORMAT_VERSION,
        "type": "mlaudit.file_manifest",
        "leaf_encoding": LEAF_ENCODING_VERSION,
        "object_key": object_key,
        "object_sha256": object_sha256,
        "record_count": record_count,
        "merkle_root": merkle_root,
        "first_event_id": first_event_id,
        "last_event_id": last_event_id,
    }


# -- the log of file roots ------------------------------------------------------------------


def log_key(index: int) -> str:
    return f"{LOG}{index:012d}.json"


def log_index(key: str) -> int | None:
    name = key[len(LOG) :]
    stem = name[:-5] if name.endswith(".json") else ""
    return int(stem) if len(stem) == 12 and stem.isdigit() else None


def log_by_file_key(object_key: str) -> str:
    return LOG_BY_FILE + object_key + ".json"


def log_entry(
    *,
    log_id: str,
    index: int,
    prev: str,
    object_key: str,
    object_sha256: str,
    record_count: int,
    merkle_root: str,
    manifest_sha256: str,
    appended_at: str,
    replaces: dict[str, Any] | None = None,
) -> dict[str, Any]:
    # replaces: a compacted file's sources, named by their compaction record (`compaction_replaces`).
    return {
        **({"replaces": replaces} if replaces is not None else {}),
        "v": FORMAT_VERSION,
        "type": "mlaudit.log_entry",
        "log_id": log_id,  # under the writer's signature: an entry verifies in its own log only
        "index": index,
        "prev": prev,  # leaf hash of entry index-1: a hash chain alongside the tree
        "object_key": object_key,
        "object_sha256": object_sha256,
        "record_count": record_count,
        "merkle_root": merkle_root,
        "manifest_sha256": manifest_sha256,
        "appended_at": appended_at,
    }


def entry_message(entry: dict[str, Any]) -> bytes:
    """What the writer signs: the entry's canonical JSON without its signature."""
    return encode({name: value for name, value in entry.items() if name != ENTRY_SIGNATURE})


def sign_entry(signer: Any, entry: dict[str, Any]) -> dict[str, Any]:
    """The log entry with ``signer``'s key id and signature added (a `signing.Signer`)."""
    body = {name: value for name, value in entry.items() if name != ENTRY_SIGNATURE}
    body[ENTRY_KEY_ID] = signer.key_id
    signature = signer.sign(entry_message(body))
    return {**body, ENTRY_SIGNATURE: base64.b64encode(signature).decode("ascii")}


def entry_leaf(entry_bytes: bytes) -> bytes:
    """The log tree's leaf for one entry: H(0x00 || the entry object's bytes)."""
    return merkle.leaf_hash(entry_bytes)


def log_leaves_key(start: int, end: int) -> str:
    return f"{LOG_LEAVES}{start:012d}-{end:012d}.bin"


def parse_log_leaves_key(key: str) -> tuple[int, int] | None:
    name = key[len(LOG_LEAVES) :]
    try:
        start, end = name.removesuffix(".bin").split("-")
        return int(start), int(end)
    except ValueError:
        return None


# -- checkpoints ----------------------------------------------------------------------------


def checkpoint_key(seq: int) -> str:
    return f"{CHECKPOINTS}{seq:012d}.json"


def checkpoint_seq(key: str) -> int | None:
    name = key[len(CHECKPOINTS) :]
    stem = name[:-5] if name.endswith(".json") else ""
    return int(stem) if len(stem) == 12 and stem.isdigit() else None


def log_id(bucket: str) -> str:
    """The log's name in its checkpoints: a checkpoint of one bucket never verifies another."""
    return f"mlaudit/{bucket}"


def witness_key(log: str, seq: int) -> str:
    return f"{log}/{CHECKPOINTS.removeprefix(INTEGRITY_PREFIX)}{seq:012d}.json"


def witness_prefix(log: str) -> str:
    return f"{log}/{CHECKPOINTS.removeprefix(INTEGRITY_PREFIX)}"


def checkpoint_body(
    *,
    log_id: str,
    seq: int,
    tree_size: int,
    root: str,
    time: str,
    prev: str,
    key_id: str,
) -> dict[str, Any]:
    return {
        "v": FORMAT_VERSION,
        "type": "mlaudit.checkpoint",
        "log_id": log_id,
        "seq": seq,
        "tree_size": tree_size,
        "root": root,
        "time": time,
        "prev": prev,  # SHA-256 of the previous checkpoint's signed message
        "key_id": key_id,
        "signature_algorithm": SIGNATURE_ALGORITHM,
    }


def is_event_object(key: str) -> bool:
    return key.startswith((EVENTS_PREFIX, COMPACTED_PREFIX)) and key.endswith(".parquet")


# -- compactions (docs/compaction.md) -------------------------------------------------------


def compaction_key(event_date: str, event_type: str, generation: int) -> str:
    return f"{partition_prefix(event_date, event_type, COMPACTIONS)}{generation:06d}.json"


def compaction_record(
    *, event_date: str, event_type: str, generation: int, sources: list[dict[str, Any]],
) -> dict[str, Any]:
    """What one compacted file replaces. ``sources``: {object_key, log_index, record_count,
    merkle_root} of each replaced file, in the order its rows are in the compacted file.
    Written (create-only) before the file: it claims the generation, and a run that stopped
    half-way rebuilds the same file from it."""
    return {"v": FORMAT_VERSION, "type": "mlaudit.compaction", "event_date": event_date,
            "event_type": event_type, "generation": generation, "sources": sources}


def compacted_object_key(record_key: str, record_bytes: bytes) -> str:
    """The compacted file a record describes: named by the record's hash, so a record and
    its file cannot be paired otherwise."""
    name = record_key.removeprefix(COMPACTIONS).removesuffix(".json")  # event_date=…/event_type=…/<gen>
    return f"{COMPACTED_PREFIX}{name}-{sha256_hex(record_bytes)[:24]}.parquet"


def compaction_replaces(record_key: str, record_bytes: bytes, count: int) -> dict[str, Any]:
    """The log entry's ``replaces`` field: the record by key and hash (the list itself can
    be thousands of keys; a KMS RAW signature covers at most 4 KB)."""
    return {"record": record_key, "sha256": sha256_hex(record_bytes), "count": count}


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint object: the signed body and its signature (section 5)."""

    body: dict[str, Any]
    signature: bytes

    @property
    def message(self) -> bytes:
        """The exact bytes that were signed."""
        return encode(self.body)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.message).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {"checkpoint": self.body, "signature": base64.b64encode(self.signature).decode("ascii")}

    def encode(self) -> bytes:
        return encode(self.to_json())

    @classmethod
    def decode(cls, data: bytes, what: str = "checkpoint") -> SignedCheckpoint:
        document = decode(data, what)
        try:
            body, signature = document["checkpoint"], base64.b64decode(document["signature"], validate=True)
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"{what} lacks a checkpoint body or a base64 signature") from None
        if not isinstance(body, dict):
            raise FormatError(f"{what} lacks a checkpoint body or a base64 signature")
        return cls(body, signature)


def gallop_latest(exists: Callable[[int], bool]) -> int | None:
    """The last of a run 0..k of numbered objects, in O(log k) probes (with a hole in the
    run, the last before some hole: callers check what lies after the answer)."""
    if not exists(0):
        return None
    low, step = 0, 1
    while exists(low + step):
        low += step
        step *= 2
    high = low + step
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if exists(middle) else (low, middle)
    return low
