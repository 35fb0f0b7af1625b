"""Subject access's reader: the rows with one subject_pseudonym, from the files the subject
index names (`mlaudit.subject_index`) and no others.

S3 requests per access: the index's three listings and about one read per index object
(one a day of history, plus the current day's hours and runs), then one GET per file that
holds the subject: they grow with the subject's own events and the lake's age in days,
never with the number of files in the lake (tests/unit/test_subject_index.py counts them).

`resolve` turns the index's file list into the files to read (none by default). Compaction
does not need one: its compacted files are not indexed, and the source files the index
names stay in the lake (docs/compaction.md); a row read twice would be kept once.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlaudit.layout import parse_partition
from mlaudit.subject_index import Lookup, SubjectIndex

READ_WORKERS = 16  # files of one subject read side by side: S3 latency, not CPU, is the cost


class S3SubjectEvents:
    def __init__(
        self, bucket: Any, *, index: SubjectIndex | None = None,
        resolve: Callable[[list[str]], list[str]] | None = None, workers: int = READ_WORKERS,
    ) -> None:
        """`bucket`: the audit bucket (`adapters.bucket.S3Bucket` or its memory twin)."""
        self.bucket = bucket
        self.index = index or SubjectIndex(bucket)
        self.resolve = resolve
        self.workers = workers
        self.last_lookup: Lookup | None = None  # what the last access asked of the index

    def events(self, subject_pseudonym: str, limit: int) -> list[dict[str, Any]]:
        lookup = self.last_lookup = self.index.files(subject_pseudonym, workers=self.workers)
        keys = self.resolve(lookup.files) if self.resolve is not None else lookup.files
        if len(keys) <= 1:
            found = [self._rows(key, subject_pseudonym) for key in keys]
        else:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(keys))) as pool:
                found = list(pool.map(lambda key: self._rows(key, subject_pseudonym), keys))
        seen: set[tuple[Any, ...]] = set()
        rows = []
        for row in (row for batch in found for row in batch):
            identity = (row["event_id"], row["received_at"], row["leaf_hash"])
            if identity not in seen:  # the same stored row read from two files (a replaced one)
                seen.add(identity)
                rows.append(row)
        rows.sort(key=lambda r: (r["occurred_at"], r["received_at"], r["event_id"]))
        return rows[: limit + 1]

    def _rows(self, key: str, subject_pseudonym: str) -> list[dict[str, Any]]:
        import pyarrow as pa  # noqa: PLC0415 - only the privacy function pays for pyarrow
        import pyarrow.compute as pc  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415

        data = self.bucket.get(key)
        if data is None:
            return []  # named by the index but gone: nothing to disclose from it
        # The filter skips row groups by their statistics before decoding them.
        matched = pq.read_table(pa.BufferReader(data), filters=pc.field("subject_pseudonym") == subject_pseudonym)
        _, event_type = parse_partition(key)
        return [{**row, "event_type": event_type} for row in matched.to_pylist()]
