"""Batch import of audit events from files, for jobs that cannot call the API.

One file (JSON Lines or Parquet, see `readers`) -> each line validated by the event
contract exactly as `POST /v1/events` validates a body (`ingest.parse_events`), with the
same personal-data rules -> good lines in batches through the ingest's own claim path
(`IngestService.store_events`: per-event claims, data-quality rules, leaf records and
hashes, packs on the same queue, the same writer) -> an `ImportReport`: lines read,
stored, already stored, and each rejected line with its reasons.

Exactly once, per sender and event id, as on the API. The sender is the import's
principal (`mlaudit-import` in a deployment: every file dropped in the landing bucket
speaks for the same sender, whoever uploaded it):
- a line's event id is the `event_id` it carries (unique in the file), else uuid5 of the
  file's identity and its line number, so the same line of the same file always has the
  same id (a line without an id in another file is another event);
- each batch of lines is a request of the claim path, keyed by the file and the batch
  number: each line carrying its own `event_id` is claimed per (sender, event_id) within
  the idempotency window; a line whose event another request (another file, or the API)
  stored already is acknowledged and listed as already stored; one whose id holds other
  content is a rejected line (`idempotency_conflict`); the rest of the file is stored. A
  line without its own id needs no claim of its own: its id (the file's identity and the
  line number) is held by this file's import only, which its batch's claim covers;
- the file's identity claims an idempotency record (the ingest store): a file imported
  before answers with its first report's summary and sends nothing;
- an import that died half-way is run again: its finished batches answer from their
  records, the others resume with the first attempt's `received_at` and packs.

`file_id` must change when the content changes: the object's SHA-256 checksum, or its
bucket, key and version id (or ETag). Memory: one line and one batch at a time, plus the
report (bounded: `ImportLimits.report_bytes`) and the event ids the lines supplied.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from mlaudit.contract import Event
from mlaudit.errors import Conflict, DomainError, TooLarge
from mlaudit.imports.readers import FORMATS, Unreadable, read_jsonl, read_parquet
from mlaudit.ingest.claims import CONFLICT_MESSAGE
from mlaudit.ingest.identity import RequestMeta
from mlaudit.ingest.request import IngestLimits, parse_events
from mlaudit.ingest.service import IdempotencyStore, IngestService
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
    # The lines a report lists (rejected, already stored) take at most this many bytes plus
    # as many as the file holds: a file of short bad lines cannot make a report many times
    # its size. Past it, lines are counted (per rule), not listed.
    report_bytes: int = 64_000
    # A batch whose events another request is storing right now waits for it this long.
    wait_for_claims: timedelta = timedelta(seconds=60)
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
    accepted: int = 0  # stored by this import
    rejected: int = 0
    already_stored: int = 0  # their events stored before, by another import or the API: nothing sent
    dq: dict[str, int] = field(default_factory=lambda: {"pass": 0, "warn": 0, "fail": 0})
    rejections: list[dict[str, Any]] = field(default_factory=list)  # {"line", "errors": [{path, rule, message}]}
    rejections_listed: bool = True  # False when more were rejected than listed
    rejected_by_rule: Counter[str] = field(default_factory=Counter)  # each rejected line, by its first rule
    already_stored_lines: list[int] = field(default_factory=list)
    already_stored_listed: bool = True
    received_at: str | None = None
    version_id: str | None = None  # the object version imported (the CLI waits for its own)
    listing_budget: int = field(default=0, repr=False)  # bytes the lists above may still take

    def summary(self) -> dict[str, Any]:
        """What the idempotency record keeps (no per-line list: DynamoDB items are small)."""
        return {
            "report_version": REPORT_VERSION, "file_id": self.file_id, "name": self.name, "format": self.format,
            "lines": self.lines, "accepted": self.accepted, "rejected": self.rejected, "ignored": self.ignored,
            "already_stored": self.already_stored, "dq": dict(self.dq), "received_at": self.received_at,
        }

    def body(self) -> dict[str, Any]:
        """The import report as JSON: the summary, the state, every rejected and already
        stored line (as far as the listing's bound allows), the version imported."""
        return {**self.summary(), "state": self.state, "version_id": self.version_id,
                "rejections": self.rejections, "rejections_listed": self.rejections_listed,
                "rejected_by_rule": dict(self.rejected_by_rule), "already_stored_lines": self.already_stored_lines,
                "already_stored_listed": self.already_stored_listed}

    def listed(self, entry: Any) -> bool:
        """Take room for one more listed entry, if the bound leaves it."""
        size = len(json.dumps(entry, separators=(",", ":"))) + 1
        if size > self.listing_budget:
            self.listing_budget = 0  # listed in order: nothing after the first one left out
            return False
        self.listing_budget -= size
        return True

    @classmethod
    def replayed(cls, summary: dict[str, Any]) -> ImportReport:
        report = cls(summary["file_id"], summary["name"], summary["format"], state="already_imported",
                     lines=summary["lines"], accepted=summary["accepted"], rejected=summary["rejected"],
                     already_stored=summary.get("already_stored", 0), ignored=summary.get("ignored", 0),
                     dq=dict(summary["dq"]), received_at=summary["received_at"])
        report.rejections_listed = report.already_stored_listed = False  # in the first import's report
        return report


def import_key(file_id: str) -> str:
    """The idempotency key of a file's import."""
    return "import:" + hashlib.sha256(file_id.encode()).hexdigest()


def line_event_id(file_id: str, line: int) -> str:
    return str(uuid.uuid5(_IMPORT_NAMESPACE, f"{file_id}\n{line}"))


class FileImporter:
    """Runs imports of whole files through the ingest's claim path and idempotency store."""

    def __init__(
        self, *, ingest: IngestService, store: IdempotencyStore | None = None, limits: ImportLimits = ImportLimits(),
        clock: Any = lambda: datetime.now(UTC), sleep: Callable[[float], None] = time.sleep, capture: Any = None,
    ) -> None:
        from mlaudit.capture.files import CapturedFiles  # noqa: PLC0415 - capture reads imports' readers

        self.ingest = ingest
        self.capture = capture or CapturedFiles()  # bedrock/ and dms/ files (mlaudit.capture)
        self.store = store if store is not None else ingest.store  # the file's own record
        self.limits = limits
        self.clock = clock
        self.sleep = sleep
        self.ingest_limits: IngestLimits = ingest.limits
        self.claim_limits = replace(ingest.limits, idempotency_ttl=limits.remember_for, in_flight=limits.in_flight)

    def run(
        self, stream: IO[bytes], source: ImportSource, principal: Principal,
        meta: RequestMeta = IMPORT_META, progress: Any = None, version_id: str | None = None,
    ) -> ImportReport:
        """Import one file read from `stream`; `progress(lines_read)` is called per batch."""
        if source.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}")
        key = import_key(source.file_id)
        claim = self.store.claim(key, key, self.clock(), self.claim_limits)  # Conflict: already running
        if claim.state == "replay":
            assert claim.response is not None
            report = ImportReport.replayed(claim.response)
            report.version_id = version_id
            return report
        report = ImportReport(source.file_id, source.name, source.format,
                              received_at=claim.received_at.astimezone(UTC).isoformat(), version_id=version_id,
                              listing_budget=self.limits.report_bytes + (_size(stream) or 0))
        try:
            self._import(stream, source, principal, meta, key, report, progress, claim.received_at)
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
        key: str, report: ImportReport, progress: Any, received_at: datetime,
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
                self._send(batch, f"{key}:{batches}", principal, meta, report, received_at)
                batches += 1
                batch = []
                if progress is not None:
                    progress(report.lines)
        if batch:
            self._send(batch, f"{key}:{batches}", principal, meta, report, received_at)
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
        if self.ingest.protector is None:
            return [
                {"path": name, "rule": "privacy_not_configured",
                 "message": "this deployment has no subject key store; personal fields are refused"}
                for name in ("subject_ref", "personal_data") if getattr(event, name) is not None
            ]
        return []

    def _send(
        self, batch: list[tuple[int, Event, str]], batch_key: str, principal: Principal, meta: RequestMeta,
        report: ImportReport, received_at: datetime,
    ) -> None:
        try:
            answer = self._store(batch, batch_key, principal, meta, received_at)
        except TooLarge:
            # Packs are built before anything is sent: find the lines too large for a
            # message, one at a time (deterministic, so a rerun resends the same packs).
            for index, item in enumerate(batch):
                try:
                    self._count(report, [item],
                                self._store([item], f"{batch_key}:{index}", principal, meta, received_at))
                except TooLarge:
                    self._reject(report, item[0], [{"path": "$", "rule": "event_too_large",
                                                    "message": "the event is larger than one queue message"}])
            return
        self._count(report, batch, answer)

    def _store(
        self, batch: list[tuple[int, Event, str]], key: str, principal: Principal, meta: RequestMeta,
        received_at: datetime,
    ) -> dict[str, Any]:
        """One batch through the claim path; while another request holds some of its events
        in flight, it waits (up to `wait_for_claims`), as a client retries a 409."""
        deadline = time.monotonic() + self.limits.wait_for_claims.total_seconds()
        while True:
            try:
                return self.ingest.store_events(
                    [event for _, event, _ in batch], [event_id for _, _, event_id in batch], principal, meta, key,
                    partial=True, in_flight=self.limits.in_flight, received_at=received_at,
                    # A line's id derived from the file and its number: only this file's import holds it.
                    unclaimed=frozenset(i for i, (_, event, _) in enumerate(batch) if event.event_id is None))
            except Conflict as error:
                if error.code != "request_in_progress" or time.monotonic() >= deadline:
                    raise
                self.sleep(min(5.0, float(error.retry_after_seconds or 1)))

    def _count(self, report: ImportReport, batch: list[tuple[int, Event, str]], answer: dict[str, Any]) -> None:
        report.accepted += answer["stored"]
        for status, count in answer["dq"].items():
            report.dq[status] += count
        for index in answer["already_stored"]:
            report.already_stored += 1
            number = batch[index][0]
            if report.already_stored_listed and report.listed(number):
                report.already_stored_lines.append(number)
            else:
                report.already_stored_listed = False
        for index in answer["conflicts"]:
            self._reject(report, batch[index][0], [
                {"path": "event_id", "rule": "idempotency_conflict", "message": CONFLICT_MESSAGE}])

    def _reject(self, report: ImportReport, number: int, problems: list[dict[str, Any]]) -> None:
        report.rejected += 1
        report.rejected_by_rule[problems[0]["rule"]] += 1
        entry = {"line": number, "errors": problems}
        if (report.rejections_listed and len(report.rejections) < self.limits.max_listed_rejections
                and report.listed(entry)):
            report.rejections.append(entry)
        else:
            report.rejections_listed = False


def _size(stream: IO[bytes]) -> int | None:
    """The file's size, if its stream can tell (a local file, a buffer)."""
    try:
        here = stream.tell()
        end = stream.seek(0, 2)
        stream.seek(here)
    except (AttributeError, OSError, ValueError):
        return None
    return end - here


def _inner(path: str) -> str:
    """events[0].occurred_at -> occurred_at; events[0] -> $."""
    inner = path.removeprefix("events[0]").removeprefix(".")
    return inner or "$"
