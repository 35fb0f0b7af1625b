"""Subject keys in DynamoDB, envelope-encrypted under the KMS customer key.

Items (partition key ``pk``, string):
- ``index#v1``: the deployment's index key, a KMS data key (``GenerateDataKey``),
  stored encrypted; created once, by whichever function needs it first.
- ``subject#<HMAC-SHA256(index key, subject_ref)>``: one subject's key: ``key_id``
  (random), ``encrypted_key`` (the KMS ciphertext of the 32-byte key), ``created_at``.

The raw subject_ref is never stored, logged or sent to KMS. KMS calls carry an
encryption context that names the item's purpose and random key id, so an encrypted
key copied to another item does not decrypt there. Erasure deletes the subject item:
the only copy of its key (apart from PITR backups: see docs/regulations.md).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlaudit.privacy import KEY_BYTES, SubjectKey, index_ref, new_subject_key

INDEX_PK = "index#v1"
_BATCH_GET = 100  # DynamoDB BatchGetItem's cap
_WORKERS = 16  # concurrent KMS calls for one batch, far below KMS request quotas
SUBJECT_PREFIX = "subject#"
_PURPOSE = "mlaudit:purpose"


class DynamoKmsKeyStore:
    def __init__(self, dynamodb: Any, kms: Any, table: str, kms_key_id: str) -> None:
        self.dynamodb = dynamodb
        self.kms = kms
        self.table = table
        self.kms_key_id = kms_key_id
        self._index_key: bytes | None = None
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
        key_id, material, encrypted = self._data_key("subject-key")
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={"pk": {"S": pk}, "key_id": {"S": key_id}, "encrypted_key": {"B": encrypted},
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
        """Many subjects at once (a batch about many people): BatchGetItem by 100, then
        the KMS calls side by side, so 500 new subjects cost seconds less than one by one."""
        refs = list(dict.fromkeys(subject_refs))
        pks = {ref: self._pk(ref) for ref in refs}
        items: dict[str, dict[str, Any]] = {}
        for start in range(0, len(refs), _BATCH_GET):
            pending = {"RequestItems": {self.table: {
                "Keys": [{"pk": {"S": pks[ref]}} for ref in refs[start:start + _BATCH_GET]], "ConsistentRead": True,
            }}}
            while pending["RequestItems"]:
                answer = self.dynamodb.batch_get_item(**pending)
                for item in answer.get("Responses", {}).get(self.table, []):
                    items[item["pk"]["S"]] = item
                pending = {"RequestItems": answer.get("UnprocessedKeys") or {}}

        def one(ref: str) -> SubjectKey:
            item = items.get(pks[ref])
            return self._open(item) if item is not None else self.find_or_create(ref)

        if len(refs) <= 1:
            return {ref: one(ref) for ref in refs}
        with ThreadPoolExecutor(max_workers=min(_WORKERS, len(refs))) as pool:
            return dict(zip(refs, pool.map(one, refs), strict=True))

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
        with self._lock:
            if self._index_key is None:
                self._index_key = self._load_or_create_index()
            return self._index_key

    def _load_or_create_index(self) -> bytes:
        item = self._get(INDEX_PK)
        if item is None:
            key_id, material, encrypted = self._data_key("index-key")
            try:
                self.dynamodb.put_item(
                    TableName=self.table,
                    Item={"pk": {"S": INDEX_PK}, "key_id": {"S": key_id}, "encrypted_key": {"B": encrypted},
                          "created_at": {"N": str(int(time.time()))}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
                return material
            except self.dynamodb.exceptions.ConditionalCheckFailedException:
                item = self._get(INDEX_PK)
                if item is None:
                    raise RuntimeError("index key vanished during creation") from None
        return self._decrypt(item, "index-key")

    def _get(self, pk: str) -> dict[str, Any] | None:
        return self.dynamodb.get_item(TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")

    def _open(self, item: dict[str, Any]) -> SubjectKey:
        return new_subject_key(self._decrypt(item, "subject-key"), item["key_id"]["S"])

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


def _context(purpose: str, key_id: str) -> dict[str, str]:
    return {_PURPOSE: purpose, "mlaudit:key_id": key_id}
