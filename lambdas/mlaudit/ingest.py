"""Ingest: request body -> validated events -> leaf records and hashes -> SQS packs.

Pure logic plus two ports (an idempotency store and a queue). All or nothing per
request: either every event is valid and enqueued (202), or nothing is (4xx).
Retries are idempotent: the request's key is the sender plus its event ids; a
completed request answers again with its first answer and enqueues nothing, and
one that failed half-way is resent with the same `received_at` and the same pack
ids, so the writer's ledger drops packs it already stored.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import msgspec
from pydantic import TypeAdapter, ValidationError

from mlaudit.codec import canonical_json, format_timestamp
from mlaudit.errors import Forbidden, Invalid, InvalidEvents, TooLarge, UnsupportedMediaType
from mlaudit.events import (
    JSON_FIELDS,
    LIST_FIELDS,
    SERVER_OWNED_FIELDS,
    EventBatchIn,
    EventIn,
    EventType,
)
from mlaudit.leaf import LEAF_ORDER
from mlaudit.pack import Pack, PackTooLarge, pack_records
from mlaudit.principal import Principal
from mlaudit.rules import RuleSet, load_rules
from mlaudit.settings import Env

MAX_REPORTED_ERRORS = 100
# Derived event ids: uuid5 in this namespace over the sender and the event's content.
_EVENT_ID_NAMESPACE = uuid.UUID("6f1d8a52-3c1e-4c4b-9a57-2f0b1f6f3a10")

_BATCH = TypeAdapter(EventBatchIn)
_SINGLE = TypeAdapter(EventIn)


@dataclass(frozen=True)
class IngestLimits:
    max_batch_events: int = 500
    max_body_bytes: int = 1_000_000
    max_message_bytes: int = 240_000
    clock_skew: timedelta = timedelta(seconds=300)
    idempotency_ttl: timedelta = timedelta(days=1)
    # A claim younger than this may still be in flight (the function's timeout).
    in_flight: timedelta = timedelta(seconds=15)

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str] = os.environ) -> IngestLimits:
        return cls(
            max_batch_events=int(env[Env.MAX_BATCH_EVENTS]),
            max_body_bytes=int(env[Env.MAX_BODY_BYTES]),
            max_message_bytes=int(env[Env.MAX_MESSAGE_BYTES]),
            clock_skew=timedelta(seconds=int(env[Env.CLOCK_SKEW_SECONDS])),
            idempotency_ttl=timedelta(seconds=int(env[Env.IDEMPOTENCY_TTL_SECONDS])),
            in_flight=timedelta(seconds=int(env[Env.INGEST_TIMEOUT_SECONDS])),
        )


@dataclass(frozen=True)
class RequestMeta:
    source_ip: str | None
    user_agent: str | None


@dataclass
class Claim:
    """What the idempotency store knows about a request key."""

    state: str  # "new" (go ahead), "replay" (answer `response`)
    received_at: datetime
    response: dict[str, Any] | None = None


class IdempotencyStore(Protocol):
    def claim(self, key: str, fingerprint: str, now: datetime, limits: IngestLimits) -> Claim: ...
    def complete(self, key: str, response: dict[str, Any], now: datetime, limits: IngestLimits) -> None: ...
    def release(self, key: str) -> None: ...


class Queue(Protocol):
    def send_packs(self, packs: list[Pack]) -> None:
        """Send every pack or raise; a pack sent twice is harmless (same pack id)."""


@dataclass
class IngestResult:
    event_ids: list[str]
    dq_counts: dict[str, int] = field(default_factory=lambda: {"pass": 0, "warn": 0, "fail": 0})
    dq_violations: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "accepted": len(self.event_ids),
            "event_ids": self.event_ids,
            "dq": self.dq_counts,
            "dq_violations": self.dq_violations,
        }


# ---------------------------------------------------------------- parsing


def check_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("unsupported_media_type", "Content-Type must be application/json.")


def parse_events(body: bytes, limits: IngestLimits) -> list[EventIn]:
    """One event object or {"events": [...]}; a 4xx naming each bad field otherwise."""
    if len(body) > limits.max_body_bytes:
        raise TooLarge("payload_too_large", f"Request body is larger than {limits.max_body_bytes} bytes.")
    try:
        events = list(_BATCH.validate_json(body).events)
    except ValidationError as batch_error:
        errors = batch_error.errors(include_url=False, include_input=False)
        if not _is_single_event(errors):
            raise _validation_error(errors) from None
        try:
            events = [_SINGLE.validate_json(body)]
        except ValidationError as single_error:
            errors = single_error.errors(include_url=False, include_input=False)
            raise _validation_error([{**e, "loc": ("events", 0, *e["loc"])} for e in errors]) from None
    if len(events) > limits.max_batch_events:
        raise TooLarge(
            "batch_too_large",
            f"A request carries at most {limits.max_batch_events} events; this one has {len(events)}.",
            [{"path": "events", "rule": "max_items", "message": f"at most {limits.max_batch_events} events"}],
        )
    return events


def _is_single_event(errors: list[dict[str, Any]]) -> bool:
    # A body without "events" is read as one event object (the batch model then
    # reports "events" missing and the event's own fields as unknown).
    return any(e["type"] == "missing" and e["loc"] == ("events",) for e in errors) and all(
        len(e["loc"]) == 1 for e in errors
    )


_RULE_NAMES = {"extra_forbidden": "unknown_field", "enum": "unknown_value", "literal_error": "unknown_value"}


def _validation_error(errors: list[dict[str, Any]]) -> InvalidEvents:
    if any(e["type"] in ("json_invalid", "json_type") and len(e["loc"]) == 0 for e in errors):
        detail = next(e["msg"] for e in errors)
        raise Invalid("malformed_json", f"Request body is not valid JSON: {detail}.")
    problems = []
    for e in errors[:MAX_REPORTED_ERRORS]:
        loc = e["loc"]
        index = loc[1] if len(loc) > 1 and loc[0] == "events" and isinstance(loc[1], int) else None
        path = _path(loc)
        field_name = loc[2] if index is not None and len(loc) > 2 else None
        rule = _RULE_NAMES.get(e["type"], e["type"])
        message = e["msg"]
        if e["type"] == "extra_forbidden" and field_name in SERVER_OWNED_FIELDS:
            rule = "server_owned_field"
            message = "set by the server from the verified token and request; remove it from the body"
        elif e["type"] == "extra_forbidden":
            message = "not a field of the v1 event contract"
        elif e["type"] == "value_error":
            message = message.removeprefix("Value error, ")
            rule = "bounded_json" if field_name in JSON_FIELDS + ("personal_data",) else "invalid_value"
        elif e["type"] in ("finite_number",):
            rule = "finite_number"
        problem: dict[str, Any] = {"path": path, "rule": rule, "message": message}
        if index is not None:
            problem = {"index": index, **problem}
        problems.append(problem)
    more = f" (first {MAX_REPORTED_ERRORS} shown)" if len(errors) > MAX_REPORTED_ERRORS else ""
    return InvalidEvents(
        "validation_failed", f"{len(errors)} problem(s) in the request; nothing was stored{more}.", problems,
    )


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "$"


# ---------------------------------------------------------------- records


# What a workload holding only `lineage.write` may send (pipelines and orchestrators).
LINEAGE_EVENT_TYPES = frozenset({
    EventType.LINEAGE, EventType.DATASET_REGISTERED, EventType.DATA_INGESTED,
})


def check_scope_allows(principal: Principal, events: list[EventIn]) -> None:
    if principal.kind != "workload" or "events.write" in principal.scopes:
        return
    problems = [
        {"index": i, "path": f"events[{i}].event_type", "rule": "scope",
         "message": "the lineage.write scope sends lineage, dataset_registered and data_ingested events only"}
        for i, e in enumerate(events) if e.event_type not in LINEAGE_EVENT_TYPES
    ]
    if problems:
        raise Forbidden("forbidden", "The token's scopes do not cover these event types; nothing was stored.",
                        problems[:MAX_REPORTED_ERRORS])


def event_id_of(event: EventIn, principal: Principal) -> str:
    if event.event_id is not None:
        return event.event_id
    content = event.model_dump_json(exclude_none=True)
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"{principal.actor_id}\n{content}"))


def assign_event_ids(events: list[EventIn], principal: Principal) -> list[str]:
    ids = [event_id_of(e, principal) for e in events]
    first_seen: dict[str, int] = {}
    problems = []
    for index, event_id in enumerate(ids):
        if event_id in first_seen:
            problems.append({
                "index": index, "path": f"events[{index}].event_id", "rule": "duplicate_in_request",
                "message": f"same event_id as events[{first_seen[event_id]}] (identical events need "
                "distinct client-supplied event_id values)",
            })
        first_seen.setdefault(event_id, index)
    if problems:
        raise InvalidEvents("validation_failed", "Duplicate event ids in the request; nothing was stored.",
                            problems[:MAX_REPORTED_ERRORS])
    return ids


def request_key(principal: Principal, event_ids: list[str]) -> str:
    """Idempotency key: the sender and the ordered event ids (ids are scoped per sender)."""
    digest = hashlib.sha256(principal.actor_id.encode())
    for event_id in event_ids:
        digest.update(b"\n" + event_id.encode())
    return digest.hexdigest()


_FINGERPRINT = msgspec.json.Encoder(order="sorted")


def request_fingerprint(events: list[EventIn]) -> str:
    """What the request asks to store, as parsed: a resend with other whitespace or key
    order is the same request; one with any other value is not (409)."""
    return hashlib.sha256(_FINGERPRINT.encode([event.__dict__ for event in events])).hexdigest()


# Fields copied as they are from the client's event into the leaf record.
_COPIED = tuple(
    name for name in LEAF_ORDER
    if name in EventIn.model_fields and name not in (*JSON_FIELDS, *LIST_FIELDS, "event_id", "event_type",
                                                     "occurred_at", "subject_ref", "personal_data")
)


def server_fields(principal: Principal, meta: RequestMeta, received_at: str) -> dict[str, Any]:
    """The stored fields a request's events take from its token and connection."""
    return {
        "received_at": received_at,
        "actor_id": principal.actor_id,
        "actor_type": principal.actor_type,
        "actor_roles": list(principal.roles),
        "client_id": principal.client_id,
        "source_ip": meta.source_ip,
        "user_agent": meta.user_agent,
    }


def leaf_record(
    event: EventIn, event_id: str, server: dict[str, Any], dq_status: str, dq_violations: tuple[str, ...],
) -> dict[str, Any]:
    """The stored fields of one event, in leaf form and canonical key order (see mlaudit.leaf).
    `server` comes from `server_fields`; its values are shared, never modified."""
    values = event.__dict__
    record = dict.fromkeys(LEAF_ORDER)  # the key order; the assignments below keep it
    for name in _COPIED:
        record[name] = values[name]
    for name in JSON_FIELDS:
        value = values[name]
        record[name] = None if value is None else value.text  # CanonicalJson, encoded at validation
    for name in LIST_FIELDS:
        record[name] = list(values[name] or ())
    record.update(server)
    record["event_id"] = event_id
    record["event_type"] = event.event_type.value
    record["occurred_at"] = format_timestamp(event.occurred_at)
    record["dq_status"] = dq_status
    record["dq_violations"] = list(dq_violations)
    return record


# ---------------------------------------------------------------- service


class Protector(Protocol):
    """Turns subject_ref / personal_data into a pseudonym and ciphertext (privacy module)."""

    def prepare(self, subject_refs: Iterable[str]) -> None:
        """Load or create every subject's key of a batch at once (before `protect`)."""

    def protect(self, subject_ref: str, personal_data: dict[str, Any] | None) -> tuple[str, str | None]: ...


class EventRecorder:
    """Validated events -> leaf records (with their data-quality verdict) -> packs on the queue.

    Used by ingest for clients' events, and directly by the functions that audit
    themselves (query runs, subject access, erasure) through `record`.
    """

    def __init__(
        self, *, queue: Queue, limits: IngestLimits, rules: RuleSet | None = None,
        protector: Protector | None = None, clock: Any = lambda: datetime.now(UTC),
    ) -> None:
        self.queue = queue
        self.limits = limits
        self.rules = rules or load_rules()
        self.protector = protector
        self.clock = clock

    def record(
        self, principal: Principal, events: list[dict[str, Any]], meta: RequestMeta | None = None,
    ) -> list[str]:
        """Server-side events: the same contract and rules as clients' events; each call is new."""
        parsed = parse_events(canonical_json({"events": events}).encode(), self.limits)
        event_ids = [e.event_id or str(uuid.uuid4()) for e in parsed]
        self.enqueue(parsed, event_ids, uuid.uuid4().hex, principal, meta or RequestMeta(None, None), self.clock())
        return event_ids

    def enqueue(
        self, events: list[EventIn], event_ids: list[str], key: str, principal: Principal,
        meta: RequestMeta, received_at: datetime,
    ) -> IngestResult:
        server = server_fields(principal, meta, format_timestamp(received_at))
        result = IngestResult(event_ids)
        if self.protector is not None:
            self.protector.prepare(e.subject_ref for e in events if e.subject_ref is not None)
        records = []
        for index, (event, event_id) in enumerate(zip(events, event_ids, strict=True)):
            verdict = self.rules.evaluate(event, received_at, self.limits.clock_skew)
            result.dq_counts[verdict.status] += 1
            if verdict.violations:
                result.dq_violations.append(
                    {"index": index, "event_id": event_id, "rules": list(verdict.violations)}
                )
            record = leaf_record(event, event_id, server, verdict.status, verdict.violations)
            if self.protector is not None and event.subject_ref is not None:
                record["subject_pseudonym"], record["personal_data"] = self.protector.protect(
                    event.subject_ref, event.personal_data
                )
            records.append(record)
        try:
            packs = pack_records(records, key, self.limits.max_message_bytes)
        except PackTooLarge:
            raise TooLarge("event_too_large", "An event is larger than one queue message.") from None
        self.queue.send_packs(packs)
        return result


class IngestService:
    """POST /v1/events: parse, check, claim the request key, record, answer."""

    def __init__(
        self, *, store: IdempotencyStore, queue: Queue, limits: IngestLimits,
        rules: RuleSet | None = None, protector: Protector | None = None,
        clock: Any = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.queue = queue
        self.limits = limits
        self.protector = protector
        self.clock = clock
        self.recorder = EventRecorder(queue=queue, limits=limits, rules=rules, protector=protector, clock=clock)

    def ingest(
        self, body: bytes, content_type: str | None, principal: Principal, meta: RequestMeta,
    ) -> tuple[int, dict[str, Any]]:
        check_content_type(content_type)
        events = parse_events(body, self.limits)
        check_scope_allows(principal, events)
        self._check_personal_fields(events)
        event_ids = assign_event_ids(events, principal)
        key = request_key(principal, event_ids)
        claim = self.store.claim(key, request_fingerprint(events), self.clock(), self.limits)
        if claim.state == "replay":
            assert claim.response is not None
            return 202, claim.response
        try:
            result = self.recorder.enqueue(events, event_ids, key, principal, meta, claim.received_at)
        except BaseException:
            self.store.release(key)
            raise
        response = result.body()
        self.store.complete(key, response, self.clock(), self.limits)
        return 202, response

    def _check_personal_fields(self, events: list[EventIn]) -> None:
        # Personal data is encrypted under its subject's key: without a subject it has none.
        orphans = [
            {"index": i, "path": f"events[{i}].personal_data", "rule": "requires_subject_ref",
             "message": "personal_data needs the subject_ref it is about"}
            for i, e in enumerate(events) if e.personal_data is not None and e.subject_ref is None
        ]
        if orphans:
            raise InvalidEvents("validation_failed", "Personal data without a subject; nothing was stored.",
                                orphans[:MAX_REPORTED_ERRORS])
        if self.protector is not None:
            return
        problems = [
            {"index": i, "path": f"events[{i}].{name}", "rule": "privacy_not_configured",
             "message": "this deployment has no subject key store; personal fields are refused"}
            for i, e in enumerate(events) for name in ("subject_ref", "personal_data")
            if getattr(e, name) is not None
        ]
        if problems:
            raise InvalidEvents("validation_failed", "Personal fields cannot be stored here; nothing was stored.",
                                problems[:MAX_REPORTED_ERRORS])
