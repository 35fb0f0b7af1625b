"""The small client ML workloads import to send audit events (standard library only).

    audit = AuditClient(api_url, token_url, client_id, client_secret)
    audit.send([{"event_type": "prediction", "occurred_at": ..., ...}])

It fetches and renews a client-credentials token, gives every event an id (so a
retry is recognised by the server and stored once), sends batches of at most 500
events and 1 MB, and retries network errors and 5xx/429 answers with the same body.
A 4xx is a bug in the caller's events: it raises `AuditRejected` with the
server's field-by-field explanation and never retries.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

MAX_EVENTS = 500
MAX_BYTES = 1_000_000
RETRYABLE = {429, 500, 502, 503, 504}


class AuditRejected(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body.get('error')}: {body.get('message')}")
        self.status = status
        self.body = body


class AuditClient:
    def __init__(
        self, api_url: str, token_url: str, client_id: str, client_secret: str, *,
        scopes: Iterable[str] = ("mlaudit/events.write",), attempts: int = 5, timeout: float = 30,
    ) -> None:
        self.api_url = _checked_url(api_url).rstrip("/")
        self.token_url = _checked_url(token_url)
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.scopes = " ".join(scopes)
        self.attempts = attempts
        self.timeout = timeout
        self._token: str | None = None
        self._token_expires = 0.0

    def send(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send events in as few requests as the limits allow; returns each 202 answer."""
        for event in events:
            event.setdefault("event_id", str(uuid.uuid4()))
        return [self._post(batch) for batch in batches(events)]

    def _post(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        body = json.dumps({"events": events}, separators=(",", ":"), allow_nan=False).encode()
        for attempt in range(self.attempts):
            request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
                f"{self.api_url}/v1/events", data=body, method="POST",
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token()}"},
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 - scheme checked in __init__
                    return json.loads(answer.read())
            except urllib.error.HTTPError as error:
                if error.code == 401 and attempt == 0:
                    self._token = None  # expired or revoked: one fresh token, then give up
                    continue
                if error.code not in RETRYABLE:
                    raise AuditRejected(error.code, _json(error.read())) from None
            except urllib.error.URLError:
                pass
            time.sleep(min(2**attempt * 0.2, 5))
        raise ConnectionError(f"events not accepted after {self.attempts} attempts")

    def token(self) -> str:
        if self._token is None or time.time() > self._token_expires - 60:
            form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": self.scopes}).encode()
            request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
                self.token_url, data=form, method="POST",
                headers={"Authorization": f"Basic {self._basic}",
                         "Content-Type": "application/x-www-form-urlencoded"},
            )
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                grant = json.loads(answer.read())
            self._token = grant["access_token"]
            self._token_expires = time.time() + float(grant.get("expires_in", 3600))
        return self._token


def batches(events: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Consecutive slices within the API's count and size limits."""
    batch: list[dict[str, Any]] = []
    size = 20  # {"events":[]} and slack
    for event in events:
        event_size = len(json.dumps(event, separators=(",", ":"))) + 1
        if batch and (len(batch) == MAX_EVENTS or size + event_size > MAX_BYTES):
            yield batch
            batch, size = [], 20
        batch.append(event)
        size += event_size
    if batch:
        yield batch


def _checked_url(url: str) -> str:
    """HTTPS only, except plain HTTP to this machine (the local stack)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")):
        return url
    raise ValueError(f"refusing {parts.scheme or 'scheme-less'} URL: audit events travel over HTTPS only")


def _json(raw: bytes) -> dict[str, Any]:
    try:
        return json.loads(raw)
    except ValueError:
        return {"message": raw[:200].decode(errors="replace")}
