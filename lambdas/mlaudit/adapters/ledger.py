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
_FILES = "files#"  # an item per slot: the files the writer put in it, until they are in the log
SLOT_MINUTES = 10  # a day is 144 items (it was 1,440 items of a minute: `_legacy_minutes`)
# Read by every sweep with its slots: when the first sweep of slots ran (0: the table never
# held items of a minute, as a local stack's). Items of a minute (written before slots) are
# read besides for a horizon after it (`_legacy_minutes`).
SLOTS_SINCE = _FILES + "slots-since"
# Listed by a writer of minutes (before the upgrade) at most this long after that first
# sweep's `until`: the sweep's grace plus the old writer's longest run (900 s), rounded up.
_LEGACY_TAIL = timedelta(minutes=40)


class DynamoLedger:
    def __init__(self, client: Any, table: str, keep_for: timedelta = timedelta(days=15)) -> None:
        self.client = client
        self.table = table
        self.keep_for = keep_for  # past SQS's longest retention, a pack cannot come back
        self._legacy: dict[int, str] = {}  # listed at -> the minute item `expected` found it in

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

    # ---- files put and not yet logged (the recovery sweep's work list): an item per 10-minute
    # slot, its members "<listed at, ms> <object key>" (object keys hold no spaces). The set
    # holds a file from before its put until it is logged (the same run, unless that run
    # stopped or the log failed): at most the files of the runs listed in one slot. Worst
    # case, none logged for the whole slot: writer_max_concurrency (5) runs a batch window
    # (60 s) = 50 runs, each a file per (date, event type) it holds (18 types; two dates
    # across midnight: 36): 1,800 members of ~115 bytes, ~210 KB, under DynamoDB's 400 KB
    # (docs/deploy.md, "Upgrading"). Past it the ADD is refused: the writer fails those
    # messages and SQS brings them back, listed in a later slot.

    def expect(self, keys: list[str], at: datetime) -> None:
        """Before the files are put: list them, as listed `at`, until `settle`."""
        slot = _slot(at)
        retried(lambda: self.client.update_item(
            TableName=self.table, Key={"pk": {"S": _FILES + slot.isoformat()}},
            UpdateExpression="ADD #k :keys SET expires_at = :expires",
            ExpressionAttributeNames={"#k": "keys"},
            ExpressionAttributeValues={":keys": {"SS": _members(keys, at)},
                                       ":expires": {"N": str(int((slot + self.keep_for).timestamp()))}},
        ), final=self._final)

    def settle(self, keys: list[str], at: datetime) -> None:
        """Take files listed `at` off the list (logged, or never stored)."""
        item = self._legacy.get(_ms(at)) or _FILES + _slot(at).isoformat()
        retried(lambda: self.client.update_item(
            TableName=self.table, Key={"pk": {"S": item}},
            UpdateExpression="DELETE #k :keys", ExpressionAttributeNames={"#k": "keys"},
            ExpressionAttributeValues={":keys": {"SS": _members(keys, at)}},
        ), final=self._final)

    def expected(self, since: datetime, until: datetime) -> dict[datetime, list[str]]:
        """The files still listed, listed from `since` to `until`, by when: one key per
        10-minute slot read (a day is 145 keys, 2 calls), whatever the lake holds.

        Eventually consistent (half the read units: the sweep reads a day of slots every 5
        minutes, busy or idle). What it reads was listed at least the writer's timeout ago;
        a stale answer can only miss a file listed since or still show one settled since:
        the first is found by the next run (a file stays listed until it is logged, and the
        horizon is a day), the second is found logged and taken off (`mlaudit.recovery`).
        A pack's ledger entry (`get`) stays strongly consistent.

        Items of a minute, written before slots, are read besides while `since` is within
        `_LEGACY_TAIL` of the first sweep of slots (a horizon after the upgrade)."""
        slots = []
        slot = _slot(since)
        while slot <= until:
            slots.append(_FILES + slot.isoformat())
            slot += timedelta(minutes=SLOT_MINUTES)
        items = self._items([*slots, SLOTS_SINCE], consistent=False)
        first = self._slots_since(items.pop(SLOTS_SINCE, None), until)
        legacy = _legacy_minutes(since, min(until, first + _LEGACY_TAIL))
        if legacy:
            items.update(self._items(legacy, consistent=False))
        self._legacy = {}
        found: dict[datetime, list[str]] = {}
        for pk, item in items.items():
            for member in item.get("keys", {}).get("SS", ()):
                ms, _, key = member.partition(" ")
                listed_at = datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
                if since <= listed_at <= until:
                    found.setdefault(listed_at, []).append(key)
                    if pk in legacy:
                        self._legacy[_ms(listed_at)] = pk
        return {at: sorted(keys) for at, keys in sorted(found.items())}

    def _slots_since(self, item: dict[str, Any] | None, until: datetime) -> datetime:
        """When the first sweep of slots ran (its `until`), recorded by that sweep."""
        if item is None:
            try:
                retried(lambda: self.client.put_item(
                    TableName=self.table, Item={"pk": {"S": SLOTS_SINCE}, "at": {"N": str(_ms(until))}},
                    ConditionExpression="attribute_not_exists(pk)",
                ), final=self._final)
            except self.client.exceptions.ConditionalCheckFailedException:
                item = self._items([SLOTS_SINCE])[SLOTS_SINCE]  # recorded meanwhile: that one holds
            else:
                return until
        return datetime.fromtimestamp(int(item["at"]["N"]) / 1000, tz=UTC)

    def _final(self, error: Exception) -> bool:
        """Errors a retry cannot mend: a condition that does not hold, a request DynamoDB refuses."""
        response = getattr(error, "response", None)  # (a timeout on the answer has none)
        code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
        return code in ("ConditionalCheckFailedException", "ValidationException")


def _slot(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % SLOT_MINUTES, second=0, microsecond=0)


def _legacy_minutes(since: datetime, until: datetime) -> list[str]:
    """The items of a minute (before slots) from `since` to `until`, but those whose key a
    slot shares (minute 0, 10, ...: read as slots, and their members settle there)."""
    minutes = []
    minute = since.astimezone(UTC).replace(second=0, microsecond=0)
    while minute <= until:
        if minute.minute % SLOT_MINUTES:
            minutes.append(_FILES + minute.isoformat())
        minute += timedelta(minutes=1)
    return minutes


def _members(keys: list[str], at: datetime) -> list[str]:
    return sorted({f"{_ms(at)} {key}" for key in keys})


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)
