"""Lanes: exactly once for the SDK's requests with one write per request, not one per event.

The SDK cuts its spool into batches that replay byte-identical: a lane (a spool directory
with a unique name, or one process's memory) and, in it, batch positions that only grow
and are the same on every resend of a batch. Each request says where it sits
(`LANE_HEADER`, `POSITION_HEADER`). The server keeps one watermark per (sender, lane): the
highest position stored, and the request (its key, `identity.request_key`) that stored it.

- a request at a position above the watermark moves it, with one conditional write, and
  stores all its events without a claim per event;
- a resend of the same request (the same events: the same key) is answered from its request
  record, as any request is; one whose first attempt failed after moving the watermark
  finds the watermark at its own position, under its own key, and goes on;
- a different request at or below the watermark is a conflicting resend: 409
  `idempotency_conflict`, at once, nothing stored. So a lane has one sender, which sends
  its batches in order, one at a time (the SDK's Auditor does): a batch first seen below
  the watermark is refused too.

What this keeps is exactly once per lane position within the window (the watermark is kept
`idempotency_ttl` after it last moved): since the SDK puts each event it emits in one batch,
at one position, each emitted event is stored once. It does not claim event ids: the same
`event_id` sent again at another position (an application that sets ids itself and emits
one twice) or outside the lane (a raw HTTP request, an import) is stored again; the verifier
reports it as `duplicate_event` and the named queries keep the first copy. Requests without
a lane are claimed event by event (`mlaudit.ingest.claims`). The designs weighed:
docs/benchmarks.md ("Exactly once for a fraction of a write").
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from mlaudit.errors import Conflict, Invalid

LANE_HEADER, POSITION_HEADER = "X-Mlaudit-Lane", "X-Mlaudit-Lane-Position"
LANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
POSITION = re.compile(r"^[0-9]{1,19}$")
MAX_POSITION = 2**63 - 1


@dataclass(frozen=True)
class Lane:
    lane_id: str
    position: int


class LaneStore(Protocol):
    def advance_lane(self, key: str, position: int, request: str, now: datetime, window: timedelta) -> bool:
        """Move the lane's watermark to `position`, held by `request`, if it is below it (or
        absent, or expired); True too when it is at `position` under `request` already.
        False: another request holds `position` or a later one."""


def lane_of(lane_id: str | None, position: str | None) -> Lane | None:
    """The request's lane from its headers; None when it names none. Half a lane, or a
    malformed one, is refused (400) rather than claimed event by event: the sender meant one."""
    if lane_id is None and position is None:
        return None
    problems = []
    if lane_id is None or not LANE_ID.match(lane_id):
        problems.append({"path": f"headers.{LANE_HEADER}", "rule": "lane_id",
                         "message": f"a lane id matches {LANE_ID.pattern}, sent with {POSITION_HEADER}"})
    if position is None or not POSITION.match(position) or int(position) > MAX_POSITION:
        problems.append({"path": f"headers.{POSITION_HEADER}", "rule": "lane_position",
                         "message": f"a batch position is an integer from 0 to {MAX_POSITION}, "
                         f"sent with {LANE_HEADER}"})
    if problems:
        raise Invalid("invalid_lane", "The request's lane headers are malformed; nothing was stored.", problems)
    assert lane_id is not None and position is not None
    return Lane(lane_id, int(position))


def lane_key(actor_id: str, lane_id: str) -> str:
    """The watermark's key: lanes are scoped per sender, and hashed (a lane id is the client's)."""
    return "lane#" + hashlib.sha256(f"{actor_id}\n{lane_id}".encode()).hexdigest()


def advance(store: LaneStore, actor_id: str, lane: Lane, request: str, now: datetime, window: timedelta) -> None:
    """Move the sender's lane to this request's position, or refuse a conflicting resend."""
    if not store.advance_lane(lane_key(actor_id, lane.lane_id), lane.position, request, now, window):
        raise Conflict(
            "idempotency_conflict",
            "Other events were already stored at this lane position within the idempotency window; "
            "a batch is resent unchanged, and new events go at a new position.",
            [{"path": f"headers.{POSITION_HEADER}", "rule": "idempotency_conflict",
              "message": "this lane position (or a later one) holds other events"}],
        )
