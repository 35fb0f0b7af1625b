"""Request-level idempotency in DynamoDB (one item per request key).

States: IN_PROGRESS (claimed, being enqueued), COMPLETED (answer stored),
FAILED (released after an error; the next attempt takes over with the same
received_at so it resends identical packs).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mlaudit.errors import Conflict
from mlaudit.ingest.request import IngestLimits
from mlaudit.ingest.service import Claim


class DynamoIdempotencyStore:
    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def claim(self, key: str, fingerprint: str, now: datetime, limits: IngestLimits) -> Claim:
        expires = int((now + limits.idempotency_ttl).timestamp())
        item = {
            "pk": {"S": key}, "state": {"S": "IN_PROGRESS"}, "fingerprint": {"S": fingerprint},
            "received_at": {"N": str(_ms(now))}, "claimed_at": {"N": str(_ms(now))},
            "expires_at": {"N": str(expires)},
        }
        try:
            self.client.put_item(
                TableName=self.table, Item=item,
                # An expired item may linger (TTL deletes lazily): treat it as absent.
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now.timestamp()))}},
            )
            return Claim("new", now)
        except self.client.exceptions.ConditionalCheckFailedException:
            pass
        existing = self.client.get_item(TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True)
        current = existing.get("Item")
        if current is None:  # deleted between our two calls: start again
            return self.claim(key, fingerprint, now, limits)
        if current["fingerprint"]["S"] != fingerprint:
            raise Conflict(
                "idempotency_conflict", "These event ids were already sent with different content; use new event ids.",
            )
        received_at = _from_ms(int(current["received_at"]["N"]))
        state = current["state"]["S"]
        if state == "COMPLETED":
            return Claim("replay", received_at, json.loads(current["response"]["S"]))
        claimed_at = int(current["claimed_at"]["N"])
        if state == "IN_PROGRESS" and _ms(now) - claimed_at < limits.in_flight.total_seconds() * 1000:
            raise Conflict(
                "request_in_progress", "The same request is being processed; retry shortly.",
                retry_after_seconds=int(limits.in_flight.total_seconds()),
            )
        # FAILED, or IN_PROGRESS by an attempt that died: take it over.
        try:
            self.client.update_item(
                TableName=self.table, Key={"pk": {"S": key}},
                UpdateExpression="SET #s = :progress, claimed_at = :now",
                ConditionExpression="claimed_at = :seen AND #s = :state",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={
                    ":progress": {"S": "IN_PROGRESS"}, ":now": {"N": str(_ms(now))},
                    ":seen": {"N": str(claimed_at)}, ":state": {"S": state},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            raise Conflict("request_in_progress", "The same request is being processed; retry shortly.") from None
        return Claim("new", received_at)

    def complete(self, key: str, response: dict[str, Any], now: datetime, limits: IngestLimits) -> None:
        self.client.update_item(
            TableName=self.table, Key={"pk": {"S": key}},
            UpdateExpression="SET #s = :done, #r = :response",
            ExpressionAttributeNames={"#s": "state", "#r": "response"},
            ExpressionAttributeValues={
                ":done": {"S": "COMPLETED"}, ":response": {"S": json.dumps(response, separators=(",", ":"))},
            },
        )

    def release(self, key: str) -> None:
        self.client.update_item(
            TableName=self.table, Key={"pk": {"S": key}},
            UpdateExpression="SET #s = :failed",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":failed": {"S": "FAILED"}},
        )


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)
