"""Benchmark: subject access (GET /v1/subjects/{ref}) at three lake sizes 4x apart, through the
subject index, against a full scan of events/ (what it did before) and against its floor.

    python -m bench.subject_access                   # 1,000 / 4,000 / 16,000 files
    python -m bench.subject_access --files 500 --rounds 3

Each lake is 30 days of writer batches (one every `minutes`, each storing one Parquet file per
event type present), with files of `rows` events, laid out and indexed as the writer does it
(`SubjectIndex.add` per batch, hours and days merged once closed), in memory. The lakes differ
in how many batches a day stored: more files, the same days. One subject has events in 10
files, spread over the month. Measured per size, median of `rounds`: the S3 requests and bytes
a subject access makes (counted on the bucket), the CPU time of the lookup and the reads
(`time.process_time`: no S3 latency here), and the same for

- the floor: reading exactly the subject's 10 files, what any implementation must read;
- the full scan: listing events/ and reading every file (the reader before the index).

The growth exponent of each is log(t_largest / t_smallest) / log(16). Peak memory of one access:
tracemalloc's peak and the process's ru_maxrss.

The model of a year at 1B events a month (`model()`): requests and bytes from the index's
layout at that size, priced in time with `S3_SECONDS` a request, `PARALLEL` in flight, and the
CPU per index object and per file measured here.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import platform
import resource
import statistics
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from mlaudit import subject_index
from mlaudit.adapters.memory import MemoryBucket
from mlaudit.adapters.subject_lake import S3SubjectEvents
from mlaudit.layout import EVENTS_PREFIX, partition_prefix
from mlaudit.subject_index import SubjectIndex

SUBJECT = "sp1.0123456789abcdef0123456789abcdef"
SUBJECT_FILES = 10
TYPES = ("prediction", "ground_truth", "data_accessed")
START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
# The model's S3: a GET's time to first byte, connections in flight (S3SubjectEvents' workers),
# and one connection's throughput. The privacy function has 2,048 MB, over one vCPU, but its
# Python threads share one core (the GIL): CPU times count as measured here, once.
S3_SECONDS = 0.025
PARALLEL = 16
S3_BYTES_PER_SECOND = 50e6
LAMBDA_CPU_FACTOR = 1.0


class CountingBucket(MemoryBucket):
    """The bucket, counting the requests S3 would bill and the bytes it would send."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0
        self.bytes = 0

    def get(self, key: str) -> bytes | None:
        self.requests += 1
        body = super().get(key)
        self.bytes += len(body or b"")
        return body

    def get_range(self, key: str, start: int, end: int) -> bytes:
        self.requests += 1
        body = super().get_range(key, start, end)
        self.bytes += len(body)
        return body

    def listing(self, prefix: str, start_after: str = "") -> Any:
        found = list(super().listing(prefix, start_after))
        self.requests += max(1, math.ceil(len(found) / 1000))  # ListObjectsV2 pages of 1,000
        return iter(found)

    def reset(self) -> None:
        self.requests = self.bytes = 0


def _file(rows: int, seed: int, day: str, with_subject: bool) -> bytes:
    received = datetime.fromisoformat(day).replace(tzinfo=UTC)
    pseudonyms = [f"sp1.{hashlib.sha256(f'{seed}-{i}'.encode()).hexdigest()[:32]}" for i in range(rows)]
    if with_subject:
        pseudonyms[rows // 2] = SUBJECT
    table = pa.table({
        "event_id": [f"e-{seed}-{i}" for i in range(rows)],
        "occurred_at": pa.array([received] * rows, pa.timestamp("ms", tz="UTC")),
        "received_at": pa.array([received] * rows, pa.timestamp("ms", tz="UTC")),
        "leaf_hash": [hashlib.sha256(f"{seed}-{i}".encode()).hexdigest() for i in range(rows)],
        "subject_pseudonym": pseudonyms,
        "features": ['{"age":41,"bmi":22.5}'] * rows,
    })
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def build(files: int, rows: int) -> tuple[CountingBucket, list[str]]:
    """A month of batches storing `files` files in all, indexed and merged as the writer does."""
    bucket = CountingBucket()
    now = [START]
    index = SubjectIndex(bucket, clock=lambda: now[0])
    batches = files // len(TYPES)
    every = timedelta(days=DAYS) / batches
    chosen = {round(i * batches / SUBJECT_FILES) for i in range(SUBJECT_FILES)}
    theirs = []
    for batch in range(batches):
        now[0] = START + every * batch
        day = now[0].date().isoformat()
        stored = {}
        for n, event_type in enumerate(TYPES):
            seed = batch * len(TYPES) + n
            key = f"{partition_prefix(day, event_type)}{hashlib.sha256(str(seed).encode()).hexdigest()[:32]}.parquet"
            has = batch in chosen and n == 0
            body = _file(rows, seed, day, has)
            bucket.objects[key] = body
            stored[key] = [p for p in pq.read_table(pa.BufferReader(body), columns=["subject_pseudonym"])
                           .column(0).unique().to_pylist() if p]
            theirs += [key] if has else []
        index.add(stored)
    now[0] = START + timedelta(days=DAYS + 2)
    while index.maintain(force=True):
        pass
    return bucket, theirs


def _scan(bucket: MemoryBucket) -> int:
    """The reader before the index: every file under events/, filtered."""
    import pyarrow.compute as pc  # noqa: PLC0415

    found = 0
    for key, _ in bucket.listing(EVENTS_PREFIX):
        table = pq.read_table(pa.BufferReader(bucket.get(key) or b""), filters=pc.field("subject_pseudonym") == SUBJECT)
        found += table.num_rows
    return found


def _floor(bucket: MemoryBucket, keys: list[str]) -> int:
    import pyarrow.compute as pc  # noqa: PLC0415

    return sum(pq.read_table(pa.BufferReader(bucket.get(k) or b""), filters=pc.field("subject_pseudonym") == SUBJECT)
               .num_rows for k in keys)


def _timed(action: Any, bucket: CountingBucket, rounds: int) -> dict[str, float]:
    bucket.reset()
    found = action()  # requests and bytes: the same every time
    counted = {"requests": bucket.requests, "bytes": bucket.bytes}
    times = []
    for _ in range(rounds):
        began = time.process_time()
        action()
        times.append(time.process_time() - began)
    tracemalloc.start()
    action()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"cpu_seconds": statistics.median(times), **counted, "found": found, "peak_bytes": peak}


def measure(files: int, rows: int, rounds: int) -> dict[str, Any]:
    bucket, theirs = build(files, rows)
    reader = S3SubjectEvents(bucket, workers=1)
    indexed = _timed(lambda: len(reader.events(SUBJECT, 1000)), bucket, rounds)
    assert indexed["found"] == SUBJECT_FILES, indexed
    floor = _timed(lambda: _floor(bucket, theirs), bucket, rounds)
    scan = _timed(lambda: _scan(bucket), bucket, rounds)
    assert scan["found"] == floor["found"] == SUBJECT_FILES
    index_objects = sum(1 for k in bucket.objects if k.startswith(subject_index.PREFIX))
    return {"files": sum(1 for k in bucket.objects if k.startswith(EVENTS_PREFIX)), "events": files * rows,
            "index_objects": index_objects, "indexed": indexed, "floor": floor, "scan": scan,
            "indexed_to_floor": indexed["cpu_seconds"] / floor["cpu_seconds"]}


def lookup_cpu(records: int) -> float:
    """CPU seconds of one lookup in one index object of `records` records (read from memory)."""
    import os  # noqa: PLC0415

    code = subject_index.type_code("prediction")
    tail = (20_362).to_bytes(2, "big") + code.to_bytes(2, "big")  # 2025-10-01, prediction
    keys = sorted(os.urandom(8) + tail + os.urandom(16) for _ in range(records))
    body = subject_index.encode(b"".join(keys), len(keys), {code: "prediction"})
    bucket = MemoryBucket({f"{subject_index.DAYS}2026-10-01.idx": body})
    index = SubjectIndex(bucket)
    probe = keys[records // 3][:8]
    began = time.process_time()
    for _ in range(20):
        index._find(f"{subject_index.DAYS}2026-10-01.idx", len(body), probe)
    return (time.process_time() - began) / 20


def request_cpu(requests: int = 300) -> float:
    """CPU seconds one ranged S3 GET costs its caller in boto3 (signing, sending, parsing),
    against moto in server mode: the caller's thread time only, not moto's."""
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    from local.moto_server import FAKE_CREDENTIALS, MotoServer  # noqa: PLC0415

    server = MotoServer()
    url = server.start()
    try:
        s3 = boto3.session.Session(region_name="us-east-1").client(
            "s3", endpoint_url=url, config=Config(retries={"mode": "standard", "max_attempts": 5}),
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"])
        s3.create_bucket(Bucket="bench")
        s3.put_object(Bucket="bench", Key="index/object", Body=bytes(256 * 1024))
        for _ in range(20):  # warm: the client's first calls load models
            s3.get_object(Bucket="bench", Key="index/object", Range="bytes=0-65535")["Body"].read()
        began = time.thread_time()
        for _ in range(requests):
            s3.get_object(Bucket="bench", Key="index/object", Range="bytes=0-65535")["Body"].read()
        return (time.thread_time() - began) / requests
    finally:
        server.stop()


def model(file_cpu: float, object_cpu: float, get_cpu: float, subject_files: int = 100) -> dict[str, float]:
    """A subject access after a year at 1B events a month, as the cost table's month has it
    (94.4% of events about a subject, 7,770 events a writer batch, 179 batches an hour, 2,590
    events and 174 bytes an event a file): one day shard a day, 23 hour objects, an hour of
    run objects, then the subject's own files."""
    share, per_run, runs_hour = 0.944, 7_770, 179
    record, block = subject_index.RECORD, subject_index.BLOCK_RECORDS * subject_index.RECORD

    def reads(pairs: float) -> tuple[int, float]:
        """Requests and bytes of one lookup in an object of `pairs` records."""
        size = pairs * record
        if size <= subject_index.WHOLE_READ:
            return 1, size
        head = 14 + 200 + pairs / subject_index.BLOCK_RECORDS * subject_index.KEY_BYTES
        return 1 + math.ceil(head / subject_index.HEAD_READ), max(head, subject_index.HEAD_READ) + block

    day_pairs = 1e9 / 30 * share
    shards = 1
    while day_pairs * record / shards > subject_index.SHARD_BYTES:
        shards *= 2
    day, hour, run = reads(day_pairs / shards), reads(per_run * runs_hour * share), reads(per_run * share)
    objects = 365 + 23 + runs_hour
    requests = 3 + 365 * day[0] + 23 * hour[0] + runs_hour * run[0] + subject_files
    read = 365 * day[1] + 23 * hour[1] + runs_hour * run[1] + subject_files * 2_590 * 174
    waits = requests / PARALLEL * S3_SECONDS + read / (PARALLEL * S3_BYTES_PER_SECOND)
    cpu = LAMBDA_CPU_FACTOR * (objects * object_cpu + subject_files * file_cpu + requests * get_cpu)
    return {"requests": requests, "bytes": read, "day_bytes": day_pairs * record, "day_shards": shards,
            "s3_seconds": waits, "cpu_seconds": cpu, "seconds": waits + cpu}


def exponent(small: float, large: float, ratio: float = 16.0) -> float:
    return math.log(large / small) / math.log(ratio) if small > 0 and large > 0 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000, help="files of the smallest lake (x4, x16)")
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [measure(args.files * k, args.rows, args.rounds) for k in (1, 4, 16)]
    small, large = sizes[0], sizes[-1]
    file_cpu = large["floor"]["cpu_seconds"] / SUBJECT_FILES
    object_cpu = lookup_cpu(int(1e9 / 30 * 0.944 / 16))  # a day's shard at 1B a month
    result = {
        "when": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "sizes": sizes,
        "exponents": {name: exponent(small[name]["cpu_seconds"], large[name]["cpu_seconds"])
                      for name in ("indexed", "floor", "scan")},
        "request_exponents": {name: exponent(small[name]["requests"], large[name]["requests"])
                              for name in ("indexed", "floor", "scan")},
        "object_lookup_cpu_seconds": object_cpu,
        "request_cpu_seconds": (get_cpu := request_cpu()),
        "model_1b_a_month_a_year": model(file_cpu, object_cpu, get_cpu),
        "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
