"""Writer: a batch of SQS messages -> one Parquet file per partition, exactly once.

Each message is a pack of canonical leaf records (see mlaudit.leaf) with a pack id.
Exactly-once rests on a ledger keyed by pack id: before a file is written, every
pack records which file holds its events for each partition; a redelivered pack
whose file exists is acknowledged without writing again. File names derive from
the packs they hold, so a retry never overwrites other data.

A message that cannot be parsed or encoded fails alone (partial batch failure):
SQS redelivers it until maxReceiveCount sends it to the DLQ, while the rest of
its batch lands.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from mlaudit.events import EventType
from mlaudit.layout import partition_prefix
from mlaudit.leaf import LeafError, leaf_hash_bytes, parse_leaf_line
from mlaudit.parquet import to_parquet_bytes, to_table

Partition = tuple[str, str]  # (event_date, event_type)
_EVENT_TYPES = frozenset(t.value for t in EventType)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@dataclass(frozen=True)
class Message:
    message_id: str
    pack_id: str | None
    body: str


@dataclass
class LedgerEntry:
    files: dict[str, str]  # "date/type" -> object key
    claimed_at: datetime


class Ledger(Protocol):
    def get(self, pack_ids: list[str]) -> dict[str, LedgerEntry]: ...
    def put(self, entries: dict[str, LedgerEntry]) -> None: ...


class ObjectStore(Protocol):
    def exists(self, key: str) -> bool: ...
    def put(self, key: str, body: bytes) -> None: ...


class IntegritySink(Protocol):
    """Receives every file the writer stores (the integrity log). Must be idempotent per key."""

    def file_written(
        self, key: str, body: bytes, leaf_hashes: list[bytes], first_event_id: str, last_event_id: str,
    ) -> None: ...


@dataclass
class _Part:
    """The events of one pack that fall in one partition."""

    message: Message
    records: list[dict[str, Any]] = field(default_factory=list)
    leaves: list[bytes] = field(default_factory=list)


@dataclass
class WriteReport:
    failed_message_ids: list[str]
    files: dict[str, int]  # object key -> event count
    skipped_parts: int  # already stored by an earlier delivery


def partition_name(partition: Partition) -> str:
    return f"{partition[0]}/{partition[1]}"


class WriterService:
    def __init__(
        self, *, objects: ObjectStore, ledger: Ledger, integrity: IntegritySink | None = None,
        in_flight: timedelta = timedelta(minutes=15),
        clock: Any = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.objects = objects
        self.ledger = ledger
        self.integrity = integrity
        self.in_flight = in_flight
        self.clock = clock

    def process(self, messages: list[Message]) -> WriteReport:
        failed: set[str] = set()
        parts: dict[Partition, list[_Part]] = defaultdict(list)
        for message in messages:
            try:
                for partition, part in _split(message).items():
                    parts[partition].append(part)
            except LeafError:
                failed.add(message.message_id)

        known = self.ledger.get(sorted({m.pack_id for m in messages if m.pack_id and m.message_id not in failed}))
        now = self.clock()
        skipped = 0
        todo: dict[Partition, list[_Part]] = {}
        for partition, partition_parts in parts.items():
            remaining = []
            for part in partition_parts:
                entry = known.get(part.message.pack_id or "")
                stored_in = entry.files.get(partition_name(partition)) if entry else None
                if stored_in and self.objects.exists(stored_in):
                    skipped += 1
                elif stored_in and now - entry.claimed_at < self.in_flight:
                    failed.add(part.message.message_id)  # another delivery may be writing it now
                else:
                    remaining.append(part)
            if remaining:
                todo[partition] = remaining

        encoded = {p: self._encode(p, ps, failed) for p, ps in todo.items()}
        encoded = {p: e for p, e in encoded.items() if e is not None}

        claims: dict[str, LedgerEntry] = {}
        for partition, (key, _, partition_parts) in encoded.items():
            for part in partition_parts:
                pack_id = part.message.pack_id
                if pack_id is None:
                    continue
                entry = claims.get(pack_id) or LedgerEntry(dict(known[pack_id].files) if pack_id in known else {}, now)
                entry.files[partition_name(partition)] = key
                claims[pack_id] = entry
        self.ledger.put(claims)

        files = {}
        for partition, (key, body, partition_parts) in encoded.items():
            try:
                self.objects.put(key, body)
                if self.integrity is not None:
                    leaves = [leaf for part in partition_parts for leaf in part.leaves]
                    first, last = partition_parts[0].records[0], partition_parts[-1].records[-1]
                    self.integrity.file_written(key, body, leaves, first["event_id"], last["event_id"])
            except Exception:  # noqa: BLE001 - the packs are retried; other partitions still land
                failed.update(part.message.message_id for part in partition_parts)
                continue
            files[key] = sum(len(part.records) for part in partition_parts)
        return WriteReport(sorted(failed, key=_order(messages)), files, skipped)

    def _encode(
        self, partition: Partition, parts: list[_Part], failed: set[str],
    ) -> tuple[str, bytes, list[_Part]] | None:
        """Parquet bytes for the parts; a part whose values do not fit the schema fails alone."""
        parts = [p for p in parts if p.message.message_id not in failed]
        try:
            table = to_table([r for p in parts for r in p.records])
        except (ValueError, TypeError, OverflowError, ArithmeticError):
            good = []
            for part in parts:
                try:
                    to_table(part.records)
                    good.append(part)
                except (ValueError, TypeError, OverflowError, ArithmeticError):
                    failed.add(part.message.message_id)
            if not good:
                return None
            parts = good
            table = to_table([r for p in parts for r in p.records])
        return file_key(partition, parts), to_parquet_bytes(table), parts


def file_key(partition: Partition, parts: list[_Part]) -> str:
    """Named after the packs it holds: a different batch never reuses a name."""
    digest = hashlib.sha256()
    for pack_id in sorted(p.message.pack_id or p.message.message_id for p in parts):
        digest.update(pack_id.encode() + b"\n")
    return f"{partition_prefix(*partition)}{digest.hexdigest()[:32]}.parquet"


def _split(message: Message) -> dict[Partition, _Part]:
    if not message.body.isascii():
        raise LeafError("message body is not ASCII")
    by_partition: dict[Partition, _Part] = {}
    for raw in message.body.encode("ascii").split(b"\n"):
        record = parse_leaf_line(raw)
        if record["event_type"] not in _EVENT_TYPES or not _DATE.match(str(record["received_at"])):
            raise LeafError("event_type or received_at outside the contract")
        partition = (record["received_at"][:10], record["event_type"])
        part = by_partition.get(partition)
        if part is None:
            part = by_partition[partition] = _Part(message)
        part.records.append(record)
        part.leaves.append(leaf_hash_bytes(raw))
    for part in by_partition.values():
        for record, leaf in zip(part.records, part.leaves, strict=True):
            record["leaf_hash"] = leaf.hex()
    return by_partition


def _order(messages: list[Message]) -> Any:
    position = {m.message_id: i for i, m in enumerate(messages)}
    return lambda message_id: position.get(message_id, 0)
