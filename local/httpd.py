"""A stdlib HTTP server on 127.0.0.1, on a free port, in a background thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client connection never blocks shutdown
    allow_reuse_address = True


class BackgroundServer:
    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str, host: str = "127.0.0.1") -> None:
        self._server = _Server((host, 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> BackgroundServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
