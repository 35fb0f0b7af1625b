"""Benchmark: every named query on the local engine (DuckDB) over a generated lake.

    python -m bench.queries --events 10000000 --days 30      # the issue's target size
    python -m bench.queries --events 200000                  # a quick run

Generates N synthetic events (bench/synthetic.py) into a Parquet lake laid out
as the writer lays it out, then times each named query over the whole range and over
one day, with the bytes of the files opened (what Athena would bill as scanned, an
upper bound here: DuckDB reads only the columns it needs). Writes a markdown table.
Generation is pure Python: about 1 minute per million events on this machine.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.synthetic import generate, write_lake
from local.athena import DuckDbEngine, LocalLake


def cases(start: date, days: int) -> list[tuple[str, str, dict[str, Any]]]:
    first, last = start.isoformat(), (start + timedelta(days=days - 1)).isoformat()
    middle = (start + timedelta(days=days // 2)).isoformat()
    half = (start + timedelta(days=days // 2 - 1)).isoformat()
    full = {"from_date": first, "to_date": last}
    one = {"from_date": middle, "to_date": middle}
    out: list[tuple[str, str, dict[str, Any]]] = []
    for label, window in (("all days", full), ("one day", one)):
        out += [
            ("model_timeline", label, {**window, "model_id": "fraud"}),
            ("prediction_volume_latency", label, window),
            ("dq_violation_rate", label, window),
            ("accuracy", label, {**window, "positive_label": "pos"}),
            ("lineage", label, {**window, "model_id": "fraud", "model_version": "v1"}),
            ("access_report", label, window),
            ("subject_events", label, {**window, "subject_pseudonym": "subj-0007"}),
            ("events_deduplicated", label, window),
        ]
    out.append((
        "drift_psi", "two halves", {
            "baseline_from_date": first, "baseline_to_date": half, "current_from_date": middle,
            "current_to_date": last, "model_id": "fraud", "feature": "$.age",
        },
    ))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lake", type=Path, help="reuse or create the lake here (default: a temp folder)")
    parser.add_argument("--out", type=Path, help="write the markdown table here as well")
    args = parser.parse_args()

    start = date(2026, 10, 1)
    lake = args.lake or Path(tempfile.mkdtemp(prefix="mlaudit-bench-"))
    began = time.perf_counter()
    if not (lake / "events").exists():
        write_lake(generate(args.events, days=args.days, start=start), lake)
    generated = time.perf_counter() - began
    lake_bytes = sum(p.stat().st_size for p in (lake / "events").rglob("*.parquet"))
    engine = DuckDbEngine(LocalLake(lake), threads=args.threads, keep=2)

    lines = [
        f"Named queries on DuckDB, {args.events:,} generated events over {args.days} days "
        f"({lake_bytes / 1e6:.1f} MB of Parquet, generated in {generated:.0f} s), "
        f"{args.threads} threads, {platform.machine()}, {platform.python_version()}.",
        "",
        "| query | range | rows | bytes read | share of lake | seconds |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, label, params in cases(start, args.days):
        t0 = time.perf_counter()
        execution_id = engine.start(name, engine.catalog.get(name).check(params))
        status, rows = engine.status(execution_id), engine.row_count(execution_id)
        seconds = time.perf_counter() - t0
        if status.state != "SUCCEEDED":
            raise SystemExit(f"{name} ({label}): {status.state} {status.reason}")
        scanned = status.bytes_scanned or 0
        lines.append(
            f"| {name} | {label} | {rows:,} | {scanned:,} | {scanned / lake_bytes:.1%} | {seconds:.2f} |"
        )
        print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)


if __name__ == "__main__":
    main()
