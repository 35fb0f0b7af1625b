"""The subject index: which events files hold a subject pseudonym, so subject access reads
those files and no other (docs/privacy.md, "Reading the lake").

An index object is a sorted run of 28-byte records, one per (pseudonym, file):

    8 bytes   SHA-256(subject_pseudonym)[:8]  (a pseudonym's stand-in; a clash only adds a
              file to read, the rows are matched on the full pseudonym)
    2 bytes   the file's event_date, days since 1970-01-01 (big-endian)
    2 bytes   the file's event_type, SHA-256(type)[:2] (the header maps it back)
    16 bytes  the file's name (its 32 hex digits)

after a header (magic, JSON: record count, block size, types) and a fence per block of
`BLOCK_RECORDS` records (its first 8 bytes), so a lookup reads the header and the one or
two blocks a pseudonym can be in: two range reads, whatever the object's size. It holds
pseudonyms' hashes and file names only: never a subject_ref (docs/privacy.md).

Objects are written once and merged like a log-structured tree, by the time they were
written (a file written late for an old event_date lands in the current period, so no
period is ever reopened):

    runs/<YYYY-MM-DDTHH>/<32 hex>.idx   one per writer batch (`add`), the files it stored
    hours/<YYYY-MM-DDTHH>.idx           an hour's runs, merged once the hour is closed
    days/<YYYY-MM-DD>/<i>of<n>.idx      a day's hours, merged once the day is closed, in n shards
                                        by subject key (one at small volumes; 16 at 1B a month)

A lookup lists the three prefixes (days all, hours after the last day, runs after the last
hour) and reads each object it finds (of a day, the shard its key falls in): one object a
day of history, at most 23 hours and the current hour's runs, however many files the lake
holds. `maintain` (the writer, at
most every `MAINTAIN_SECONDS`) does the merges, oldest first, and never merges a period
past one it could not merge, so "every run up to the last hour object is in an hour object,
every hour up to the last day object in a day object" always holds.

Compaction (mlaudit.compaction) merges a closed day's files for queries and leaves the index
alone: subject access keeps reading the source files it names, which Object Lock keeps and
which hold exactly the compacted rows (docs/compaction.md).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from mlaudit.layout import partition_prefix

PREFIX = "index/subjects/v1/"
RUNS, HOURS, DAYS = f"{PREFIX}runs/", f"{PREFIX}hours/", f"{PREFIX}days/"
SUFFIX = ".idx"
MAGIC = b"MLSI1\n"
RECORD = 28
KEY_BYTES = 8
BLOCK_RECORDS = 4096
HEAD_READ = 16 * 1024  # the first range read of a lookup: header and fences (a 64 MB shard's: 4.6 KB)
WHOLE_READ = 256 * 1024  # objects up to this size are read in one request
# A run object is named for the hour its write starts in; an hour is merged this long after
# it ends, far beyond any S3 request's time, so no run object of a merged hour comes later.
GRACE = timedelta(minutes=15)
MAINTAIN_SECONDS = 300.0
MAX_HOUR_MERGES = 6  # per `maintain`: a writer batch never waits for more (the rest: next time)
MAX_DAY_MERGES = 1
# A day is merged shard by shard (by subject key range), each shard's records read by range
# from the day's hour objects: a merge holds one shard, not the day. A lookup reads the one
# shard its key falls in. 1B events a month is ~880 MB of records a day: 16 shards.
SHARD_BYTES = 64 * 1024**2
_EPOCH = date(1970, 1, 1)
_FILE = re.compile(r"^events/event_date=(\d{4}-\d{2}-\d{2})/event_type=([a-z0-9_]+)/([0-9a-f]{32})\.parquet$")


class IndexStore(Protocol):
    """The audit bucket as the index sees it (`adapters.bucket.S3Bucket`, `MemoryBucket`)."""

    def get(self, key: str) -> bytes | None: ...
    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object."""
        ...

    def create(self, key: str, body: bytes) -> bool: ...
    def listing(self, prefix: str, start_after: str = "") -> Iterator[tuple[str, int]]:
        """(key, size) of every object under prefix after start_after, in key order."""
        ...


# ---------------------------------------------------------------- records


def subject_key(pseudonym: str) -> bytes:
    return hashlib.sha256(pseudonym.encode("utf-8")).digest()[:KEY_BYTES]


def type_code(event_type: str) -> int:
    return int.from_bytes(hashlib.sha256(event_type.encode("utf-8")).digest()[:2], "big")


def record(pseudonym: str, file_key: str) -> tuple[bytes, str]:
    """A record for (pseudonym, file) and the file's event type (for the header)."""
    found = _FILE.match(file_key)
    if found is None:
        raise ValueError(f"not an events file key the index can name: {file_key!r}")
    day, event_type, name = found.groups()
    days = (date.fromisoformat(day) - _EPOCH).days
    return (subject_key(pseudonym) + struct.pack(">HH", days, type_code(event_type)) + bytes.fromhex(name),
            event_type)


def file_of(raw: bytes, types: Mapping[int, str]) -> str:
    days, code = struct.unpack(">HH", raw[KEY_BYTES:KEY_BYTES + 4])
    day = (_EPOCH + timedelta(days=days)).isoformat()
    return f"{partition_prefix(day, types[code])}{raw[KEY_BYTES + 4:].hex()}.parquet"


def encode(records: bytes, count: int, types: Mapping[int, str]) -> bytes:
    """An index object from `count` sorted, distinct records (concatenated)."""
    fences = b"".join(records[i * RECORD:i * RECORD + KEY_BYTES] for i in range(0, count, BLOCK_RECORDS))
    header = json.dumps({"records": count, "block": BLOCK_RECORDS,
                         "types": {str(code): name for code, name in sorted(types.items())}},
                        sort_keys=True, separators=(",", ":")).encode()
    return MAGIC + struct.pack(">I", len(header)) + header + fences + records


def build(files: Mapping[str, Iterable[str]]) -> bytes | None:
    """An index object for these files' pseudonyms (None: no pseudonym at all)."""
    records: set[bytes] = set()
    types: dict[int, str] = {}
    for file_key, pseudonyms in files.items():
        for pseudonym in pseudonyms:
            raw, event_type = record(pseudonym, file_key)
            records.add(raw)
            _known(types, type_code(event_type), event_type)
    if not records:
        return None
    return encode(b"".join(sorted(records)), len(records), types)


@dataclass(frozen=True)
class Header:
    records: int
    block: int
    types: dict[int, str]
    fences: list[bytes]
    data_start: int


def header_length(head: bytes) -> int:
    """How many leading bytes the header and fences take (needs the first 10 bytes)."""
    if not head.startswith(MAGIC):
        raise ValueError("not a subject index object")
    (size,) = struct.unpack(">I", head[len(MAGIC):len(MAGIC) + 4])
    meta = json.loads(head[len(MAGIC) + 4:len(MAGIC) + 4 + size]) if len(head) >= len(MAGIC) + 4 + size else None
    if meta is None:
        return len(MAGIC) + 4 + size  # at least this much; read it and ask again
    blocks = -(-meta["records"] // meta["block"])
    return len(MAGIC) + 4 + size + blocks * KEY_BYTES


def parse_header(head: bytes) -> Header:
    (size,) = struct.unpack(">I", head[len(MAGIC):len(MAGIC) + 4])
    start = len(MAGIC) + 4
    meta = json.loads(head[start:start + size])
    blocks = -(-meta["records"] // meta["block"])
    fences_at = start + size
    fences = [head[fences_at + i * KEY_BYTES:fences_at + (i + 1) * KEY_BYTES] for i in range(blocks)]
    return Header(meta["records"], meta["block"], {int(c): n for c, n in meta["types"].items()}, fences,
                  fences_at + blocks * KEY_BYTES)


def decode(body: bytes) -> tuple[bytes, int, dict[int, str]]:
    """(records, count, types) of a whole index object."""
    header = parse_header(body)
    return body[header.data_start:header.data_start + header.records * RECORD], header.records, header.types


def merge(bodies: Iterable[bytes]) -> bytes | None:
    """One index object holding every record of these (sorted, duplicates once)."""
    parts, types = [], {}
    for body in bodies:
        records, _, found = decode(body)
        parts.append(records)
        for code, name in found.items():
            _known(types, code, name)
    return merge_records(parts, types)


def merge_records(parts: list[bytes], types: dict[int, str]) -> bytes | None:
    """One index object of these runs of whole records (each sorted; duplicates once)."""
    import pyarrow as pa  # noqa: PLC0415 - merges run in the writer, which has pyarrow
    import pyarrow.compute as pc  # noqa: PLC0415

    arrays = [pa.Array.from_buffers(pa.binary(RECORD), len(p) // RECORD, [None, pa.py_buffer(p)])
              for p in parts if p]
    if not arrays:
        return None
    merged = pc.unique(pa.concat_arrays(arrays))
    merged = merged.take(pc.sort_indices(merged))
    data = pa.concat_arrays([merged]).buffers()[1]  # contiguous after take
    return encode(data.to_pybytes()[:len(merged) * RECORD], len(merged), types)


def between(records: bytes, lo: bytes, hi: bytes | None) -> bytes:
    """The records (whole, sorted) whose subject key is in [lo, hi) (hi None: no end)."""
    count = len(records) // RECORD

    def first_at_least(key: bytes) -> int:
        low, high = 0, count
        while low < high:
            mid = (low + high) // 2
            if records[mid * RECORD:mid * RECORD + KEY_BYTES] < key:
                low = mid + 1
            else:
                high = mid
        return low

    start = first_at_least(lo)
    end = count if hi is None else first_at_least(hi)
    return records[start * RECORD:end * RECORD]


def shard_of(key: bytes, shards: int) -> int:
    return int.from_bytes(key, "big") * shards >> (8 * KEY_BYTES)


def shard_bounds(shard: int, shards: int) -> tuple[bytes, bytes | None]:
    lo = ((shard << (8 * KEY_BYTES)) + shards - 1) // shards
    hi = (((shard + 1) << (8 * KEY_BYTES)) + shards - 1) // shards
    return lo.to_bytes(KEY_BYTES, "big"), hi.to_bytes(KEY_BYTES, "big") if shard + 1 < shards else None


def day_key(day: str, shard: int, shards: int) -> str:
    return f"{DAYS}{day}/{shard}of{shards}{SUFFIX}"


def complete_days(listing: Iterable[tuple[str, int]]) -> dict[str, dict[int, tuple[str, int]]]:
    """Days whose every shard object is there, in order, up to the first day that is not
    (a day merge that stopped half way: its hours stay in use until it is done)."""
    days: dict[str, dict[int, tuple[str, int]]] = {}
    counts: dict[str, int] = {}
    for key, size in listing:
        day, name = key[len(DAYS):].split("/", 1)
        shard, shards = (int(n) for n in name.removesuffix(SUFFIX).split("of"))
        days.setdefault(day, {})[shard] = (key, size)
        counts[day] = shards
    complete: dict[str, dict[int, tuple[str, int]]] = {}
    for day in sorted(days):
        if len(days[day]) != counts[day]:
            break
        complete[day] = days[day]
    return complete


def _known(types: dict[int, str], code: int, name: str) -> None:
    """Two event types under one code would name each other's files: refuse (a test holds
    every type of the contract to distinct codes)."""
    if types.setdefault(code, name) != name:
        raise ValueError(f"event types {name!r} and {types[code]!r} share an index code")


def matches(blocks: bytes, key: bytes) -> Iterator[bytes]:
    """The records of `blocks` (whole records, sorted) whose subject key is `key`."""
    count = len(blocks) // RECORD
    lo, hi = 0, count
    while lo < hi:  # the first record >= key
        mid = (lo + hi) // 2
        if blocks[mid * RECORD:mid * RECORD + KEY_BYTES] < key:
            lo = mid + 1
        else:
            hi = mid
    while lo < count and blocks[lo * RECORD:lo * RECORD + KEY_BYTES] == key:
        yield blocks[lo * RECORD:(lo + 1) * RECORD]
        lo += 1


def block_span(fences: list[bytes], key: bytes) -> tuple[int, int]:
    """The blocks [first, last] that can hold records with this key."""
    first = max(0, bisect.bisect_left(fences, key) - 1)
    last = max(first, bisect.bisect_right(fences, key) - 1)
    return first, last


# ---------------------------------------------------------------- periods


def hour_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def _hour_start(hour: str) -> datetime:
    return datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)


def _period(key: str, prefix: str) -> str:
    return key[len(prefix):].split("/", 1)[0].removesuffix(SUFFIX)


# ---------------------------------------------------------------- the index


@dataclass
class Lookup:
    files: list[str]
    objects: int  # index objects read
    requests: int  # S3 requests made (lists and reads)


class SubjectIndex:
    def __init__(self, store: IndexStore, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 monotonic: Callable[[], float] | None = None) -> None:
        import time  # noqa: PLC0415

        self.store = store
        self.clock = clock
        self._monotonic = monotonic or time.monotonic
        self._maintained_at: float | None = None
        self.maintained = 0  # maintenance passes made (each lists the three prefixes)

    # -- writing

    def add(self, files: Mapping[str, Iterable[str]]) -> str | None:
        """Index these files (key -> the pseudonyms in it): one object for all of them, in
        the current hour. The writer calls it for each batch's files; compaction for the
        files it writes. The same files again write the same object (idempotent)."""
        body = build(files)
        if body is None:
            return None
        digest = hashlib.sha256("\n".join(sorted(files)).encode() + body).hexdigest()[:32]
        key = f"{RUNS}{hour_of(self.clock())}/{digest}{SUFFIX}"
        if not self.store.create(key, body) and self.store.get(key) != body:
            raise RuntimeError(f"index object {key} exists with other content")
        return key

    def maintain(self, *, force: bool = False) -> list[str]:
        """Merge closed hours and days (oldest first, a few per call); the keys written.
        At most once every MAINTAIN_SECONDS per instance unless forced."""
        now = self._monotonic()
        if not force and self._maintained_at is not None and now - self._maintained_at < MAINTAIN_SECONDS:
            return []
        self._maintained_at = now
        self.maintained += 1
        written: list[str] = []
        moment = self.clock()
        last_day = max(complete_days(self.store.listing(DAYS)), default="")
        hours = [(k, s) for k, s in self.store.listing(HOURS, f"{HOURS}{last_day}T99" if last_day else "")]
        last_hour = _period(hours[-1][0], HOURS) if hours else (f"{last_day}T23" if last_day else "")
        runs = list(self.store.listing(RUNS, f"{RUNS}{last_hour}/~" if last_hour else ""))
        pending: dict[str, list[str]] = {}
        for key, _ in runs:
            pending.setdefault(_period(key, RUNS), []).append(key)
        for hour in sorted(pending)[:MAX_HOUR_MERGES]:
            if _hour_start(hour) + timedelta(hours=1) + GRACE > moment:
                break
            target = f"{HOURS}{hour}{SUFFIX}"
            self._merge(target, pending.pop(hour))
            hours.append((target, 0))
            written.append(target)
        first_open_hour = min(pending) if pending else None
        by_day: dict[str, list[tuple[str, int]]] = {}
        for key, size in hours:
            by_day.setdefault(_period(key, HOURS)[:10], []).append((key, size))
        for day in sorted(by_day)[:MAX_DAY_MERGES]:
            closed = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1) + GRACE <= moment
            if not closed or (first_open_hour is not None and first_open_hour[:10] <= day):
                break
            written += self._merge_day(day, by_day[day])
        return written

    def _merge(self, target: str, sources: list[str]) -> None:
        bodies = []
        for key in sources:
            body = self.store.get(key)
            if body is None:
                raise RuntimeError(f"index object {key} vanished")
            bodies.append(body)
        self._create(target, merge(bodies))

    def _create(self, target: str, body: bytes | None) -> None:
        if body is not None and not self.store.create(target, body) and self.store.get(target) != body:
            raise RuntimeError(f"index object {target} exists with other content")

    def _merge_day(self, day: str, hours: list[tuple[str, int]]) -> list[str]:
        """A day's hour objects into its shard objects, one key range at a time (the same
        hours give the same shards: a merge that stopped half way is redone to the same
        bytes)."""
        heads = [(key, size, self._head(key, size)) for key, size in hours]
        total = sum(header.records for _, _, (header, _) in heads)
        shards = 1
        while total * RECORD / shards > SHARD_BYTES:
            shards *= 2
        types: dict[int, str] = {}
        for _, _, (header, _) in heads:
            for code, name in header.types.items():
                _known(types, code, name)
        written = []
        for shard in range(shards):
            lo, hi = shard_bounds(shard, shards)
            parts = [self._records(key, size, header, body, lo, hi) for key, size, (header, body) in heads]
            target = day_key(day, shard, shards)
            self._create(target, merge_records(parts, types) or encode(b"", 0, types))
            written.append(target)
        return written

    def _head(self, key: str, size: int) -> tuple[Header, bytes | None]:
        """An index object's header (and the whole object, when it is small enough to keep)."""
        if size <= WHOLE_READ:
            body = self.store.get(key)
            if body is None:
                raise RuntimeError(f"index object {key} vanished")
            return parse_header(body), body
        head = self.store.get_range(key, 0, min(size, HEAD_READ))
        while len(head) < (needed := header_length(head)):
            head += self.store.get_range(key, len(head), needed)
        return parse_header(head), None

    def _records(self, key: str, size: int, header: Header, body: bytes | None, lo: bytes,
                 hi: bytes | None) -> bytes:
        """The object's records with keys in [lo, hi): the blocks that can hold them, read by range."""
        if header.records == 0:
            return b""
        first = block_span(header.fences, lo)[0]
        last = block_span(header.fences, hi)[1] if hi is not None else len(header.fences) - 1
        start = header.data_start + first * header.block * RECORD
        end = header.data_start + min(header.records, (last + 1) * header.block) * RECORD
        blocks = body[start:end] if body is not None else self.store.get_range(key, start, end)
        return between(blocks, lo, hi)

    # -- reading

    def files(self, pseudonym: str, *, workers: int = 16) -> Lookup:
        """Every events file the index names for this pseudonym, in key order."""
        key = subject_key(pseudonym)
        objects = self.objects(key)
        found: set[str] = set()
        requests = 3  # the three listings
        if len(objects) <= 1 or workers <= 1:
            results = [self._find(name, size, key) for name, size in objects]
        else:
            from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

            with ThreadPoolExecutor(max_workers=min(workers, len(objects))) as pool:
                results = list(pool.map(lambda item: self._find(item[0], item[1], key), objects))
        for files, made in results:
            found.update(files)
            requests += made
        return Lookup(sorted(found), len(objects), requests)

    def objects(self, key: bytes | None = None) -> list[tuple[str, int]]:
        """The index objects a lookup of `key` reads: each complete day's shard that holds
        the key (every shard if None), the hours after the last day, the runs after the last
        hour."""
        days = complete_days(self.store.listing(DAYS))
        last_day = max(days, default="")
        chosen = [found for shards in days.values()
                  for shard, found in sorted(shards.items()) if key is None or shard == shard_of(key, len(shards))]
        hours = list(self.store.listing(HOURS, f"{HOURS}{last_day}T99" if last_day else ""))
        last_hour = _period(hours[-1][0], HOURS) if hours else (f"{last_day}T23" if last_day else "")
        runs = list(self.store.listing(RUNS, f"{RUNS}{last_hour}/~" if last_hour else ""))
        return chosen + hours + runs

    def _find(self, name: str, size: int, key: bytes) -> tuple[list[str], int]:
        """The files one index object names for a subject key, and the requests it took."""
        requests = 1
        if size <= WHOLE_READ:
            body = self.store.get(name) or b""
            head = body
        else:
            body = None
            head = self.store.get_range(name, 0, min(size, HEAD_READ))
        needed = header_length(head)
        while len(head) < needed:  # a large header: read the rest of it
            head += self.store.get_range(name, len(head), needed)
            requests += 1
            needed = header_length(head)
        header = parse_header(head)
        if header.records == 0:
            return [], requests
        first, last = block_span(header.fences, key)
        start = header.data_start + first * header.block * RECORD
        end = header.data_start + min(header.records, (last + 1) * header.block) * RECORD
        if body is not None:
            blocks = body[start:end]
        else:
            blocks = self.store.get_range(name, start, end)
            requests += 1
        return [file_of(raw, header.types) for raw in matches(blocks, key)], requests


# ---------------------------------------------------------------- files written before the index


def backfill(store: Any, *, files_per_object: int = 500, start_after: str = "") -> int:
    """Index every events file already in the bucket (the files written before the index
    existed): one index object per `files_per_object` files; the number of files. Files the
    writer indexed too are named twice, which a lookup reads once."""
    from mlaudit.layout import EVENTS_PREFIX  # noqa: PLC0415
    from mlaudit.writer import file_pseudonyms  # noqa: PLC0415

    index = SubjectIndex(store)
    batch: dict[str, list[str]] = {}
    done = 0
    for key in store.list(EVENTS_PREFIX, start_after):
        if not _FILE.match(key):
            continue
        body = store.get(key)
        if body is None:
            continue
        batch[key] = file_pseudonyms(body)
        done += 1
        if len(batch) >= files_per_object:
            index.add(batch)
            batch = {}
    if batch:
        index.add(batch)
    return done


def main(argv: list[str] | None = None) -> int:
    """``python -m mlaudit.subject_index backfill --bucket B --kms-key-id K``: index the files
    written before the subject index existed (once, after upgrading; needs s3:ListBucket,
    s3:GetObject on events/* and s3:PutObject on index/* of the audit bucket)."""
    import argparse  # noqa: PLC0415

    from mlaudit.adapters.aws import client  # noqa: PLC0415
    from mlaudit.adapters.bucket import S3Bucket  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m mlaudit.subject_index")
    parser.add_argument("command", choices=["backfill"])
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--kms-key-id", required=True)
    parser.add_argument("--start-after", default="", help="resume after this events/ key")
    args = parser.parse_args(argv)
    files = backfill(S3Bucket(client("s3"), args.bucket, args.kms_key_id), start_after=args.start_after)
    print(f"indexed {files} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
