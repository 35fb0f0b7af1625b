"""Where the local engine finds the lake's Parquet files, listed by partition.

Pruning happens here: only the partitions a query's bound date range (and declared
event types) can touch are listed, so only their files are opened. The sizes of the
files handed to DuckDB are what `bytes_scanned` reports.

Each day is read from one place (`mlaudit.compaction.read_root`), so every event is read
once: its compacted files once the day's marker exists, its events/ files until then; or,
on the local stack, as Athena's `events` view reads it (`S3Lake(view=...)`).
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mlaudit.compaction import read_root
from mlaudit.layout import COMPACTED_DAYS_PREFIX, COMPACTED_PREFIX, EVENTS_PREFIX, parse_partition

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._=-]")


@dataclass(frozen=True)
class _UpTo:
    """Every day up to and including ``last``."""

    last: str

    def __contains__(self, day: object) -> bool:
        return isinstance(day, str) and day <= self.last


@dataclass(frozen=True)
class LakeFile:
    path: str  # a local path DuckDB can open; its parents carry the hive partitions
    size: int


class Lake(Protocol):
    def files(self, dates: Iterable[str] | None, event_types: Iterable[str] | None) -> list[LakeFile]:
        """Files of these event_dates and types (None: all)."""
        ...


class LocalLake:
    """A lake on local disk: <root>/events/event_date=.../event_type=.../*.parquet."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def files(self, dates: Iterable[str] | None, event_types: Iterable[str] | None) -> list[LakeFile]:
        marked = self.root / COMPACTED_DAYS_PREFIX
        compacted = {p.name.removesuffix(".json") for p in marked.glob("*.json")} if marked.is_dir() else set()
        days = (list(dates) if dates is not None else sorted(
            {p.name.split("=", 1)[1] for root in (EVENTS_PREFIX, COMPACTED_PREFIX)
             for p in (self.root / root).glob("event_date=*")}))
        date_dirs = [self.root / read_root(d, compacted) / f"event_date={d}" for d in days]
        wanted = set(event_types) if event_types is not None else None
        found: list[LakeFile] = []
        for date_dir in date_dirs:
            if not date_dir.is_dir():
                continue
            for type_dir in sorted(date_dir.glob("event_type=*")):
                if wanted is not None and type_dir.name.split("=", 1)[1] not in wanted:
                    continue
                found += [LakeFile(str(p), p.stat().st_size) for p in sorted(type_dir.glob("*.parquet"))]
        return found


class View(Protocol):
    """Athena's `events` view (`mlaudit.events_view.GlueView`)."""

    def cutoff(self) -> str: ...


class S3Lake:
    """The local stack's bucket (moto): lists only the wanted partitions' prefixes and
    copies their objects into a cache folder once (keyed by ETag), because DuckDB's
    httpfs would need network access and real credentials.

    With ``view`` (the local stack's engines), a day is read as Athena's `events` view reads
    it: from compacted/ up to the view's compacted-through date, from events/ after it
    (mlaudit.events_view). Without, from compacted/ once the day's marker exists."""

    def __init__(self, s3: Any, bucket: str, cache_dir: str | Path, view: View | None = None) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.cache = Path(cache_dir)
        self.view = view

    def _objects(self, prefix: str) -> Iterable[dict[str, Any]]:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def files(self, dates: Iterable[str] | None, event_types: Iterable[str] | None) -> list[LakeFile]:
        compacted = self._compacted()
        prefixes = (
            [f"{read_root(d, compacted)}event_date={d}/" for d in dates] if dates is not None
            else [EVENTS_PREFIX, COMPACTED_PREFIX]
        )
        wanted = set(event_types) if event_types is not None else None
        found: list[LakeFile] = []
        for prefix in prefixes:
            for obj in self._objects(prefix):
                key = obj["Key"]
                if not key.endswith(".parquet"):
                    continue
                event_date, event_type = parse_partition(key)
                if wanted is not None and event_type not in wanted:
                    continue
                if not key.startswith(read_root(event_date, compacted)):
                    continue  # the day is read from its other place
                found.append(self._cached(key, event_date, event_type, obj))
        return found

    def _compacted(self) -> Container[str]:
        """The days read from compacted/: the view's (one GetTable), or the marked ones (one
        listing of the day markers, a key per compacted day)."""
        if self.view is not None:
            return _UpTo(self.view.cutoff())
        return {o["Key"][len(COMPACTED_DAYS_PREFIX):].removesuffix(".json")
                for o in self._objects(COMPACTED_DAYS_PREFIX)}

    def _cached(self, key: str, event_date: str, event_type: str, obj: dict[str, Any]) -> LakeFile:
        etag = _SAFE_NAME.sub("", obj["ETag"])
        name = _SAFE_NAME.sub("_", key.rsplit("/", 1)[-1])
        path = (
            self.cache / "events" / f"event_date={event_date}" / f"event_type={event_type}" / f"{etag}-{name}"
        )
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            self.s3.download_file(self.bucket, key, str(partial))
            partial.rename(path)
        return LakeFile(str(path), obj["Size"])
