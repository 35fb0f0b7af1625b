"""Compaction: a closed day's files, per event type, merged into few large ones that go
through the integrity log like any file the writer stores (docs/compaction.md).

For a day `d` and an event type `t`, the sources are the logged files under
`events/event_date=d/event_type=t/` no compaction record names yet. They are merged in
generations: generation `g` is claimed by creating its record
`integrity/compactions/event_date=d/event_type=t/<g>.json` (create-only, so of two runs
exactly one owns `g`), which lists its sources with their log index, row count and
Merkle root, in the order their rows are in the new file; the file
`compacted/event_date=d/event_type=t/<g>-<record hash>.parquet` is then built from
them, its seals are the sources' seals (rows moved to their new place), and it is logged
with a `replaces` field naming the record. Every step is a create of deterministic bytes,
so a run that stopped anywhere is finished by the next one with the same objects.

Readers switch a day over only when its marker `compacted/_days/<d>.json` exists, written
after every type's generations are stored and logged: until then they read the day's
`events/` files, after it its `compacted/` files (`read_roots`). So a crash leaves
nothing half-visible. Files that arrive for a day after its marker (a writer retry, a
redrive from the dead-letter queue) are merged by a later run into a further generation;
until then they are not read. Athena reads through the `events` view, which each run moves
on to the last day up to which every day is marked (`advance_view`, mlaudit.events_view).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from mlaudit import events_view
from mlaudit.integrity.primitives import merkle, records
from mlaudit.integrity.services import seals
from mlaudit.layout import COMPACTED_DAYS_PREFIX, COMPACTED_PREFIX, EVENTS_PREFIX, partition_prefix

DEFAULT_MAX_ROWS = 1_000_000  # rows of one compacted file (its Arrow table is built in memory)
# Objects read side by side: a busy day has thousands of sources, and S3 latency, not CPU, is
# the cost (one after the other, 7,200 files at 20 ms is over two minutes a partition).
READ_WORKERS = 16


class CompactionError(RuntimeError):
    """A source does not hold what its log entry says, or a record is not this day's."""


class Bucket(Protocol):
    """The audit bucket (`adapters.bucket.S3Bucket`, `adapters.memory.MemoryBucket`)."""

    def get(self, key: str) -> bytes | None: ...
    def exists(self, key: str) -> bool: ...
    def create(self, key: str, body: bytes) -> bool: ...
    def put(self, key: str, body: bytes) -> None: ...
    def list(self, prefix: str, start_after: str = "") -> Iterator[str]: ...
    def children(self, prefix: str) -> Iterator[str]: ...


class Log(Protocol):
    """What compaction asks of the integrity log (`integrity.services.sink.IntegritySink`)."""

    def store_seals(self, key: str, body: bytes) -> None: ...
    def file_written(self, key: str, body: bytes | None = None, leaf_hashes: Any = (), first_event_id: str = "",
                     last_event_id: str = "", *, object_sha256: str | None = None,
                     replaces: dict[str, Any] | None = None) -> int: ...


class View(Protocol):
    """Athena's `events` view (`mlaudit.events_view.GlueView`)."""

    def advance(self, cutoff: str) -> bool: ...


def day_marker_key(event_date: str) -> str:
    return f"{COMPACTED_DAYS_PREFIX}{event_date}.json"


def compacted_days(bucket: Any, first: str = "", last: str = "9999-12-31") -> set[str]:
    """The days readers take from `compacted/` (one listing: a marker per compacted day)."""
    start = day_marker_key(first)[:-len(".json")] if first else ""
    days = set()
    for key in bucket.list(COMPACTED_DAYS_PREFIX, start):
        day = key[len(COMPACTED_DAYS_PREFIX):].removesuffix(".json")
        if day > last:
            break
        days.add(day)
    return days


def read_root(event_date: str, compacted: Container[str]) -> str:
    """Where readers find a day's events: its compacted files once the day is marked."""
    return COMPACTED_PREFIX if event_date in compacted else EVENTS_PREFIX


def closed_before(now: datetime, delay: timedelta) -> str:
    """The first day that is not closed yet: a day closes `delay` after it ends (UTC)."""
    return ((now - delay).astimezone(UTC).date()).isoformat()


@dataclass
class DayResult:
    event_date: str
    files: dict[str, int] = field(default_factory=dict)  # compacted key -> rows, written by this run
    sources: int = 0  # files they replace
    marked: bool = False  # this run switched readers over to the day
    waiting: int = 0  # files of the day not logged yet (the next run takes them)


class Compactor:
    def __init__(
        self, bucket: Bucket, log: Log, *, max_rows: int = DEFAULT_MAX_ROWS,
        delay: timedelta = timedelta(hours=6), late_days: int = 14,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC), view: View | None = None,
    ) -> None:
        """``delay``: how long after its end a day counts as closed. ``late_days``: how far
        back a run looks again for files that came after their day was compacted. ``view``:
        Athena's `events` view, moved on to the days compacted (`advance_view`)."""
        self.bucket = bucket
        self.view = view
        self.log = log
        self.max_rows = max_rows
        self.delay = delay
        self.late_days = late_days
        self.clock = clock
        # The sources' rows in record order, each source checked against its log entry first
        # (tests replace both to play an insider the verifier must catch).
        self.merge, self.check_source = _concat, _check_source

    # -- which days ----------------------------------------------------------------------------

    def days(self, *, every: bool = False, through: str | None = None) -> list[str]:
        """Closed days to look at, oldest first: those not compacted yet, and (for late files)
        the compacted ones of the last ``late_days`` days; with ``every``, every closed day.
        ``through``: a day (YYYY-MM-DD) to treat as closed with every day before it, closed or
        not (an operator who knows it is complete; what arrives for it later waits for the
        next run). Two listings by delimiter: one entry per day, not per file."""
        before = closed_before(self.clock(), self.delay)
        if through is not None:
            before = max(before, (date.fromisoformat(through) + timedelta(days=1)).isoformat())
        with_files = self._days_with_events()
        done = compacted_days(self.bucket)
        recent = (date.fromisoformat(before) - timedelta(days=self.late_days)).isoformat()
        return [d for d in with_files if d < before and (every or d not in done or d >= recent)]

    def _days_with_events(self) -> list[str]:
        return sorted(p[len(EVENTS_PREFIX):].split("=", 1)[1].rstrip("/")
                      for p in self.bucket.children(EVENTS_PREFIX) if p.startswith(f"{EVENTS_PREFIX}event_date="))

    def compacted_through(self) -> str:
        """The last day up to which every day with events is compacted (mlaudit.events_view)."""
        return events_view.compacted_through(self._days_with_events(), compacted_days(self.bucket))

    def advance_view(self) -> str | None:
        """Point Athena's `events` view at the compacted days (None: no view to move). Run
        after every run, not only one that marked a day: a deploy may have put back the
        template's view, and overlapping runs may have left an older date."""
        if self.view is None:
            return None
        cutoff = self.compacted_through()
        self.view.advance(cutoff)
        return cutoff

    def run(self, *, every: bool = False, through: str | None = None,
            deadline: Callable[[], bool] = lambda: False) -> list[DayResult]:
        """Compact the closed days in date order; stop at a day that cannot be finished (the
        next run starts there again) or when ``deadline()`` says time is up."""
        results = []
        for day in self.days(every=every, through=through):
            if deadline():
                break
            results.append(self.compact_day(day))
        return results

    # -- one day -------------------------------------------------------------------------------

    def compact_day(self, event_date: str) -> DayResult:
        result = DayResult(event_date)
        day_prefix = f"{EVENTS_PREFIX}event_date={event_date}/"
        for type_prefix in self.bucket.children(day_prefix):
            event_type = type_prefix[len(day_prefix):].removeprefix("event_type=").rstrip("/")
            self._compact_partition(event_date, event_type, result)
        if not result.waiting and self.bucket.create(day_marker_key(event_date), records.encode(
                {"v": records.FORMAT_VERSION, "type": "mlaudit.compacted_day", "event_date": event_date})):
            result.marked = True
        return result

    def _compact_partition(self, event_date: str, event_type: str, result: DayResult) -> None:
        record_prefix = partition_prefix(event_date, event_type, records.COMPACTIONS)
        covered: set[str] = set()
        generation = 0
        for key in self.bucket.list(record_prefix):
            body = self.bucket.get(key) or b""
            record = self._record(key, body, event_date, event_type)
            covered.update(s["object_key"] for s in record["sources"])
            self._complete(key, body, record, result)  # a no-op unless a run stopped half-way
            generation = record["generation"] + 1
        todo, waiting = self._sources(partition_prefix(event_date, event_type), covered)
        result.waiting += waiting
        while todo:
            batch, rows = [], 0
            while todo and (not batch or rows + todo[0]["record_count"] <= self.max_rows):
                rows += todo[0]["record_count"]
                batch.append(todo.pop(0))
            record = records.compaction_record(event_date=event_date, event_type=event_type,
                                               generation=generation, sources=batch)
            key, body = records.compaction_key(event_date, event_type, generation), records.encode(record)
            generation += 1
            if not self.bucket.create(key, body):
                # Another run claimed this generation: take what it left and go on after it.
                theirs = self._record(key, self.bucket.get(key) or b"", event_date, event_type)
                claimed = {s["object_key"] for s in theirs["sources"]}
                todo = [s for s in batch + todo if s["object_key"] not in claimed]
                continue
            self._complete(key, body, record, result)

    def _sources(self, prefix: str, covered: set[str]) -> tuple[list[dict[str, Any]], int]:
        """The partition's logged files no record names, in key order, with what their log
        entries say; and how many are not logged yet (being written: left for a later run)."""
        keys = [k for k in self.bucket.list(prefix) if k.endswith(".parquet") and k not in covered]
        with ThreadPoolExecutor(READ_WORKERS) as pool:
            looked_up = list(pool.map(self._logged, keys))
        found = [source for source in looked_up if source is not None]
        return found, len(looked_up) - len(found)

    def _logged(self, key: str) -> dict[str, Any] | None:
        """What the log says of a file (None: not logged yet)."""
        pointer = self.bucket.get(records.log_by_file_key(key))
        if pointer is None:
            return None
        index = int(records.decode(pointer, "log-by-file")["index"])
        entry = records.decode(self.bucket.get(records.log_key(index)) or b"", "log entry")
        if entry.get("object_key") != key:
            raise CompactionError(f"{key}: its log-by-file record points at another file's entry")
        return {"object_key": key, "log_index": index, "record_count": entry["record_count"],
                "merkle_root": entry["merkle_root"]}

    @staticmethod
    def _record(key: str, body: bytes, event_date: str, event_type: str) -> dict[str, Any]:
        record = records.decode(body, key)
        if (record.get("type"), record.get("event_date"), record.get("event_type")) != (
                "mlaudit.compaction", event_date, event_type):
            raise CompactionError(f"{key} is not a compaction record of {event_date}/{event_type}")
        return record

    def _complete(self, record_key: str, record_bytes: bytes, record: dict[str, Any], result: DayResult) -> None:
        """Build, store and log the file a record describes (each step a create of the same
        bytes: repeating it is harmless)."""
        key = records.compacted_object_key(record_key, record_bytes)
        if self.bucket.exists(records.log_by_file_key(key)):
            return  # stored and logged
        import pyarrow as pa  # noqa: PLC0415 - only compaction and the writer build Parquet

        from mlaudit.parquet import read_parquet_bytes, to_parquet_bytes  # noqa: PLC0415

        def fetch(source: dict[str, Any]) -> tuple[bytes | None, bytes | None]:
            return self.bucket.get(source["object_key"]), self.bucket.get(seals.seals_key(source["object_key"]))

        with ThreadPoolExecutor(READ_WORKERS) as pool:
            fetched = list(pool.map(fetch, record["sources"]))
        tables, parts, start = [], [], 0
        for source, (data, sealed) in zip(record["sources"], fetched, strict=True):
            if data is None:
                raise CompactionError(f"{source['object_key']} is gone")
            table = read_parquet_bytes(data)
            self.check_source(source, [bytes.fromhex(h) for h in table.column("leaf_hash").to_pylist()])
            parts += _moved_parts(sealed, start)
            tables.append(table)
            start += table.num_rows
        table = self.merge(tables, pa)
        body = to_parquet_bytes(table)
        if parts:
            self.log.store_seals(key, records.encode({"v": records.FORMAT_VERSION, "type": "mlaudit.file_seals",
                                                      "object_key": key, "parts": parts}))
        self.bucket.put(key, body)
        ids = table.column("event_id")
        self.log.file_written(key, body, [bytes.fromhex(h) for h in table.column("leaf_hash").to_pylist()],
                              str(ids[0]), str(ids[-1]),
                              replaces=records.compaction_replaces(record_key, record_bytes, len(record["sources"])))
        result.files[key] = table.num_rows
        result.sources += len(record["sources"])


def _check_source(source: dict[str, Any], leaves: list[bytes]) -> None:
    if len(leaves) != source["record_count"] or merkle.root(leaves).hex() != source["merkle_root"]:
        raise CompactionError(f"{source['object_key']} does not hold the leaves its log entry names")


def _concat(tables: list[Any], pa: Any) -> Any:
    return pa.concat_tables(tables)


def _moved_parts(seals_object: bytes | None, offset: int) -> list[dict[str, Any]]:
    """A source's seal parts with their rows where they are in the compacted file."""
    if seals_object is None:
        return []  # an unsealed source (a lake from before seals): so is its part of the new file
    parts = json.loads(seals_object)["parts"]
    return [{**part, "rows": [part["rows"][0] + offset, part["rows"][1] + offset]} for part in parts]


def summary(results: Iterable[DayResult]) -> dict[str, Any]:
    results = list(results)
    return {"days": len(results), "marked": sum(r.marked for r in results),
            "files": sum(len(r.files) for r in results), "sources": sum(r.sources for r in results),
            "rows": sum(sum(r.files.values()) for r in results), "waiting": sum(r.waiting for r in results)}
