"""The writer's pack ledger in DynamoDB: pack id -> files holding its events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from mlaudit.writer import LedgerEntry

_GET_CHUNK = 100  # BatchGetItem limit


class DynamoLedger:
    def __init__(self, client: Any, table: str, keep_for: timedelta = timedelta(days=15)) -> None:
        self.client = client
        self.table = table
        self.keep_for = keep_for  # past SQS's longest retention, a pack cannot come back

    def get(self, pack_ids: list[str]) -> dict[str, LedgerEntry]:
        found: dict[str, LedgerEntry] = {}
        for start in range(0, len(pack_ids), _GET_CHUNK):
            request = {self.table: {
                "Keys": [{"pk": {"S": f"pack#{p}"}} for p in pack_ids[start:start + _GET_CHUNK]],
                "ConsistentRead": True,
            }}
            while request:
                answer = self.client.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(self.table, []):
                    found[item["pk"]["S"].removeprefix("pack#")] = LedgerEntry(
                        files=json.loads(item["files"]["S"]),
                        claimed_at=datetime.fromtimestamp(int(item["claimed_at"]["N"]) / 1000, tz=UTC),
                        superseded=item.get("superseded", {}).get("BOOL", False),
                    )
                request = answer.get("UnprocessedKeys") or {}
        return found

    def claim(self, entries: dict[str, LedgerEntry], seen: dict[str, datetime | None]) -> set[str]:
        """One conditional PutItem per pack (BatchWriteItem has no conditions); a writer
        batch holds at most 10 messages."""
        won = set()
        for pack_id, entry in entries.items():
            before = seen.get(pack_id)
            condition: dict[str, Any] = (
                {"ConditionExpression": "attribute_not_exists(pk)"} if before is None else {
                    "ConditionExpression": "claimed_at = :seen",
                    "ExpressionAttributeValues": {":seen": {"N": str(_ms(before))}},
                }
            )
            try:
                self.client.put_item(TableName=self.table, Item={
                    "pk": {"S": f"pack#{pack_id}"},
                    "files": {"S": json.dumps(entry.files, sort_keys=True)},
                    "claimed_at": {"N": str(_ms(entry.claimed_at))},
                    "expires_at": {"N": str(int((entry.claimed_at + self.keep_for).timestamp()))},
                }, **condition)
            except self.client.exceptions.ConditionalCheckFailedException:
                continue
            won.add(pack_id)
        return won


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)
