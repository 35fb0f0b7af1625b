"""Benchmark: local end-to-end throughput with 1, 4 and 16 SDK processes.

    python -m bench.throughput                      # 1, 4, 16 processes x 1,000 events
    python -m bench.throughput --processes 1 4 --events 500

Starts the local stack in its own process (`python -m local serve`, bench/client.py), then
for each count P starts P processes that each emit `--events` predictions through the
SDK (`Auditor`, default durability: the spool, its default 10 s request timeout) and flush.
End to end is from the first process's start until every event is stored: the events queue
empty and every one of the run's events in the lake's Parquet. Each sender reports its SDK
statistics: `retries` counts every attempt that was retried (a client timeout, a 5xx, a 409
request_in_progress), which must stay 0.

The floor, timed in the same run: the same P processes sending the same events through the
same SDK to an HTTP server that answers every request 202 at once (what the SDK, HTTP and
the processes cost on this machine without the stack). Then the answer time of single
500-event requests sent as the SDK sends them (its lane headers), one after another, on the
stack left idle, against the same requests to the floor's server. Peak resident memory of
the stack's process is read from /proc.
"""

from __future__ import annotations

import argparse
import http.server
import io
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from bench.client import REPO, event, local_stack
from local import client as local_client

PROCESSES = (1, 4, 16)
EVENTS = 1_000
SINGLE_REQUESTS = 12


def sender(config_path: str, run: str, index: int, n: int, spool: str) -> dict[str, Any]:
    """One SDK process: emit n events, flush, report its statistics."""
    from mlaudit_client import Auditor  # noqa: PLC0415

    config = json.loads(Path(config_path).read_text())
    machine = config["machine_client"]
    began = time.perf_counter()
    with Auditor(api_url=config["api_url"], token_url=config["token_url"], client_id=machine["client_id"],
                 client_secret=machine["client_secret"], spool_dir=spool) as audit:
        for i in range(n):
            audit.emit({**event(i), "workload": run, "prediction_id": f"{run}-{index}-{i:06d}"})
        flushed = audit.flush(3600)
        stats = audit.stats()
    return {**stats, "flushed": flushed, "seconds": time.perf_counter() - began}


def senders(config_path: Path, run: str, processes: int, n: int, workdir: Path) -> list[dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "client"), str(REPO / "lambdas"), str(REPO)])}
    started = [subprocess.Popen(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-m", "bench.throughput", "--sender", str(config_path), run, str(i), str(n),
         tempfile.mkdtemp(dir=workdir)], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        for i in range(processes)]
    reports = []
    for process in started:
        out, _ = process.communicate(timeout=7200)
        if process.returncode:
            raise RuntimeError(f"a sender failed ({process.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def stored(config: dict[str, Any], run: str) -> int:
    """The run's events in the lake (its Parquet files' rows with this workload)."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    s3 = local_client.aws_client(config, "s3")
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=config["bucket"], Prefix="events/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=config["bucket"], Key=item["Key"])["Body"].read()
            table = pq.read_table(io.BytesIO(body), columns=["workload"])
            count += table.column("workload").to_pylist().count(run)
    return count


def wait_stored(config: dict[str, Any], run: str, expected: int, timeout: float = 3600) -> float:
    """When every one of the run's events is stored (the queue drained first: reading the lake is slow)."""
    sqs = local_client.aws_client(config, "sqs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=config["queue_url"], AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        if not any(int(v) for v in attributes.values()):
            done = time.perf_counter()
            found = stored(config, run)
            if found == expected:
                return done
            if found > expected:
                raise RuntimeError(f"{found} of the run's events stored, {expected} sent")
        time.sleep(0.5)
    raise TimeoutError(f"the run's {expected} events were not all stored in {timeout} s")


class _Accept(http.server.BaseHTTPRequestHandler):
    """The floor's server: reads the body, answers 202 (and a token to the token request)."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"access_token": "floor", "expires_in": 3600} if self.path == "/token"
                          else {"accepted": 0}).encode()
        self.send_response(200 if self.path == "/token" else 202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _accepting() -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def floor(processes: int, n: int, workdir: Path) -> float:
    """Events/s the same senders reach against a server that accepts everything at once."""
    server, url = _accepting()
    config_path = workdir / f"floor-{processes}.json"
    config_path.write_text(json.dumps({"api_url": url, "token_url": url + "/token",
                                       "machine_client": {"client_id": "floor", "client_secret": "floor"}}))
    try:
        began = time.perf_counter()
        reports = senders(config_path, "floor", processes, n, workdir)
        elapsed = time.perf_counter() - began
    finally:
        server.shutdown()
    assert all(r["sent"] == n for r in reports), reports
    return processes * n / elapsed


def single_requests(config: dict[str, Any] | None, count: int = SINGLE_REQUESTS, size: int = 500) -> list[float]:
    """Seconds each 500-event request takes to answer, sent one after another as the SDK sends them;
    config None: to a server that accepts at once (the floor: the client, the body and HTTP)."""
    server, url = _accepting() if config is None else (None, config["api_url"])
    token = "floor" if config is None else local_client.machine_token(config)
    lane, times = f"bench-{uuid.uuid4().hex[:8]}", []
    for n in range(count + 1):
        body = {"events": [{**event(i), "event_id": str(uuid.uuid4()), "workload": "bench-single"}
                           for i in range(size)]}
        headers = {**local_client.bearer(token), "X-Mlaudit-Lane": lane, "X-Mlaudit-Lane-Position": str(n)}
        began = time.perf_counter()
        answer = requests.post(url + "/v1/events", json=body, headers=headers, timeout=300)
        if answer.status_code != 202:
            raise RuntimeError(f"a 500-event request got {answer.status_code}: {answer.text[:200]}")
        if n:  # the first warms the function
            times.append(time.perf_counter() - began)
    if server is not None:
        server.shutdown()
    return times


def peak_rss_mb(pid: int) -> float:
    with Path(f"/proc/{pid}/status").open() as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return math.nan


def main(processes: tuple[int, ...] = PROCESSES, n: int = EVENTS) -> dict[str, Any]:
    results: dict[str, Any] = {"runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with local_stack(workdir) as config:
            config_path = workdir / "stack.json"
            for count in processes:
                run = f"bench-{count}-{uuid.uuid4().hex[:8]}"
                began = time.perf_counter()
                reports = senders(config_path, run, count, n, workdir)
                flushed = time.perf_counter()
                done = wait_stored(config, run, count * n)
                results["runs"].append({
                    "processes": count, "events": count * n, "seconds": done - began,
                    "events_per_s": count * n / (done - began), "sent_per_s": count * n / (flushed - began),
                    "retries": sum(r["retries"] for r in reports), "rejected": sum(r["rejected"] for r in reports),
                    "unsent": sum(r["spooled"] for r in reports), "floor_per_s": floor(count, n, workdir),
                })
            results["single_500"] = single_requests(config)
            results["single_500_floor"] = single_requests(None)
            results["stack_peak_rss_mb"] = {"stack": peak_rss_mb(config["pid"]),
                                             "moto": sum(peak_rss_mb(c) for c in _children(config["pid"]))}
    return results


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return found


def growth_exponent(runs: list[dict[str, Any]]) -> float:
    """d log(seconds) / d log(events), first to last run: 1.0 is linear."""
    first, last = runs[0], runs[-1]
    return math.log(last["seconds"] / first["seconds"]) / math.log(last["events"] / first["events"])


def print_table(n: int, results: dict[str, Any]) -> None:
    runs = results["runs"]
    print(f"`python -m bench.throughput --events {n}` on {platform.machine()}, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.1f}\n")
    print("| SDK processes | events | end to end (s) | events/s stored | events/s sent | floor events/s | "
          "share of floor | retries (timeouts, 409, 5xx) | rejected |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['processes']} | {r['events']:,} | {r['seconds']:.1f} | {r['events_per_s']:,.0f} | "
              f"{r['sent_per_s']:,.0f} | {r['floor_per_s']:,.0f} | {r['events_per_s'] / r['floor_per_s']:.3f} | "
              f"{r['retries']} | {r['rejected']} |")
    if len(runs) > 1:
        print(f"\ngrowth exponent of end-to-end time in events: {growth_exponent(runs):.2f}")
    single, floor_single = statistics.median(results["single_500"]), statistics.median(results["single_500_floor"])
    print(f"\n500-event requests, one after another (SDK lane headers): median "
          f"{single:.3f} s, max {max(results['single_500']):.3f} s over {len(results['single_500'])}; floor (the "
          f"same requests to a server that accepts at once) median {floor_single:.3f} s: {single / floor_single:.1f}x")
    rss = results["stack_peak_rss_mb"]
    print(f"peak RSS: the stack's process {rss['stack']:,.0f} MB, moto's {rss['moto']:,.0f} MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--sender":
        _, _, path, run, index, count, spool = sys.argv
        print(json.dumps(sender(path, run, int(index), int(count), spool)))
        sys.exit(0)
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=list(PROCESSES))
    parser.add_argument("--events", type=int, default=EVENTS, help="events per process")
    args = parser.parse_args()
    print_table(args.events, main(tuple(args.processes), args.events))
