"""SQS sender for ingest packs: SendMessageBatch, at most 10 entries and 256 KiB a call."""

from __future__ import annotations

from typing import Any

from mlaudit.pack import PACK_ID_ATTRIBUTE, Pack

_MAX_ENTRIES = 10
_MAX_CALL_BYTES = 262_144
_ATTRIBUTE_BYTES = 128  # name, type and a 40-char pack id, with room to spare


class QueueUnavailable(ConnectionError):
    """Not every pack was accepted; `sent_pack_ids` were (the queue said so)."""

    def __init__(self, message: str, sent_pack_ids: list[str] | None = None) -> None:
        super().__init__(message)
        self.sent_pack_ids = list(sent_pack_ids or [])


class SqsQueue:
    def __init__(self, client: Any, queue_url: str, attempts: int = 3) -> None:
        self.client = client
        self.queue_url = queue_url
        self.attempts = attempts

    def send_packs(self, packs: list[Pack]) -> None:
        sent: list[str] = []
        try:
            self._send(packs, sent)
        except QueueUnavailable:
            raise
        except Exception as error:  # the call failed: what it sent is unknown, so not counted
            raise QueueUnavailable(f"the queue failed: {type(error).__name__}", sent) from error

    def _send(self, packs: list[Pack], sent: list[str]) -> None:
        for group in _groups(packs):
            pending = {str(i): pack for i, pack in enumerate(group)}
            for _ in range(self.attempts):
                answer = self.client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {
                            "Id": entry_id, "MessageBody": pack.body,
                            "MessageAttributes": {
                                PACK_ID_ATTRIBUTE: {"DataType": "String", "StringValue": pack.pack_id},
                            },
                        }
                        for entry_id, pack in pending.items()
                    ],
                )
                accepted = {entry["Id"] for entry in answer.get("Successful", [])}
                sent += [pending[entry_id].pack_id for entry_id in sorted(accepted & pending.keys())]
                pending = {f["Id"]: pending[f["Id"]] for f in answer.get("Failed", [])}
                if not pending:
                    break
            if pending:
                raise QueueUnavailable(f"{len(pending)} message(s) not accepted by the queue", sent)


def _groups(packs: list[Pack]) -> list[list[Pack]]:
    groups: list[list[Pack]] = []
    current: list[Pack] = []
    size = 0
    for pack in packs:
        pack_size = len(pack.body.encode()) + _ATTRIBUTE_BYTES
        if current and (len(current) == _MAX_ENTRIES or size + pack_size > _MAX_CALL_BYTES):
            groups.append(current)
            current, size = [], 0
        current.append(pack)
        size += pack_size
    if current:
        groups.append(current)
    return groups
