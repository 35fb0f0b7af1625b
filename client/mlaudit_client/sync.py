"""`AuditClient`: synchronous sending for batch jobs, which want the answers or an error.

    audit = AuditClient(api_url, token_url, client_id, client_secret)
    answers = audit.send(events)   # one 202 answer per request; raises on failure

It gives every event an id (so a retry is recognised by the server and stored once),
sends batches of at most 500 events and 1 MB, and retries network errors, timeouts,
401, 429 and 5xx with backoff and jitter, the same body each time. A 4xx raises
`AuditRejected` with the server's field-by-field explanation and is never retried.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

from mlaudit_client.auditor import MAX_BATCH_BYTES, MAX_BATCH_EVENTS
from mlaudit_client.config import Config
from mlaudit_client.events import new_event_id
from mlaudit_client.transport import Backoff, RetryLater, Transport


class AuditClient:
    def __init__(
        self, api_url: str | None = None, token_url: str | None = None, client_id: str | None = None,
        client_secret: str | None = None, *, scopes: Iterable[str] = ("mlaudit/events.write",),
        attempts: int = 5, timeout: float | None = None,
    ) -> None:
        self.config = Config.load(api_url=api_url, token_url=token_url, client_id=client_id,
                                  client_secret=client_secret, scopes=" ".join(scopes), timeout=timeout)
        c = self.config
        self.transport = Transport(c.api_url, c.token_url, c.client_id, c.client_secret,
                                   scopes=c.scopes, timeout=c.timeout)
        self.backoff = Backoff(c.backoff_base, c.backoff_cap)
        self.attempts = attempts
        # No lane headers: a batch job's own retry of `send` may regroup its events, and may run
        # from several threads; only per-event claims recognise those (docs/client.md).

    def send(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send events in as few requests as the limits allow; returns each 202 answer."""
        for event in events:
            event.setdefault("event_id", new_event_id())
        return [self._post(batch) for batch in batches(events)]

    def _post(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        body = json.dumps({"events": events}, separators=(",", ":"), allow_nan=False).encode()
        for attempt in range(self.attempts):
            try:
                return self.transport.post_events(body)  # AuditRejected goes to the caller
            except RetryLater as error:
                last = error
                if attempt + 1 < self.attempts:
                    time.sleep(self.backoff.delay(attempt, error.retry_after))
        raise ConnectionError(f"events not accepted after {self.attempts} attempts: {last}")


def batches(events: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Consecutive slices within the API's count and size limits."""
    batch: list[dict[str, Any]] = []
    size = 20  # {"events":[]} and slack
    for event in events:
        event_size = len(json.dumps(event, separators=(",", ":"))) + 1
        if batch and (len(batch) == MAX_BATCH_EVENTS or size + event_size > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 20
        batch.append(event)
        size += event_size
    if batch:
        yield batch
