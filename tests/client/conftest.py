"""Fixtures for the client's tests: the integration tests' local stack (one per session),
a TCP proxy to take the API or the token endpoint away and give it back, a token
endpoint minting short-lived tokens, and the lake read back by workload name."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from mlaudit.layout import parse_partition
from mlaudit.parquet import read_parquet_bytes

from local import client
from local.oauth import moto_signing_key
from tests.integration.conftest import local_stack  # noqa: F401 - the session's stack
from tests.integration.helpers import drained


class TcpProxy:
    """127.0.0.1:<port> -> target. `down()` refuses new connections and cuts open ones
    (the API is unreachable); `up()` listens on the same port again. While down the port
    stays bound without listening (connections are refused), so that no other process
    of the test run can take it in the meantime."""

    def __init__(self, target_url: str) -> None:
        parts = urllib.parse.urlsplit(target_url)
        self.target = (parts.hostname, parts.port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.url = urllib.parse.urlunsplit(parts._replace(netloc=f"127.0.0.1:{self.port}"))
        self._listener: socket.socket | None = None
        self._reserved: socket.socket | None = None
        self.accepted_at: list[float] = []  # time.monotonic() of each connection let through
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.up()

    def up(self) -> None:
        listener, self._reserved = self._reserved or _bound(self.port), None
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)  # shutdown first: close alone leaves a blocked accept() serving
            self._reserved = _bound(self.port)
        with self._lock:
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def close(self) -> None:
        """Down, and the port given back."""
        self.down()
        reserved, self._reserved = self._reserved, None
        if reserved is not None:
            reserved.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                downstream, _ = listener.accept()
            except OSError:
                return
            self.accepted_at.append(time.monotonic())
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                _close(downstream)
                continue
            with self._lock:
                self._open.update((downstream, upstream))
            for a, b in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            _close(sock)
            with self._lock:
                self._open.discard(sock)


def _bound(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class _Handler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and answers JSON."""

    def answer(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _Served:
    """An HTTP server of the test's own on a free local port, in a daemon thread."""

    def serve(self, handler: type[BaseHTTPRequestHandler], path: str) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ShortTokens(_Served):
    """A client-credentials endpoint whose tokens live `lifetime` seconds, signed like the
    local stack's (the API's authorizer checks them for real). Every other token it issues
    has already expired (beyond the authorizer's leeway), as a revoked token or a skewed
    clock would be: the client learns it only from the API's 401."""

    def __init__(self, config: dict[str, Any], lifetime: int) -> None:
        key, kid = moto_signing_key()
        issuer, client_id = config["issuer"], config["machine_client"]["client_id"]
        self.issued = 0
        outer = self

        class Handler(_Handler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.issued += 1
                now = int(time.time())
                exp = now - 300 if outer.issued % 2 else now + lifetime
                token = jwt.encode({"sub": client_id, "client_id": client_id, "token_use": "access", "iss": issuer,
                                    "scope": "mlaudit/events.write", "iat": now - 1, "exp": exp,
                                    "jti": str(uuid.uuid4())}, key, algorithm="RS256", headers={"kid": kid})
                self.answer(200, f'{{"access_token":"{token}","expires_in":{lifetime},"token_type":"Bearer"}}'
                            .encode())

        self.serve(Handler, "/oauth2/token")


class BusyFront(_Served):
    """An HTTP front to the API that answers its first requests with `refusals` (statuses)
    and a Retry-After, as a throttled or overloaded API would, then passes requests on."""

    def __init__(self, api_url: str, refusals: list[int], retry_after: int = 1) -> None:
        target = urllib.parse.urlsplit(api_url)
        self.refused_at: list[float] = []
        self.passed_at: list[float] = []
        outer = self

        class Handler(_Handler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if len(outer.refused_at) < len(refusals):
                    status = refusals[len(outer.refused_at)]
                    outer.refused_at.append(time.monotonic())
                    self.answer(status, b'{"error":"busy"}', {"Retry-After": str(retry_after)})
                    return
                outer.passed_at.append(time.monotonic())
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                upstream.request("POST", self.path, body, {k: v for k, v in self.headers.items()
                                                           if k.lower() in ("authorization", "content-type")})
                response = upstream.getresponse()
                self.answer(response.status, response.read())
                upstream.close()

        self.serve(Handler, target.path)


@pytest.fixture
def api_proxy(local_stack) -> Iterator[TcpProxy]:  # noqa: F811
    proxy = TcpProxy(local_stack["api_url"])
    yield proxy
    proxy.close()


STARTED: dict[str, float] = {}  # workload name -> when its test began (older files are skipped)


@pytest.fixture
def workload() -> str:
    """A workload name of this test's own: its events are told apart in the shared lake."""
    name = f"sdk-{uuid.uuid4().hex[:10]}"
    STARTED[name] = time.time()
    return name


def wait_until(condition: Any, timeout: float, interval: float = 0.05) -> bool:
    """True as soon as `condition()` is; False after `timeout` seconds (make it generous)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def flushed(audit: Any, stall_seconds: float = 120, deadline_seconds: float = 1200) -> bool:
    """Flush, however long the backlog takes to send on a busy machine, as long as sending
    makes progress: False only when nothing was sent for `stall_seconds` (or after the
    overall, generous, deadline). A fixed flush timeout measured the machine's load, not
    the client: a 500-event request takes ~4 s on the local stack of a loaded 2-core box."""
    deadline = time.monotonic() + deadline_seconds
    sent, progress_at = audit.stats()["sent"], time.monotonic()
    while time.monotonic() < deadline:
        if audit.flush(5):
            return True
        now_sent = audit.stats()["sent"]
        if now_sent != sent:
            sent, progress_at = now_sent, time.monotonic()
        elif time.monotonic() - progress_at > stall_seconds:
            return False
    return False


def settings(config: dict[str, Any], tmp_path, **overrides: Any) -> dict[str, Any]:
    machine = config["machine_client"]
    return {"api_url": config["api_url"], "token_url": config["token_url"], "client_id": machine["client_id"],
            "client_secret": machine["client_secret"], "spool_dir": str(tmp_path / "spool"),
            "flush_interval": 0.2, "backoff_cap": 1.0,
            # A request the busy local stack takes long over is waited for, not retried (retries are counted).
            "timeout": 120.0, **overrides}


def prediction(workload: str, i: int) -> dict[str, Any]:
    return {"event_type": "prediction", "occurred_at": "2026-11-29T10:00:00+00:00", "workload": workload,
            "model_id": "churn", "model_version": "7", "prediction_id": f"p-{i}", "prediction_score": 0.5,
            "latency_ms": 1.25, "features": {"tenure": i, "plan": "gold"}}


def stored_rows(config: dict[str, Any], workload: str) -> list[dict[str, Any]]:
    """The lake's rows of `workload` (with their event_type), once the writer drained."""
    drained(config)
    s3 = client.aws_client(config, "s3")
    since = next((t for name, t in STARTED.items() if workload.startswith(name)), 0.0) - 5  # clock margin
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=config["bucket"], Prefix="events/"):
        for item in page.get("Contents", []):
            if item["LastModified"].timestamp() < since:
                continue  # written before this test began: none of its events
            _, event_type = parse_partition(item["Key"])
            table = read_parquet_bytes(s3.get_object(Bucket=config["bucket"], Key=item["Key"])["Body"].read())
            rows += [{**row, "event_type": event_type} for row in table.to_pylist() if row["workload"] == workload]
    return rows


def stored_ids(config: dict[str, Any], workload: str) -> Counter[str]:
    """How many times each event id of `workload` is in the lake."""
    return Counter(row["event_id"] for row in stored_rows(config, workload))
