"""Analytics: the Glue table is the writer's Parquet schema, projected partitions,
an enforced and encrypted Athena workgroup, QuickSight by context."""

from __future__ import annotations

import json

from mlaudit.events import EventType
from mlaudit.layout import EVENTS_PREFIX, PARTITION_KEYS, glue_columns

from tests.infra.synth import Synth


def _table(synth: Synth) -> dict:
    (table,) = synth.props("AWS::Glue::Table")
    return table["TableInput"]


def _columns(synth: Synth) -> list[dict[str, str]]:
    return [{"name": c["Name"], "type": c["Type"]} for c in _table(synth)["StorageDescriptor"]["Columns"]]


def test_glue_columns_types_order_and_partitions_equal_the_parquet_layout(synth: Synth) -> None:
    table = _table(synth)
    assert _columns(synth) == glue_columns()
    assert [(k["Name"], k["Type"]) for k in table["PartitionKeys"]] == list(PARTITION_KEYS)


def test_glue_columns_match_the_parquet_schema_the_writer_writes(synth: Synth) -> None:
    # Given the Arrow schema the writer builds, when read back as Glue types, then it equals the table.
    import pyarrow as pa
    from mlaudit import parquet

    arrow_to_glue = {pa.string(): "string", pa.int64(): "bigint", pa.int32(): "int", pa.float64(): "double",
                     pa.list_(pa.string()): "array<string>", pa.bool_(): "boolean"}

    def glue_type(arrow: pa.DataType) -> str:
        return "timestamp" if pa.types.is_timestamp(arrow) else arrow_to_glue[arrow]

    written = [{"name": f.name, "type": glue_type(f.type)} for f in parquet.SCHEMA]
    assert _columns(synth) == written


def test_glue_table_reads_parquet_under_events(synth: Synth) -> None:
    descriptor = _table(synth)["StorageDescriptor"]
    assert descriptor["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert descriptor["InputFormat"].endswith("MapredParquetInputFormat")
    assert json.dumps(descriptor["Location"]).endswith(f'/{EVENTS_PREFIX}"]]}}')


def test_partition_projection_covers_dates_and_every_event_type(synth: Synth) -> None:
    params = _table(synth)["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.event_date.type"] == "date"
    assert params["projection.event_date.format"] == "yyyy-MM-dd"
    assert params["projection.event_date.range"].endswith(",NOW")
    assert params["projection.event_type.type"] == "enum"
    assert params["projection.event_type.values"].split(",") == [t.value for t in EventType]
    template = json.dumps(params["storage.location.template"])
    assert "/events/event_date=${event_date}/event_type=${event_type}/" in template


def test_workgroup_is_enforced_encrypted_and_bounded(synth: Synth) -> None:
    (workgroup,) = synth.props("AWS::Athena::WorkGroup")
    config = workgroup["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == synth.settings.athena_bytes_scanned_cutoff
    encryption = config["ResultConfiguration"]["EncryptionConfiguration"]
    assert encryption == {
        "EncryptionOption": "SSE_KMS",
        "KmsKey": {"Fn::GetAtt": [synth.logical_id("Storage/Key"), "Arn"]},
    }
    results = synth.logical_id("Analytics/QueryResults")
    assert results in json.dumps(config["ResultConfiguration"]["OutputLocation"])


def test_quicksight_is_opt_in(default: Synth, custom: Synth) -> None:
    assert not default.of_type("AWS::QuickSight::DataSource")
    (source,) = custom.props("AWS::QuickSight::DataSource")
    assert source["Type"] == "ATHENA"
    assert source["DataSourceParameters"]["AthenaParameters"]["WorkGroup"] == custom.settings.name_prefix
    (data_set,) = custom.props("AWS::QuickSight::DataSet")
    (table,) = data_set["PhysicalTableMap"].values()
    assert table["RelationalTable"]["Name"] == "events"
    principal = custom.settings.quicksight_principal_arn
    assert {p["Principal"] for p in data_set["Permissions"] + source["Permissions"]} == {principal}
