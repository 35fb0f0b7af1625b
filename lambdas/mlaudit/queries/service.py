"""The named-query service: who may run what, parameter checks, audit, paging.

Pure logic over three seams: the catalog, a QueryEngine (Athena or DuckDB) and the
stack's self-audit. Every run is recorded before it starts (fail closed: if the record
cannot be made, the query does not run); refused attempts are recorded too, without
their values.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from mlaudit.errors import Forbidden, Invalid, NotFound, Unavailable
from mlaudit.principal import Principal
from mlaudit.queries.catalog import Catalog, QuerySpec, UnknownQueryError
from mlaudit.queries.engine import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    ExecutionNotFound,
    QueryEngine,
    decode_row,
)
from mlaudit.queries.params import ParameterError

if TYPE_CHECKING:
    from mlaudit.self_audit import SelfAudit

_EXECUTION_ID = re.compile(r"^[0-9a-fA-F-]{36}\Z")
_PAGE_TOKEN = re.compile(r"^[\x21-\x7e]{1,4096}\Z")


def owner_digest(principal: Principal) -> str:
    """Opaque, stable id of a caller, safe to put in an Athena query comment."""
    return hashlib.sha256(f"{principal.kind}:{principal.actor_id}".encode()).hexdigest()[:32]


def audit_event(name: str, outcome: str, **details: Any) -> dict[str, Any]:
    return {
        "event_type": "audit_access",
        "occurred_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "action": "query",
        "resource": f"query:{name}",
        "details": {"query": name, "outcome": outcome, **details},
    }


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


class QueryService:
    def __init__(self, catalog: Catalog, engine: QueryEngine, audit: SelfAudit) -> None:
        self.catalog = catalog
        self.engine = engine
        self.audit = audit

    def list_queries(self, principal: Principal) -> dict[str, Any]:
        allowed = [q for q in self.catalog.describe() if set(q["roles"]) & set(principal.roles)]
        return {"queries": allowed}

    def start(self, principal: Principal, name: str, body: Any) -> dict[str, Any]:
        spec = self._spec(principal, name)
        raw = body.get("parameters") if isinstance(body, dict) else None
        if not isinstance(body, dict) or set(body) - {"parameters"}:
            self._record(principal, spec.name, "invalid")
            raise Invalid("invalid_request", 'The body must be {"parameters": {...}}.')
        try:
            values = spec.check(raw)
        except ParameterError as exc:
            self._record(principal, spec.name, "invalid")
            raise Invalid(
                "invalid_parameters", "Some parameters were refused.", [e.as_dict() for e in exc.errors]
            ) from None
        request_id = uuid.uuid4().hex
        shown = {k: _json_value(v) for k, v in values.items() if v is not None}
        try:
            self.audit.record(principal, [audit_event(spec.name, "started", parameters=shown, request_id=request_id)])
        except Exception:
            raise Unavailable("unavailable", "The query could not be audited, so it was not run.") from None
        execution_id = self.engine.start(
            spec.name, values, owner=owner_digest(principal), request_id=request_id
        )
        return {"execution_id": execution_id, "query": spec.name, "request_id": request_id}

    def execution(
        self, principal: Principal, execution_id: str, page_token: str | None, page_size: Any
    ) -> dict[str, Any]:
        size = _page_size(page_size)
        if page_token is not None and not _PAGE_TOKEN.match(page_token):
            raise Invalid("invalid_request", "page_token is not a token this API issued.")
        if not _EXECUTION_ID.match(execution_id or ""):
            raise NotFound("not_found", "No such query execution.")
        try:
            status = self.engine.status(execution_id)
            # Only the caller who started it sees it, and only while their role allows the query.
            if status.owner != owner_digest(principal) or status.query_name not in self.catalog.queries:
                raise ExecutionNotFound(execution_id)
            spec = self._spec(principal, status.query_name)
            answer: dict[str, Any] = {
                "execution_id": execution_id,
                "query": spec.name,
                "state": status.state,
                "bytes_scanned": status.bytes_scanned,
                "elapsed_ms": status.elapsed_ms,
            }
            if status.state in ("FAILED", "CANCELLED"):
                answer["reason"] = status.reason
            if status.state != "SUCCEEDED":
                return answer
            page = self.engine.results(execution_id, page_token, size)
        except ExecutionNotFound:
            raise NotFound("not_found", "No such query execution.") from None
        answer["columns"] = [{"name": c.name, "type": c.type} for c in spec.columns]
        answer["rows"] = [decode_row(spec.columns, row) for row in page.rows]
        answer["next_page_token"] = page.next_token
        return answer

    def _spec(self, principal: Principal, name: str) -> QuerySpec:
        try:
            spec = self.catalog.get(name)
        except UnknownQueryError as exc:
            raise NotFound("unknown_query", f"There is no named query '{exc.name}'.") from None
        if not set(principal.roles) & spec.roles:
            self._record(principal, spec.name, "denied")
            # Which roles may run it is no secret (GET /v1/queries and docs/queries.md list them),
            # and it tells the caller whom to ask.
            raise Forbidden("forbidden", f"Your roles do not allow the query '{spec.name}'; the roles that may run "
                            f"it: {', '.join(sorted(spec.roles))}.",
                            [{"path": "roles", "rule": "roles", "message": f"one of {sorted(spec.roles)}"}])
        return spec

    def _record(self, principal: Principal, name: str, outcome: str) -> None:
        # The refusal stands whether or not it could be recorded.
        with contextlib.suppress(Exception):
            self.audit.record(principal, [audit_event(name, outcome)])


_ASCII_NUMBER = re.compile(r"[0-9]{1,9}")


def _page_size(raw: Any) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    text = str(raw)
    # ASCII digits only: str.isdigit() and int() also take "²", "١٢" and "１２".
    if not _ASCII_NUMBER.fullmatch(text) or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise Invalid(
            "invalid_request",
            f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}.",
            [{"path": "page_size", "rule": "range", "message": f"must be 1..{MAX_PAGE_SIZE}"}],
        )
    return int(text)
