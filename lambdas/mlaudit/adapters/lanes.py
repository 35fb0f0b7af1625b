"""Lane watermarks in the idempotency table (mlaudit.ingest.lanes): one item per (sender,
lane), `lane#<sha256>`, with the highest position stored, the request that stored it and
when the item expires (TTL, like the table's other items). Moved with one conditional
UpdateItem: one write unit per request, whatever its events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


class DynamoLanes:
    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def advance_lane(self, key: str, position: int, request: str, now: datetime, window: timedelta) -> bool:
        try:
            self.client.update_item(
                TableName=self.table, Key={"pk": {"S": key}},
                UpdateExpression="SET #p = :p, #r = :r, expires_at = :e",
                # Absent, expired (TTL deletes lazily), below, or this request's own position.
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR #p < :p "
                "OR (#p = :p AND #r = :r)",
                ExpressionAttributeNames={"#p": "position", "#r": "request"},  # both reserved words
                ExpressionAttributeValues={
                    ":p": {"N": str(position)}, ":r": {"S": request},
                    ":e": {"N": str(int((now + window).timestamp()))}, ":now": {"N": str(int(now.timestamp()))},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True
