"""`Auditor`: audit from inside ML code without slowing it or losing anything.

    audit = Auditor()                      # settings from MLAUDIT_* variables or mlaudit.toml
    audit.emit({"event_type": "prediction", ...})   # microseconds; never raises

`emit` refuses at once only what the server would refuse for sure (not JSON, a
non-finite number, larger than a queue message), gives the event an id, and appends it
to the spool (see spool.py) before it returns. A worker thread seals what was emitted
every `flush_interval` seconds or at 500 events or 1 MB, and sends it; network errors,
timeouts, 401, 408, 429 and 5xx, from the API or the token endpoint, are retried with
exponential backoff and full jitter for as long as it takes, in order. A 4xx is never
retried: the events the server names go to `on_rejected` and the rejected file, with its
reasons, and the rest of their batch is sent without them.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from mlaudit_client.config import Config
from mlaudit_client.events import EventHelpers, new_event_id, now
from mlaudit_client.spool import Batch, DiskSpool, MemorySpool
from mlaudit_client.transport import AuditRejected, Backoff, RetryLater, Transport

logger = logging.getLogger("mlaudit_client")

MAX_BATCH_EVENTS = 500
MAX_BATCH_BYTES = 1_000_000
# An event larger than one queue message (240,000 bytes) is refused by the server (413).
MAX_EVENT_BYTES = 240_000


def _json_default(value: Any) -> Any:
    """What ML code passes that JSON lacks: datetimes, numpy scalars and arrays."""
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_json_default).encode


def _strict(value: Any) -> Any:
    """`value` with what JSON cannot hold as text: a non-finite float as "NaN", "Infinity"
    or "-Infinity", anything else unknown as its repr (the rejected file is strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    try:
        return _strict(_json_default(value))
    except TypeError:
        return repr(value)


def _rejected_line(record: dict[str, Any]) -> str:
    return json.dumps(_strict(record), allow_nan=False)

RejectedCallback = Callable[[list[dict[str, Any]], dict[str, Any]], None]


class Auditor(EventHelpers):
    """Background sending; thread-safe; flushed at exit; usable again in a forked child."""

    def __init__(
        self, api_url: str | None = None, token_url: str | None = None, client_id: str | None = None,
        client_secret: str | None = None, *, common: Mapping[str, Any] | None = None,
        on_rejected: RejectedCallback | None = None, **settings: Any,
    ) -> None:
        """Settings as in `Config` (arguments over MLAUDIT_* variables over the file); `common`:
        fields every event gets unless it has its own (workload, environment, ...)."""
        self.config = Config.load(api_url=api_url, token_url=token_url, client_id=client_id,
                                  client_secret=client_secret, **settings)
        c = self.config
        self.transport = Transport(c.api_url, c.token_url, c.client_id, c.client_secret,
                                   scopes=c.scopes, timeout=c.timeout)
        self.backoff = Backoff(c.backoff_base, c.backoff_cap)
        self.on_rejected = on_rejected
        self.common = dict(common or {})
        self.rejected_path = Path(c.rejected_file) if c.rejected_file else c.spool_path() / "rejected.jsonl"
        self._memory = c.durability == "memory"
        self._closed = False
        self._start_lock = threading.Lock()
        self._start()
        atexit.register(self._at_exit)
        me = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (a := me()) is not None and a._after_fork())

    # ------------------------------------------------------------ the caller's side

    def emit(self, event: Mapping[str, Any]) -> str | None:
        """Spool one event for sending; its event_id, or None when it was refused or dropped."""
        try:
            self._ensure_started()
            if not isinstance(event, Mapping):
                self._refuse_local({"event": repr(event)[:200]}, "not an object")
                return None
            event_id = event.get("event_id") or new_event_id()
            event = {**self.common, **event, "event_id": event_id}
            if "occurred_at" not in event:
                event["occurred_at"] = now()
            if self._memory:
                item: Any = event
                size = 1
            else:
                item = self._encode_line(event)
                if isinstance(item, str):
                    self._refuse_local(event, item)
                    return None
                size = len(item)
            with self._lock:
                if not self._has_room(size):
                    self._counts["dropped"] += 1
                    self._warn("mlaudit: emit after close: events are dropped" if self._closed else
                               "mlaudit: the spool is full (max_spool_bytes / max_memory_events): events are dropped")
                    return None
                try:
                    self.spool.append(item)
                except OSError:  # the disk is full or gone: the event is not kept
                    self._counts["dropped"] += 1
                    logger.exception("mlaudit: cannot append to the spool; the event is dropped")
                    return None
                self._counts["emitted"] += 1
                self._pending += 1
                self._unsealed += 1
                self._unsealed_bytes += size
                if self._unsealed >= MAX_BATCH_EVENTS or self._unsealed_bytes >= MAX_BATCH_BYTES:
                    self._wake.set()
            return event_id
        except Exception:  # an audit call must never break the code it audits
            logger.exception("mlaudit emit failed; the event was not spooled")
            return None

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything emitted so far; True when it was sent (or rejected) in time."""
        self._ensure_started()
        with self._lock:
            self._flush_wanted += 1
            wanted = self._flush_wanted
        self._wake.set()
        with self._flushed:
            return self._flushed.wait_for(lambda: self._flush_done >= wanted or self._stopped, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Send what is left for up to `timeout` seconds (default `exit_timeout`) and stop.
        Unsent events stay in the spool for the next Auditor on the same spool_dir
        (durability "memory": they are counted as dropped). True when nothing is left."""
        if self._closed or not self._ready:
            self._closed = True
            return True
        timeout = self.config.exit_timeout if timeout is None else timeout
        with self._lock:
            self._closed = True
            self._deadline = time.monotonic() + timeout
            self._flush_wanted += 1
        self._wake.set()
        self._stopping.set()
        self._thread.join(timeout + 5)
        with self._lock:
            if self._thread.is_alive():  # stuck in a request longer than its timeout: leave it
                logger.warning("mlaudit: %d event(s) not sent: a request outlived close(); %s", self._pending,
                               "they are lost (durability=memory)" if self._memory else
                               f"they wait in {self.config.spool_path()} for the next Auditor")
                return False
            empty = self.spool.close()
            if self._memory and not empty:
                self._counts["dropped"] += self._pending
                logger.error("mlaudit: %d unsent events lost at close (durability=memory)", self._pending)
            elif not empty:
                logger.warning("mlaudit: %d event(s) not sent in %.0f s; they wait in %s and the next Auditor "
                               "with this spool_dir, api_url and client_id sends them", self._pending, timeout,
                               self.config.spool_path())
        atexit.unregister(self._at_exit)
        return empty

    def stats(self) -> dict[str, int]:
        """emitted, sent, spooled (waiting to be sent), rejected, dropped, retries."""
        self._ensure_started()
        with self._lock:
            return {**self._counts, "spooled": self._pending}

    def __enter__(self) -> Auditor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_started(self) -> None:
        if not self._ready:  # only after a fork: the child's worker and lane, on first use
            with self._start_lock:
                if not self._ready and not self._closed:
                    self._start()

    def _encode_line(self, event: dict[str, Any]) -> bytes | str:
        """The event's spool line, or why the server would refuse it."""
        try:
            line = (_ENCODE(event) + "\n").encode()
        except ValueError as error:
            if "Out of range float" in str(error):
                return "a number is not finite (NaN or Infinity): the server refuses it"
            return f"not JSON: {error}"
        except TypeError as error:
            return f"not JSON: {error}"
        if len(line) > MAX_EVENT_BYTES:
            return f"{len(line)} bytes as JSON; the server refuses events over {MAX_EVENT_BYTES}"
        return line

    def _has_room(self, size: int) -> bool:
        if self._closed:
            return False
        if self._memory:
            def room() -> bool:
                return self.spool.unsent < self.config.max_memory_events
        else:
            def room() -> bool:
                return self.spool.unsent_bytes + size <= self.config.max_spool_bytes
        if room():
            return True
        return self.config.when_full == "block" and self._room.wait_for(room, self.config.block_timeout)

    # ------------------------------------------------------------ the worker

    def _start(self) -> None:
        c = self.config
        self._new_locks()
        self._deadline: float | None = None
        self._stopped = False
        self._flush_wanted = self._flush_done = 0
        self._unsealed = self._unsealed_bytes = 0
        self._counts = {"emitted": 0, "sent": 0, "rejected": 0, "dropped": 0, "retries": 0}
        self._last_warning = 0.0
        if self._memory:
            self.spool: DiskSpool | MemorySpool = MemorySpool(self._encode_line, MAX_BATCH_EVENTS, MAX_BATCH_BYTES)
            self._pending = 0
        else:
            spool = DiskSpool(c.spool_path(), fsync=c.durability == "fsync", max_events=MAX_BATCH_EVENTS,
                              max_body=MAX_BATCH_BYTES, max_line=MAX_EVENT_BYTES)
            self._pending = sum(reader.count_events() for reader in spool.orphans)
            if self._pending:
                logger.info("mlaudit: %d unsent events from an earlier process will be sent first", self._pending)
            self.spool = spool
        self._thread = threading.Thread(target=self._run, name="mlaudit-client", daemon=True)
        self._thread.start()
        self._ready = True

    def _new_locks(self) -> None:
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # emit blocked on a full spool waits here
        self._flushed = threading.Condition()
        self._wake = threading.Event()
        self._stopping = threading.Event()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.config.flush_interval)
            self._wake.clear()
            with self._lock:
                wanted, closing = self._flush_wanted, self._deadline is not None
            try:
                with self._lock:
                    sealed = self._unsealed > 0
                    if sealed:
                        self.spool.seal()
                        self._unsealed = self._unsealed_bytes = 0
                if sealed:
                    self.spool.sync()
                complete = self._drain()
            except Exception:  # never let the worker die: the spool keeps the events
                logger.exception("mlaudit worker error; retrying")
                complete = False
                self._stopping.wait(self.backoff.delay(3))
            if complete:
                with self._flushed:
                    self._flush_done = wanted
                    self._flushed.notify_all()
            if closing and (complete or time.monotonic() >= (self._deadline or 0)):
                with self._flushed:
                    self._stopped = True
                    self._flushed.notify_all()
                return

    def _drain(self) -> bool:
        """Send every sealed batch in order; False when closing ran out of time."""
        while (item := self.spool.next_batch()) is not None:
            reader, batch = item
            for event, reason in batch.refused:
                self._refuse_local(event, reason)
            if batch.lines and not self._send(batch.lines, batch.at):
                return False
            self.spool.ack(reader, batch)
            with self._lock:
                self.spool.freed(reader, batch)
                self._pending -= len(batch.lines) + len(batch.refused)
                self._room.notify_all()
        return True

    def _send(self, lines: list[bytes], at: tuple[str, int] | None) -> bool:
        """Until the server answers 202 or a 4xx; False when closing ran out of time."""
        body = Batch(lines).body()
        attempt = 0
        while True:
            try:
                self.transport.post_events(body, at)
            except RetryLater as error:
                with self._lock:
                    self._counts["retries"] += 1
                self._warn(f"mlaudit: sending is failing ({error}); retrying with backoff")
                delay = self.backoff.delay(attempt, error.retry_after)
                attempt += 1
                if self._deadline is None:
                    self._stopping.wait(delay)  # close() cuts the wait short
                    continue
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    return False
                time.sleep(min(delay, remaining))
                continue
            except AuditRejected as error:
                return self._rejected(lines, error, at)
            if attempt:
                logger.info("mlaudit: sending again after %d failed attempts", attempt)
            with self._lock:
                self._counts["sent"] += len(lines)
            return True

    def _rejected(self, lines: list[bytes], error: AuditRejected, at: tuple[str, int] | None) -> bool:
        """The server takes all of a request or none of it: refuse the events it names,
        and send the others on their own (the same split again if this one is replayed)."""
        named: dict[int, list[dict[str, Any]]] = {}
        general = []
        for problem in error.body.get("errors") or []:
            if not isinstance(problem, dict):
                continue
            index = problem.get("index")
            reason = {k: v for k, v in problem.items() if k != "index"}
            if isinstance(index, int) and 0 <= index < len(lines):
                named.setdefault(index, []).append(reason)
            else:
                general.append(reason)
        answer = {**error.body, "status": error.status}
        if not named or len(named) == len(lines):
            self._reject([json.loads(line) for line in lines], [named.get(i, general) for i in range(len(lines))],
                         answer)
            return True
        self._reject([json.loads(lines[i]) for i in sorted(named)], [named[i] for i in sorted(named)], answer)
        # At the same position: a refused request stored nothing, so its lane did not move.
        return self._send([line for i, line in enumerate(lines) if i not in named], at)

    def _reject(self, events: list[dict[str, Any]], reasons: list[list[dict[str, Any]]],
                answer: dict[str, Any]) -> None:
        now = datetime.now(UTC).isoformat()
        head = {k: answer.get(k) for k in ("status", "error", "message")}
        lines = [_rejected_line({"rejected_at": now, **head, "reasons": why, "event": event})
                 for event, why in zip(events, reasons, strict=True)]
        self._record_rejection(events, lines, answer)

    def _refuse_local(self, event: dict[str, Any], reason: str) -> None:
        answer = {"status": 0, "error": "refused_by_client", "message": reason}
        line = _rejected_line({"rejected_at": datetime.now(UTC).isoformat(), **answer, "reasons": [], "event": event})
        self._record_rejection([event], [line], answer)

    def _record_rejection(self, events: list[dict[str, Any]], lines: list[str], answer: dict[str, Any]) -> None:
        with self._lock:
            self._counts["rejected"] += len(events)
        logger.error("mlaudit: %d event(s) rejected (%s: %s); kept in %s", len(events), answer.get("error"),
                     answer.get("message"), self.rejected_path)
        try:
            self.rejected_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.rejected_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, "".join(line + "\n" for line in lines).encode())
            finally:
                os.close(fd)
        except OSError:
            logger.exception("mlaudit: cannot write the rejected-events file %s", self.rejected_path)
        if self.on_rejected is not None:
            try:
                self.on_rejected(events, answer)
            except Exception:
                logger.exception("mlaudit: the on_rejected callback raised")

    def _warn(self, message: str) -> None:
        """At most one warning a minute per Auditor: an outage must not flood the logs."""
        now = time.monotonic()
        if now - self._last_warning >= 60:
            self._last_warning = now
            logger.warning(message)

    # ------------------------------------------------------------ process life

    def _at_exit(self) -> None:
        self.close(self.config.exit_timeout)

    def _after_fork(self) -> None:
        # The worker thread did not survive the fork and the spool's lane is the parent's:
        # the child starts its own on its first emit.
        if self._ready and not self._closed:
            self.spool.forget_after_fork()
        self.transport.reset()
        self._new_locks()  # a lock another thread held at the fork would stay held in the child
        self._start_lock = threading.Lock()
        self._ready = False
