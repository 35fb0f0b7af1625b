"""Subject keys in DynamoDB, wrapped under a key that KMS protects.

Items (partition key ``pk``, string):
- ``index#v1``: the deployment's index key, a KMS data key (``GenerateDataKey``),
  stored encrypted; created once, by whichever function needs it first.
- ``wrap#v1``: the wrapping key, a KMS data key stored the same way. A function decrypts
  it once per process (one KMS call per container, not one per subject).
- ``subject#<HMAC-SHA256(index key, subject_ref)>``: one subject's key: ``key_id``
  (random), ``wrapped_key`` (AES-256-GCM of the 32-byte key under the wrapping key named
  by ``wrap``; the item's pk and key id are its associated data), ``created_at``. Items
  written before wrapping hold ``encrypted_key`` (the KMS ciphertext of the key) instead:
  they still open, with one KMS call each.

The raw subject_ref is never stored, logged or sent to KMS. KMS calls carry an
encryption context that names the item's purpose and random key id, so an encrypted
key copied to another item does not decrypt there; a wrapped key copied to another item
does not open either (its associated data names the item). Erasure deletes the subject
item: the only copy of its key (apart from PITR backups: see docs/regulations.md); the
wrapping key opens nothing without it. What wrapping changes in the threat model:
docs/privacy.md ("What protects the keys").
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mlaudit.privacy import KEY_BYTES, NONCE_BYTES, SubjectKey, index_ref, new_subject_key

INDEX_PK = "index#v1"
WRAP_VERSION = "v1"  # a new wrapping key (rotation) is a new item, wrap#v2; older items name theirs
WRAP_PREFIX = "wrap#"
_WRAP_LABEL = b"mlaudit/subject-key-wrap/v1"
_BATCH_GET = 100  # DynamoDB BatchGetItem's cap
_WORKERS = 16  # new subjects' puts (and old items' KMS calls) at once, far below the quotas
SUBJECT_PREFIX = "subject#"
_PURPOSE = "mlaudit:purpose"


class DynamoKmsKeyStore:
    def __init__(self, dynamodb: Any, kms: Any, table: str, kms_key_id: str) -> None:
        self.dynamodb = dynamodb
        self.kms = kms
        self.table = table
        self.kms_key_id = kms_key_id
        self._roots: dict[str, bytes] = {}  # pk -> the index or a wrapping key, decrypted once
        self._lock = threading.Lock()

    # -- the KeyStore port

    def find(self, subject_ref: str) -> SubjectKey | None:
        item = self._get(self._pk(subject_ref))
        return None if item is None else self._open(item)

    def find_or_create(self, subject_ref: str) -> SubjectKey:
        pk = self._pk(subject_ref)
        item = self._get(pk)
        if item is not None:
            return self._open(item)
        material = os.urandom(KEY_BYTES)
        key_id = new_subject_key(material).key_id  # a fresh random id
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={"pk": {"S": pk}, "key_id": {"S": key_id}, "wrap": {"S": WRAP_VERSION},
                      "wrapped_key": {"B": self._wrap(pk, key_id, material)},
                      "created_at": {"N": str(int(time.time()))}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            winner = self._get(pk)  # another function created it first: use theirs
            if winner is None:
                raise RuntimeError("subject key vanished during creation") from None
            return self._open(winner)
        return new_subject_key(material, key_id)

    def find_or_create_many(self, subject_refs: list[str]) -> dict[str, SubjectKey]:
        """Many subjects at once (a batch about many people): BatchGetItem by 100 (eventually
        consistent: half the read units; a key it misses is looked up again strongly before
        one is made, and one it still sees just after an erasure is within the protector's
        cache window anyway), then the new subjects' puts (and any old item's KMS call) side
        by side."""
        refs = list(dict.fromkeys(subject_refs))
        pks = {ref: self._pk(ref) for ref in refs}
        items: dict[str, dict[str, Any]] = {}
        for start in range(0, len(refs), _BATCH_GET):
            pending = {"RequestItems": {self.table: {
                "Keys": [{"pk": {"S": pks[ref]}} for ref in refs[start:start + _BATCH_GET]],
            }}}
            while pending["RequestItems"]:
                answer = self.dynamodb.batch_get_item(**pending)
                for item in answer.get("Responses", {}).get(self.table, []):
                    items[item["pk"]["S"]] = item
                pending = {"RequestItems": answer.get("UnprocessedKeys") or {}}

        found = {ref: self._open(items[pks[ref]]) for ref in refs
                 if pks[ref] in items and "wrapped_key" in items[pks[ref]]}
        rest = [ref for ref in refs if ref not in found]  # new subjects, and old items' KMS calls

        def one(ref: str) -> SubjectKey:
            item = items.get(pks[ref])
            return self._open(item) if item is not None else self.find_or_create(ref)

        if len(rest) <= 1:
            found.update((ref, one(ref)) for ref in rest)
        else:
            with ThreadPoolExecutor(max_workers=min(_WORKERS, len(rest))) as pool:
                found.update(zip(rest, pool.map(one, rest), strict=True))
        return {ref: found[ref] for ref in refs}

    def destroy(self, subject_ref: str, key: SubjectKey) -> bool:
        try:
            self.dynamodb.delete_item(
                TableName=self.table, Key={"pk": {"S": self._pk(subject_ref)}},
                ConditionExpression="key_id = :k",  # never a key created after the caller looked
                ExpressionAttributeValues={":k": {"S": key.key_id}},
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -- internals

    def _pk(self, subject_ref: str) -> str:
        return SUBJECT_PREFIX + index_ref(self._index(), subject_ref)

    def _index(self) -> bytes:
        return self._root(INDEX_PK, "index-key")

    def _root(self, pk: str, purpose: str) -> bytes:
        """The index key or a wrapping key: loaded (or made) and decrypted once per process."""
        with self._lock:
            if pk not in self._roots:
                self._roots[pk] = self._load_or_create_root(pk, purpose)
            return self._roots[pk]

    def _load_or_create_root(self, pk: str, purpose: str) -> bytes:
        item = self._get(pk)
        if item is None:
            key_id, material, encrypted = self._data_key(purpose)
            try:
                self.dynamodb.put_item(
                    TableName=self.table,
                    Item={"pk": {"S": pk}, "key_id": {"S": key_id}, "encrypted_key": {"B": encrypted},
                          "created_at": {"N": str(int(time.time()))}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
                return material
            except self.dynamodb.exceptions.ConditionalCheckFailedException:
                item = self._get(pk)
                if item is None:
                    raise RuntimeError(f"{purpose} vanished during creation") from None
        return self._decrypt(item, purpose)

    def _wrapping(self, version: str) -> AESGCM:
        return AESGCM(self._root(WRAP_PREFIX + version, "wrap-key"))

    def _wrap(self, pk: str, key_id: str, material: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._wrapping(WRAP_VERSION).encrypt(nonce, material, _wrap_aad(pk, key_id))

    def _unwrap(self, item: dict[str, Any]) -> bytes:
        sealed = item["wrapped_key"]["B"]
        return self._wrapping(item["wrap"]["S"]).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _wrap_aad(item["pk"]["S"], item["key_id"]["S"]))

    def _get(self, pk: str) -> dict[str, Any] | None:
        return self.dynamodb.get_item(TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")

    def _open(self, item: dict[str, Any]) -> SubjectKey:
        material = self._unwrap(item) if "wrapped_key" in item else self._decrypt(item, "subject-key")
        return new_subject_key(material, item["key_id"]["S"])

    def _data_key(self, purpose: str) -> tuple[str, bytes, bytes]:
        key_id = new_subject_key(bytes(KEY_BYTES)).key_id  # a fresh random id
        answer = self.kms.generate_data_key(
            KeyId=self.kms_key_id, KeySpec="AES_256", EncryptionContext=_context(purpose, key_id),
        )
        return key_id, answer["Plaintext"], answer["CiphertextBlob"]

    def _decrypt(self, item: dict[str, Any], purpose: str) -> bytes:
        key_id = item["key_id"]["S"]
        answer = self.kms.decrypt(
            CiphertextBlob=item["encrypted_key"]["B"], KeyId=self.kms_key_id,
            EncryptionContext=_context(purpose, key_id),
        )
        return answer["Plaintext"]


def _wrap_aad(pk: str, key_id: str) -> bytes:
    return _WRAP_LABEL + b"\0" + pk.encode() + b"\0" + key_id.encode()


def _context(purpose: str, key_id: str) -> dict[str, str]:
    return {_PURPOSE: purpose, "mlaudit:key_id": key_id}
