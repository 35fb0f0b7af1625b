"""The writer's pack ledger in DynamoDB: pack id -> files holding its events; and the files
the writer put and has yet to see in the integrity log (`expect` / `settle` / `expected`).

Every call is retried on a passing failure (`mlaudit.retry`); a claim whose write took
effect before its answer was lost is recognised on the retry as this writer's own."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from mlaudit.retry import retried
from mlaudit.writer import LedgerEntry

_GET_CHUNK = 100  # BatchGetItem limit
_FILES = "files#"  # an item per minute: the files the writer put in it, until they are in the log


class DynamoLedger:
    def __init__(self, client: Any, table: str, keep_for: timedelta = timedelta(days=15)) -> None:
        self.client = client
        self.table = table
        self.keep_for = keep_for  # past SQS's longest retention, a pack cannot come back

    def get(self, pack_ids: list[str]) -> dict[str, LedgerEntry]:
        return {key.removeprefix("pack#"): LedgerEntry(
            files=json.loads(item["files"]["S"]),
            claimed_at=datetime.fromtimestamp(int(item["claimed_at"]["N"]) / 1000, tz=UTC),
            superseded=item.get("superseded", {}).get("BOOL", False),
        ) for key, item in self._items([f"pack#{p}" for p in pack_ids]).items()}

    def _items(self, keys: list[str], *, consistent: bool = True) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), _GET_CHUNK):
            request = {self.table: {"Keys": [{"pk": {"S": k}} for k in keys[start:start + _GET_CHUNK]],
                                    "ConsistentRead": consistent}}
            while request:
                answer = retried(lambda request=request: self.client.batch_get_item(RequestItems=request),
                                 final=self._final)
                for item in answer["Responses"].get(self.table, []):
                    found[item["pk"]["S"]] = item
                request = answer.get("UnprocessedKeys") or {}
        return found

    def claim(self, entries: dict[str, LedgerEntry], seen: dict[str, datetime | None]) -> set[str]:
        """One conditional PutItem per pack (BatchWriteItem has no conditions). A pack whose
        put keeps failing is not won (its message is retried later), as one another
        delivery claimed first."""
        won = set()
        for pack_id, entry in entries.items():
            before = seen.get(pack_id)
            condition: dict[str, Any] = (
                {"ConditionExpression": "attribute_not_exists(pk)"} if before is None else {
                    "ConditionExpression": "claimed_at = :seen",
                    "ExpressionAttributeValues": {":seen": {"N": str(_ms(before))}},
                }
            )
            item = {
                "pk": {"S": f"pack#{pack_id}"},
                "files": {"S": json.dumps(entry.files, sort_keys=True)},
                "claimed_at": {"N": str(_ms(entry.claimed_at))},
                "expires_at": {"N": str(int((entry.claimed_at + self.keep_for).timestamp()))},
                "claim": {"S": uuid.uuid4().hex},  # this attempt's: its own write, if its answer was lost
            }
            try:
                retried(lambda item=item, condition=condition: self.client.put_item(
                    TableName=self.table, Item=item, ReturnValuesOnConditionCheckFailure="ALL_OLD", **condition,
                ), final=self._final)
            except self.client.exceptions.ConditionalCheckFailedException as error:
                if (error.response.get("Item") or {}).get("claim") != item["claim"]:
                    continue  # another delivery's claim (not this one's, made by an attempt whose answer was lost)
            except Exception:  # noqa: BLE001,S112 - still failing after the retries: this pack another time
                continue
            won.add(pack_id)
        return won

    # ---- files put and not yet logged (the recovery sweep's work list): an item per minute,
    # its members "<listed at, ms> <object key>" (object keys hold no spaces)

    def expect(self, keys: list[str], at: datetime) -> None:
        """Before the files are put: list them, as listed `at`, until `settle`."""
        minute = _minute(at)
        retried(lambda: self.client.update_item(
            TableName=self.table, Key={"pk": {"S": _FILES + minute.isoformat()}},
            UpdateExpression="ADD #k :keys SET expires_at = :expires",
            ExpressionAttributeNames={"#k": "keys"},
            ExpressionAttributeValues={":keys": {"SS": _members(keys, at)},
                                       ":expires": {"N": str(int((minute + self.keep_for).timestamp()))}},
        ), final=self._final)

    def settle(self, keys: list[str], at: datetime) -> None:
        """Take files listed `at` off the list (logged, or never stored)."""
        retried(lambda: self.client.update_item(
            TableName=self.table, Key={"pk": {"S": _FILES + _minute(at).isoformat()}},
            UpdateExpression="DELETE #k :keys", ExpressionAttributeNames={"#k": "keys"},
            ExpressionAttributeValues={":keys": {"SS": _members(keys, at)}},
        ), final=self._final)

    def expected(self, since: datetime, until: datetime) -> dict[datetime, list[str]]:
        """The files still listed, listed from `since` to `until`, by when: one key per
        minute read (a day is 1,440 keys, 15 calls), whatever the lake holds.

        Eventually consistent (half the read units: the sweep reads a day of minutes every 5
        minutes, busy or idle). What it reads was listed at least the writer's timeout ago;
        a stale answer can only miss a file listed since or still show one settled since:
        the first is found by the next run (a file stays listed until it is logged, and the
        horizon is a day), the second is found logged and taken off (`mlaudit.recovery`).
        A pack's ledger entry (`get`) stays strongly consistent."""
        minutes = []
        minute = _minute(since)
        while minute <= until:
            minutes.append(minute)
            minute += timedelta(minutes=1)
        found: dict[datetime, list[str]] = {}
        for item in self._items([_FILES + m.isoformat() for m in minutes], consistent=False).values():
            for member in item.get("keys", {}).get("SS", ()):
                ms, _, key = member.partition(" ")
                listed_at = datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
                if since <= listed_at <= until:
                    found.setdefault(listed_at, []).append(key)
        return {at: sorted(keys) for at, keys in sorted(found.items())}

    def _final(self, error: Exception) -> bool:
        """Errors a retry cannot mend: a condition that does not hold, a request DynamoDB refuses."""
        response = getattr(error, "response", None)  # (a timeout on the answer has none)
        code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
        return code in ("ConditionalCheckFailedException", "ValidationException")


def _minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _members(keys: list[str], at: datetime) -> list[str]:
    return sorted({f"{_ms(at)} {key}" for key in keys})


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)
