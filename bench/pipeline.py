"""The pipeline's numbers: ingest and writer throughput, each as a share of its floor,
bytes per event, and the ingest handler's cold import against a bare interpreter.

Run: `make bench` (or `python -m bench.pipeline [events]`). One process and CPU time
(time.process_time), so events/s is per core and other load on the machine weighs less.
AWS calls are replaced by in-memory adapters (mlaudit.adapters.memory): the numbers are our code's.

Absolute rates wander by 40% on these machines, so each is set against a floor timed in
the same round on the same events: the least work any implementation must do.

- Ingest's floor: the request bodies through a typed decode that checks the contract's
  types, lengths, patterns and unknown fields (msgspec, a Struct compiled from the same
  contract) and the two rules a schema cannot state (the free-form JSON bounds, the
  timestamp's calendar and range), then per event what any implementation must make of
  it: its leaf record's canonical bytes (the event with the server's fields, JSON fields
  as canonical text: docs/integrity.md), their SHA-256 leaf hash, and one queue line.
  `check_ingest_floor` proves, before timing, that these are the very leaves ingest
  makes. Not in the floor: duplicate-key refusal, data-quality rules, idempotency claims
  and fingerprints, packs' shared fields, the HTTP handler.
- The writer's floor: the same queue packs through Arrow's JSON reader into the stored
  columns, then one zstd Parquet write of them all (no partitioning, no per-column
  encodings, no integrity records, no ledger).
- The cold import: a fresh `python -c "import mlaudit.handlers.ingest"` less a fresh
  `python -c pass`, against the same for the code of a baseline commit (BASELINE), checked
  out into a temporary directory in the same run when git has it.
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mlaudit.adapters.memory import MemoryBucket, MemoryIdempotencyStore, MemoryLedger, MemoryQueue
from mlaudit.env import FUNCTION_RUNTIME_ENVIRONMENT

from bench.workload import prediction_events
from local.runtime import LambdaContext

BATCH = 500
# The code before issue 17 (pydantic on the ingest path): the cold import's baseline.
BASELINE = "e7f61f3"


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
    n_events: int, rounds: int = 1, events: list[dict[str, Any]] | None = None, bodies: list[bytes] | None = None,
) -> tuple[list[float], list[str]]:
    """Events/s through mlaudit.handlers.ingest.handler with in-memory adapters, per round
    (the prediction workload unless `events`, or request `bodies`, are given)."""
    if bodies is None:
        events = prediction_events(n_events) if events is None else events
        bodies = [json.dumps({"events": events[i:i + BATCH]}).encode() for i in range(0, n_events, BATCH)]
        del events
    rates, _, packs = _time_ingest(bodies, rounds)
    return rates, packs


def ingest_against_floor(bodies: list[bytes], rounds: int) -> tuple[list[float], list[float], list[str]]:
    """(ingest's events/s, its share of the floor's rate, per round; the packs). The floor
    and the handler take turns every CHUNK requests, so that the machine's changes of pace
    (40% on these VMs) fall on both alike."""
    return _time_ingest(bodies, rounds, ingest_floor())


CHUNK = 10  # requests (5,000 events) between the floor's turns and the handler's


def _time_ingest(
    bodies: list[bytes], rounds: int, floor: Any = None,
) -> tuple[list[float], list[float], list[str]]:
    import logging

    from mlaudit.adapters.memory import MemorySubjectKeys
    from mlaudit.handlers import ingest as handler_module
    from mlaudit.ingest.request import IngestLimits
    from mlaudit.ingest.service import IngestService
    from mlaudit.privacy import SubjectProtector

    logging.getLogger("mlaudit-ingest").setLevel(logging.WARNING)
    queue = MemoryQueue()
    # As deployed: a subject key store (the demo's mix carries personal fields; a store-less
    # ingest refuses them).
    service = IngestService(store=MemoryIdempotencyStore(), queue=queue, limits=IngestLimits(),
                            protector=SubjectProtector(MemorySubjectKeys()))
    handler_module.APP.configure(service=service)  # the in-memory adapters
    requests = [api_event(body.decode()) for body in bodies]
    n_events = sum(len(json.loads(body)["events"]) for body in bodies)
    handler_module.handler(requests[0], LambdaContext("ingest", 30))  # warm-up (not counted)
    # A Lambda process holds little besides its modules: keep the benchmark's own set-up
    # out of the garbage collector's full passes, or they would be timed too.
    gc.collect()
    gc.freeze()
    rates, shares = [], []
    for _ in range(rounds):
        queue.packs.clear()
        service.store = MemoryIdempotencyStore()  # every round is new to the idempotency store
        spent = floor_spent = 0.0
        for at in range(0, len(requests), CHUNK):
            if floor is not None:
                start = time.process_time()
                for body in bodies[at:at + CHUNK]:
                    b"\n".join(floor(body))
                floor_spent += time.process_time() - start
            start = time.process_time()
            for request in requests[at:at + CHUNK]:
                response = handler_module.handler(request, LambdaContext("ingest", 30))
                assert response["statusCode"] == 202, response["body"]
            spent += time.process_time() - start
        rates.append(n_events / spent)
        if floor is not None:
            shares.append(floor_spent / spent)
    assert sum(pack.count for pack in queue.packs) == n_events
    return rates, shares, [pack.body for pack in queue.packs]


# What the server adds to each stored event (mlaudit.ingest.identity.server_fields), as
# the floor adds it.
FLOOR_SERVER = {"received_at": "2026-11-30T00:00:00.000Z", "actor_id": "bench-client", "actor_type": "service",
                "actor_roles": [], "client_id": "bench-client", "source_ip": "10.1.2.3", "user_agent": "bench",
                "subject_pseudonym": None, "dq_status": "pass", "dq_violations": []}


def ingest_floor() -> Any:
    """The ingest floor (see the module): request body -> the queue lines of its events,
    each the event's canonical leaf bytes with its leaf hash."""
    import msgspec
    from mlaudit.codec import encode_sorted, format_timestamp
    from mlaudit.contract import JSON_FIELDS, _check_json, parse_timestamp
    from mlaudit.ingest.decode import contract_struct

    decode = msgspec.json.Decoder(contract_struct(batch=True)).decode
    as_dict = msgspec.structs.asdict
    sha256 = hashlib.sha256

    def lines(body: bytes) -> list[bytes]:
        out = []
        for event in decode(body).events:
            record = as_dict(event)
            # What the schema cannot say: the calendar and the range, the free-form bounds.
            record["occurred_at"] = format_timestamp(parse_timestamp(record["occurred_at"]))
            for name in JSON_FIELDS:
                value = record[name]
                if value is not None:
                    _check_json(value)
                    record[name] = encode_sorted(value).decode()  # stored as canonical text
            del record["subject_ref"]
            record["personal_data"] = None
            record["inputs"] = record["inputs"] or []
            record["outputs"] = record["outputs"] or []
            record.update(FLOOR_SERVER)
            canonical = encode_sorted(record)  # the leaf record's canonical bytes
            digest = sha256(b"\x00" + canonical).hexdigest()  # its leaf hash
            out.append(canonical[:-1] + b',"leaf_hash":"' + digest.encode() + b'"}')  # its queue line
        return out

    return lines


def check_ingest_floor(body: bytes) -> None:
    """The floor makes the very leaves ingest makes (given the same server fields)."""
    from mlaudit.ingest.decode import decode_events
    from mlaudit.ingest.records import leaf_record
    from mlaudit.leaf import encode_leaf

    events = decode_events(body)
    assert events is not None
    leaves = [encode_leaf(leaf_record(event, event.event_id, {k: FLOOR_SERVER[k] for k in FLOOR_SERVER
                                                               if not k.startswith(("dq_", "subject_"))},
                                      "pass", ())) for event in events]
    floor = [line[:line.rindex(b',"leaf_hash"')] + b"}" for line in ingest_floor()(body)]
    assert floor == leaves, "the ingest floor no longer makes ingest's leaves"


def writer_floor_seconds(pack_bodies: list[bytes]) -> float:
    """CPU seconds for the writer floor (see the module): each pack through Arrow's JSON
    reader into the stored columns (`pack.parse_pack`: its own fields read against the
    file's schema, the shared ones as constants), then all of them in one zstd Parquet write."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from mlaudit.pack import parse_pack

    start = time.process_time()
    table = pa.concat_tables([parse_pack(body) for body in pack_bodies])
    pq.write_table(table, pa.BufferOutputStream(), compression="zstd")
    return time.process_time() - start


def bench_writer(pack_bodies: list[str], n_events: int, rounds: int = 1) -> tuple[list[float], dict[str, bytes]]:
    """Events/s through WriterService.process, with the integrity sink (file tree,
    manifest, log entry) on in-memory stores: all the writer's work but S3's latency."""
    from mlaudit.integrity.services.sink import IntegritySink
    from mlaudit.pack import pack_id_of
    from mlaudit.writer import Message, WriterService

    messages = [Message(f"m{i}", pack_id_of(body), body) for i, body in enumerate(pack_bodies)]
    gc.collect()
    gc.freeze()
    rates = []
    objects = MemoryBucket()
    for _ in range(rounds):
        objects = MemoryBucket()
        service = WriterService(objects=objects, ledger=MemoryLedger(),
                                integrity=IntegritySink(MemoryBucket(), log_id="mlaudit/bench"))
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


def ingest_imports_heavy() -> bool:
    """Whether importing the ingest handler loads pyarrow or duckdb (it must not)."""
    code = "import sys, mlaudit.handlers.ingest; print('pyarrow' in sys.modules or 'duckdb' in sys.modules)"
    env = {**os.environ, **FUNCTION_RUNTIME_ENVIRONMENT}  # as the CDK app sets it on Lambda
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=env).stdout.strip() == "True"


def _start_seconds(code: str, lambdas: Path) -> float:
    """Wall time of a fresh interpreter running `code` with `lambdas` on its path."""
    env = {**os.environ, **FUNCTION_RUNTIME_ENVIRONMENT, "PYTHONPATH": str(lambdas)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return time.perf_counter() - start


def cold_import(runs: int = 9, baseline: str = BASELINE) -> dict[str, Any]:
    """The ingest handler's import, in ms beyond a bare interpreter's start, for this code
    and for `baseline`'s (None when git cannot check it out), rounds interleaved."""
    here = Path(__file__).resolve().parents[1] / "lambdas"
    with tempfile.TemporaryDirectory() as tmp:
        old: Path | None = Path(tmp) / "lambdas"
        archive = subprocess.run(["git", "-C", str(here.parent), "archive", baseline, "lambdas"],
                                 capture_output=True, check=False)
        if archive.returncode == 0:
            subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        else:
            old = None
        bare, new, before = [], [], []
        for path in (here, old) if old else (here,):  # compile each tree's bytecode first
            _start_seconds("import mlaudit.handlers.ingest", path)
        for _ in range(runs):
            bare.append(_start_seconds("pass", here))
            new.append(_start_seconds("import mlaudit.handlers.ingest", here))
            if old is not None:
                before.append(_start_seconds("import mlaudit.handlers.ingest", old))
    floor = statistics.median(bare)
    result = {"bare_start_ms": floor * 1000, "ingest_import_ms": (statistics.median(new) - floor) * 1000,
              "baseline": baseline, "baseline_import_ms": None, "import_to_baseline": None}
    if before:
        result["baseline_import_ms"] = (statistics.median(before) - floor) * 1000
        result["import_to_baseline"] = result["ingest_import_ms"] / result["baseline_import_ms"]
    return result


def main(n_events: int = 100_000, rounds: int = ROUNDS, import_runs: int = 9) -> dict[str, Any]:
    events = prediction_events(n_events)
    bodies = [json.dumps({"events": events[i:i + BATCH]}).encode() for i in range(0, n_events, BATCH)]
    del events
    check_ingest_floor(bodies[0])
    writer_rates, writer_shares = [], []
    # Each round times a floor and then the code, on the same events. Ingest's rounds come
    # first, the writer's after: on AWS they are two functions, and the writer's Arrow
    # buffers would otherwise be the ingest's heap.
    ingest_rates, ingest_shares, packs = ingest_against_floor(bodies, rounds)
    pack_bodies = [body.encode() for body in packs]
    objects: dict[str, bytes] = {}
    for _ in range(rounds):
        floor = n_events / writer_floor_seconds(pack_bodies)
        (rate,), objects = bench_writer(packs, n_events, 1)
        writer_rates.append(rate)
        writer_shares.append(rate / floor)
    return {
        "events": n_events,
        "ingest_events_per_s": statistics.median(ingest_rates),
        "ingest_events_per_s_range": f"{min(ingest_rates):,.0f} to {max(ingest_rates):,.0f}",
        "ingest_share_of_floor": statistics.median(ingest_shares),
        "ingest_share_of_floor_range": f"{min(ingest_shares):.2f} to {max(ingest_shares):.2f}",
        "writer_events_per_s": statistics.median(writer_rates),
        "writer_events_per_s_range": f"{min(writer_rates):,.0f} to {max(writer_rates):,.0f}",
        "writer_share_of_floor": statistics.median(writer_shares),
        "writer_share_of_floor_range": f"{min(writer_shares):.2f} to {max(writer_shares):.2f}",
        **bytes_per_event(objects, n_events),
        **cold_import(import_runs),
        "ingest_imports_pyarrow_or_duckdb": ingest_imports_heavy(),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000), indent=2))
