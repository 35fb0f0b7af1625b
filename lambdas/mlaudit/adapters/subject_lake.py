"""Subject access's reader: every row with one subject_pseudonym, straight from the lake.

A full scan of events/ (list, read each Parquet object, keep matching rows): fine for
the local stack and small lakes. It sits behind `privacy.SubjectEvents` so a
deployment with a large lake can swap in the `subject_events` named query on Athena
(same filter, partition-pruned by date) without touching the privacy logic.
"""

from __future__ import annotations

from typing import Any

from mlaudit.layout import EVENTS_PREFIX, parse_partition


class S3SubjectEvents:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def events(self, subject_pseudonym: str, limit: int) -> list[dict[str, Any]]:
        import pyarrow as pa  # noqa: PLC0415 - only the privacy function pays for pyarrow
        import pyarrow.compute as pc  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415

        rows: list[dict[str, Any]] = []
        for key in self._keys():
            data = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            # The filter skips row groups by their statistics before decoding them.
            matched = pq.read_table(pa.BufferReader(data), filters=pc.field("subject_pseudonym") == subject_pseudonym)
            if matched.num_rows:
                _, event_type = parse_partition(key)
                rows.extend({**row, "event_type": event_type} for row in matched.to_pylist())
        rows.sort(key=lambda r: (r["occurred_at"], r["received_at"], r["event_id"]))
        return rows[: limit + 1]

    def _keys(self) -> list[str]:
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=EVENTS_PREFIX):
            keys.extend(item["Key"] for item in page.get("Contents", []) if item["Key"].endswith(".parquet"))
        return keys
