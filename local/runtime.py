"""What the Lambda runtime hands a function, for handlers run in-process."""

from __future__ import annotations

import io
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class LambdaContext:
    """The attributes handlers and Powertools read from a Lambda context."""

    function_name: str
    timeout_seconds: float
    memory_limit_in_mb: int = 512
    region: str = "us-east-1"
    account_id: str = "123456789012"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class WholeLines(io.TextIOBase):
    """The stack's stdout, shared by every function's thread: each thread's text goes out a
    whole line at a time. On AWS each function has a log stream of its own; here one stream
    holds them all, and `print` writes a line and its newline apart, so a metrics line
    (Powertools prints EMF) could be joined by another function's log record before its
    newline, and neither would parse."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._pending = threading.local()

    def write(self, text: str) -> int:
        head, newline, tail = (getattr(self._pending, "text", "") + text).rpartition("\n")
        self._pending.text = tail
        if newline:
            with self._lock:
                self.stream.write(head + newline)
                self.stream.flush()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self.stream.flush()

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding
