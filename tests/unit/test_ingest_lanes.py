"""Ingest with lanes (mlaudit.ingest.lanes) on moto, through the writer: each event stored
once under resends, resends out of order, and a lane position that goes backwards; one
watermark write per request where a request without lane headers claims every event."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from mlaudit.errors import DomainError
from mlaudit.http import status_of
from mlaudit.ingest.lanes import POSITION_HEADER, Lane
from mlaudit.pack import unpack

from .moto_pipeline import NOW, Pipeline

EVENT = {"event_type": "prediction", "occurred_at": "2026-11-26T06:59:00.123456+01:00", "model_id": "m",
         "model_version": "1", "prediction_score": 0.25, "latency_ms": 4}
WRITES = {"PutItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems", "DeleteItem"}


def batch(ids, **extra):
    return json.dumps({"events": [{**EVENT, "event_id": f"ev-{i}", **extra} for i in ids]})


@pytest.fixture
def pipeline(aws):
    return Pipeline()


def stored(pipeline) -> Counter:
    """Each event id's copies in the lake, after the writer has run on everything queued."""
    assert pipeline.drain() == []
    return Counter(row["event_id"] for row in pipeline.rows())


def refused(pipeline, body, lane) -> DomainError:
    with pytest.raises(DomainError) as caught:
        pipeline.post(body, lane=lane)
    return caught.value


def count_writes(pipeline) -> Counter:
    calls: Counter = Counter()
    pipeline.ddb.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.update([model.name]) if model.name in WRITES else None)
    return calls


def test_a_lane_request_writes_the_same_whatever_its_events_and_the_old_path_one_per_event(pipeline):
    writes = count_writes(pipeline)
    pipeline.post(batch(range(5)), lane=Lane("lane-1", 0))
    small = sum(writes.values())
    writes.clear()
    pipeline.post(batch(range(5, 205)), lane=Lane("lane-1", 1))
    assert sum(writes.values()) == small <= 4  # the request's record, its watermark, intend, complete
    writes.clear()
    pipeline.post(batch(range(205, 405)))  # no lane headers: a claim per event
    assert sum(writes.values()) >= 200
    assert stored(pipeline) == Counter(f"ev-{i}" for i in range(405))


def test_a_resend_is_answered_again_and_stored_once(pipeline):
    first = pipeline.post(batch(range(10)), lane=Lane("lane-1", 0))
    assert pipeline.post(batch(range(10)), lane=Lane("lane-1", 0)) == first
    assert stored(pipeline) == Counter(f"ev-{i}" for i in range(10))


def test_a_request_that_failed_after_moving_its_lane_is_resent_and_stored_once(pipeline, monkeypatch):
    attempts = pipeline.fail_first_send(monkeypatch)
    with pytest.raises(ConnectionError):
        pipeline.post(batch(range(10)), lane=Lane("lane-1", 7))
    pipeline.ingest.clock = lambda: NOW.replace(minute=5)  # the resend comes later
    assert pipeline.post(batch(range(10)), lane=Lane("lane-1", 7))[0] == 202
    assert attempts[0] == attempts[1]  # the same packs: the writer's ledger keeps one of each
    assert stored(pipeline) == Counter(f"ev-{i}" for i in range(10))


def test_resends_out_of_order_store_each_event_once(pipeline):
    bodies = [batch(range(n * 10, n * 10 + 10)) for n in range(3)]
    answers = [pipeline.post(body, lane=Lane("lane-1", n)) for n, body in enumerate(bodies)]
    for n in (2, 0, 1, 0, 2):  # lost answers resent in any order, the watermark at 2 by now
        assert pipeline.post(bodies[n], lane=Lane("lane-1", n)) == answers[n]
    assert stored(pipeline) == Counter(f"ev-{i}" for i in range(30))


def test_a_first_delivery_below_the_watermark_is_refused_and_stores_nothing(pipeline):
    # One sender sends a lane in order; a batch first seen below the watermark is a sender
    # that regrouped or reused its lane: refused at once, never stored twice.
    pipeline.post(batch(range(10)), lane=Lane("lane-1", 1))
    error = refused(pipeline, batch(range(10, 20)), Lane("lane-1", 0))
    assert (status_of(error), error.code) == (409, "idempotency_conflict")
    assert error.errors[0]["path"] == f"headers.{POSITION_HEADER}"
    assert stored(pipeline) == Counter(f"ev-{i}" for i in range(10))


def test_a_lane_position_going_backwards_is_a_conflicting_resend(pipeline):
    pipeline.post(batch(range(10)), lane=Lane("lane-1", 5))
    sixth = pipeline.post(batch(range(10, 20)), lane=Lane("lane-1", 6))
    # A stored request, even at another position, is answered from its record
    assert pipeline.post(batch(range(10, 20)), lane=Lane("lane-1", 5)) == sixth
    # The same events regrouped at a stored position, or other events at an old one: 409
    for ids, position in ((range(5, 15), 5), (range(20, 30), 3), (range(0, 5), 6), (range(15, 25), 6)):
        error = refused(pipeline, batch(ids), Lane("lane-1", position))
        assert (status_of(error), error.code) == (409, "idempotency_conflict")
    # ... and the resend refused again, still nothing stored by it
    assert status_of(refused(pipeline, batch(range(20, 30)), Lane("lane-1", 3))) == 409
    assert pipeline.post(batch(range(30, 40)), lane=Lane("lane-1", 7))[0] == 202  # the lane goes on
    assert stored(pipeline) == Counter(f"ev-{i}" for i in [*range(20), *range(30, 40)])


def test_a_refused_request_does_not_move_its_lane(pipeline):
    # The SDK sends the remainder of a 422 at the same position: nothing was stored.
    bad = json.loads(batch(range(5)))
    bad["events"][2]["prediction_score"] = "high"
    error = refused(pipeline, json.dumps(bad), Lane("lane-1", 0))
    assert status_of(error) == 422
    assert pipeline.post(batch([0, 1, 3, 4]), lane=Lane("lane-1", 0))[0] == 202
    assert stored(pipeline) == Counter(f"ev-{i}" for i in (0, 1, 3, 4))


def test_without_lane_headers_each_event_is_claimed_as_before(pipeline):
    pipeline.post(batch(range(10)))
    # Regrouped: the stored ones acknowledged, the new ones stored; other content refused
    assert pipeline.post(batch(range(5, 15)))[1]["event_ids"] == [f"ev-{i}" for i in range(5, 15)]
    with pytest.raises(DomainError) as caught:
        pipeline.post(batch(range(3), prediction_score=0.9))
    assert (status_of(caught.value), caught.value.code) == (409, "idempotency_conflict")
    assert sum(len(unpack(pipeline.pack_body(m))) for m in pipeline.receive()) == 15


def test_an_attempt_that_died_after_sending_is_taken_over_and_stored_once(pipeline, monkeypatch):
    # No intentions are written in a lane: the takeover sends the same packs again, and the
    # writer's ledger keeps one of each.
    def died(*args, **kwargs):
        raise SystemExit("the function timed out")

    monkeypatch.setattr(pipeline.ingest.store, "complete", died)
    monkeypatch.setattr(pipeline.ingest.store, "release", lambda *args, **kwargs: None)  # it never ran
    with pytest.raises(SystemExit):
        pipeline.post(batch(range(10)), lane=Lane("lane-1", 0))
    monkeypatch.undo()
    pipeline.ingest.clock = lambda: NOW + pipeline.limits.in_flight + pipeline.limits.in_flight
    assert pipeline.post(batch(range(10)), lane=Lane("lane-1", 0))[0] == 202
    assert stored(pipeline) == Counter(f"ev-{i}" for i in range(10))
