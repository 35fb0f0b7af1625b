"""Writer: a batch of SQS messages -> one Parquet file per partition, exactly once.

Each message is a pack of leaf records with their leaf hashes (see mlaudit.pack).
Exactly-once rests on a ledger keyed by pack id: before a file is written, every
pack records which file holds its events for each partition; a redelivered pack
whose file exists is acknowledged without writing again. File names derive from
the packs they hold, so a retry never overwrites other data.

A message that cannot be parsed or encoded, or whose pack id is not its body's, fails
alone (partial batch failure): SQS redelivers it until maxReceiveCount sends it to the
DLQ, while the rest of its batch lands.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from mlaudit.layout import partition_prefix
from mlaudit.pack import PackError, leaf_digests, pack_id_of, parse_pack
from mlaudit.parquet import to_parquet_bytes
from mlaudit.retry import retried

Partition = tuple[str, str]  # (event_date, event_type)


@dataclass(frozen=True)
class Message:
    message_id: str
    pack_id: str | None
    body: str
    seal: str | None = None  # ingest's seal of the pack (the pack_seal message attribute)


@dataclass
class LedgerEntry:
    files: dict[str, str]  # "date/type" -> object key
    claimed_at: datetime
    superseded: bool = False  # ingest resent its events in other packs: drop it


class Ledger(Protocol):
    def get(self, pack_ids: list[str]) -> dict[str, LedgerEntry]: ...

    def claim(self, entries: dict[str, LedgerEntry], seen: dict[str, datetime | None]) -> set[str]:
        """Write each entry if its pack's entry is still as `seen` (its claimed_at; None:
        absent); the pack ids written. Two deliveries of one pack (a copy in another
        batch, run at the same time) cannot both win."""

    # The files put and not yet in the integrity log, by when they were listed (to the ms):
    # what the recovery sweep (`mlaudit.recovery`) adopts if the writer never logs them.
    def expect(self, keys: list[str], at: datetime) -> None: ...
    def settle(self, keys: list[str], at: datetime) -> None: ...
    def expected(self, since: datetime, until: datetime) -> dict[datetime, list[str]]: ...


class ObjectStore(Protocol):
    """The audit bucket as the writer sees it (`adapters.bucket.S3Bucket`)."""

    def exists(self, key: str) -> bool: ...
    def get(self, key: str) -> bytes | None: ...
    def put(self, key: str, body: bytes) -> None:
        """Store the bytes, once; the same bytes again are a retry, other bytes an error."""


class IntegritySink(Protocol):
    """Receives every file the writer stores (the integrity log). Must be idempotent per key."""

    def file_written(
        self, key: str, body: bytes, leaf_hashes: list[bytes], first_event_id: str, last_event_id: str,
    ) -> Any: ...

    def file_stored(self, key: str, body: bytes) -> Any:
        """Record a file an earlier delivery stored, unless that delivery recorded it."""

    def seal_file(self, key: str, parts: list[Any], leaf_hashes: list[bytes]) -> Any:
        """Before the file is stored: ingest's seals over its rows (`integrity.services.seals`)."""


class SealChecker(Protocol):
    """Ingest's seal on each pack (`integrity.services.seals.SealChecker`)."""

    def check_pack(self, attribute: str | None, pack_id: str | None, leaves: list[bytes]) -> Any: ...


class SubjectIndexSink(Protocol):
    """Where the pseudonyms of every stored file go (`mlaudit.subject_index.SubjectIndex`),
    so subject access reads only the files that hold a subject."""

    def add(self, files: Mapping[str, Iterable[str]]) -> Any:
        """Index these files (key -> pseudonyms); idempotent."""

    def maintain(self) -> Any:
        """Merge what is due (rate-limited by the index itself)."""


@dataclass
class _Part:
    """The events of one pack that fall in one partition, in line order."""

    message: Message
    table: pa.Table  # pack.line_schema()
    leaves: list[bytes]  # the table's leaf_hash column, as digests
    pack_leaves: list[bytes] | None = None  # the whole pack's, when this part is some of its rows
    positions: list[int] | None = None  # with pack_leaves: these rows' places in the pack
    seal: Any = None  # the pack's checked seal (`integrity.services.seals.Seal`)

    @property
    def count(self) -> int:
        return self.table.num_rows


@dataclass
class WriteReport:
    failed_message_ids: list[str]
    files: dict[str, int]  # object key -> event count
    skipped_parts: int  # already stored by an earlier delivery
    index_merges: list[str] = field(default_factory=list)  # subject index objects merged this batch
    index_error: str | None = None  # why maintaining the subject index failed (retried next batch)


def partition_name(partition: Partition) -> str:
    return f"{partition[0]}/{partition[1]}"


class WriterService:
    def __init__(
        self, *, objects: ObjectStore, ledger: Ledger, integrity: IntegritySink | None = None,
        in_flight: timedelta = timedelta(minutes=15),
        clock: Any = lambda: datetime.now(UTC),
        seals: SealChecker | None = None,
        subject_index: SubjectIndexSink | None = None,
    ) -> None:
        """``seals``: check ingest's seal on every pack and store it with the file (deployments
        always give it: a pack without a valid seal is never written)."""
        self.objects = objects
        self.ledger = ledger
        self.integrity = integrity
        self.subject_index = subject_index
        self.in_flight = in_flight
        self.clock = clock
        # After how long no invocation that listed a file still runs (None: in_flight, the
        # writer's timeout, which Lambda enforces; the local stack, which enforces none, sets it).
        self.recover_after: timedelta | None = None
        self.seals = seals

    def process(self, messages: list[Message]) -> WriteReport:
        failed: set[str] = set()  # message ids SQS must deliver again
        firsts, copies = _first_copies(bound_to_content(messages, failed))
        parts = _parse(firsts, failed)
        if self.seals is not None:
            parts = self._sealed(parts, failed)
        known = self.ledger.get(sorted({m.pack_id for m in firsts if m.pack_id and m.message_id not in failed}))
        todo, stored = self._not_yet_stored(parts, known, failed)
        self._ensure_recorded(stored, failed)
        encoded = self._claimed(todo, known, failed)
        files = self._store(encoded, failed)
        skipped = sum(len(ids) for ids in stored.values())
        # A second copy of a pack in the same batch (SQS delivers at least once; a client
        # retry resends the same pack) is stored by its first copy, or retried with it.
        failed.update(copy.message_id for copy, first in copies if first.message_id in failed)
        report = WriteReport(sorted(failed, key=_order(messages)), files, skipped + len(copies))
        self._maintain_index(report)
        return report

    def _maintain_index(self, report: WriteReport) -> None:
        """Merge the subject index's closed hours and days. Never fails the batch: what is
        not merged now is merged by a later one (lookups read the unmerged objects meanwhile)."""
        if self.subject_index is None:
            return
        try:
            report.index_merges = list(self.subject_index.maintain() or [])
        except Exception as error:  # noqa: BLE001 - reported and retried with the next batch
            report.index_error = f"{type(error).__name__}: {error}"

    def _index(self, files: dict[str, list[str]], message_ids: Iterable[str], failed: set[str]) -> None:
        """One index object for the stored files' pseudonyms; if it cannot be written, the
        messages come back and index their (stored) files on the way out."""
        if self.subject_index is None or not files:
            return
        try:
            self.subject_index.add(files)
        except Exception:  # noqa: BLE001 - redelivered; the stored path indexes them
            failed.update(message_ids)

    def recover(self) -> Any:
        """The recovery sweep over the files this writer listed (`mlaudit.recovery`), run on a
        schedule by the writer itself: only the writer's role signs log entries. A file is
        taken once its listing is older than `recover_after` (the writer's timeout)."""
        from mlaudit.recovery import RecoverySweep, SweepReport  # noqa: PLC0415

        if self.integrity is None:
            return SweepReport()
        return RecoverySweep(objects=self.objects, ledger=self.ledger, integrity=self.integrity,
                             grace=self.recover_after or self.in_flight, clock=self.clock).run()

    def _sealed(self, parts: dict[Partition, list[_Part]], failed: set[str]) -> dict[Partition, list[_Part]]:
        """Only packs whose seal covers exactly their events (SealError: the message fails
        alone, and in time reaches the DLQ: the writer never stores what ingest did not seal)."""
        seals: dict[str, Any] = {}
        for partition_parts in parts.values():
            for part in partition_parts:
                message = part.message
                if message.message_id not in seals and message.message_id not in failed:
                    try:
                        assert self.seals is not None
                        seals[message.message_id] = self.seals.check_pack(
                            message.seal, message.pack_id, part.pack_leaves or part.leaves)
                    except ValueError:
                        failed.add(message.message_id)
                part.seal = seals.get(message.message_id)
        return {partition: kept for partition, partition_parts in parts.items()
                if (kept := [p for p in partition_parts if p.message.message_id not in failed])}

    def _not_yet_stored(
        self, parts: dict[Partition, list[_Part]], known: dict[str, LedgerEntry], failed: set[str],
    ) -> tuple[dict[Partition, list[_Part]], dict[str, list[str]]]:
        """Drop parts an earlier delivery stored (returned: file key -> message ids);
        fail parts another delivery may be writing."""
        now = self.clock()
        stored: dict[str, list[str]] = {}
        todo: dict[Partition, list[_Part]] = {}
        for partition, partition_parts in parts.items():
            for part in partition_parts:
                entry = known.get(part.message.pack_id or "")
                stored_in = entry.files.get(partition_name(partition)) if entry else None
                if entry and entry.superseded:
                    stored.setdefault("", []).append(part.message.message_id)  # acknowledged, never written
                elif stored_in and (there := self._exists(stored_in)) is None:
                    failed.add(part.message.message_id)  # S3 did not say: another time
                elif stored_in and there:
                    stored.setdefault(stored_in, []).append(part.message.message_id)
                elif stored_in and entry and now - entry.claimed_at < self.in_flight:
                    failed.add(part.message.message_id)
                else:
                    todo.setdefault(partition, []).append(part)
        return todo, stored

    def _exists(self, key: str) -> bool | None:
        try:
            return retried(lambda: self.objects.exists(key))
        except Exception:  # noqa: BLE001 - only this part's message is retried
            return None

    def _ensure_recorded(self, stored: dict[str, list[str]], failed: set[str]) -> None:
        """An earlier delivery may have stored a file and stopped before the integrity log
        recorded it (or the subject index named it): the file goes on the recovery sweep's
        list (again), which logs it once no writer still works on it (`mlaudit.recovery`: only
        one caller appends a file), and is indexed again. The messages are acknowledged: their
        events are stored, and a message whose events are stored never goes to the DLQ for
        the log's sake. The sweep takes a logged file off at once."""
        keys = [key for key in stored if key]  # ("": superseded packs, no file)
        if not keys:
            return
        if self.integrity is not None and not self._expect(keys):
            for key in keys:
                failed.update(stored[key])
        if self.subject_index is None:
            return
        indexed: dict[str, list[str]] = {}
        for key in keys:
            try:
                body = self.objects.get(key)
                if body is None:
                    raise LookupError(f"{key} is gone")  # the ledger said stored: try again later
                indexed[key] = file_pseudonyms(body)
            except Exception:  # noqa: BLE001 - retried with the messages; others go on
                failed.update(stored[key])
        self._index(indexed, (m for key in indexed for m in stored[key]), failed)

    def _expect(self, keys: list[str]) -> bool:
        """Put files on the recovery sweep's list (`Ledger.expect`); False if that failed."""
        try:
            self.ledger.expect(keys, self.clock())
            return True
        except Exception:  # noqa: BLE001 - the caller fails what it cannot leave to the sweep
            return False

    def _claimed(
        self, todo: dict[Partition, list[_Part]], known: dict[str, LedgerEntry], failed: set[str],
    ) -> dict[Partition, tuple[str, bytes, list[_Part]]]:
        """The files to write, every pack in them claimed in the ledger by this delivery.
        A pack another delivery claimed first fails here (SQS brings it back; by then the
        ledger says where it is); the files are then made again without it."""
        seen: dict[str, datetime | None] = {p: e.claimed_at for p, e in known.items()}
        for _ in range(3):
            encoded = {p: e for p, ps in todo.items() if (e := self._encode(p, ps, failed)) is not None}
            claims = self._claims(encoded, known)
            won = self.ledger.claim(claims, {pack_id: seen.get(pack_id) for pack_id in claims})
            lost = claims.keys() - won
            if not lost:
                return encoded
            for partition_parts in todo.values():
                failed.update(p.message.message_id for p in partition_parts if p.message.pack_id in lost)
            seen.update({pack_id: claims[pack_id].claimed_at for pack_id in won})
            known.update({pack_id: claims[pack_id] for pack_id in won})
        for partition_parts in todo.values():  # still racing: all of it another time
            failed.update(p.message.message_id for p in partition_parts)
        return {}

    def _claims(
        self, encoded: dict[Partition, tuple[str, bytes, list[_Part]]], known: dict[str, LedgerEntry],
    ) -> dict[str, LedgerEntry]:
        """Before any upload: each pack records the file that will hold it, per partition."""
        now = self.clock()
        claims: dict[str, LedgerEntry] = {}
        for partition, (key, _, partition_parts) in encoded.items():
            for part in partition_parts:
                pack_id = part.message.pack_id
                if pack_id is None:
                    continue
                if pack_id not in claims:
                    claims[pack_id] = LedgerEntry(dict(known[pack_id].files) if pack_id in known else {}, now)
                claims[pack_id].files[partition_name(partition)] = key
        return claims

    def _store(
        self, encoded: dict[Partition, tuple[str, bytes, list[_Part]]], failed: set[str],
    ) -> dict[str, int]:
        """Each file put, then recorded in the integrity log. Before any put, the files go on
        the recovery sweep's list (`Ledger.expect`), and come off it once logged: a file put
        and never logged (the function stopped, the log could not be written) is adopted by
        the next delivery of its messages or by the sweep, never left for the verifier to
        call foreign. So once a file is stored its messages are acknowledged, logged or not."""
        listed_at = self.clock()
        # The sweep takes a file once its listing is `recover_after` old; the writer logs a
        # file only while its listing is less than half that old, so the two never append it
        # at once (the log would hold it twice).
        log_until = listed_at + (self.recover_after or self.in_flight) / 2
        if encoded and self.integrity is not None and not self._expect([key for key, _, _ in encoded.values()]):
            for _, _, partition_parts in encoded.values():  # (without a log, nothing to list)
                failed.update(part.message.message_id for part in partition_parts)
            return {}
        files = {}
        logged = []
        indexed: dict[str, list[str]] = {}
        for key, body, partition_parts in encoded.values():
            try:
                if self.integrity is not None and self.seals is not None:
                    self.integrity.seal_file(key, _sealed_parts(partition_parts),
                                             [leaf for part in partition_parts for leaf in part.leaves])
                retried(lambda key=key, body=body: self.objects.put(key, body))
            except Exception:  # noqa: BLE001 - these packs are retried; other partitions still land
                failed.update(part.message.message_id for part in partition_parts)
                continue
            files[key] = sum(part.count for part in partition_parts)
            if self.subject_index is not None:
                indexed[key] = _pseudonyms(partition_parts)
            if self.integrity is None:
                continue
            if self.clock() < log_until and self._log(key, body, partition_parts):
                logged.append(key)
            elif not self._expect([key]):  # listed again, after any sweep that found it not yet put
                failed.update(part.message.message_id for part in partition_parts)
        if logged:
            with contextlib.suppress(Exception):  # still listed: the sweep finds it logged
                self.ledger.settle(logged, listed_at)
        stored_ids = (part.message.message_id for _, _, parts in encoded.values() for part in parts)
        self._index(indexed, stored_ids, failed)
        return files

    def _log(self, key: str, body: bytes, partition_parts: list[_Part]) -> bool:
        """Record a stored file in the integrity log; False if that failed (the sweep's, then)."""
        assert self.integrity is not None
        leaves = [leaf for part in partition_parts for leaf in part.leaves]
        first = partition_parts[0].table.column("event_id")[0].as_py()
        last = partition_parts[-1].table.column("event_id")[-1].as_py()
        try:
            self.integrity.file_written(key, body, leaves, first, last)
            return True
        except Exception:  # noqa: BLE001 - the file is on the sweep's list
            return False

    def _encode(
        self, partition: Partition, parts: list[_Part], failed: set[str],
    ) -> tuple[str, bytes, list[_Part]] | None:
        """Parquet bytes for the parts; a part that does not fit the schema fails alone."""
        # In pack-id order: a redelivery of the same packs makes the same bytes (and seals).
        parts = sorted((p for p in parts if p.message.message_id not in failed),
                       key=lambda p: p.message.pack_id or p.message.message_id)
        if not parts:
            return None
        try:
            return file_key(partition, parts), to_parquet_bytes(_file_table(parts)), parts
        except Exception:  # noqa: BLE001 - find the parts that fail; the others still land
            good = []
            for part in parts:
                try:
                    to_parquet_bytes(_file_table([part]))
                    good.append(part)
                except Exception:  # noqa: BLE001
                    failed.add(part.message.message_id)
            if not good:
                return None
            return file_key(partition, good), to_parquet_bytes(_file_table(good)), good


def _file_table(parts: list[_Part]) -> pa.Table:
    """Rows of one partition file, in leaf order, in the file schema (event_type is
    the partition, in the key)."""
    return pa.concat_tables([p.table for p in parts]).drop_columns(["event_type"])


def _sealed_parts(parts: list[_Part]) -> list[Any]:
    """Each part's rows in the file, with its pack's seal."""
    from mlaudit.integrity.services.seals import SealedPart  # noqa: PLC0415 - only a writer with seals

    found, start = [], 0
    for part in parts:
        found.append(SealedPart(start, start + part.count, part.seal,
                                tuple(part.positions) if part.positions is not None else None,
                                tuple(part.pack_leaves) if part.positions is not None and part.pack_leaves else None))
        start += part.count
    return found


def _pseudonyms(parts: list[_Part]) -> list[str]:
    found: set[str] = set()
    for part in parts:
        found.update(p for p in pc.unique(part.table.column("subject_pseudonym")).to_pylist() if p)
    return sorted(found)


def file_pseudonyms(body: bytes) -> list[str]:
    """The distinct subject pseudonyms of a stored Parquet file (its one column read)."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    column = pq.read_table(pa.BufferReader(body), columns=["subject_pseudonym"]).column(0)
    return sorted(p for p in pc.unique(column).to_pylist() if p)


def file_key(partition: Partition, parts: list[_Part]) -> str:
    """Named after the packs it holds: a different batch never reuses a name."""
    digest = hashlib.sha256()
    for pack_id in sorted(p.message.pack_id or p.message.message_id for p in parts):
        digest.update(pack_id.encode() + b"\n")
    return f"{partition_prefix(*partition)}{digest.hexdigest()[:32]}.parquet"


def bound_to_content(messages: list[Message], failed: set[str]) -> list[Message]:
    """The messages whose pack id is their body's (`pack.pack_id_of`). Any other fails
    alone, before a claim or a ledger read (which a 3,000-character id made fail for the
    whole batch: DynamoDB keys hold 2,048 bytes): one without an id, with an id of another
    shape, or carrying another pack's id, which would otherwise pass for a copy of that
    pack and, arriving first, displace it. In time such a message reaches the DLQ."""
    good = []
    for message in messages:
        pack_id = message.pack_id
        if pack_id is not None and len(pack_id) == 64 and pack_id == pack_id_of(message.body):
            good.append(message)
        else:
            failed.add(message.message_id)
    return good


def _first_copies(messages: list[Message]) -> tuple[list[Message], list[tuple[Message, Message]]]:
    """The batch with one message per pack id; the other copies, each with its first."""
    first: dict[str, Message] = {}
    firsts: list[Message] = []
    copies: list[tuple[Message, Message]] = []
    for message in messages:
        if message.pack_id is None:
            firsts.append(message)
        elif message.pack_id in first:
            copies.append((message, first[message.pack_id]))
        else:
            first[message.pack_id] = message
            firsts.append(message)
    return firsts, copies


def _parse(messages: list[Message], failed: set[str]) -> dict[Partition, list[_Part]]:
    parts: dict[Partition, list[_Part]] = defaultdict(list)
    for message in messages:
        try:
            split = _split(message)
        except Exception:  # noqa: BLE001 - any decoding or conversion error fails this message alone
            failed.add(message.message_id)  # can never be written: on to the DLQ in time
            continue
        for partition, part in split.items():
            parts[partition].append(part)
    return parts


def _split(message: Message) -> dict[Partition, _Part]:
    """Parse one pack (Arrow's JSON reader, against the schema) and cut it by partition."""
    if not message.body or not message.body.isascii():
        raise PackError("message body is empty or not ASCII")
    table = parse_pack(message.body.encode("ascii"))
    leaves = leaf_digests(table)
    # The partition date: received_at's UTC date, as YYYY-MM-DD.
    dates = pc.cast(pc.cast(table.column("received_at"), pa.date32()), pa.string())
    types = table.column("event_type")
    if len(pc.unique(dates)) == 1 and len(pc.unique(types)) == 1:
        return {(dates[0].as_py(), types[0].as_py()): _Part(message, table, leaves)}
    keys = pc.binary_join_element_wise(dates, types, "/")
    parts = {}
    for key in pc.unique(keys).to_pylist():
        rows = pc.indices_nonzero(pc.equal(keys, key)).to_pylist()
        event_date, event_type = key.split("/")
        parts[(event_date, event_type)] = _Part(message, table.take(rows), [leaves[i] for i in rows],
                                                pack_leaves=leaves, positions=rows)
    return parts


def _order(messages: list[Message]) -> Any:
    position = {m.message_id: i for i, m in enumerate(messages)}
    return lambda message_id: position.get(message_id, 0)
