"""The pipeline's numbers: ingest and writer throughput, bytes per event, ingest import time.

Run: `make bench` (or `python -m bench.pipeline [events]`). One process and CPU time
(time.process_time), so events/s is per core and other load on the machine weighs less.
AWS calls are replaced by in-memory adapters (mlaudit.adapters.memory): the numbers are our code's.
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from mlaudit.adapters.memory import MemoryBucket, MemoryIdempotencyStore, MemoryLedger, MemoryQueue
from mlaudit.settings import FUNCTION_RUNTIME_ENVIRONMENT

from bench.workload import prediction_events
from local.runtime import LambdaContext

BATCH = 500


def api_event(body: str) -> dict[str, Any]:
    return {
        "httpMethod": "POST", "path": "/v1/events", "resource": "/v1/events", "isBase64Encoded": False,
        "headers": {"Content-Type": "application/json"}, "body": body,
        "requestContext": {
            "identity": {"sourceIp": "10.1.2.3", "userAgent": "bench"},
            "authorizer": {"principal_kind": "workload", "actor_id": "bench-client", "client_id": "bench-client",
                           "roles": "", "scopes": "events.write"},
        },
    }


ROUNDS = 5  # this machine is a VM whose speed wanders: medians of several rounds


def bench_ingest(
    n_events: int, rounds: int = 1, events: list[dict[str, Any]] | None = None,
) -> tuple[list[float], list[str]]:
    """Events/s through mlaudit.handlers.ingest.handler with in-memory adapters, per round
    (the prediction workload unless `events` are given)."""
    import logging

    from mlaudit.handlers import ingest as handler_module
    from mlaudit.ingest.request import IngestLimits
    from mlaudit.ingest.service import IngestService

    logging.getLogger("mlaudit-ingest").setLevel(logging.WARNING)
    queue = MemoryQueue()
    service = IngestService(store=MemoryIdempotencyStore(), queue=queue, limits=IngestLimits())
    handler_module.APP.configure(service=service)  # the in-memory adapters
    events = prediction_events(n_events) if events is None else events
    requests = [api_event(json.dumps({"events": events[i:i + BATCH]})) for i in range(0, n_events, BATCH)]
    del events
    handler_module.handler(requests[0], LambdaContext("ingest", 30))  # warm-up (not counted)
    # A Lambda process holds little besides its modules: keep the benchmark's own set-up
    # out of the garbage collector's full passes, or they would be timed too.
    gc.collect()
    gc.freeze()
    rates = []
    for _ in range(rounds):
        queue.packs.clear()
        service.store = MemoryIdempotencyStore()  # every round is new to the idempotency store
        start = time.process_time()
        for request in requests:
            response = handler_module.handler(request, LambdaContext("ingest", 30))
            assert response["statusCode"] == 202, response["body"]
        rates.append(n_events / (time.process_time() - start))
    assert sum(pack.count for pack in queue.packs) == n_events
    return rates, [pack.body for pack in queue.packs]


def bench_writer(pack_bodies: list[str], n_events: int, rounds: int = 1) -> tuple[list[float], dict[str, bytes]]:
    """Events/s through WriterService.process, with the integrity sink (file tree,
    manifest, log entry) on in-memory stores: all the writer's work but S3's latency."""
    from mlaudit.integrity.sink import IntegritySink
    from mlaudit.writer import Message, WriterService

    messages = [Message(f"m{i}", f"pack{i}", body) for i, body in enumerate(pack_bodies)]
    gc.collect()
    gc.freeze()
    rates = []
    objects = MemoryBucket()
    for _ in range(rounds):
        objects = MemoryBucket()
        service = WriterService(objects=objects, ledger=MemoryLedger(), integrity=IntegritySink(MemoryBucket()))
        start = time.process_time()
        report = service.process(messages)
        rates.append(n_events / (time.process_time() - start))
        assert not report.failed_message_ids and sum(report.files.values()) == n_events
    return rates, objects.objects


def bytes_per_event(objects: dict[str, bytes], n_events: int) -> dict[str, float]:
    """Stored Parquet vs the same stored rows as gzip-6 JSON lines (CloudTrail's format),
    with and without the leaf hash: 32 random bytes a row that no format compresses."""
    from mlaudit.layout import COLUMN_NAMES
    from mlaudit.parquet import read_parquet_bytes, to_parquet_bytes

    tables = [read_parquet_bytes(body) for body in objects.values()]
    lines, lines_no_hash = [], []
    for table in tables:
        for row in table.to_pylist():
            record = {k: row[k] for k in COLUMN_NAMES}
            lines.append(json.dumps(record, default=str, separators=(",", ":")))
            record.pop("leaf_hash")
            lines_no_hash.append(json.dumps(record, default=str, separators=(",", ":")))
    parquet = sum(len(body) for body in objects.values())
    parquet_no_hash = sum(len(to_parquet_bytes(t.drop_columns(["leaf_hash"]))) for t in tables)
    gz = len(gzip.compress("\n".join(lines).encode(), compresslevel=6))
    gz_no_hash = len(gzip.compress("\n".join(lines_no_hash).encode(), compresslevel=6))
    return {
        "parquet_bytes_per_event": parquet / n_events,
        "gzip_json_bytes_per_event": gz / n_events,
        "parquet_to_gzip": parquet / gz,
        "parquet_to_gzip_without_leaf_hash": parquet_no_hash / gz_no_hash,
    }


def import_time(runs: int = 7) -> tuple[float, bool]:
    code = ("import time,sys; t=time.perf_counter(); import mlaudit.handlers.ingest; "
            "print(time.perf_counter()-t, 'pyarrow' in sys.modules or 'duckdb' in sys.modules)")
    samples, heavy = [], False
    for _ in range(runs):
        env = {**os.environ, **FUNCTION_RUNTIME_ENVIRONMENT}  # as the CDK app sets it on Lambda
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env=env).stdout.split()
        samples.append(float(out[0]))
        heavy = heavy or out[1] == "True"
    return statistics.median(samples) * 1000, heavy


def main(n_events: int = 100_000) -> dict[str, Any]:
    ingest_rates, packs = bench_ingest(n_events, ROUNDS)
    writer_rates, objects = bench_writer(packs, n_events, ROUNDS)
    sizes = bytes_per_event(objects, n_events)
    import_ms, heavy = import_time()
    return {
        "events": n_events,
        "ingest_events_per_s": statistics.median(ingest_rates),
        "ingest_events_per_s_range": f"{min(ingest_rates):,.0f} to {max(ingest_rates):,.0f}",
        "writer_events_per_s": statistics.median(writer_rates),
        "writer_events_per_s_range": f"{min(writer_rates):,.0f} to {max(writer_rates):,.0f}",
        **sizes,
        "ingest_import_ms": import_ms,
        "ingest_imports_pyarrow_or_duckdb": heavy,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000), indent=2))
