"""HTTP to the mlaudit API: client-credentials tokens, one kept-alive connection,
and the sorting of every outcome into sent, retry later, or rejected.

Both modes use it: the background worker (`Auditor`) and the synchronous `AuditClient`.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import logging
import platform
import random
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from mlaudit_client._version import __version__

logger = logging.getLogger("mlaudit_client")

USER_AGENT = f"mlaudit-client/{__version__} Python/{platform.python_version()}"
# 408 and 429 ask the sender to come back; 5xx are the server's trouble, not the events'.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Where a request sits in its sender's sequence of batches: a lane (one spool directory, or
# one process's memory) and the batch's position in it, increasing, the same on every resend.
# The server keeps one watermark per lane instead of a claim per event (docs/client.md).
LANE_HEADER, POSITION_HEADER = "X-Mlaudit-Lane", "X-Mlaudit-Lane-Position"
Lane = tuple[str, int]  # (lane id, batch position)


class AuditRejected(Exception):
    """The server refused a request for what it carries (a 4xx): retrying cannot help."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body.get('error')}: {body.get('message')}")
        self.status = status
        self.body = body


class RetryLater(Exception):
    """A network error, timeout, 401, 408, 429 or 5xx, from the API or the token endpoint."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter (a random wait between 0 and the cap)."""

    base: float = 0.2
    cap: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        jittered = random.uniform(0, min(self.cap, self.base * 2 ** min(attempt, 30)))  # noqa: S311 - jitter
        # The server's Retry-After is a floor: coming back sooner would only be refused again.
        return max(jittered, retry_after) if retry_after is not None else jittered


class Transport:
    """Thread-safe: one lock serialises a request and its connection."""

    def __init__(
        self, api_url: str, token_url: str, client_id: str, client_secret: str, *,
        scopes: str = "mlaudit/events.write", timeout: float = 10.0,
    ) -> None:
        self.api_url = checked_url(api_url).rstrip("/")
        self.token_url = checked_url(token_url)
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.scopes = scopes
        self.timeout = timeout
        self._token: str | None = None
        self._renew_at = 0.0
        self._connections: dict[tuple[str, str, int], http.client.HTTPConnection] = {}
        self._lock = threading.Lock()

    def post_events(self, body: bytes, lane: Lane | None = None) -> dict[str, Any]:
        """The 202 answer, or raises `RetryLater` or `AuditRejected`."""
        sent = {"Content-Type": "application/json"}
        if lane is not None:
            sent.update({LANE_HEADER: lane[0], POSITION_HEADER: str(lane[1])})
        with self._lock:
            token = self._current_token()
            status, headers, raw = self._request(
                self.api_url + "/v1/events", body, {**sent, "Authorization": f"Bearer {token}"})
            if status == 202:
                return _json(raw)
            if status == 401:
                self._token = None  # expired or revoked: a fresh one on the next attempt
                raise RetryLater("401 from the API: the token is renewed")
            answer = _json(raw)
            # 409 request_in_progress: the same batch is still being stored (a retry raced it).
            if status in RETRYABLE_STATUS or answer.get("error") == "request_in_progress":
                raise RetryLater(f"{status} {answer.get('error', '')} from the API".strip(), _retry_after(headers))
            raise AuditRejected(status, answer)

    def reset(self) -> None:
        """Forget connections and the token (after fork: the parent's socket is not ours)."""
        self._lock = threading.Lock()
        self._connections = {}
        self._token = None

    def _current_token(self) -> str:
        if self._token is None or time.monotonic() >= self._renew_at:
            form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": self.scopes}).encode()
            status, headers, raw = self._request(self.token_url, form, {
                "Authorization": f"Basic {self._basic}", "Content-Type": "application/x-www-form-urlencoded"})
            if status != 200:
                # A wrong secret or scope needs a person, but the events must wait for them, not vanish.
                error = _json(raw).get("error", "")
                raise RetryLater(f"{status} {error} from the token endpoint".strip(), _retry_after(headers))
            grant = _json(raw)
            if "access_token" not in grant:
                raise RetryLater("the token endpoint answered without an access_token")
            lifetime = float(grant.get("expires_in", 3600))
            self._token = grant["access_token"]
            # Renew ahead of expiry: a minute early, or a quarter of a short lifetime.
            self._renew_at = time.monotonic() + lifetime - min(60.0, lifetime / 4)
        return self._token

    def _request(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any, bytes]:
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        key = (parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        while True:
            reused = key in self._connections
            connection = self._connections.get(key) or _connect(*key, self.timeout)
            self._connections[key] = connection
            try:
                connection.request("POST", target, body, {**headers, "User-Agent": USER_AGENT})
                answer = connection.getresponse()
                return answer.status, answer.headers, answer.read()
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                del self._connections[key]
                # A kept-alive connection the server closed while idle: once more on a new one
                # (a resent batch is recognised by the server and stored once).
                if reused and isinstance(error, (http.client.RemoteDisconnected, ConnectionResetError,
                                                 BrokenPipeError)):
                    continue
                raise RetryLater(f"{type(error).__name__} talking to {parts.hostname}:{key[2]}") from None


def _connect(scheme: str, host: str, port: int, timeout: float) -> http.client.HTTPConnection:
    if scheme == "https":
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
    return http.client.HTTPConnection(host, port, timeout=timeout)


def checked_url(url: str) -> str:
    """HTTPS only, except plain HTTP to this machine (the local stack)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")):
        return url
    raise ValueError(f"refusing {parts.scheme or 'scheme-less'} URL {url!r}: audit events travel over HTTPS only")


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)  # the HTTP-date form
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {"message": raw[:200].decode(errors="replace")}
    return value if isinstance(value, dict) else {"message": str(value)[:200]}
