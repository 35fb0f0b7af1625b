"""moto in server mode on 127.0.0.1, on a free port, with fake credentials.

Handlers, boto3 clients and the JWKS fetch all reach it over real HTTP, so the code
paths are the ones that run against AWS (signing, endpoints, JWKS over the network).
"""

from __future__ import annotations

import logging
import urllib.request

from moto.server import ThreadedMotoServer

# moto accepts any credentials; fixed fake ones make sure nothing real is ever used.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto's documented fake value
    "AWS_SESSION_TOKEN": "testing",
}


class MotoServer:
    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> str:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        # moto's state is process-wide: start from empty, whatever ran before in-process.
        reset = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(reset, timeout=10):  # noqa: S310 - our own local http URL
            pass
        return self.url

    def stop(self) -> None:
        if self.url:
            self._server.stop()
            self.url = ""
