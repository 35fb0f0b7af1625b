"""Idempotency in DynamoDB: one item per request key and one per (sender, event_id).

Request items: IN_PROGRESS (claimed, being enqueued), COMPLETED (answer stored),
FAILED (released after an error, with the packs and events the queue confirmed; the
next attempt takes over with the same received_at so it resends identical packs).
Event items (`event#...`, see mlaudit.ingest.claims): the event's fingerprint and the
request that owns it; claimed 100 at a time with TransactWriteItems (conditional
puts: BatchWriteItem has no conditions), read back with BatchGetItem only when a
claim is found.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from mlaudit.errors import Conflict
from mlaudit.ingest.claims import EventClaim, HeldClaim, RequestState
from mlaudit.ingest.request import IngestLimits
from mlaudit.ingest.service import Claim

_TRANSACT_ITEMS = 100  # TransactWriteItems limit
_GET_CHUNK = 100  # BatchGetItem limit


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
        sent_packs = frozenset(current.get("sent_packs", {}).get("SS", ()))
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
        return Claim("new", received_at, sent_packs=sent_packs)

    def complete(self, key: str, response: dict[str, Any], now: datetime, limits: IngestLimits) -> None:
        self.client.update_item(
            TableName=self.table, Key={"pk": {"S": key}},
            UpdateExpression="SET #s = :done, #r = :response",
            ExpressionAttributeNames={"#s": "state", "#r": "response"},
            ExpressionAttributeValues={
                ":done": {"S": "COMPLETED"}, ":response": {"S": json.dumps(response, separators=(",", ":"))},
            },
        )

    def release(self, key: str, sent_packs: Any = (), sent_events: Any = ()) -> None:
        """FAILED, adding what the queue confirmed to what earlier attempts had (string sets)."""
        values: dict[str, Any] = {":failed": {"S": "FAILED"}}
        added = []
        for name, ids in (("sent_packs", sorted(set(sent_packs))), ("sent_events", sorted(set(sent_events)))):
            if ids:  # DynamoDB has no empty sets
                values[f":{name}"] = {"SS": ids}
                added.append(f"{name} :{name}")
        self.client.update_item(
            TableName=self.table, Key={"pk": {"S": key}},
            UpdateExpression="SET #s = :failed" + (" ADD " + ", ".join(added) if added else ""),
            ExpressionAttributeNames={"#s": "state"}, ExpressionAttributeValues=values,
        )

    # ---- per-event claims (mlaudit.ingest.claims.EventClaimStore)

    def insert_event_claims(
        self, claims: list[EventClaim], now: datetime, window: timedelta,
    ) -> dict[int, HeldClaim]:
        held: dict[int, HeldClaim] = {}
        for start in range(0, len(claims), _TRANSACT_ITEMS):
            pending = list(range(start, min(start + _TRANSACT_ITEMS, len(claims))))
            for _ in range(10):
                if not pending:
                    break
                pending = self._insert(claims, pending, held, now, window)
            if pending:
                raise Conflict("request_in_progress", "The same events are being claimed; retry shortly.",
                               retry_after_seconds=1)
        return held

    def _insert(
        self, claims: list[EventClaim], positions: list[int], held: dict[int, HeldClaim], now: datetime,
        window: timedelta,
    ) -> list[int]:
        """One transaction; the positions still to claim (raced or cancelled with others)."""
        try:
            self.client.transact_write_items(TransactItems=[
                {"Put": {
                    "TableName": self.table, "Item": self._event_item(claims[i], now, window),
                    "ConditionExpression": "attribute_not_exists(pk) OR expires_at < :now",
                    "ExpressionAttributeValues": {":now": {"N": str(int(now.timestamp()))}},
                }}
                for i in positions
            ])
            return []
        except self.client.exceptions.TransactionCanceledException as error:
            reasons = error.response.get("CancellationReasons") or []
        found = [
            i for i, reason in zip(positions, reasons, strict=False) if reason.get("Code") == "ConditionalCheckFailed"
        ]
        for position, item in self._get([claims[i].event_key for i in found], now).items():
            held[found[position]] = HeldClaim(item["fingerprint"]["S"], item["owner"]["S"])
        # Found but gone (expired, deleted) by the time we read: claim it again.
        return [i for i in positions if i not in held]

    def _get(self, keys: list[str], moment: datetime) -> dict[int, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        now = int(moment.timestamp())
        for start in range(0, len(keys), _GET_CHUNK):
            request = {self.table: {"Keys": [{"pk": {"S": k}} for k in keys[start:start + _GET_CHUNK]],
                                    "ConsistentRead": True}}
            while request:
                answer = self.client.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(self.table, []):
                    if int(item["expires_at"]["N"]) >= now:
                        found[item["pk"]["S"]] = item
                request = answer.get("UnprocessedKeys") or {}
        return {position: found[key] for position, key in enumerate(keys) if key in found}

    def _event_item(self, claim: EventClaim, now: datetime, window: timedelta) -> dict[str, Any]:
        return {
            "pk": {"S": claim.event_key}, "fingerprint": {"S": claim.fingerprint}, "owner": {"S": claim.owner},
            "expires_at": {"N": str(int((now + window).timestamp()))},
        }

    def request_state(self, key: str, now: datetime) -> RequestState | None:
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        if item is None or int(item["expires_at"]["N"]) < int(now.timestamp()):
            return None
        sent = frozenset(item.get("sent_events", {}).get("SS", ()))
        return RequestState(item["state"]["S"], _from_ms(int(item["claimed_at"]["N"])), sent)

    def take_over_event(self, claim: EventClaim, previous_owner: str, now: datetime, window: timedelta) -> bool:
        try:
            self.client.update_item(
                TableName=self.table, Key={"pk": {"S": claim.event_key}},
                UpdateExpression="SET #o = :owner, fingerprint = :fingerprint, expires_at = :expires",
                ConditionExpression="#o = :previous",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={
                    ":owner": {"S": claim.owner}, ":fingerprint": {"S": claim.fingerprint},
                    ":previous": {"S": previous_owner},
                    ":expires": {"N": str(int((now + window).timestamp()))},
                },
            )
            return True
        except self.client.exceptions.ConditionalCheckFailedException:
            return False


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)
