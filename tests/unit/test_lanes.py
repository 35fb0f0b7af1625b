"""Lane watermarks (mlaudit.ingest.lanes): the headers as the SDK sends them, and the
watermark's rules, the same in memory and in DynamoDB (moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from mlaudit.adapters.lanes import DynamoLanes
from mlaudit.adapters.memory import MemoryLanes
from mlaudit.errors import Conflict, Invalid
from mlaudit.ingest import lanes
from mlaudit.ingest.lanes import LANE_HEADER, MAX_POSITION, POSITION_HEADER, Lane, advance, lane_key, lane_of
from mlaudit_client import transport

from tests.unit.moto_pipeline import create_pk_table

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
WINDOW = timedelta(hours=24)


def test_the_sdk_and_the_server_name_the_same_headers():
    assert (transport.LANE_HEADER, transport.POSITION_HEADER) == (LANE_HEADER, POSITION_HEADER)


def test_a_request_without_lane_headers_has_no_lane():
    assert lane_of(None, None) is None
    assert lane_of("lane-00000001-42-ab12cd34", "7") == Lane("lane-00000001-42-ab12cd34", 7)
    assert lane_of("mem-1", str(MAX_POSITION)).position == MAX_POSITION


@pytest.mark.parametrize(("lane_id", "position", "paths"), [
    ("lane-1", None, {f"headers.{POSITION_HEADER}"}),
    (None, "3", {f"headers.{LANE_HEADER}"}),
    ("a lane", "3", {f"headers.{LANE_HEADER}"}),
    ("x" * 129, "3", {f"headers.{LANE_HEADER}"}),
    ("lane-1", "-1", {f"headers.{POSITION_HEADER}"}),
    ("lane-1", "²", {f"headers.{POSITION_HEADER}"}),
    ("lane-1", str(MAX_POSITION + 1), {f"headers.{POSITION_HEADER}"}),
    ("lane 1", "x", {f"headers.{LANE_HEADER}", f"headers.{POSITION_HEADER}"}),
])
def test_half_a_lane_or_a_malformed_one_is_refused_naming_the_header(lane_id, position, paths):
    with pytest.raises(Invalid) as refused:
        lane_of(lane_id, position)
    assert refused.value.code == "invalid_lane"
    assert {e["path"] for e in refused.value.errors} == paths


@pytest.fixture(params=["memory", "dynamodb"])
def store(request, aws):
    if request.param == "memory":
        return MemoryLanes()
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_pk_table(dynamodb, "idempotency")
    return DynamoLanes(dynamodb, "idempotency")


def test_the_watermark_moves_up_and_refuses_other_requests_at_or_below_it(store):
    key = lane_key("sender", "lane-1")
    assert store.advance_lane(key, 10, "request-a", NOW, WINDOW)  # a new lane
    assert store.advance_lane(key, 10, "request-a", NOW, WINDOW)  # the same request again (its retry)
    assert not store.advance_lane(key, 10, "request-b", NOW, WINDOW)  # other events at that position
    assert not store.advance_lane(key, 9, "request-c", NOW, WINDOW)  # below it
    assert store.advance_lane(key, 11, "request-d", NOW, WINDOW)  # the next batch
    assert not store.advance_lane(key, 10, "request-a", NOW, WINDOW)  # the watermark has moved past it
    # Another sender's lane of the same name is its own
    assert store.advance_lane(lane_key("other", "lane-1"), 0, "request-e", NOW, WINDOW)
    # After the window the lane is forgotten, as event claims are
    later = NOW + WINDOW + timedelta(seconds=2)
    assert store.advance_lane(key, 3, "request-f", later, WINDOW)


def test_a_conflicting_resend_is_a_409_naming_the_position(store):
    advance(store, "sender", Lane("lane-1", 5), "request-a", NOW, WINDOW)
    advance(store, "sender", Lane("lane-1", 5), "request-a", NOW, WINDOW)
    with pytest.raises(Conflict) as refused:
        advance(store, "sender", Lane("lane-1", 5), "request-b", NOW, WINDOW)
    assert refused.value.code == "idempotency_conflict"
    assert refused.value.errors[0]["path"] == f"headers.{POSITION_HEADER}"


def test_the_watermark_key_hides_the_lane_id_and_the_sender():
    key = lane_key("sender-1", "lane-00000001-42-ab12cd34")
    assert key.startswith("lane#") and "sender" not in key and "ab12cd34" not in key
    assert key != lane_key("sender-2", "lane-00000001-42-ab12cd34")
    assert lanes.LANE_ID.match("lane-00000001-42-ab12cd34")
