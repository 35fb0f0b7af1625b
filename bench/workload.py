"""Realistic prediction events for benchmarks (deterministic: seeded)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta


def prediction_events(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    events = []
    for i in range(n):
        features = {"age": rng.randint(18, 90), "bmi": round(rng.uniform(16, 40), 1),
                    "glucose": round(rng.gauss(100, 20), 2), "smoker": rng.random() < 0.2,
                    "region": rng.choice(["north", "south", "east", "west"])}
        score = rng.random()
        events.append({
            "event_id": f"pred-{seed}-{i:09d}",
            "event_type": "prediction",
            "occurred_at": (start + timedelta(milliseconds=37 * i)).isoformat(),
            "workload": "risk-scoring-service",
            "environment": "prod",
            "model_id": "readmission-risk",
            "model_version": rng.choice(["3.1.0", "3.2.0"]),
            "prediction_id": f"p-{i:09d}",
            "prediction_label": "high" if score > 0.7 else "low",
            "prediction_score": score,
            "latency_ms": round(rng.expovariate(1 / 12), 3),
            "features": features,
            "explanation": {k: round(rng.uniform(-0.5, 0.5), 4) for k in ("age", "bmi", "glucose")},
        })
    return events
