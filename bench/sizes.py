"""Bytes per event on two workloads: `make bench`'s predictions, and `make demo`'s mix
(a model's training and deployment, predictions with features and explanations, and
ground-truth labels for most of them). `python -m bench.sizes [predictions]`.

Both go through the real ingest handler and writer (in-memory adapters), and are
compared with the same rows as gzip-6 JSON lines (`bench.pipeline.bytes_per_event`).
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime
from typing import Any

from mlaudit_client.events import EventHelpers

from bench.pipeline import bench_ingest, bench_writer, bytes_per_event
from bench.workload import prediction_events


class _Capture(EventHelpers):
    """Stands in for the SDK's Auditor: the same typed helpers, keeping what the demo would send."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, event: Any) -> str | None:
        # What the Auditor adds before spooling: the time, when the caller gave none.
        self.events.append({"occurred_at": datetime.now(UTC).isoformat(), **event})
        return None


def demo_events(n_predictions: int, seed: int = 7) -> list[dict[str, Any]]:
    from examples.demo import run_workload

    capture = _Capture()
    run_workload(capture, n_predictions, random.Random(seed))  # type: ignore[arg-type]
    return [{**event, "event_id": f"demo-{i:07d}"} for i, event in enumerate(capture.events)]


def sizes(events: list[dict[str, Any]]) -> dict[str, float]:
    _, packs = bench_ingest(len(events), 1, events=events)
    _, objects = bench_writer(packs, len(events), 1)
    return {"events": len(events), **bytes_per_event(objects, len(events))}


def main(n_predictions: int = 100_000) -> dict[str, dict[str, float]]:
    return {
        "bench_predictions": sizes(prediction_events(n_predictions)),
        "demo_mix": sizes(demo_events(n_predictions)),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000), indent=2))
