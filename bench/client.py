"""Benchmark: what `Auditor.emit` costs the calling thread, and how fast one process sends.

    python -m bench.client                    # 20,000 emits per case; starts its own local stack
    python -m bench.client --emits 2000       # a quick run

For each durability setting, with the API up (the local stack, in its own process) and
with it down (a port nothing listens on: every send is refused and retried), it times
each `emit` on its own (`perf_counter_ns` around the call) in an inference-like loop:
bursts of 100 emits, 5 ms apart. Floors timed the same way in the same run: a bare
`list.append` of the event and a bare `os.write` of its JSON line to an append-only file.
Then: events/s one process sends into the local stack (emits as fast as it can, then
`flush`), and the spool's write rate (emits with the API down: all of it goes to disk).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlaudit_client import Auditor

REPO = Path(__file__).resolve().parents[1]
BURST, PAUSE = 100, 0.005
TARGETS = {("spool", "median"): 20, ("spool", "p99"): 200, ("memory", "median"): 5}


def event(i: int) -> dict[str, Any]:
    """What an inference service emits per prediction (about 300 bytes as JSON)."""
    return {"event_type": "prediction", "occurred_at": "2026-11-29T10:00:00.123456+00:00", "workload": "bench",
            "model_id": "churn", "model_version": "7", "prediction_id": f"p-{i:08d}", "prediction_label": "churn",
            "prediction_score": 0.8312345, "latency_ms": 1.234,
            "features": {"age": 43.1, "bmi": 27.2, "glucose": 104.5, "prior": float(i % 5)},
            "explanation": {"age": 0.1, "bmi": -0.2}}


def timed(call: Callable[[dict[str, Any]], Any], n: int) -> list[int]:
    """Nanoseconds of each call, in bursts with pauses (the worker runs in the pauses)."""
    samples = []
    events = [event(i) for i in range(n)]
    clock = time.perf_counter_ns
    for start in range(0, n, BURST):
        for e in events[start:start + BURST]:
            t0 = clock()
            call(e)
            samples.append(clock() - t0)
        time.sleep(PAUSE)
    return samples


def summary(samples: list[int]) -> dict[str, float]:
    ordered = sorted(samples)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000  # noqa: E731 - µs
    return {"median": at(0.5), "p99": at(0.99), "p99.9": at(0.999), "max": ordered[-1] / 1000}


def floors(n: int, workdir: Path) -> dict[str, dict[str, float]]:
    held: list[Any] = []
    fd = os.open(workdir / "floor.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    line = (json.dumps(event(0), separators=(",", ":")) + "\n").encode()
    try:
        return {"list.append": summary(timed(held.append, n)),
                "os.write": summary(timed(lambda e: os.write(fd, line), n))}
    finally:
        os.close(fd)


def emit_costs(config: dict[str, Any], n: int, workdir: Path) -> dict[str, dict[str, float]]:
    down = f"http://127.0.0.1:{_free_port()}/local"  # nothing listens: the API is down
    results = {}
    for durability in ("spool", "fsync", "memory"):
        for api, url in (("up", config["api_url"]), ("down", down)):
            spool = tempfile.mkdtemp(dir=workdir)
            audit = Auditor(**_settings(config, spool, api_url=url, durability=durability))
            results[f"{durability}, API {api}"] = summary(timed(audit.emit, n))
            stats = audit.stats()
            if api == "up":
                assert audit.flush(120), "the bench's events were not all sent"
                assert audit.stats()["sent"] == n, audit.stats()
            else:
                assert stats["sent"] == 0, "the API was down"
            audit.close(0)
    return results


def throughput(config: dict[str, Any], n: int, workdir: Path) -> dict[str, float]:
    """Events/s into the local stack, and the spool's write rate (the API down)."""
    out = {}
    audit = Auditor(**_settings(config, tempfile.mkdtemp(dir=workdir)))
    events = [event(i) for i in range(n)]
    started = time.perf_counter()
    for e in events:
        audit.emit(e)
    assert audit.flush(600)
    out["sent_events_per_s"] = n / (time.perf_counter() - started)
    assert audit.stats()["sent"] == n
    audit.close()

    down = f"http://127.0.0.1:{_free_port()}/local"
    spool = tempfile.mkdtemp(dir=workdir)
    audit = Auditor(**_settings(config, spool, api_url=down))
    started = time.perf_counter()
    for e in events:
        audit.emit(e)
    elapsed = time.perf_counter() - started
    written = sum(p.stat().st_size for p in Path(spool).rglob("seg-*.log"))
    audit.close(0)
    out["spool_events_per_s"] = n / elapsed
    out["spool_mb_per_s"] = written / elapsed / 1e6
    return out


def _settings(config: dict[str, Any], spool: str, **overrides: Any) -> dict[str, Any]:
    machine = config["machine_client"]
    return {"api_url": config["api_url"], "token_url": config["token_url"], "client_id": machine["client_id"],
            "client_secret": machine["client_secret"], "spool_dir": spool, "max_memory_events": 10_000_000,
            **overrides}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_stack(workdir: Path) -> Iterator[dict[str, Any]]:
    """`python -m local serve` in its own process, so its work does not share our GIL."""
    config_path = workdir / "stack.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "lambdas"), str(REPO)]),
           "POWERTOOLS_LOG_LEVEL": "WARNING"}
    with (workdir / "stack.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "local", "serve", "--config-out", str(config_path),
                                    "--writer-window", "1"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not config_path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the local stack did not start; see {workdir / 'stack.log'}")
            time.sleep(0.1)
        yield {**json.loads(config_path.read_text()), "pid": process.pid}
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


def main(n: int, config: dict[str, Any] | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if config is None:
            with local_stack(workdir) as started:
                return run(started, n, workdir)
        return run(config, n, workdir)


def run(config: dict[str, Any], n: int, workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"floors": floors(n, workdir)}
    results["emit"] = emit_costs(config, n, workdir)
    results.update(throughput(config, n * 2, workdir))
    return results


def print_table(n: int, results: dict[str, Any]) -> None:
    print(f"`python -m bench.client --emits {n}` on {platform.machine()}, Python {platform.python_version()}\n")
    print("| emit cost (µs) | median | p99 | p99.9 | max | median / os.write floor | target |")
    print("|---|---|---|---|---|---|---|")
    floor = results["floors"]["os.write"]["median"]
    for name, s in [*results["floors"].items(), *results["emit"].items()]:
        durability = name.split(",")[0]
        target = ", ".join(f"{q} ≤ {v}" for (d, q), v in TARGETS.items() if d == durability and "," in name)
        print(f"| {name} | {s['median']:.1f} | {s['p99']:.1f} | {s['p99.9']:.1f} | {s['max']:.0f} | "
              f"{s['median'] / floor:.1f} | {target} |")
    print()
    print(f"events/s one process sends into the local stack: {results['sent_events_per_s']:,.0f}")
    print(f"spool write rate (API down): {results['spool_events_per_s']:,.0f} events/s, "
          f"{results['spool_mb_per_s']:.1f} MB/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.client", description=__doc__.splitlines()[0])
    parser.add_argument("--emits", type=int, default=20_000)
    n = parser.parse_args().emits
    logging.getLogger("mlaudit_client").setLevel(logging.CRITICAL)  # the API-down cases warn by design
    print_table(n, main(n))
