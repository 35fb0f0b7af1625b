"""What the local stack's functions cost AWS, counted call by call: the instrument the cost
table (`ops/costs.py`) and every change that claims to make mlaudit cheaper are measured with.

`Usage` is handed to `LocalStack(usage=...)` (or `python -m local serve --usage-report FILE`)
and counts, per function:

- every AWS call of its boto3 clients (hooked where the stack builds them, next to the IAM
  enforcer and the fault plan): service, action, the resource it touched (a logical name and
  a key prefix, never a key), request and response bytes, attempts, and what AWS bills it by:
  DynamoDB read and write capacity units (computed from item sizes as DynamoDB does: moto
  reports none), SQS requests (one per 64 KB of payload), S3 request class and the size of
  every object written;
- its invocations: count, wall and CPU seconds of the handler's thread, the bytes it logged
  and the EMF metric series it emitted (stdout is counted per invoking thread);
- the API's requests (bytes in and out), the token endpoint's grants, and each Athena query's
  bytes scanned (the sizes of the Parquet files it reads) and files.

Nothing here changes what a function does: hooks observe calls and answers. DynamoDB
capacity needs the size of the item a write replaces, so writes are preceded by a read of
that item through the stack's own (uncounted) client.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

REPORT_VERSION = 1
SQS_CHUNK_BYTES = 64 * 1024
SMALL_OBJECT_BYTES = 128 * 1024  # S3 Lifecycle does not move smaller objects out of Standard
# S3 requests by price class (PUT, COPY, POST, LIST vs GET and the rest); deletes are free.
S3_PUT_CLASS = frozenset({"PutObject", "CopyObject", "PostObject", "CreateMultipartUpload", "UploadPart",
                          "CompleteMultipartUpload", "ListObjectsV2", "ListObjects", "ListObjectVersions",
                          "ListBuckets", "PutObjectRetention", "PutObjectLegalHold"})
S3_FREE = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})
_DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})


@dataclass
class Calls:
    """One (function, service, action, resource) row of the report."""

    calls: int = 0
    attempts: int = 0
    errors: int = 0
    request_bytes: int = 0
    response_bytes: int = 0
    read_units: float = 0.0  # DynamoDB
    write_units: float = 0.0  # DynamoDB
    billed_requests: int = 0  # SQS: 64 KB chunks; everything else: attempts
    stored_bytes: int = 0  # what the call left stored: an S3 object's size, a DynamoDB item's
    off_thread: int = 0  # made from a thread other than the invocation's (a pool)


@dataclass
class Invocations:
    count: int = 0
    errors: int = 0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0  # the handler's thread only
    memory_mb: int = 0
    log_bytes: int = 0
    log_lines: int = 0
    emf_documents: int = 0


@dataclass
class Objects:
    """Objects written under one resource label: what storage is priced from."""

    count: int = 0
    bytes: int = 0
    small_count: int = 0  # under SMALL_OBJECT_BYTES: never transitioned by the lifecycle
    small_bytes: int = 0


@dataclass
class Api:
    requests: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_route: dict[str, int] = field(default_factory=dict)


@dataclass
class Athena:
    queries: int = 0
    bytes_scanned: int = 0  # the sizes of the files a query opens
    column_bytes: int = 0  # of those, the column chunks of the columns its SQL names: what Athena reads
    files: int = 0
    columns: list[str] = field(default_factory=list)  # every column its queries named
    event_types: list[str] = field(default_factory=list)  # every type they read ("*": all)


def resource_label(labels: dict[str, str], service: str, params: dict[str, Any]) -> str:
    """The logical resource a call touched, and for S3 the key's constant prefix: enough to
    tell a Parquet file from a log entry or an index object, never a key or a subject."""
    if service == "s3":
        bucket = labels.get(params.get("Bucket", ""), "bucket")
        key = params.get("Key") or params.get("Prefix") or ""
        return f"{bucket}:{key_prefix(key)}" if key else bucket
    if service == "dynamodb":
        tables = list(params.get("RequestItems") or {}) or [params.get("TableName", "")]
        if params.get("TransactItems"):
            tables = [next(iter(item.values()))["TableName"] for item in params["TransactItems"]]
        label = "+".join(sorted({labels.get(t, "table") for t in tables}))
        kind = _key_kind(params)
        return f"{label}:{kind}" if kind else label
    if service == "sqs":
        return labels.get(params.get("QueueUrl", ""), "queue")
    if service == "kms":
        return labels.get(params.get("KeyId", ""), "key")
    if service == "sns":
        return labels.get(params.get("TopicArn", ""), "topic")
    return ""


# DynamoDB items named apart from their table's others: the cost table prices them per
# something else (the writer's list of files put and not yet logged, `files#<10-minute slot>`,
# is written once per writer run and read by the recovery sweep, not per queue message).
DYNAMODB_KEY_KINDS = ("files#",)


def _key_kind(params: dict[str, Any]) -> str:
    keys = [params.get("Key") or params.get("Item") or {}]
    for request in (params.get("RequestItems") or {}).values():
        keys += request.get("Keys", []) if isinstance(request, dict) else []
    pks = [str((k.get("pk") or {}).get("S", "")) for k in keys if k]
    for kind in DYNAMODB_KEY_KINDS:
        if pks and all(pk.startswith(kind) for pk in pks):
            return kind
    return ""


def key_prefix(key: str) -> str:
    """The leading path segments that name a kind of object (up to the first one that varies:
    a partition, a number, a digest)."""
    kept = []
    for segment in key.split("/")[:-1]:
        versioned = segment[:1] == "v" and segment[1:].isdigit()  # a format version: part of the kind
        if "=" in segment or (any(c.isdigit() for c in segment) and not versioned) or len(kept) == 4:
            break
        kept.append(segment)
    return "/".join(kept) + "/" if kept else ""


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values (DynamoDB JSON)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in inner)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in inner.items())
    return 0


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / 1024)))


def read_units(size: int, consistent: bool) -> float:
    units = float(max(1, math.ceil(size / 4096)))
    return units if consistent else units / 2


class Usage:
    def __init__(self) -> None:
        self.calls: dict[tuple[str, str, str, str], Calls] = defaultdict(Calls)
        self.invocations: dict[str, Invocations] = defaultdict(Invocations)
        self.objects: dict[str, Objects] = defaultdict(Objects)
        self.api = Api()
        self.athena: dict[str, Athena] = defaultdict(Athena)
        self.tokens = 0
        self.metrics: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
        self.notes: dict[str, Any] = {}  # what the driver of a run adds (its workload)
        self.labels: dict[str, str] = {}  # physical name, URL or ARN -> logical resource
        self.admin_dynamodb: Any = None  # the stack's own client: item sizes, uncounted
        self._key_schemas: dict[str, list[str]] = {}
        self._threads: dict[int, str] = {}  # thread id -> the function it is running
        self._lake_files: dict[int, list[Any]] = {}  # thread id -> the files its last query listed
        self._lock = threading.Lock()
        self._stdout: _CountingStdout | None = None

    def reset(self) -> None:
        """Forget what was counted so far (the run that matters starts now)."""
        with self._lock:
            self.calls.clear()
            self.invocations.clear()
            self.objects.clear()
            self.api = Api()
            self.athena.clear()
            self.tokens = 0
            self.metrics.clear()

    # ---------------------------------------------------------------- AWS calls

    def guard(self, function: str, client: Any) -> Any:
        """Count every call of this function's boto3 client."""
        service = client.meta.service_model.service_name
        prefix = client.meta.service_model.service_id.hyphenize()

        def before_parameters(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
            context["usage_params"] = dict(params)
            if service == "dynamodb" and model.name in (*_DYNAMODB_WRITES, "BatchWriteItem"):
                context["usage_replaced"] = self._replaced_sizes(model.name, params)

        def before_call(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            body = params.get("body")
            context["usage_request_bytes"] = len(body) if isinstance(body, bytes | str) else _stream_size(body)

        def after_call(http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any],
                       **_: Any) -> None:
            self._record(function, service, model.name, context, http_response, parsed)

        client.meta.events.register(f"before-parameter-build.{prefix}", before_parameters)
        client.meta.events.register(f"before-call.{prefix}", before_call)
        client.meta.events.register(f"after-call.{prefix}", after_call)
        return client

    def _record(self, function: str, service: str, action: str, context: dict[str, Any], http_response: Any,
                parsed: dict[str, Any]) -> None:
        params = context.get("usage_params") or {}
        status = getattr(http_response, "status_code", 200)
        attempts = 1 + int((parsed.get("ResponseMetadata") or {}).get("RetryAttempts", 0))
        response_bytes = _response_size(http_response, parsed)
        request_bytes = int(context.get("usage_request_bytes") or 0)
        label = resource_label(self.labels, service, params)
        reads = writes = 0.0
        billed = attempts
        stored = request_bytes if service == "s3" and action == "PutObject" and status < 300 else 0
        if service == "dynamodb":
            reads, writes, stored = self._capacity(action, params, parsed, context.get("usage_replaced"), status)
        elif service == "sqs":
            payload = request_bytes if action.startswith("Send") else response_bytes
            billed = attempts * max(1, math.ceil(payload / SQS_CHUNK_BYTES))
        with self._lock:
            row = self.calls[(function, service, action, label)]
            row.calls += 1
            row.attempts += attempts
            row.errors += status >= 300
            row.request_bytes += request_bytes
            row.response_bytes += response_bytes
            row.read_units += reads
            row.write_units += writes
            row.billed_requests += billed
            row.stored_bytes += stored
            row.off_thread += threading.get_ident() not in self._threads
            if service == "s3" and action in ("PutObject", "CopyObject") and status < 300:
                size = request_bytes if action == "PutObject" else int(parsed.get("ContentLength") or 0)
                self._object(label, size)

    def _object(self, label: str, size: int) -> None:
        objects = self.objects[label]
        objects.count += 1
        objects.bytes += size
        if size < SMALL_OBJECT_BYTES:
            objects.small_count += 1
            objects.small_bytes += size

    # ---------------------------------------------------------------- DynamoDB capacity

    def _capacity(self, action: str, params: dict[str, Any], parsed: dict[str, Any],
                  replaced: list[int] | None, status: int) -> tuple[float, float, int]:
        """(read units, write units, bytes of the items written) as DynamoDB bills them:
        writes by the larger of the item before and after (a write whose condition fails
        too), reads by 4 KB of each item."""
        consistent = bool(params.get("ConsistentRead"))
        if action == "GetItem":
            return read_units(item_size(parsed.get("Item") or {}), consistent), 0.0, 0
        if action == "BatchGetItem":
            units = 0.0
            requested = {t: len(r.get("Keys", [])) for t, r in (params.get("RequestItems") or {}).items()}
            unprocessed = {t: len(r.get("Keys", [])) for t, r in (parsed.get("UnprocessedKeys") or {}).items()}
            for table, items in (parsed.get("Responses") or {}).items():
                strong = bool((params["RequestItems"].get(table) or {}).get("ConsistentRead"))
                units += sum(read_units(item_size(i), strong) for i in items)
                missing = requested.get(table, 0) - len(items) - unprocessed.get(table, 0)
                units += max(0, missing) * read_units(0, strong)  # a key that is not there costs a read too
            return units, 0.0, 0
        if action in ("Query", "Scan"):
            size = sum(item_size(i) for i in parsed.get("Items") or [])
            return read_units(size, consistent), 0.0, 0
        if action in _DYNAMODB_WRITES:
            before = (replaced or [0])[0]
            after = 0 if action == "DeleteItem" else self._after_size(action, params, status)
            return 0.0, write_units(max(before, after)), after
        if action == "BatchWriteItem":
            units, stored = 0.0, 0
            sizes = iter(replaced or [])
            for requests in (params.get("RequestItems") or {}).values():
                for request in requests:
                    old = next(sizes, 0)
                    new = item_size(request["PutRequest"]["Item"]) if "PutRequest" in request else 0
                    units += write_units(max(old, new))
                    stored += new
            return 0.0, units, stored
        if action == "TransactWriteItems":
            sizes = [item_size(next(iter(i.values())).get("Item") or {}) for i in params.get("TransactItems") or []]
            return 0.0, 2.0 * sum(write_units(size) for size in sizes), sum(sizes)
        return 0.0, 0.0, 0

    def _after_size(self, action: str, params: dict[str, Any], status: int) -> int:
        if action == "PutItem":
            return item_size(params.get("Item") or {}) if status < 300 else 0
        if status >= 300 or self.admin_dynamodb is None:
            return 0
        item = self.admin_dynamodb.get_item(TableName=params["TableName"], Key=params["Key"],
                                            ConsistentRead=True).get("Item")
        return item_size(item or {})

    def _replaced_sizes(self, action: str, params: dict[str, Any]) -> list[int]:
        """The size of each item a write will replace (0: none)."""
        if self.admin_dynamodb is None:
            return []
        targets: list[tuple[str, dict[str, Any]]] = []
        if action == "BatchWriteItem":
            for table, requests in (params.get("RequestItems") or {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        targets.append((table, self._key(table, request["PutRequest"]["Item"])))
                    else:
                        targets.append((table, request["DeleteRequest"]["Key"]))
        else:
            table = params.get("TableName", "")
            key = params.get("Key") or self._key(table, params.get("Item") or {})
            targets.append((table, key))
        sizes = []
        for table, key in targets:
            try:
                item = self.admin_dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
            except Exception:  # noqa: BLE001 - a table or key the call itself will refuse
                item = None
            sizes.append(item_size(item or {}))
        return sizes

    def _key(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        if table not in self._key_schemas:
            schema = self.admin_dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
            self._key_schemas[table] = [k["AttributeName"] for k in schema]
        return {name: item[name] for name in self._key_schemas[table] if name in item}

    # ---------------------------------------------------------------- invocations and logs

    def metered(self, function: str, handler: Callable[[Any, Any], Any], memory_mb: int) -> Callable[[Any, Any], Any]:
        """The handler as Lambda bills it: each call an invocation, timed on its own thread."""

        def invoke(event: Any, context: Any) -> Any:
            ident = threading.get_ident()
            with self._lock:
                self._threads[ident] = function
            began, cpu = time.perf_counter(), time.thread_time()
            failed = False
            try:
                return handler(event, context)
            except BaseException:
                failed = True
                raise
            finally:
                wall, used = time.perf_counter() - began, time.thread_time() - cpu
                with self._lock:
                    self._threads.pop(ident, None)
                    record = self.invocations[function]
                    record.count += 1
                    record.errors += failed
                    record.wall_seconds += wall
                    record.cpu_seconds += used
                    record.memory_mb = memory_mb

        return invoke

    def start_logs(self) -> None:
        """Count what functions print (Powertools' JSON logs and EMF metrics) per invoking
        thread, as CloudWatch Logs would ingest it. Undone by `stop_logs`."""
        if self._stdout is None:
            self._stdout = _CountingStdout(self, sys.stdout)
            self._stdout.install()

    def stop_logs(self) -> None:
        if self._stdout is not None:
            self._stdout.uninstall()
            self._stdout = None

    def _logged(self, ident: int, line: str) -> None:
        function = self._threads.get(ident)
        if function is None:
            return
        size = len(line.encode()) + 1
        document = _emf(line)
        with self._lock:
            record = self.invocations[function]
            record.log_bytes += size
            record.log_lines += 1
            if document is not None:
                record.emf_documents += 1
                self.metrics.update(_series(document))

    # ---------------------------------------------------------------- front doors

    def api_proxy(self, emulator: Any) -> Any:
        """The API emulator with every request counted (what API Gateway bills)."""
        usage = self

        class Counted:
            def handle(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes,
                       source_ip: str) -> Any:
                response = emulator.handle(method, raw_path, headers, body, source_ip)
                with usage._lock:
                    api = usage.api
                    api.requests += 1
                    api.bytes_in += len(body)
                    api.bytes_out += len(response.body)
                    status = f"{response.status // 100}xx"
                    api.by_status[status] = api.by_status.get(status, 0) + 1
                    route = f"{method} {_route(raw_path)}"
                    api.by_route[route] = api.by_route.get(route, 0) + 1
                return response

            def __getattr__(self, name: str) -> Any:
                return getattr(emulator, name)

        return Counted()

    def token_proxy(self, issuer: Any) -> Any:
        """The token endpoint with every grant counted (Cognito bills machine tokens)."""
        usage = self

        class Counted:
            def issue(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
                grant = issuer.issue(form, authorization)
                with usage._lock:
                    usage.tokens += 1
                return grant

            def __getattr__(self, name: str) -> Any:
                return getattr(issuer, name)

        return Counted()

    def athena_lake(self, function: str, lake: Any) -> Any:
        """The Athena stand-in's lake, counted: each listing is one query execution, with the
        files it opens and their sizes (the bytes scanned Athena bills at most)."""
        usage = self

        class Counted:
            def files(self, dates: Any, event_types: Any) -> Any:
                found = lake.files(dates, event_types)
                with usage._lock:
                    record = usage.athena[function]
                    record.queries += 1
                    record.files += len(found)
                    record.bytes_scanned += sum(f.size for f in found)
                    record.event_types = sorted(set(record.event_types) | set(event_types or ["*"]))
                    usage._lake_files[threading.get_ident()] = list(found)
                return found

            def __getattr__(self, name: str) -> Any:
                return getattr(lake, name)

        return Counted()

    def athena_engine(self, function: str, engine: Any) -> Any:
        """The stand-in engine (over a lake from `athena_lake`), counting for each query the
        bytes of the column chunks its SQL names in the files it opened: Parquet lets Athena
        read only those, and it bills what it reads."""
        usage = self

        class Counted:
            def start(self, query_name: str, params: dict[str, Any], **kwargs: Any) -> str:
                execution_id = engine.start(query_name, params, **kwargs)
                files = usage._lake_files.pop(threading.get_ident(), [])
                columns = referenced_columns(engine.catalog.get(query_name).sql)
                read = sum(column_bytes(f.path, columns) for f in files)
                with usage._lock:
                    record = usage.athena[function]
                    record.column_bytes += read
                    record.columns = sorted(set(record.columns) | columns)
                return execution_id

            def __getattr__(self, name: str) -> Any:
                return getattr(engine, name)

        return Counted()

    # ---------------------------------------------------------------- the report

    def report(self) -> dict[str, Any]:
        with self._lock:
            calls = [
                {"function": f, "service": s, "action": a, "resource": r, **asdict(c)}
                for (f, s, a, r), c in sorted(self.calls.items())
            ]
            return {
                "version": REPORT_VERSION,
                "calls": calls,
                "invocations": {f: asdict(i) for f, i in sorted(self.invocations.items())},
                "objects": {label: asdict(o) for label, o in sorted(self.objects.items())},
                "api": asdict(self.api),
                "athena": {f: asdict(a) for f, a in sorted(self.athena.items())},
                "tokens": self.tokens,
                "metric_series": [[ns, name, dict(dims)] for ns, name, dims in sorted(self.metrics)],
                "notes": dict(self.notes),
            }

    def totals(self, function: str | None = None) -> Calls:
        """The sum of every call row (of one function): a quick look for tests."""
        total = Calls()
        with self._lock:
            rows = [c for (f, *_), c in self.calls.items() if function in (None, f)]
        for row in rows:
            for name, value in asdict(row).items():
                setattr(total, name, getattr(total, name) + value)
        return total


def referenced_columns(sql: str) -> set[str]:
    """The lake's columns a query's SQL names (every word that is one: an upper bound)."""
    import re  # noqa: PLC0415

    from mlaudit.layout import COLUMN_NAMES  # noqa: PLC0415

    return set(re.findall(r"[a-z_][a-z0-9_]*", sql.lower())) & set(COLUMN_NAMES)


def column_bytes(path: str, columns: set[str]) -> int:
    """The compressed size of these columns' chunks in a Parquet file, and its footer."""
    import pyarrow.parquet as pq  # noqa: PLC0415

    metadata = pq.ParquetFile(path).metadata
    total = metadata.serialized_size
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            chunk = row_group.column(index)
            if chunk.path_in_schema.split(".")[0] in columns:
                total += chunk.total_compressed_size
    return int(total)


def _route(raw_path: str) -> str:
    # The stage and route template would do; a path may carry a subject_ref, so keep only
    # its first two segments after the stage (never a parameter).
    parts = raw_path.split("?", 1)[0].strip("/").split("/")
    return "/" + "/".join(parts[1:3])


def _stream_size(body: Any) -> int:
    if body is None:
        return 0
    try:
        position = body.tell()
        body.seek(0, 2)
        size = body.tell() - position
        body.seek(position)
        return int(size)
    except (AttributeError, OSError, ValueError):
        return 0


def _response_size(http_response: Any, parsed: dict[str, Any]) -> int:
    length = parsed.get("ContentLength")
    if isinstance(length, int):
        return length
    headers = getattr(http_response, "headers", None) or {}
    value = headers.get("content-length") or headers.get("Content-Length")
    if value and str(value).isdigit():
        return int(value)
    raw = getattr(http_response, "raw", None)
    content = getattr(http_response, "_content", None) if raw is not None else None
    return len(content) if isinstance(content, bytes) else 0


def _emf(line: str) -> dict[str, Any] | None:
    if '"_aws"' not in line:
        return None
    try:
        document = json.loads(line)
    except ValueError:
        return None
    return document if isinstance(document, dict) and isinstance(document.get("_aws"), dict) else None


def _series(document: dict[str, Any]) -> Iterable[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """The metric series one EMF document adds (CloudWatch bills each distinct one a month)."""
    for directive in document["_aws"].get("CloudWatchMetrics") or []:
        namespace = str(directive.get("Namespace", ""))
        for dimensions in directive.get("Dimensions") or [[]]:
            values = tuple(sorted((str(d), str(document.get(d, ""))) for d in dimensions))
            for metric in directive.get("Metrics") or []:
                yield namespace, str(metric.get("Name", "")), values


class _CountingStdout:
    """sys.stdout for the run: passes everything through and counts each line by the
    thread that wrote it. Log handlers created before it (Powertools keeps the stream it
    saw) are pointed at it, and back on uninstall."""

    def __init__(self, usage: Usage, stream: Any) -> None:
        self.usage = usage
        self.stream = stream
        self._partial: dict[int, str] = {}
        self._moved: list[Any] = []

    def install(self) -> None:
        import logging  # noqa: PLC0415

        sys.stdout = self  # type: ignore[assignment]
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
            for handler in getattr(logger, "handlers", []):
                if isinstance(handler, logging.StreamHandler) and handler.stream is self.stream:
                    handler.setStream(self)  # type: ignore[arg-type]
                    self._moved.append(handler)

    def uninstall(self) -> None:
        import logging  # noqa: PLC0415

        if sys.stdout is self:
            sys.stdout = self.stream
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
            for handler in getattr(logger, "handlers", []):
                if isinstance(handler, logging.StreamHandler) and handler.stream is self:
                    handler.setStream(self.stream)

    def write(self, text: str) -> int:
        ident = threading.get_ident()
        buffered = self._partial.pop(ident, "") + text
        *lines, rest = buffered.split("\n")
        if rest:
            self._partial[ident] = rest
        for line in lines:
            self.usage._logged(ident, line)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
