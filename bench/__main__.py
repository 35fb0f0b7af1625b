"""`make bench`: the pipeline benchmark, printed as the Markdown table docs/benchmarks.md keeps
(throughput as a share of a floor timed in the same run: see bench/pipeline.py).

`python -m bench [events]` (default 100,000). The query, integrity and client SDK
benchmarks have their own entry points (`python -m bench.queries`, `python -m bench.client`,
see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import platform

from bench import pipeline

TARGETS = {
    "ingest_events_per_s": (">=", 20_000),
    "ingest_share_of_floor": (">=", 0.5),
    "writer_events_per_s": (">=", 100_000),
    "writer_share_of_floor": (">=", 0.5),
    "parquet_to_gzip": ("<=", 0.6),
    "ingest_import_ms": ("<=", 300),
    "import_to_baseline": ("<=", 0.5),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="The pipeline benchmark, as the table of docs/benchmarks.md."
    )
    parser.add_argument("events", nargs="?", type=int, default=100_000, help="events to push (default %(default)s)")
    n_events = parser.parse_args(argv).events
    results = pipeline.main(n_events)
    print(f"`python -m bench {n_events}` on {platform.machine()}, Python {platform.python_version()}\n")
    print("| measure | result | target |")
    print("|---|---|---|")
    for name, value in results.items():
        target = TARGETS.get(name)
        shown = f"{value:,.3f}" if isinstance(value, float) and value < 10 else (
            f"{value:,.0f}" if isinstance(value, float) else "not measured (no git history)" if value is None
            else str(value))
        print(f"| {name} | {shown} | {' '.join(map(str, target)) if target else ''} |")


if __name__ == "__main__":
    main()
