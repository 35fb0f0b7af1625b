"""The answer a completed request keeps for its replay: deflated, one write unit for a
100-event answer (docs/deploy.md, "What it costs"), and an item kept as text before still
replays."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from mlaudit.adapters.idempotency import DynamoIdempotencyStore
from mlaudit.ingest.request import IngestLimits

from local.usage import item_size
from tests.unit.moto_pipeline import create_pk_table

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
ANSWER = {"accepted": 100, "event_ids": [f"pred-24-{i:09d}" for i in range(100)],
          "received_at": "2026-12-07T12:00:00.000Z"}


@pytest.fixture
def store(aws):
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_pk_table(dynamodb, "idempotency")
    return DynamoIdempotencyStore(dynamodb, "idempotency")


def test_a_completed_request_replays_its_answer_from_one_write_unit(store):
    limits = IngestLimits()
    assert store.claim("request-a", "fp", NOW, limits).state == "new"
    store.complete("request-a", ANSWER, NOW, limits)
    item = store.client.get_item(TableName="idempotency", Key={"pk": {"S": "request-a"}})["Item"]
    assert len(json.dumps(ANSWER)) > 2048  # as text: 3 write units
    assert item_size(item) <= 1024  # deflated: 1
    replay = store.claim("request-a", "fp", NOW, limits)
    assert (replay.state, replay.response) == ("replay", ANSWER)


def test_an_answer_kept_as_text_before_still_replays(store):
    limits = IngestLimits()
    store.claim("request-b", "fp", NOW, limits)
    store.client.update_item(
        TableName="idempotency", Key={"pk": {"S": "request-b"}}, UpdateExpression="SET #s = :d, #r = :r",
        ExpressionAttributeNames={"#s": "state", "#r": "response"},
        ExpressionAttributeValues={":d": {"S": "COMPLETED"}, ":r": {"S": json.dumps(ANSWER)}})
    replay = store.claim("request-b", "fp", NOW, limits)
    assert (replay.state, replay.response) == ("replay", ANSWER)
