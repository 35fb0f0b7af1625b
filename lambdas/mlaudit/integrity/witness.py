"""The witness: every signed checkpoint, published where the audit bucket's writers and
admins have no authority.

A separate bucket (COMPLIANCE-mode Object Lock; it may live in another account) holds
``<log id>/checkpoints/<seq:012d>.json``, byte for byte the checkpoint object, and an SNS
topic announces each one for subscribers to archive. The checkpoint signer reads its last
signed state back from the witness, so deleting checkpoints from the audit bucket can
never make it start a new chain; verifiers take the witness as their trusted checkpoints.
"""

from __future__ import annotations

from typing import Any, Protocol

from mlaudit.integrity import records
from mlaudit.integrity.checkpoint import SignedCheckpoint, gallop_latest
from mlaudit.integrity.store import Store


class WitnessConflict(RuntimeError):
    """The witness already holds another checkpoint under this sequence number."""


class Topic(Protocol):
    def publish(self, message: str) -> None: ...


class SnsTopic:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def publish(self, message: str) -> None:
        self.client.publish(TopicArn=self.topic_arn, Message=message, Subject="mlaudit checkpoint")


class Witness:
    """One log's checkpoints in the witness store, and the topic that announces them."""

    def __init__(self, store: Store, log_id: str, topic: Topic | None = None) -> None:
        self.store = store
        self.log_id = log_id
        self.topic = topic

    def latest_seq(self) -> int | None:
        return gallop_latest(lambda seq: self.store.exists(records.witness_key(self.log_id, seq)))

    def load(self, seq: int) -> SignedCheckpoint | None:
        data = self.store.get(records.witness_key(self.log_id, seq))
        return None if data is None else SignedCheckpoint.decode(data, f"witness checkpoint {seq}")

    def latest(self) -> SignedCheckpoint | None:
        seq = self.latest_seq()
        return None if seq is None else self.load(seq)

    def all(self) -> list[SignedCheckpoint]:
        """Every checkpoint the witness holds for this log (the verifier's trusted set)."""
        found = []
        prefix = records.witness_prefix(self.log_id)
        for key in self.store.list(prefix):
            data = self.store.get(key)
            if data is not None:
                found.append(SignedCheckpoint.decode(data, key))
        return found

    def publish(self, signed: SignedCheckpoint) -> None:
        """Write-once; publishing the same checkpoint again is a no-op (a retried run)."""
        key = records.witness_key(self.log_id, signed.body["seq"])
        if not self.store.create(key, signed.encode()) and self.store.get(key) != signed.encode():
            raise WitnessConflict(f"the witness already holds another checkpoint {signed.body['seq']}")

    def announce(self, signed: SignedCheckpoint) -> None:
        if self.topic is not None:
            self.topic.publish(signed.encode().decode("ascii"))
