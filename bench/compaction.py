"""Benchmark: a 30-day named query before and after compaction, at three lake sizes 4x apart.

    python -m bench.compaction                       # 25k, 100k, 400k events (about 5 minutes)
    python -m bench.compaction --events 50000 --rows-per-file 26

Each lake is N synthetic events over 30 days (bench/synthetic.py) written as the writer
writes them under load: many small files per day and event type (`--rows-per-file`, 26 by
default: what a 60 s batch window makes at a few events a second). The query
(`dq_violation_rate` over all 30 days) runs on the local engine (DuckDB through
`local.athena.LocalLake`, which reads a day from `compacted/` once its marker exists) before
and after each day's files are merged per event type into one file, as
`mlaudit.compaction` merges them (the same rows, in the same order, one file; the marker
`compacted/_days/<day>.json` switches readers over). Times are the best of `--repeat` runs,
each also as a ratio to a floor timed in the same run (a fixed DuckDB aggregate, no files),
so a busy machine shows in the floor too. The growth exponent between the smallest and the
largest lake is log(t_large / t_small) / log(16).
"""

from __future__ import annotations

import argparse
import math
import platform
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from mlaudit.compaction import day_marker_key
from mlaudit.layout import COMPACTED_PREFIX, EVENTS_PREFIX
from mlaudit.parquet import to_parquet_bytes

from bench.synthetic import generate, write_lake
from local.athena import DuckDbEngine, LocalLake

START = date(2026, 10, 1)
DAYS = 30
QUERY = "dq_violation_rate"


def floor_seconds() -> float:
    """A fixed amount of DuckDB work over no file: the machine's speed at this moment."""
    started = time.perf_counter()
    duckdb.connect().execute("SELECT sum(i * i % 7) FROM range(20000000) t(i)").fetchall()
    return time.perf_counter() - started


def compact(root: Path) -> int:
    """Merge each day's files per event type into one, and mark the day (the reader's switch)."""
    groups: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for path in sorted((root / EVENTS_PREFIX).glob("event_date=*/event_type=*/*.parquet")):
        groups[(path.parent.parent.name, path.parent.name)].append(path)
    for (day_dir, type_dir), paths in groups.items():
        table = pa.concat_tables([pq.read_table(p, partitioning=None) for p in paths])
        target = root / COMPACTED_PREFIX / day_dir / type_dir / "000000-bench.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(to_parquet_bytes(table))
    days = {day for day, _ in groups}
    for day_dir in days:
        marker = root / day_marker_key(day_dir.split("=", 1)[1])
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("{}")
    return len(groups)


def timed(engine: DuckDbEngine, repeat: int) -> tuple[float, float, Any]:
    """Best time of the query and of the floor (interleaved), and the rows."""
    params = {"from_date": START.isoformat(), "to_date": (START + timedelta(days=DAYS - 1)).isoformat()}
    best, best_floor, rows = math.inf, math.inf, None
    for _ in range(repeat):
        best_floor = min(best_floor, floor_seconds())
        started = time.perf_counter()
        status, rows = engine.run(QUERY, params)
        best = min(best, time.perf_counter() - started)
        assert status.state == "SUCCEEDED", status
    return best, best_floor, sorted(rows or [], key=repr)


def one_size(events: int, rows_per_file: int, repeat: int, threads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mlaudit-bench-compaction-") as folder:
        root = Path(folder)
        files = write_lake(generate(events, days=DAYS, start=START), root, rows_per_file=rows_per_file)
        lake = LocalLake(root)
        engine = DuckDbEngine(lake, threads=threads)
        days = [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
        before_files = len(lake.files(days, None))
        before, floor_before, rows_before = timed(engine, repeat)
        partitions = compact(root)
        after_files = len(lake.files(days, None))
        after, floor_after, rows_after = timed(engine, repeat)
        assert rows_after == rows_before, "compaction changed the answer"
    return {"events": events, "files_before": files, "read_before": before_files, "read_after": after_files,
            "partitions": partitions, "before_s": before, "after_s": after,
            "before_floor": before / floor_before, "after_floor": after / floor_after,
            "floor_s": min(floor_before, floor_after)}


def exponent(small: float, large: float, ratio: float) -> float:
    return math.log(large / small) / math.log(ratio) if small > 0 and large > 0 else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compaction", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=25_000, help="the smallest lake (then 4x and 16x)")
    parser.add_argument("--rows-per-file", type=int, default=26, help="events per source file (default 26)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    sizes = [args.events, args.events * 4, args.events * 16]
    results = [one_size(n, args.rows_per_file, args.repeat, args.threads) for n in sizes]
    print(f"`python -m bench.compaction --events {args.events} --rows-per-file {args.rows_per_file}` on "
          f"{platform.machine()}, Python {platform.python_version()}, "
          f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} UTC\n")
    print(f"| events | files (before → read after) | {QUERY}, 30 days, before | after | before / floor | "
          "after / floor | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['events']:,} | {r['read_before']:,} → {r['read_after']:,} | {r['before_s']:.3f} s | "
              f"{r['after_s']:.3f} s | {r['before_floor']:.1f} | {r['after_floor']:.1f} | "
              f"{r['before_s'] / r['after_s']:.1f}x |")
    small, large = results[0], results[-1]
    print(f"\nGrowth exponent (16x the events): before {exponent(small['before_s'], large['before_s'], 16):.2f}, "
          f"after {exponent(small['after_s'], large['after_s'], 16):.2f} (time); on the floor ratio: before "
          f"{exponent(small['before_floor'], large['before_floor'], 16):.2f}, after "
          f"{exponent(small['after_floor'], large['after_floor'], 16):.2f}. Floor: {small['floor_s']:.3f} s.")


if __name__ == "__main__":
    main()
