"""SQS sender for ingest packs: SendMessageBatch, at most 10 entries and 256 KiB a call."""

from __future__ import annotations

from typing import Any

from mlaudit.pack import DEFLATE, ENCODING_ATTRIBUTE, PACK_ID_ATTRIBUTE, SEAL_ATTRIBUTE, Pack, queue_body

_MAX_ENTRIES = 10
_MAX_CALL_BYTES = 262_144
_ATTRIBUTE_BYTES = 128  # name, type and a 40-char pack id, with room to spare


class QueueUnavailable(ConnectionError):
    """Not every pack was accepted; `sent_pack_ids` were (the queue said so);
    `uncertain_pack_ids` were in a call that failed without an answer (maybe sent)."""

    def __init__(self, message: str, sent_pack_ids: list[str] | None = None,
                 uncertain_pack_ids: list[str] | None = None) -> None:
        super().__init__(message)
        self.sent_pack_ids = list(sent_pack_ids or [])
        self.uncertain_pack_ids = list(uncertain_pack_ids or [])


class SqsQueue:
    def __init__(self, client: Any, queue_url: str, attempts: int = 3) -> None:
        self.client = client
        self.queue_url = queue_url
        self.attempts = attempts

    def send_packs(self, packs: list[Pack]) -> None:
        sent: list[str] = []
        uncertain: list[str] = []
        try:
            self._send(packs, sent, uncertain)
        except QueueUnavailable:
            raise
        except Exception as error:  # the last call failed without an answer: its packs may be queued
            raise QueueUnavailable(f"the queue failed: {type(error).__name__}", sent, uncertain) from error

    def _send(self, packs: list[Pack], sent: list[str], uncertain: list[str]) -> None:
        bodies = {pack.pack_id: queue_body(pack.body) for pack in packs}  # deflated (mlaudit.pack.queue_body)
        for group in _groups(packs, bodies):
            pending = {str(i): pack for i, pack in enumerate(group)}
            maybe: set[str] = set()  # in a call that failed without an answer, not confirmed since
            for attempt in range(self.attempts):
                try:
                    answer = self._call(pending, bodies)
                except Exception:
                    maybe |= {p.pack_id for p in pending.values()}
                    if attempt + 1 == self.attempts:
                        uncertain += sorted(maybe)
                        raise
                    continue  # the same packs again: a copy of one the queue took is harmless
                accepted = [pending[entry["Id"]].pack_id for entry in answer.get("Successful", [])
                            if entry["Id"] in pending]
                sent += accepted
                maybe -= set(accepted)
                pending = {f["Id"]: pending[f["Id"]] for f in answer.get("Failed", [])}
                if not pending:
                    break
            if pending:
                uncertain += sorted(maybe)
                raise QueueUnavailable(f"{len(pending)} message(s) not accepted by the queue", sent, uncertain)

    def _call(self, pending: dict[str, Pack], bodies: dict[str, str]) -> dict[str, Any]:
        return self.client.send_message_batch(  # type: ignore[no-any-return]
            QueueUrl=self.queue_url,
            Entries=[
                {
                    "Id": entry_id, "MessageBody": bodies[pack.pack_id],
                    "MessageAttributes": {
                        PACK_ID_ATTRIBUTE: {"DataType": "String", "StringValue": pack.pack_id},
                        ENCODING_ATTRIBUTE: {"DataType": "String", "StringValue": DEFLATE},
                        **({SEAL_ATTRIBUTE: {"DataType": "String", "StringValue": pack.seal}} if pack.seal else {}),
                    },
                }
                for entry_id, pack in pending.items()
            ],
        )


def _groups(packs: list[Pack], bodies: dict[str, str]) -> list[list[Pack]]:
    groups: list[list[Pack]] = []
    current: list[Pack] = []
    size = 0
    for pack in packs:
        pack_size = len(bodies[pack.pack_id]) + 2 * _ATTRIBUTE_BYTES + len(pack.seal or "")
        if current and (len(current) == _MAX_ENTRIES or size + pack_size > _MAX_CALL_BYTES):
            groups.append(current)
            current, size = [], 0
        current.append(pack)
        size += pack_size
    if current:
        groups.append(current)
    return groups
