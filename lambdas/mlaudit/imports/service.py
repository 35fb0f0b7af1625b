"""Batch import of audit events from files, for jobs that cannot call the API.

One file (JSON Lines or Parquet, see `readers`) -> each line validated by the event
contract exactly as `POST /v1/events` validates a body (`ingest.parse_events`), with the
same personal-data rules -> good lines in batches through the same `EventRecorder`
(data-quality rules, leaf records and hashes, packs on the same queue, the same writer)
-> an `ImportReport`: lines read, accepted, and each rejected line with its reasons.

Exactly once, per file and line:
- a line's event id is uuid5 of the file's identity and its line number (or the
  `event_id` the line carries), so the same line always has the same id;
- the file's identity claims an idempotency record (the ingest store): a file imported
  before answers with its first report's summary and sends nothing;
- an import that died half-way is run again with the first attempt's `received_at` and
  the same pack ids (from the identity and batch number), so every pack it resends is
  byte for byte the one the writer's ledger already holds, and is dropped there.

`file_id` must change when the content changes: the object's SHA-256 checksum, or its
bucket, key and version id (or ETag). Memory: one line and one batch at a time, plus the
report (rejections, and the event ids the lines supplied themselves).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from mlaudit.contract import Event
from mlaudit.errors import DomainError, TooLarge
from mlaudit.imports.readers import FORMATS, Unreadable, read_jsonl, read_parquet
from mlaudit.ingest.identity import RequestMeta
from mlaudit.ingest.request import IngestLimits, parse_events
from mlaudit.ingest.service import EventRecorder, IdempotencyStore
from mlaudit.principal import Principal

REPORT_VERSION = 1
# Import event ids: uuid5 in this namespace over the file's identity and the line number.
_IMPORT_NAMESPACE = uuid.UUID("0b6e7a52-3c1e-4c4b-9a57-2f0b1f6f3a99")
_PREFIX, _SUFFIX = b'{"events":[', b"]}"
IMPORT_META = RequestMeta(source_ip=None, user_agent="mlaudit-import")


@dataclass(frozen=True)
class ImportLimits:
    batch_events: int = 500  # events per enqueue (each becomes one or more packs)
    max_line_bytes: int = 1_000_000  # one line; a longer one is rejected unread
    parquet_batch_rows: int = 1_000
    max_errors_per_line: int = 20
    max_listed_rejections: int = 1_000_000  # past this, rejections are counted, not listed
    # How long the idempotency record of an import lives: a file dropped again within it
    # sends nothing. Past it, the writer's ledger (15 days) still drops identical packs,
    # and queries keep one copy per event id; keep it long.
    remember_for: timedelta = timedelta(days=400)
    # A claim younger than this is a running import (S3 notifications come at least once):
    # the import function's timeout.
    in_flight: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class ImportSource:
    file_id: str  # the content's identity (see the module docstring)
    name: str  # for the report: the object key or file name
    format: str  # jsonl | parquet (readers.format_of)


@dataclass
class ImportReport:
    file_id: str
    name: str
    format: str
    state: str = "imported"  # imported | already_imported
    lines: int = 0  # lines (rows) read, blank lines not counted
    ignored: int = 0  # a captured source's records its mapping records nothing for (mlaudit.capture)
    accepted: int = 0
    rejected: int = 0
    dq: dict[str, int] = field(default_factory=lambda: {"pass": 0, "warn": 0, "fail": 0})
    rejections: list[dict[str, Any]] = field(default_factory=list)  # {"line", "errors": [{path, rule, message}]}
    rejections_listed: bool = True  # False when more were rejected than listed
    received_at: str | None = None

    def summary(self) -> dict[str, Any]:
        """What the idempotency record keeps (no per-line list: DynamoDB items are small)."""
        return {
            "report_version": REPORT_VERSION, "file_id": self.file_id, "name": self.name, "format": self.format,
            "lines": self.lines, "accepted": self.accepted, "rejected": self.rejected, "ignored": self.ignored,
            "dq": dict(self.dq),
            "received_at": self.received_at,
        }

    def body(self) -> dict[str, Any]:
        """The import report as JSON: the summary, the state, and every rejected line."""
        return {**self.summary(), "state": self.state, "rejections": self.rejections,
                "rejections_listed": self.rejections_listed}

    @classmethod
    def replayed(cls, summary: dict[str, Any]) -> ImportReport:
        report = cls(summary["file_id"], summary["name"], summary["format"], state="already_imported",
                     lines=summary["lines"], accepted=summary["accepted"], rejected=summary["rejected"],
                     ignored=summary.get("ignored", 0),
                     dq=dict(summary["dq"]), received_at=summary["received_at"])
        report.rejections_listed = False  # in the first import's report
        return report


def import_key(file_id: str) -> str:
    """The idempotency key of a file's import."""
    return "import:" + hashlib.sha256(file_id.encode()).hexdigest()


def line_event_id(file_id: str, line: int) -> str:
    return str(uuid.uuid5(_IMPORT_NAMESPACE, f"{file_id}\n{line}"))


class FileImporter:
    """Runs imports of whole files through the ingest's recorder and idempotency store."""

    def __init__(
        self, *, recorder: EventRecorder, store: IdempotencyStore, limits: ImportLimits = ImportLimits(),
        clock: Any = lambda: datetime.now(UTC), capture: Any = None,
    ) -> None:
        from mlaudit.capture.files import CapturedFiles  # noqa: PLC0415 - capture reads imports' readers

        self.recorder = recorder
        self.capture = capture or CapturedFiles()  # bedrock/ and dms/ files (mlaudit.capture)
        self.store = store
        self.limits = limits
        self.clock = clock
        self.ingest_limits: IngestLimits = recorder.limits
        self.claim_limits = replace(recorder.limits, idempotency_ttl=limits.remember_for, in_flight=limits.in_flight)

    def run(
        self, stream: IO[bytes], source: ImportSource, principal: Principal,
        meta: RequestMeta = IMPORT_META, progress: Any = None,
    ) -> ImportReport:
        """Import one file read from `stream`; `progress(lines_read)` is called per batch."""
        if source.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}")
        key = import_key(source.file_id)
        claim = self.store.claim(key, key, self.clock(), self.claim_limits)  # Conflict: already running
        if claim.state == "replay":
            assert claim.response is not None
            return ImportReport.replayed(claim.response)
        report = ImportReport(source.file_id, source.name, source.format,
                              received_at=claim.received_at.astimezone(UTC).isoformat())
        try:
            self._import(stream, source, principal, meta, claim.received_at, key, report, progress)
        except BaseException:
            self.store.release(key)
            raise
        self.store.complete(key, report.summary(), self.clock(), self.claim_limits)
        return report

    def _lines(self, stream: IO[bytes], source: ImportSource) -> Iterator[tuple[int, bytes | Unreadable | None]]:
        if source.format == "parquet":
            return read_parquet(stream, self.limits.parquet_batch_rows)
        if source.format in ("bedrock", "dms"):
            return self.capture.lines(stream, source.format, source.name, self.limits.parquet_batch_rows)
        # A line is validated as a request body of one event: no longer than a body may be.
        longest = min(self.limits.max_line_bytes, self.ingest_limits.max_body_bytes - len(_PREFIX) - len(_SUFFIX))
        return read_jsonl(stream, longest)

    def _import(
        self, stream: IO[bytes], source: ImportSource, principal: Principal, meta: RequestMeta,
        received_at: datetime, key: str, report: ImportReport, progress: Any,
    ) -> None:
        batch: list[tuple[int, Event, str]] = []
        supplied: set[str] = set()  # event ids the lines carried themselves
        batches = 0
        for number, line in self._lines(stream, source):
            report.lines += 1
            if isinstance(line, Unreadable):
                self._reject(report, number, [{"path": line.path, "rule": line.rule, "message": line.message}])
                continue
            if line is None:  # a captured source's record the mapping records nothing for
                report.ignored += 1
                continue
            event, problems = self.check_line(line)
            if event is not None and event.event_id is not None:
                if event.event_id in supplied:
                    problems = [{"path": "event_id", "rule": "duplicate_in_file",
                                 "message": "another line of this file has the same event_id"}]
                supplied.add(event.event_id)
            if problems:
                self._reject(report, number, problems)
                continue
            assert event is not None
            batch.append((number, event, event.event_id or line_event_id(source.file_id, number)))
            if len(batch) >= self.limits.batch_events:
                self._send(batch, f"{key}:{batches}", principal, meta, received_at, report)
                batches += 1
                batch = []
                if progress is not None:
                    progress(report.lines)
        if batch:
            self._send(batch, f"{key}:{batches}", principal, meta, received_at, report)
        if progress is not None:
            progress(report.lines)

    def check_line(self, line: bytes) -> tuple[Event | None, list[dict[str, Any]]]:
        """One line through the contract, as POST /v1/events reads one event: the event,
        or the problems as {path, rule, message} with paths inside the event."""
        try:
            events = parse_events(_PREFIX + line + _SUFFIX, self.ingest_limits)
        except DomainError as error:  # the contract's refusal
            if error.code == "malformed_json":
                return None, [{"path": "$", "rule": error.code, "message": "not a JSON object"}]
            if not error.errors:  # e.g. payload_too_large: a row longer than a request may be
                return None, [{"path": "$", "rule": error.code, "message": error.message}]
            return None, [
                {"path": _inner(p["path"]), "rule": p["rule"], "message": p["message"]}
                for p in error.errors[: self.limits.max_errors_per_line]
            ]
        if len(events) != 1:
            return None, [{"path": "$", "rule": "one_event_per_line", "message": "a line holds one event object"}]
        (event,) = events
        try:
            event.occurred_at.astimezone(UTC)
        except OverflowError:  # the contract admits it, but its UTC form has no year 1..9999
            return None, [{"path": "occurred_at", "rule": "datetime_range",
                           "message": "outside years 1 to 9999 in UTC"}]
        return event, self._personal_problems(event)

    def _personal_problems(self, event: Event) -> list[dict[str, Any]]:
        # The same rules as IngestService for personal fields (see ingest).
        if event.personal_data is not None and event.subject_ref is None:
            return [{"path": "personal_data", "rule": "requires_subject_ref",
                     "message": "personal_data needs the subject_ref it is about"}]
        if self.recorder.protector is None:
            return [
                {"path": name, "rule": "privacy_not_configured",
                 "message": "this deployment has no subject key store; personal fields are refused"}
                for name in ("subject_ref", "personal_data") if getattr(event, name) is not None
            ]
        return []

    def _send(
        self, batch: list[tuple[int, Event, str]], batch_key: str, principal: Principal, meta: RequestMeta,
        received_at: datetime, report: ImportReport,
    ) -> None:
        events = [event for _, event, _ in batch]
        ids = [event_id for _, _, event_id in batch]
        try:
            result = self.recorder.enqueue(events, ids, batch_key, principal, meta, received_at)
        except TooLarge:
            # Packs are built before anything is sent: find the lines too large for a
            # message, one at a time (deterministic, so a rerun resends the same packs).
            for index, item in enumerate(batch):
                self._send_one(item, f"{batch_key}:{index}", principal, meta, received_at, report)
            return
        report.accepted += len(batch)
        for status, count in result.dq_counts.items():
            report.dq[status] += count

    def _send_one(
        self, item: tuple[int, Event, str], key: str, principal: Principal, meta: RequestMeta,
        received_at: datetime, report: ImportReport,
    ) -> None:
        number, event, event_id = item
        try:
            result = self.recorder.enqueue([event], [event_id], key, principal, meta, received_at)
        except TooLarge:
            self._reject(report, number, [{"path": "$", "rule": "event_too_large",
                                           "message": "the event is larger than one queue message"}])
            return
        report.accepted += 1
        for status, count in result.dq_counts.items():
            report.dq[status] += count

    def _reject(self, report: ImportReport, number: int, problems: list[dict[str, Any]]) -> None:
        report.rejected += 1
        if len(report.rejections) < self.limits.max_listed_rejections:
            report.rejections.append({"line": number, "errors": problems})
        else:
            report.rejections_listed = False


def _inner(path: str) -> str:
    """events[0].occurred_at -> occurred_at; events[0] -> $."""
    inner = path.removeprefix("events[0]").removeprefix(".")
    return inner or "$"
