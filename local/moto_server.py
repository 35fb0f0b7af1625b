"""moto in server mode on 127.0.0.1, on a free port, with fake credentials, in a process
of its own.

Handlers, boto3 clients and the JWKS fetch all reach it over real HTTP, so the code
paths are the ones that run against AWS (signing, endpoints, JWKS over the network).
Its own process, because moto answering a call costs about as much CPU as the call
it answers: in the stack's process the two queued for one interpreter lock and used one
core of two (docs/benchmarks.md, "Local end-to-end throughput"). Nothing reaches moto's
state but HTTP, so where it runs changes no behaviour. The process ends with `stop`, and on
its own once the process that started it is gone.

    python -m local.moto_server PARENT_PID    # what `MotoServer.start` runs: prints "host port"
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import urllib.request

# moto accepts any credentials; fixed fake ones make sure nothing real is ever used.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto's documented fake value
    "AWS_SESSION_TOKEN": "testing",
}
START_SECONDS = 300  # generous: a new interpreter imports moto on a busy machine


def list_versions_without_copying_bodies() -> None:
    """moto answers each ListObjectVersions by deep-copying every version of every key in the
    bucket, bodies included; a body over 5 MB is copied to a temporary file. The landing
    watcher lists three prefixes every half second, so a session that once imported a
    20 MB file wrote 240 MB a second, and the copies, freed only by the garbage collector,
    held 50 GB of deleted files open until the disk filled (issue 21). A listing needs
    each version's metadata only: the copy made here shares none of the body and carries
    the version's ETag and size. Nothing else in moto deep-copies a key."""
    import tempfile  # noqa: PLC0415 - in the server's process only

    from moto.s3.models import FakeKey  # noqa: PLC0415 - in the server's process only

    def listed_copy(key: FakeKey, memo: dict) -> FakeKey:
        key.etag  # noqa: B018 - computes and keeps the ETag from the body, before the copy has none
        listed = object.__new__(FakeKey)
        listed.__dict__.update(key.__dict__)
        listed._value_buffer = tempfile.SpooledTemporaryFile(max_size=1)  # noqa: SIM115 - empty, closed by moto's dispose
        listed.lock = threading.Lock()
        listed.multipart = None  # the copy's disposal must not close the original's parts
        listed.disposed = False
        return listed

    FakeKey.__deepcopy__ = listed_copy


class MotoServer:
    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> str:
        env = {**os.environ, **FAKE_CREDENTIALS, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
            [sys.executable, "-m", "local.moto_server", str(os.getpid())],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True,
            start_new_session=True,  # a Ctrl-C reaches the stack, which stops moto last
        )
        address: list[str] = []
        reader = threading.Thread(target=lambda: address.append(self._process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_SECONDS)
        if not address or len(address[0].split()) != 2:
            self.stop()
            raise RuntimeError("moto's server did not start")
        host, port = address[0].split()
        self.url = f"http://{host}:{port}"
        # moto's state is its process's: start from empty all the same.
        reset = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(reset, timeout=60):  # noqa: S310 - our own local http URL
            pass
        return self.url

    def stop(self) -> None:
        process, self._process = self._process, None
        self.url = ""
        if process is None:
            return
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def _serve(parent: int) -> None:
    """moto's threaded server until SIGTERM, or until the parent is gone."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - in the server's process only

    list_versions_without_copying_bodies()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(host, port, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    while not done.wait(1):
        if os.getppid() != parent:
            break
    server.stop()


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
