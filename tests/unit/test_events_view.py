"""Athena's `events` view (mlaudit.events_view): each day read once, from compacted/ up to
the compacted-through date and from events/ after it, the date moved on by the compaction
function with one UpdateTable, and only on a change."""

from __future__ import annotations

import boto3
import pytest
from mlaudit import events_view
from mlaudit.events_view import COMPACTED_TABLE, CUTOFF_PARAMETER, NOTHING_COMPACTED, VIEW, WRITTEN_TABLE, GlueView
from mlaudit.layout import PARTITION_KEYS, glue_columns


def test_the_cutoff_stops_at_the_first_day_not_compacted():
    days = ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-05"]
    assert events_view.compacted_through(days, []) == NOTHING_COMPACTED
    assert events_view.compacted_through(days, ["2026-01-01", "2026-01-02"]) == "2026-01-02"
    # A day still waiting (a file not logged yet) holds back every later one: read from events/
    assert events_view.compacted_through(days, ["2026-01-01", "2026-01-03", "2026-01-05"]) == "2026-01-01"
    assert events_view.compacted_through(days, days) == "2026-01-05"
    assert events_view.compacted_through([], []) == NOTHING_COMPACTED


def test_the_view_is_a_presto_view_reading_each_day_from_one_table():
    given = events_view.view_input("mlaudit", "2026-01-02")
    assert given["TableType"] == "VIRTUAL_VIEW" and given["Parameters"]["presto_view"] == "true"
    assert given["Parameters"][CUTOFF_PARAMETER] == "2026-01-02"
    assert given["ViewOriginalText"].startswith("/* Presto View: ") and given["ViewOriginalText"].endswith(" */")
    sql = events_view.decoded_sql(given["ViewOriginalText"])
    compacted, written = sql.split("UNION ALL")
    assert f'"mlaudit"."{COMPACTED_TABLE}" WHERE event_date <= \'2026-01-02\'' in compacted
    assert f'"mlaudit"."{WRITTEN_TABLE}" WHERE event_date > \'2026-01-02\'' in written
    names = [c["name"] for c in glue_columns()] + [n for n, _ in PARTITION_KEYS]
    assert [c["Name"] for c in given["StorageDescriptor"]["Columns"]] == names
    with pytest.raises(ValueError):
        events_view.view_input("mlaudit", "2026-01-02' OR true --")


def test_glue_view_moves_on_with_one_update_and_only_on_a_change(aws):
    glue = boto3.client("glue", region_name="us-east-1")
    glue.create_database(DatabaseInput={"Name": "mlaudit"})
    glue.create_table(DatabaseName="mlaudit", TableInput=events_view.view_input("mlaudit", NOTHING_COMPACTED))
    view = GlueView(glue, "mlaudit")
    assert view.cutoff() == NOTHING_COMPACTED
    assert view.advance("2026-01-02") is True
    assert view.cutoff() == "2026-01-02"
    assert view.advance("2026-01-02") is False
    versions = glue.get_table_versions(DatabaseName="mlaudit", TableName=VIEW)["TableVersions"]
    assert len(versions) == 2  # created, then updated once
    table = glue.get_table(DatabaseName="mlaudit", Name=VIEW)["Table"]
    assert "'2026-01-02'" in events_view.decoded_sql(table["ViewOriginalText"])
