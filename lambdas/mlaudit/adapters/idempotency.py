"""Idempotency in DynamoDB: one item per request key and one per (sender, event_id).

Request items: IN_PROGRESS (claimed, being enqueued), COMPLETED (answer stored),
FAILED (released after an error, with the packs and events the queue confirmed; the
next attempt takes over with the same received_at so it resends identical packs).
Event items (`event#...`, see mlaudit.ingest.claims): the event's fingerprint and the
request that owns it; claimed with one conditional PutItem each, in parallel, the
claim already there returned with the refusal.
"""

from __future__ import annotations

import json
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from mlaudit.errors import Conflict
from mlaudit.ingest.claims import EventClaim, HeldClaim, RequestState
from mlaudit.ingest.request import IngestLimits
from mlaudit.ingest.service import Claim

_ANSWER = "response_z"  # request item attribute: the kept answer, deflated JSON (items before: `response`, text)
_UNCERTAIN = "u_"  # request item attribute: a pack sent without an answer -> its event ids
SUPERSEDED_KEPT = timedelta(days=15)  # as the ledger keeps packs: past SQS's longest retention
CLAIM_THREADS = 10  # event claims in flight at once: boto3's default connection pool (clients are thread-safe)
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL  # noqa: PLW0603 - one pool per process, made on first use
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(CLAIM_THREADS, thread_name_prefix="claims")
        return _POOL


class DynamoIdempotencyStore:
    def __init__(self, client: Any, table: str, ledger_table: str | None = None) -> None:
        self.client = client
        self.table = table
        self.ledger_table = ledger_table  # the writer's: where a pack sent without an answer is superseded

    def claim(self, key: str, fingerprint: str, now: datetime, limits: IngestLimits,
              received_at: datetime | None = None) -> Claim:
        expires = int((now + limits.idempotency_ttl).timestamp())
        arrived = received_at or now
        item = {
            "pk": {"S": key}, "state": {"S": "IN_PROGRESS"}, "fingerprint": {"S": fingerprint},
            "received_at": {"N": str(_ms(arrived))}, "claimed_at": {"N": str(_ms(now))},
            "expires_at": {"N": str(expires)},
            # How long an attempt may run: others presume it dead after this (claims.settle_claims).
            "in_flight_ms": {"N": str(int(limits.in_flight.total_seconds() * 1000))},
        }
        try:
            self.client.put_item(
                TableName=self.table, Item=item,
                # An expired item may linger (TTL deletes lazily): treat it as absent.
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now.timestamp()))}},
            )
            return Claim("new", arrived)
        except self.client.exceptions.ConditionalCheckFailedException:
            pass
        existing = self.client.get_item(TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True)
        current = existing.get("Item")
        if current is None:  # deleted between our two calls: start again
            return self.claim(key, fingerprint, now, limits, received_at)
        if current["fingerprint"]["S"] != fingerprint:
            raise Conflict(
                "idempotency_conflict", "These event ids were already sent with different content; use new event ids.",
            )
        received_at = _from_ms(int(current["received_at"]["N"]))
        state = current["state"]["S"]
        if state == "COMPLETED":
            return Claim("replay", received_at, _answer(current))
        sent_packs = frozenset(current.get("sent_packs", {}).get("SS", ()))
        sent_events = frozenset(current.get("sent_events", {}).get("SS", ()))
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
        return Claim("new", received_at, sent_packs=sent_packs, sent_events=sent_events, uncertain=_uncertain(current))

    def complete(self, key: str, response: dict[str, Any], now: datetime, limits: IngestLimits) -> None:
        """The answer kept for a replay, deflated (`response_z`): DynamoDB bills a write by
        the item's size in 1 KB units, and a 100-event answer (its event ids) is ~2.3 KB as
        JSON, ~0.6 KB deflated: 1 write unit instead of 3, the same answer replayed."""
        self.client.update_item(
            TableName=self.table, Key={"pk": {"S": key}},
            UpdateExpression="SET #s = :done, #r = :response",
            ExpressionAttributeNames={"#s": "state", "#r": _ANSWER},
            ExpressionAttributeValues={
                ":done": {"S": "COMPLETED"},
                ":response": {"B": zlib.compress(json.dumps(response, separators=(",", ":")).encode(), 6)},
            },
        )

    def release(self, key: str, sent_packs: Any = (), sent_events: Any = (),
                uncertain: dict[str, list[str]] | None = None) -> None:
        """FAILED, adding what the queue confirmed to what earlier attempts had (string sets),
        and each pack sent without an answer with its events (`u_<pack id>`)."""
        values: dict[str, Any] = {":failed": {"S": "FAILED"}}
        added = []
        sets = []
        for position, (pack_id, event_ids) in enumerate(sorted((uncertain or {}).items())):
            values[f":u{position}"] = {"SS": sorted(set(event_ids))}
            sets.append(f"{_UNCERTAIN}{pack_id} = :u{position}")
        for name, ids in (("sent_packs", sorted(set(sent_packs))), ("sent_events", sorted(set(sent_events)))):
            if ids:  # DynamoDB has no empty sets
                values[f":{name}"] = {"SS": ids}
                added.append(f"{name} :{name}")
        self.client.update_item(
            TableName=self.table, Key={"pk": {"S": key}},
            UpdateExpression="SET " + ", ".join(["#s = :failed", *sets])
            + (" ADD " + ", ".join(added) if added else ""),
            ExpressionAttributeNames={"#s": "state"}, ExpressionAttributeValues=values,
        )

    def intend(self, key: str, packs: dict[str, list[str]]) -> None:
        values = {f":u{i}": {"SS": sorted(set(ids))} for i, ids in enumerate(packs.values())}
        self.client.update_item(
            TableName=self.table, Key={"pk": {"S": key}},
            UpdateExpression="SET " + ", ".join(f"{_UNCERTAIN}{pack_id} = :u{i}" for i, pack_id in enumerate(packs)),
            ExpressionAttributeValues=values,
        )

    # ---- per-event claims (mlaudit.ingest.claims.EventClaimStore)

    def insert_event_claims(
        self, claims: list[EventClaim], now: datetime, window: timedelta,
    ) -> dict[int, HeldClaim]:
        """One conditional PutItem per event (1 WCU; TransactWriteItems would cost 2, and
        BatchWriteItem has no conditions), CLAIM_THREADS at a time; a claim found comes
        back with the refusal (ReturnValuesOnConditionCheckFailure), with no read."""
        if len(claims) <= 1:
            found = [self._insert(claim, now, window) for claim in claims]
        else:
            found = list(_pool().map(lambda claim: self._insert(claim, now, window), claims))
        return {position: held for position, held in enumerate(found) if held is not None}

    def _insert(self, claim: EventClaim, now: datetime, window: timedelta) -> HeldClaim | None:
        try:
            self.client.put_item(
                TableName=self.table, Item=self._event_item(claim, now, window),
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now.timestamp()))}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return None
        except self.client.exceptions.ConditionalCheckFailedException as error:
            item = error.response.get("Item") or {}
        if "owner" not in item:  # gone since (TTL): try once more
            return self._insert(claim, now, window)
        return HeldClaim(item["fingerprint"]["S"], item["owner"]["S"])

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
        in_flight = timedelta(milliseconds=int(item["in_flight_ms"]["N"])) if "in_flight_ms" in item else None
        return RequestState(item["state"]["S"], _from_ms(int(item["claimed_at"]["N"])), sent, _uncertain(item),
                            in_flight)

    def supersede_pack(self, pack_id: str, now: datetime) -> bool:
        if self.ledger_table is None:
            raise RuntimeError("no ledger table: a pack sent without an answer cannot be superseded")
        try:
            self.client.put_item(
                TableName=self.ledger_table,
                Item={"pk": {"S": f"pack#{pack_id}"}, "superseded": {"BOOL": True}, "files": {"S": "{}"},
                      "claimed_at": {"N": str(_ms(now))},
                      "expires_at": {"N": str(int((now + SUPERSEDED_KEPT).timestamp()))}},
                ConditionExpression="attribute_not_exists(pk) OR superseded = :yes",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
            return True
        except self.client.exceptions.ConditionalCheckFailedException:
            return False

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


def _uncertain(item: dict[str, Any]) -> dict[str, str]:
    """Event id -> the pack it was sent in without an answer (`u_<pack id>` attributes)."""
    return {event_id: name.removeprefix(_UNCERTAIN) for name, value in item.items()
            if name.startswith(_UNCERTAIN) for event_id in value["SS"]}


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _answer(item: dict[str, Any]) -> dict[str, Any]:
    """A completed request's kept answer: deflated (`response_z`) or, written before, text."""
    if _ANSWER in item:
        return json.loads(zlib.decompress(item[_ANSWER]["B"]))
    return json.loads(item["response"]["S"])
