"""The ports in memory, with the semantics of their AWS adapters: what unit tests and
benchmarks run on (benchmarks measure our code, not a network or moto). One class per
port; nothing in a deployed function builds them."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from mlaudit.adapters.queue import QueueUnavailable
from mlaudit.errors import Conflict
from mlaudit.ingest.claims import EventClaim, HeldClaim, RequestState
from mlaudit.ingest.request import IngestLimits
from mlaudit.ingest.service import Claim
from mlaudit.integrity.primitives.store import Version
from mlaudit.pack import Pack
from mlaudit.principal import Principal
from mlaudit.privacy import SubjectKey, new_subject_key
from mlaudit.writer import LedgerEntry


class MemoryIdempotencyStore:
    """`ingest.service.IdempotencyStore`, as adapters.idempotency keeps it in DynamoDB:
    a completed request replays its answer, a released one is taken over with its first
    received_at, other content under the same key is a conflict."""

    def __init__(self, ledger: MemoryLedger | None = None) -> None:
        self.ledger = ledger  # the writer's, where a pack sent without an answer is superseded
        self.items: dict[str, dict[str, Any]] = {}
        self.events: dict[str, tuple[EventClaim, datetime]] = {}
        self.limits: IngestLimits | None = None  # the last claim's, for tests to see

    def claim(self, key: str, fingerprint: str, now: datetime, limits: IngestLimits,
              received_at: datetime | None = None) -> Claim:
        self.limits = limits
        item = self.items.get(key)
        if item is None:
            self.items[key] = {"state": "IN_PROGRESS", "fingerprint": fingerprint, "received_at": received_at or now,
                               "claimed_at": now, "in_flight": limits.in_flight}
            return Claim("new", received_at or now)
        if item["fingerprint"] != fingerprint:
            raise Conflict("idempotency_conflict",
                           "These event ids were already sent with different content; use new event ids.")
        if item["state"] == "COMPLETED":
            return Claim("replay", item["received_at"], item["response"])
        item["state"] = "IN_PROGRESS"
        item["claimed_at"] = now
        return Claim("new", item["received_at"], sent_packs=frozenset(item.get("sent_packs", ())),
                     sent_events=frozenset(item.get("sent_events", ())), uncertain=dict(item.get("uncertain", {})))

    def complete(self, key: str, response: dict[str, Any], now: datetime, limits: IngestLimits) -> None:
        # Stored as JSON, as DynamoDB stores it: a replay is a copy, not the same object.
        self.items[key].update(state="COMPLETED", response=json.loads(json.dumps(response)))

    def release(self, key: str, sent_packs: Any = (), sent_events: Any = (),
                uncertain: dict[str, list[str]] | None = None) -> None:
        item = self.items[key]
        item.setdefault("uncertain", {}).update({e: p for p, ids in (uncertain or {}).items() for e in ids})
        item.update(state="FAILED", sent_packs=item.get("sent_packs", frozenset()) | set(sent_packs),
                    sent_events=item.get("sent_events", frozenset()) | set(sent_events))

    def intend(self, key: str, packs: dict[str, list[str]]) -> None:
        self.items[key].setdefault("uncertain", {}).update({e: p for p, ids in packs.items() for e in ids})

    # per-event claims (mlaudit.ingest.claims.EventClaimStore); the window is not kept
    def insert_event_claims(self, claims: list[EventClaim], now: datetime, window: timedelta) -> dict[int, HeldClaim]:
        held = {}
        for position, claim in enumerate(claims):
            found = self.events.get(claim.event_key)
            if found is None or found[1] < now:
                self.events[claim.event_key] = (claim, now + window)
            else:
                held[position] = HeldClaim(found[0].fingerprint, found[0].owner)
        return held

    def request_state(self, key: str, now: datetime) -> RequestState | None:
        item = self.items.get(key)
        if item is None:
            return None
        return RequestState(item["state"], item.get("claimed_at", item["received_at"]),
                            frozenset(item.get("sent_events", ())), dict(item.get("uncertain", {})),
                            item.get("in_flight"))

    def supersede_pack(self, pack_id: str, now: datetime) -> bool:
        if self.ledger is None:
            raise RuntimeError("no ledger: a pack sent without an answer cannot be superseded")
        entry = self.ledger.entries.get(pack_id)
        if entry is not None and not entry.superseded:
            return False
        self.ledger.entries[pack_id] = LedgerEntry({}, now, superseded=True)
        return True

    def take_over_event(self, claim: EventClaim, previous_owner: str, now: datetime, window: timedelta) -> bool:
        if self.events[claim.event_key][0].owner != previous_owner:
            return False
        self.events[claim.event_key] = (claim, now + window)
        return True


class MemoryQueue:
    """`ingest.service.Queue`; `fail_after` packs, it raises as an unreachable queue would."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.packs: list[Pack] = []
        self.fail_after = fail_after

    def send_packs(self, packs: list[Pack]) -> None:
        sent = []
        for pack in packs:
            if self.fail_after is not None and len(self.packs) >= self.fail_after:
                raise QueueUnavailable("queue unavailable", sent)
            self.packs.append(pack)
            sent.append(pack.pack_id)

    def event_ids(self) -> list[str]:
        """Every queued event's id, in order."""
        ids = []
        for pack in self.packs:
            header, *lines = pack.body.split("\n")
            common = json.loads(header)["common"]
            ids += [common.get("event_id") or json.loads(line)["event_id"] for line in lines]
        return ids


class MemorySelfAudit:
    """`self_audit.SelfAudit`: keeps each event as (principal, event, subject_pseudonym)."""

    def __init__(self) -> None:
        self.events: list[tuple[Principal, dict[str, Any], str | None]] = []

    def record(
        self, principal: Principal, events: list[dict[str, Any]], subject_pseudonym: str | None = None,
    ) -> list[str]:
        ids = []
        for event in events:
            self.events.append((principal, event, subject_pseudonym))
            ids.append(f"audit-{len(self.events)}")
        return ids


class MemoryLedger:
    """`writer.Ledger`."""

    def __init__(self) -> None:
        self.entries: dict[str, LedgerEntry] = {}
        self.files: dict[datetime, set[str]] = {}  # listed at (ms) -> files put and not yet logged

    def expect(self, keys: list[str], at: datetime) -> None:
        self.files.setdefault(_ms(at), set()).update(keys)

    def settle(self, keys: list[str], at: datetime) -> None:
        self.files.get(_ms(at), set()).difference_update(keys)

    def expected(self, since: datetime, until: datetime) -> dict[datetime, list[str]]:
        return {at: sorted(keys) for at, keys in sorted(self.files.items()) if since <= at <= until and keys}

    def get(self, pack_ids: list[str]) -> dict[str, LedgerEntry]:
        return {p: self.entries[p] for p in pack_ids if p in self.entries}

    def claim(self, entries: dict[str, LedgerEntry], seen: dict[str, datetime | None]) -> set[str]:
        won = set()
        for pack_id, entry in entries.items():
            current = self.entries.get(pack_id)
            if (current.claimed_at if current is not None else None) == seen.get(pack_id):
                self.entries[pack_id] = entry
                won.add(pack_id)
        return won


def _ms(moment: datetime) -> datetime:
    """As the DynamoDB ledger keeps a time: UTC, to the millisecond."""
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class MemorySubjectKeys:
    """`privacy.KeyStore`, with the semantics of the DynamoDB adapter; counts lookups."""

    def __init__(self) -> None:
        self.keys: dict[str, SubjectKey] = {}
        self.lookups = 0

    def find(self, subject_ref: str) -> SubjectKey | None:
        self.lookups += 1
        return self.keys.get(subject_ref)

    def find_or_create(self, subject_ref: str) -> SubjectKey:
        self.lookups += 1
        return self.keys.setdefault(subject_ref, new_subject_key(os.urandom(32)))

    def destroy(self, subject_ref: str, key: SubjectKey) -> bool:
        if self.keys.get(subject_ref) is not key:
            return False
        del self.keys[subject_ref]
        return True


class MemoryBucket:
    """The audit bucket (`integrity.primitives.store.Store`, `writer.ObjectStore`): a thread-safe dict
    with S3's semantics for those calls."""

    def __init__(self, objects: dict[str, bytes] | None = None) -> None:
        self.objects: dict[str, bytes] = dict(objects or {})
        self.times: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def exists(self, key: str) -> bool:
        return key in self.objects

    def modified(self, key: str) -> datetime | None:
        return self.times.get(key) if key in self.objects else None

    def create(self, key: str, body: bytes) -> bool:
        with self._lock:
            if key in self.objects:
                return False
            self.objects[key] = bytes(body)
            self.times[key] = datetime.now(UTC)
            return True

    def put(self, key: str, body: bytes) -> None:
        """Unconditional write (the writer's Parquet files; tests use it to tamper)."""
        with self._lock:
            self.objects[key] = bytes(body)
            self.times[key] = datetime.now(UTC)

    def list(self, prefix: str, start_after: str = "") -> Iterator[str]:
        return iter(sorted(k for k in list(self.objects) if k.startswith(prefix) and k > start_after))

    def children(self, prefix: str) -> Iterator[str]:
        found = {prefix + k[len(prefix):].split("/", 1)[0] + "/" for k in list(self.objects)
                 if k.startswith(prefix) and "/" in k[len(prefix):]}
        return iter(sorted(found))

    def versions(self, prefix: str, after: str = "") -> Iterator[Version]:
        """One version per object (this store keeps no history)."""
        return (Version(key, "null", False) for key in self.list(prefix, after))

    def get_version(self, key: str, version_id: str) -> bytes | None:
        return self.get(key) if version_id == "null" else None

    def listing(self, prefix: str, start_after: str = "") -> Iterator[tuple[str, int]]:
        return iter([(k, len(self.objects[k])) for k in self.list(prefix, start_after)])

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.objects[key][start:end]


class MemoryLanes:
    """Lane watermarks (mlaudit.ingest.lanes.LaneStore): key -> (position, request, expires)."""

    def __init__(self) -> None:
        self.lanes: dict[str, tuple[int, str, datetime]] = {}
        self._lock = threading.Lock()

    def advance_lane(self, key: str, position: int, request: str, now: datetime, window: timedelta) -> bool:
        with self._lock:
            held = self.lanes.get(key)
            if held is not None and held[2] >= now and (held[0] > position or (
                    held[0] == position and held[1] != request)):
                return False
            self.lanes[key] = (position, request, now + window)
            return True
