"""The writer's list of files put and not yet logged (mlaudit.adapters.ledger): an item per
10-minute slot, the recovery sweep's day of it read in 145 keys; and the items of a minute
an earlier version wrote, read for a horizon after the upgrade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from mlaudit.adapters import ledger as ledger_module
from mlaudit.adapters.ledger import SLOTS_SINCE, DynamoLedger
from mlaudit.contract import EventType
from mlaudit.settings import Settings
from moto import mock_aws

from local.usage import item_size
from tests.unit.moto_pipeline import create_pk_table

NOW = datetime(2026, 12, 7, 12, 34, 56, 789000, tzinfo=UTC)
KEY = "events/event_date=2026-12-07/event_type=prediction/{}.parquet"


@pytest.fixture
def ddb():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_pk_table(client, "ledger")
        yield client


def pks(ddb) -> list[str]:
    return sorted(i["pk"]["S"] for i in ddb.scan(TableName="ledger")["Items"])


def test_files_listed_in_one_ten_minute_slot_share_an_item(ddb) -> None:
    ledger = DynamoLedger(ddb, "ledger")
    ledger.expect([KEY.format("a")], NOW)
    ledger.expect([KEY.format("b")], NOW + timedelta(minutes=4))  # 12:38: the same slot
    ledger.expect([KEY.format("c")], NOW + timedelta(minutes=6))  # 12:40: the next
    assert [pk for pk in pks(ddb) if pk != SLOTS_SINCE] == ["files#2026-12-07T12:30:00+00:00",
                                                            "files#2026-12-07T12:40:00+00:00"]
    found = ledger.expected(NOW - timedelta(days=1), NOW + timedelta(minutes=10))
    assert list(found.values()) == [[KEY.format("a")], [KEY.format("b")], [KEY.format("c")]]
    ledger.settle([KEY.format("b")], NOW + timedelta(minutes=4))
    found = ledger.expected(NOW - timedelta(days=1), NOW + timedelta(minutes=10))
    assert list(found.values()) == [[KEY.format("a")], [KEY.format("c")]]
    # Only what was listed from `since` to `until`, though the slot holds more
    assert list(ledger.expected(NOW + timedelta(seconds=1), NOW + timedelta(minutes=5)).values()) == []


def test_a_day_of_the_list_is_about_145_keys_in_two_reads(ddb) -> None:
    ledger = DynamoLedger(ddb, "ledger")
    ddb.put_item(TableName="ledger", Item={"pk": {"S": SLOTS_SINCE}, "at": {"N": "0"}})  # no items of a minute
    reads = []
    real = ddb.batch_get_item

    def counted(**kwargs):
        reads.append(sum(len(r["Keys"]) for r in kwargs["RequestItems"].values()))
        return real(**kwargs)

    ddb.batch_get_item = counted
    ledger.expected(NOW - timedelta(days=1), NOW - timedelta(minutes=5))
    assert len(reads) == 2 and sum(reads) == 144 + 1  # the slots and the item saying since when


def test_files_listed_in_items_of_a_minute_before_the_upgrade_are_read_for_a_horizon_and_settled(ddb) -> None:
    # What the version before slots left: a file put and not logged at 12:03, in its minute's item
    legacy_at = NOW.replace(minute=3)
    ddb.update_item(TableName="ledger", Key={"pk": {"S": "files#2026-12-07T12:03:00+00:00"}},
                    UpdateExpression="ADD #k :keys", ExpressionAttributeNames={"#k": "keys"},
                    ExpressionAttributeValues={":keys": {"SS": [f"{round(legacy_at.timestamp() * 1000)} "
                                                                f"{KEY.format('old')}"]}})
    ledger = DynamoLedger(ddb, "ledger")
    upgrade = NOW.replace(minute=20)  # the first sweep of slots: its `until`
    ledger.expect([KEY.format("new")], upgrade)
    found = ledger.expected(upgrade - timedelta(days=1), upgrade)
    assert found == {legacy_at: [KEY.format("old")], upgrade: [KEY.format("new")]}
    assert int(ddb.get_item(TableName="ledger", Key={"pk": {"S": SLOTS_SINCE}})["Item"]["at"]["N"]) == round(
        upgrade.timestamp() * 1000)
    # The sweep takes it off where it was listed, not from a slot's item
    ledger.settle([KEY.format("old")], legacy_at)
    assert "files#2026-12-07T12:00:00+00:00" not in pks(ddb)
    assert ledger.expected(upgrade - timedelta(days=1), upgrade) == {upgrade: [KEY.format("new")]}
    # A run of the earlier version still under way lists one at 12:33, after the upgrade:
    # later sweeps read it, and a horizon on read no items of a minute
    later = DynamoLedger(ddb, "ledger")
    in_flight = NOW.replace(minute=33)
    ddb.update_item(TableName="ledger", Key={"pk": {"S": "files#2026-12-07T12:33:00+00:00"}},
                    UpdateExpression="ADD #k :keys", ExpressionAttributeNames={"#k": "keys"},
                    ExpressionAttributeValues={":keys": {"SS": [f"{round(in_flight.timestamp() * 1000)} "
                                                                f"{KEY.format('old2')}"]}})
    hour_on = upgrade + timedelta(hours=1)
    assert later.expected(hour_on - timedelta(days=1), hour_on)[in_flight] == [KEY.format("old2")]
    reads = []
    real = ddb.batch_get_item
    ddb.batch_get_item = lambda **kw: reads.append(kw) or real(**kw)
    day_on = upgrade + timedelta(days=1, hours=1)
    later.expected(day_on - timedelta(days=1), day_on)
    assert sum(len(r["Keys"]) for kw in reads for r in kw["RequestItems"].values()) == 145 + 1  # slots, since


def test_a_slot_holds_the_worst_case_of_files_well_under_dynamodb_s_400_kb() -> None:
    # None of a slot's files logged: every run at the batch window's pace, at the writer's
    # most instances, a file per (date, event type) across midnight
    settings = Settings()
    runs = settings.writer_max_concurrency * ledger_module.SLOT_MINUTES * 60 // max(
        1, settings.writer_batch_window_seconds)
    longest = max(EventType, key=len)
    members = [f"{10**12} events/event_date=2026-12-07/event_type={longest}/{'f' * 32}.parquet"
               for _ in range(runs * len(EventType) * 2)]
    size = item_size({"pk": {"S": "files#2026-12-07T12:30:00+00:00"}, "keys": {"SS": members},
                      "expires_at": {"N": str(10**10)}})
    assert size < 250 * 1024
