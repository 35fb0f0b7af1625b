"""Monitors: declarative conditions per model, evaluated on a schedule through the named
queries (monitors.json; docs/monitoring.md, "Monitors").

Each monitor names a kind (drift, dq_rate), its windows as relative times (minutes
before the evaluation), a threshold and the fewest events its window must hold. The file
is checked when loaded: a bad file fails the function at start, never half way.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

MONITORS_FILE = Path(__file__).parent / "monitors.json"
NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")  # a metric dimension and an alarm name part
FEATURE = re.compile(r"^\$\.[A-Za-z_][A-Za-z0-9_]{0,63}$")  # as the query's feature parameter
MAX_WINDOW_MINUTES = 7 * 24 * 60  # the queries read at most 31 days of partitions
MAX_MONITORS = 200  # each is an alarm and a metric series
INTERVAL_MINUTES = 5  # the schedule on AWS (the local stack's --monitor-interval)


class MonitorsFileError(ValueError):
    """The monitors file is malformed."""


Kind = Literal["drift", "dq_rate", "volume", "latency_p99", "accuracy"]
KINDS: dict[str, tuple[set[str], set[str]]] = {  # kind -> (required keys, optional keys)
    "drift": ({"current_minutes", "baseline_minutes"}, {"metric", "feature", "bins", "model_version"}),
    "dq_rate": ({"window_minutes"}, {"rule_id", "event_type"}),
    # Predictions in the window: a spike above the threshold, or with direction below, a drop.
    "volume": ({"window_minutes"}, {"model_version"}),
    "latency_p99": ({"window_minutes"}, {"model_version"}),
    # Of the window's predictions with a label by now: below the threshold by default.
    "accuracy": ({"window_minutes"}, {"model_version"}),
}
COMMON = {"name", "kind", "threshold", "direction", "min_events", "description"}


@dataclass(frozen=True)
class Monitor:
    model_id: str
    name: str
    kind: Kind
    threshold: float
    direction: str = "above"  # ALARM when the value is above the threshold, or below it
    min_events: int = 1  # fewer events in the window: INSUFFICIENT_DATA (not for volume: 0 is a drop)
    # drift
    metric: str = "prediction_score"  # prediction_score | feature
    feature: str | None = None
    bins: int = 10
    model_version: str | None = None
    current_minutes: int = 0
    baseline_minutes: int = 0
    # dq_rate
    window_minutes: int = 0
    rule_id: str | None = None
    event_type: str | None = None
    description: str = ""

    @property
    def key(self) -> str:
        """Unique in the file (a name is unique within its model)."""
        return f"{self.model_id}/{self.name}"

    @property
    def query(self) -> str:
        return {"drift": "monitor_drift_psi", "dq_rate": "monitor_dq_rate", "volume": "monitor_volume_latency",
                "latency_p99": "monitor_volume_latency", "accuracy": "monitor_accuracy"}[self.kind]

    @property
    def reach_minutes(self) -> int:
        """How far back its windows start."""
        return self.current_minutes + self.baseline_minutes if self.kind == "drift" else self.window_minutes


def parse(document: Any) -> tuple[Monitor, ...]:
    if not isinstance(document, dict) or document.get("version") != 1 or not isinstance(document.get("models"), dict):
        raise MonitorsFileError('a monitors file is {"version": 1, "models": {model_id: {"monitors": [...]}}}')
    monitors: list[Monitor] = []
    for model_id, model in document["models"].items():
        if not isinstance(model_id, str) or not 0 < len(model_id) <= 128:
            raise MonitorsFileError("a model id is 1 to 128 characters")
        if not isinstance(model, dict) or set(model) != {"monitors"} or not isinstance(model["monitors"], list):
            raise MonitorsFileError(f'model {model_id}: {{"monitors": [...]}}')
        for entry in model["monitors"]:
            monitors.append(_monitor(model_id, entry))
    keys = [m.key for m in monitors]
    if len(set(keys)) != len(keys):
        raise MonitorsFileError("a monitor's name is unique within its model")
    if len(monitors) > MAX_MONITORS:
        raise MonitorsFileError(f"at most {MAX_MONITORS} monitors")
    return tuple(monitors)


def _monitor(model_id: str, entry: Any) -> Monitor:
    name = _check_keys(f"model {model_id}", entry)
    where = f"monitor {model_id}/{name}"
    threshold = entry["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold):
        raise MonitorsFileError(f"{where}: threshold is a finite number")
    _check_integers(where, entry)
    _check_choices(where, entry)
    for key in ("rule_id", "event_type", "model_version", "description"):
        if key in entry and not (isinstance(entry[key], str) and 0 < len(entry[key]) <= 256):
            raise MonitorsFileError(f"{where}: {key} is a string of 1 to 256 characters")
    direction = entry.get("direction", "below" if entry["kind"] == "accuracy" else "above")
    return Monitor(model_id=model_id, **{**entry, "threshold": float(threshold), "direction": direction})


def _check_keys(where: str, entry: Any) -> str:
    """The entry's kind and keys (those of its kind, no others), and its name."""
    if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
        raise MonitorsFileError(f"{where}: each monitor has a kind, one of {sorted(KINDS)}")
    required, optional = KINDS[entry["kind"]]
    missing = ({"name", "kind", "threshold"} | required) - set(entry)
    unknown = set(entry) - COMMON - required - optional
    if missing or unknown:
        raise MonitorsFileError(f"{where}: missing {sorted(missing)}, unknown {sorted(unknown)}")
    name = entry["name"]
    if not isinstance(name, str) or not NAME.match(name):
        raise MonitorsFileError(f"{where}: a monitor's name matches {NAME.pattern}")
    return name


def _check_integers(where: str, entry: dict[str, Any]) -> None:
    """Windows in minutes (at most MAX_WINDOW_MINUTES), min_events, bins (2 to 50)."""
    for key in KINDS[entry["kind"]][0] | {"min_events", "bins"} & set(entry):
        value = entry[key]
        upper = 50 if key == "bins" else MAX_WINDOW_MINUTES if key.endswith("_minutes") else 10**9
        lower = 2 if key == "bins" else 1
        if isinstance(value, bool) or not isinstance(value, int) or not lower <= value <= upper:
            raise MonitorsFileError(f"{where}: {key} is an integer from {lower} to {upper}")


def _check_choices(where: str, entry: dict[str, Any]) -> None:
    """direction, and metric with the feature it names."""
    if entry.get("direction", "above") not in ("above", "below"):
        raise MonitorsFileError(f"{where}: direction is above or below")
    metric = entry.get("metric", "prediction_score")
    if metric not in ("prediction_score", "feature") or (metric == "feature") != ("feature" in entry):
        raise MonitorsFileError(f"{where}: metric is prediction_score, or feature with a feature path")
    if "feature" in entry and not (isinstance(entry["feature"], str) and FEATURE.match(entry["feature"])):
        raise MonitorsFileError(f"{where}: feature matches {FEATURE.pattern}")


def load(path: Path | str | None = None) -> tuple[Monitor, ...]:
    """The monitors of a file (default: the packaged monitors.json)."""
    return _load(str(path or MONITORS_FILE))


@lru_cache(maxsize=8)
def _load(path: str) -> tuple[Monitor, ...]:
    try:
        document = json.loads(Path(path).read_text())
    except ValueError as exc:
        raise MonitorsFileError(f"{path}: not JSON ({exc})") from None
    return parse(document)
