"""The witness: every signed checkpoint, published where the audit bucket's writers and
admins have no authority.

A separate bucket (COMPLIANCE-mode Object Lock; it may live in another account) holds
``<log id>/checkpoints/<seq:012d>.json``, byte for byte the checkpoint object, and an SNS
topic announces each one for subscribers to archive. Its policy makes it write-once for
every principal (`mlaudit.bucket_policy`): no delete marker, no second version. The
checkpoint signer reads its last signed state back from here, and checks the versions
around it, so neither deleting checkpoints from the audit bucket nor hiding the witness's
newest ones can make it sign over a rolled-back log; verifiers take the witness as their
trusted checkpoints and read its version history.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from mlaudit.integrity.primitives import records
from mlaudit.integrity.primitives.records import SignedCheckpoint, gallop_latest
from mlaudit.integrity.primitives.store import KeyHistory, histories


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
    """One log's checkpoints in the witness store, and the topic that announces them.
    ``store``: a `store.Store`, and `store.Versioned` for the version checks."""

    def __init__(self, store: Any, log_id: str, topic: Topic | None = None) -> None:
        self.store = store
        self.log_id = log_id
        self.topic = topic
        self.prefix = records.witness_prefix(log_id)

    def key(self, seq: int) -> str:
        return records.witness_key(self.log_id, seq)

    def latest_seq(self) -> int | None:
        """The highest visible sequence number (galloping HEADs; a delete marker hides a key)."""
        return gallop_latest(lambda seq: self.store.exists(self.key(seq)))

    def load(self, seq: int) -> SignedCheckpoint | None:
        data = self.store.get(self.key(seq))
        return None if data is None else SignedCheckpoint.decode(data, f"witness checkpoint {seq}")

    def latest(self) -> SignedCheckpoint | None:
        seq = self.latest_seq()
        return None if seq is None else self.load(seq)

    def history(self, seq: int) -> KeyHistory:
        """Every version and delete marker of checkpoint ``seq``'s key, hidden or not."""
        key = self.key(seq)
        found = [h for h in histories(self.store.versions(key)) if h.key == key]
        return found[0] if found else KeyHistory(key, (), 0)

    def histories(self, after_seq: int | None = None) -> Iterator[KeyHistory]:
        """The version history of every key under this log's prefix (checkpoints after
        ``after_seq`` only, when that checkpoint is visible: a page marker must exist)."""
        after = ""
        if after_seq is not None and after_seq >= 0 and self.store.exists(self.key(after_seq)):
            after = self.key(after_seq)
        return histories(self.store.versions(self.prefix, after))

    def all(self) -> list[SignedCheckpoint]:
        """Every visible checkpoint the witness holds for this log (small lakes and tests)."""
        found = []
        for key in self.store.list(self.prefix):
            data = self.store.get(key)
            if data is not None:
                found.append(SignedCheckpoint.decode(data, key))
        return found

    def publish(self, signed: SignedCheckpoint) -> None:
        """Write-once; publishing the same checkpoint again is a no-op (a retried run)."""
        key = self.key(signed.body["seq"])
        if not self.store.create(key, signed.encode()) and self.store.get(key) != signed.encode():
            raise WitnessConflict(f"the witness already holds another checkpoint {signed.body['seq']}")

    def announce(self, signed: SignedCheckpoint) -> None:
        if self.topic is not None:
            self.topic.publish(signed.encode().decode("ascii"))
