"""Crypto-shredding: a key per data subject, pseudonyms and ciphertext derived from it.

Each data subject gets a random 256-bit key (stored envelope-encrypted by the key
store adapter). From it we derive, with HMAC-SHA256 and distinct labels:
- the subject's pseudonym, ``sp1.<32 hex>`` = HMAC(k_p, subject_ref): stable while
  the key exists, impossible to recompute (so to link) once it is destroyed;
- an AES-256-GCM key for ``personal_data``, stored as ``pd1.<key_id>.<b64url(nonce|ct)>``.

Erasure (GDPR Art. 17) destroys the key: stored pseudonyms stay as they are (so every
leaf hash still verifies) but no longer link to anyone, and the ciphertext no longer
opens. Nothing here ever logs or raises with a subject_ref or a plaintext value.

This module is pure logic plus ports (`KeyStore`, `SubjectEvents`, and the stack's
`self_audit.SelfAudit`); the DynamoDB/KMS and S3 adapters live in mlaudit.adapters.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mlaudit.codec import canonical_json, format_timestamp
from mlaudit.contract import JSON_FIELDS
from mlaudit.errors import Incomplete, Invalid, NotFound
from mlaudit.principal import Principal

if TYPE_CHECKING:
    from mlaudit.self_audit import SelfAudit

PSEUDONYM_PREFIX = "sp1."
CIPHERTEXT_PREFIX = "pd1"
KEY_BYTES = 32
NONCE_BYTES = 12
MAX_SUBJECT_REF_CHARS = 256  # the contract's bound on subject_ref
# How long ingest may keep a subject's key in memory. Erasure takes full effect on
# every warm function within this time (documented in docs/regulations.md).
KEY_CACHE_SECONDS = 30.0
KEY_CACHE_ENTRIES = 10_000
MAX_ACCESS_EVENTS = 1000  # one API answer stays far below Lambda's 6 MB response limit

_PSEUDONYM_LABEL = b"mlaudit/subject-pseudonym/v1"
_ENCRYPTION_LABEL = b"mlaudit/personal-data/v1"
_INDEX_LABEL = b"mlaudit/subject-index/v1"


class SealedDataError(Exception):
    """Ciphertext that does not open: wrong or destroyed key, or tampered bytes."""


@dataclass(frozen=True)
class SubjectKey:
    key_id: str  # random, not derived from the subject: safe in ciphertext and KMS context
    material: bytes

    def __repr__(self) -> str:  # never print key material
        return f"SubjectKey(key_id={self.key_id!r})"

    def _derive(self, label: bytes) -> bytes:
        return hmac.new(self.material, label, hashlib.sha256).digest()

    # Derived once per key (not per event): a 500-event batch about one subject is cheap.
    @functools.cached_property
    def _pseudonym_key(self) -> bytes:
        return self._derive(_PSEUDONYM_LABEL)

    @functools.cached_property
    def _aead(self) -> AESGCM:
        return AESGCM(self._derive(_ENCRYPTION_LABEL))


def new_subject_key(material: bytes, key_id: str | None = None) -> SubjectKey:
    if len(material) != KEY_BYTES:
        raise ValueError("a subject key is 32 bytes")
    return SubjectKey(key_id or os.urandom(8).hex(), material)


def index_ref(index_key: bytes, subject_ref: str) -> str:
    """The key store's lookup key for a subject: a keyed hash, never the raw reference
    (which is personal data). Whoever lacks the index key cannot test a guess."""
    mac = hmac.new(index_key, _INDEX_LABEL + b"\0" + subject_ref.encode("utf-8"), hashlib.sha256)
    return mac.hexdigest()


def pseudonym(key: SubjectKey, subject_ref: str) -> str:
    mac = hmac.new(key._pseudonym_key, subject_ref.encode("utf-8"), hashlib.sha256)
    return PSEUDONYM_PREFIX + mac.hexdigest()[:32]  # 128 bits: no collisions in practice


def seal(key: SubjectKey, plaintext: str, pseudonym_: str) -> str:
    """AES-256-GCM under the subject's key; the pseudonym is bound as associated data,
    so ciphertext moved onto another subject's row does not open."""
    nonce = os.urandom(NONCE_BYTES)
    aad = _aad(key.key_id, pseudonym_)
    sealed = key._aead.encrypt(nonce, plaintext.encode("utf-8"), aad)
    body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")
    return f"{CIPHERTEXT_PREFIX}.{key.key_id}.{body}"


def open_sealed(key: SubjectKey, token: str, pseudonym_: str) -> str:
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != CIPHERTEXT_PREFIX or parts[1] != key.key_id:
        raise SealedDataError("not sealed under this key")
    try:
        raw = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
    except (binascii.Error, ValueError):
        raise SealedDataError("malformed ciphertext") from None
    # Exactly one text per ciphertext: refuse non-canonical base64 (spare padding bits).
    if len(raw) < NONCE_BYTES + 16 or base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != parts[2]:
        raise SealedDataError("malformed ciphertext")
    try:
        plain = key._aead.decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(key.key_id, pseudonym_)
        )
    except InvalidTag:
        raise SealedDataError("ciphertext does not open") from None
    return plain.decode("utf-8")


def _aad(key_id: str, pseudonym_: str) -> bytes:
    return f"{CIPHERTEXT_PREFIX}\0{key_id}\0{pseudonym_}".encode()


# ---------------------------------------------------------------- ports


class KeyStore(Protocol):
    def find(self, subject_ref: str) -> SubjectKey | None:
        """The subject's key, or None (never seen, or erased)."""

    def find_or_create(self, subject_ref: str) -> SubjectKey:
        """The subject's key, created on first sight (concurrent creators agree on one)."""

    def destroy(self, subject_ref: str, key: SubjectKey) -> bool:
        """Delete this key (only if it is still the subject's key); False if it was gone."""


class SubjectEvents(Protocol):
    def events(self, subject_pseudonym: str, limit: int) -> list[dict[str, Any]]:
        """Stored rows with this pseudonym (lake columns), oldest first, at most `limit`+1."""


# ---------------------------------------------------------------- ingest


class SubjectProtector:
    """The ingest `Protector`: subject_ref -> pseudonym, personal_data -> ciphertext.

    Keys are cached for `KEY_CACHE_SECONDS` so a 500-event batch costs one key-store
    lookup (and at most one KMS call) per distinct subject, not per event.
    """

    def __init__(
        self, store: KeyStore, *, cache_seconds: float = KEY_CACHE_SECONDS,
        max_entries: int = KEY_CACHE_ENTRIES, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self.max_entries = max_entries
        self.clock = clock
        # Keyed by subject_ref in memory only; entries expire so erasure takes effect.
        self._cache: OrderedDict[str, tuple[float, SubjectKey, str]] = OrderedDict()
        self._lock = threading.Lock()

    def protect(self, subject_ref: str, personal_data: dict[str, Any] | None) -> tuple[str, str | None]:
        key, alias = self._key(subject_ref)
        if personal_data is None:
            return alias, None
        text = getattr(personal_data, "text", None) or canonical_json(personal_data)
        return alias, seal(key, text, alias)

    def prepare(self, subject_refs: Iterable[str]) -> None:
        """Warm the cache for a whole batch before `protect` is called per event: one
        batched lookup and concurrent KMS calls when the store offers them."""
        now = self.clock()
        with self._lock:
            missing = [r for r in dict.fromkeys(subject_refs) if (hit := self._cache.get(r)) is None or hit[0] <= now]
        many = getattr(self.store, "find_or_create_many", None)
        if many is None or len(missing) < 2:
            for subject_ref in missing:
                self._key(subject_ref)
            return
        for subject_ref, key in many(missing).items():
            self._remember(subject_ref, key, now)

    def _key(self, subject_ref: str) -> tuple[SubjectKey, str]:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(subject_ref)
            if hit is not None and hit[0] > now:
                return hit[1], hit[2]
        return self._remember(subject_ref, self.store.find_or_create(subject_ref), now)

    def _remember(self, subject_ref: str, key: SubjectKey, now: float) -> tuple[SubjectKey, str]:
        alias = pseudonym(key, subject_ref)
        with self._lock:
            self._cache[subject_ref] = (now + self.cache_seconds, key, alias)
            self._cache.move_to_end(subject_ref)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return key, alias


# ---------------------------------------------------------------- subject access and erasure


def check_subject_ref(raw: str | None) -> str:
    if not raw or len(raw) > MAX_SUBJECT_REF_CHARS:
        raise Invalid("invalid_subject_ref",
                      f"subject_ref must be 1 to {MAX_SUBJECT_REF_CHARS} characters, percent-encoded in the path.")
    return raw


def _not_found() -> NotFound:
    return NotFound("subject_not_found", "No key is held for this subject: never seen, or already erased.")


@dataclass
class PrivacyService:
    keys: KeyStore
    lake: SubjectEvents
    audit: SelfAudit
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def access(self, principal: Principal, subject_ref: str) -> dict[str, Any]:
        """GDPR Art. 15: every stored event about the subject, personal data decrypted.
        The access is recorded before anything is disclosed: if it cannot be audited, it fails."""
        key = self.keys.find(subject_ref)
        if key is None:
            self.audit.record(principal, [self._event("subject_access", "access", {"outcome": "not_found"})], None)
            raise _not_found()
        alias = pseudonym(key, subject_ref)
        rows = self.lake.events(alias, MAX_ACCESS_EVENTS)
        truncated = len(rows) > MAX_ACCESS_EVENTS
        rows = rows[:MAX_ACCESS_EVENTS]
        events, unreadable = [], 0
        for row in rows:
            event, ok = _decrypted(row, key, alias)
            unreadable += not ok
            events.append(event)
        details = {"outcome": "disclosed", "events": len(events), "truncated": truncated}
        (audit_id,) = self.audit.record(principal, [self._event("subject_access", "access", details)], alias)
        return {
            "subject_pseudonym": alias, "count": len(events), "truncated": truncated,
            "unreadable_personal_data": unreadable, "access_event_id": audit_id, "events": events,
        }

    def erase(self, principal: Principal, subject_ref: str) -> dict[str, Any]:
        """GDPR Art. 17: destroy the subject's key, then record the erasure under the
        pseudonym it had (which no one can recompute from the subject_ref any more)."""
        key = self.keys.find(subject_ref)
        if key is None or not self.keys.destroy(subject_ref, key):  # unknown, or a concurrent erasure won
            self.audit.record(principal, [self._event("subject_erasure", "erase", {"outcome": "not_found"})], None)
            raise _not_found()
        alias = pseudonym(key, subject_ref)
        erased_at = self.clock()
        details = {"outcome": "key_destroyed", "key_id": key.key_id}
        try:
            (event_id,) = self.audit.record(principal, [self._event("subject_erasure", "erase", details)], alias)
        except Exception:
            # The key is gone (the erasure happened); say so, with what an operator needs
            # to record the event by hand. Neither value identifies the subject any more.
            raise Incomplete(
                "erasure_not_recorded",
                "The subject's key was destroyed, but the erasure event could not be recorded; "
                "give the pseudonym and key id below to the operator.",
                [{"path": "subject_pseudonym", "rule": "audit_pending", "message": alias},
                 {"path": "key_id", "rule": "audit_pending", "message": key.key_id}],
            ) from None
        return {
            "erased": True, "subject_pseudonym": alias, "key_id": key.key_id,
            "erased_at": format_timestamp(erased_at),
            "erasure_event_id": event_id,
        }

    def _event(self, event_type: str, action: str, details: dict[str, Any]) -> dict[str, Any]:
        return {
            "event_type": event_type, "occurred_at": self.clock().isoformat(), "action": action,
            "resource": "data_subject", "details": details,
        }


def _decrypted(row: dict[str, Any], key: SubjectKey, alias: str) -> tuple[dict[str, Any], bool]:
    event = {name: _plain(value) for name, value in row.items()}
    for name in JSON_FIELDS:  # stored as canonical JSON text; answered as objects
        if isinstance(event.get(name), str):
            event[name] = json.loads(event[name])
    sealed = row.get("personal_data")
    if sealed is None:
        return event, True
    try:
        event["personal_data"] = json.loads(open_sealed(key, sealed, alias))
        return event, True
    except SealedDataError:
        event["personal_data"] = None  # written under an older key of a re-created subject, or tampered
        return event, False


def _plain(value: Any) -> Any:
    return format_timestamp(value) if isinstance(value, datetime) else value
