"""File import throughput: lines per second through `mlaudit.imports.FileImporter`.

Run: `python -m bench.imports [lines] [--rounds 5]`. A JSON Lines file and a Parquet
file of the same events (bench/workload.py predictions without event ids, so each
line's id is derived, and 2% bad lines), each imported `rounds` times into in-memory
adapters (mlaudit.adapters.memory): validation, data-quality rules, leaf hashes and packs, not
S3 or SQS latency. CPU time of one process: lines/s is per core.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

from mlaudit.adapters.memory import MemoryIdempotencyStore, MemoryQueue
from mlaudit.imports import FileImporter, ImportSource
from mlaudit.ingest.request import IngestLimits
from mlaudit.ingest.service import IngestService
from mlaudit.principal import Principal

from bench.workload import prediction_events

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
IMPORTER = Principal(kind="workload", actor_id="bench-import", client_id="bench-import", scopes=("events.write",))
BAD_EVERY = 50


def lines_of(n: int) -> list[dict[str, Any]]:
    events = prediction_events(n)
    for i, event in enumerate(events):
        del event["event_id"]
        if i % BAD_EVERY == BAD_EVERY - 1:
            event["colour"] = "red"  # not a field of the contract: a rejected line
    return events


def jsonl_bytes(events: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def parquet_bytes(events: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    # Every row has every column (from_pylist reads the columns off the first row); nulls are absent fields.
    rows = [{**e, "features": json.dumps(e["features"]), "explanation": json.dumps(e.get("explanation")),
             "colour": e.get("colour")} for e in events]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer, row_group_size=10_000)
    return buffer.getvalue()


def run_once(data: bytes, fmt: str, lines: int) -> tuple[float, Any]:
    queue = MemoryQueue()
    ingest = IngestService(store=MemoryIdempotencyStore(), queue=queue, limits=IngestLimits(), clock=lambda: NOW)
    importer = FileImporter(ingest=ingest, clock=lambda: NOW)
    started = time.process_time()
    report = importer.run(io.BytesIO(data), ImportSource(f"bench-{fmt}", f"bench.{fmt}", fmt), IMPORTER)
    elapsed = time.process_time() - started
    assert report.lines == lines and report.rejected == lines // BAD_EVERY, report.summary()
    assert sum(p.count for p in queue.packs) == report.accepted
    return elapsed, report


def main(lines: int = 100_000, rounds: int = 5) -> dict[str, Any]:
    events = lines_of(lines)
    result: dict[str, Any] = {"lines": lines, "rounds": rounds, "bad_lines": lines // BAD_EVERY}
    for fmt, data in (("jsonl", jsonl_bytes(events)), ("parquet", parquet_bytes(events))):
        rates = sorted(lines / run_once(data, fmt, lines)[0] for _ in range(rounds))
        result[fmt] = {"lines_per_s": round(statistics.median(rates)), "min": round(rates[0]),
                       "max": round(rates[-1]), "file_bytes": len(data)}
    return result


if __name__ == "__main__":
    args = sys.argv[1:]
    rounds = int(args[args.index("--rounds") + 1]) if "--rounds" in args else 5
    count = int(args[0]) if args and args[0].isdigit() else 100_000
    outcome = main(count, rounds)
    print(json.dumps(outcome, indent=2))
    print("\n| format | lines/s per core (median) | range | file size |\n|---|---|---|---|")
    for fmt in ("jsonl", "parquet"):
        r = outcome[fmt]
        print(f"| {fmt} | {r['lines_per_s']:,} | {r['min']:,} to {r['max']:,} | {r['file_bytes']:,} bytes |")
