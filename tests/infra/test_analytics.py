"""Analytics: the Glue table is the writer's Parquet schema, projected partitions,
an enforced and encrypted Athena workgroup, QuickSight by context."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from mlaudit import events_view
from mlaudit.events import EventType
from mlaudit.events_view import COMPACTED_TABLE, NOTHING_COMPACTED, VIEW, WRITTEN_TABLE
from mlaudit.layout import COMPACTED_PREFIX, EVENTS_PREFIX, PARTITION_KEYS, glue_columns
from mlaudit.queries.catalog import load_catalog, quicksight_sql
from mlaudit.resources import glue_database_name

from stacks.analytics import DASHBOARD_FILE, QUICKSIGHT_GRANTS, VIEW_DAYS, VIEW_TYPES, dashboard_definition
from tests.infra.synth import Synth


def _tables(synth: Synth) -> dict[str, dict]:
    return {t["TableInput"]["Name"]: t["TableInput"] for t in synth.props("AWS::Glue::Table")}


def _table(synth: Synth, name: str = WRITTEN_TABLE) -> dict:
    return _tables(synth)[name]


def _columns(synth: Synth, name: str = WRITTEN_TABLE) -> list[dict[str, str]]:
    return [{"name": c["Name"], "type": c["Type"]} for c in _table(synth, name)["StorageDescriptor"]["Columns"]]


def test_glue_columns_types_order_and_partitions_equal_the_parquet_layout(synth: Synth) -> None:
    for name in (WRITTEN_TABLE, COMPACTED_TABLE):
        table = _table(synth, name)
        assert _columns(synth, name) == glue_columns()
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


@pytest.mark.parametrize(("name", "root"), [(WRITTEN_TABLE, EVENTS_PREFIX), (COMPACTED_TABLE, COMPACTED_PREFIX)])
def test_glue_tables_read_parquet_under_events_and_compacted(synth: Synth, name: str, root: str) -> None:
    descriptor = _table(synth, name)["StorageDescriptor"]
    assert descriptor["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert descriptor["InputFormat"].endswith("MapredParquetInputFormat")
    assert json.dumps(descriptor["Location"]).endswith(f'/{root}"]]}}')


@pytest.mark.parametrize(("name", "root"), [(WRITTEN_TABLE, EVENTS_PREFIX), (COMPACTED_TABLE, COMPACTED_PREFIX)])
def test_partition_projection_covers_dates_and_every_event_type(synth: Synth, name: str, root: str) -> None:
    params = _table(synth, name)["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.event_date.type"] == "date"
    assert params["projection.event_date.format"] == "yyyy-MM-dd"
    assert params["projection.event_date.range"].endswith(",NOW")
    assert params["projection.event_type.type"] == "enum"
    assert params["projection.event_type.values"].split(",") == [t.value for t in EventType]
    template = json.dumps(params["storage.location.template"])
    assert f"/{root}event_date=${{event_date}}/event_type=${{event_type}}/" in template


def test_the_events_view_reads_each_day_from_one_table_and_starts_with_nothing_compacted(synth: Synth) -> None:
    """The name every named query reads is a Presto view over both tables (mlaudit.events_view)."""
    assert set(_tables(synth)) == {VIEW, WRITTEN_TABLE, COMPACTED_TABLE}
    view = _table(synth, VIEW)
    database = glue_database_name(synth.settings.name_prefix)
    assert view == {**events_view.view_input(database, NOTHING_COMPACTED),
                    "StorageDescriptor": {**view["StorageDescriptor"], "SerdeInfo": {}}}
    assert [c["Name"] for c in view["StorageDescriptor"]["Columns"]] == [c["name"] for c in events_view.columns()]
    sql = events_view.decoded_sql(view["ViewOriginalText"])
    assert f"FROM \"{database}\".\"{COMPACTED_TABLE}\" WHERE event_date <= '{NOTHING_COMPACTED}'" in sql
    assert f"FROM \"{database}\".\"{WRITTEN_TABLE}\" WHERE event_date > '{NOTHING_COMPACTED}'" in sql
    # Created after the tables it reads (Athena checks a view's tables when it is used, CloudFormation orders)
    by_name = {r["Properties"]["TableInput"]["Name"]: (logical_id, r)
               for logical_id, r in synth.of_type("AWS::Glue::Table").items()}
    assert {by_name[WRITTEN_TABLE][0], by_name[COMPACTED_TABLE][0]} <= set(by_name[VIEW][1]["DependsOn"])


def test_only_the_compaction_function_may_update_the_catalog(synth: Synth) -> None:
    """glue:UpdateTable: the compaction function's role, on the view (with the catalog and the
    database Glue asks for too), never on a table, and no other role holds it."""
    holders = {}
    for logical_id, policy in synth.of_type("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(a.startswith("glue:") and a not in ("glue:GetTable", "glue:GetDatabase") for a in actions):
                resources = statement["Resource"]
                resources = resources if isinstance(resources, list) else [resources]
                holders.setdefault(logical_id, []).extend(json.dumps(r) for r in resources)
    assert set(holders) == {synth.logical_id("Integrity/Compaction/Role/DefaultPolicy")}
    (resources,) = holders.values()
    tables = [r for r in resources if ":table/" in r]
    assert tables and all(r.endswith(f'/{VIEW}"]]}}') for r in tables), tables


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


QUICKSIGHT_TYPES = ("AWS::QuickSight::DataSource", "AWS::QuickSight::DataSet", "AWS::QuickSight::Dashboard")
# What a field well may hold, by the column's QuickSight type.
FIELD_KINDS = {"DateDimensionField": {"DATETIME"}, "NumericalMeasureField": {"INTEGER", "DECIMAL"},
               "NumericalDimensionField": {"INTEGER", "DECIMAL"},
               "CategoricalDimensionField": {"STRING", "INTEGER", "DECIMAL", "DATETIME"},
               "CategoryFilter": {"STRING"}}


def _quicksight(synth: Synth, cfn_type: str) -> dict[str, dict]:
    return {k: v["Properties"] for k, v in synth.of_type(cfn_type).items()}


def test_quicksight_is_opt_in(default: Synth, custom: Synth) -> None:
    assert not [t for t in QUICKSIGHT_TYPES if default.of_type(t)]
    assert not [r for r in default.props("AWS::IAM::Role") if "quicksight" in json.dumps(r)]
    assert all(custom.of_type(t) for t in QUICKSIGHT_TYPES)


def test_quicksight_data_source_reads_the_workgroup_through_its_own_role(custom: Synth) -> None:
    (source,) = custom.props("AWS::QuickSight::DataSource")
    assert source["Type"] == "ATHENA"
    athena_parameters = source["DataSourceParameters"]["AthenaParameters"]
    assert athena_parameters["WorkGroup"] == custom.settings.name_prefix
    role_id = athena_parameters["RoleArn"]["Fn::GetAtt"][0]
    # Given the role QuickSight assumes for this source: only QuickSight may assume it,
    trust = custom.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Action": "sts:AssumeRole", "Effect": "Allow",
                      "Principal": {"Service": "quicksight.amazonaws.com"}}]
    assert "Policies" not in custom.resources[role_id]["Properties"]
    (policy,) = [p for p in custom.props("AWS::IAM::ManagedPolicy") if p.get("Roles") == [{"Ref": role_id}]]
    statements = policy["PolicyDocument"]["Statement"]
    # and it may do what the named queries' functions may do in Athena, and no more: every
    # statement an Allow on named resources, nothing written to or deleted from the audit trail.
    assert {s["Effect"] for s in statements} == {"Allow"}
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    granted = {a for g in QUICKSIGHT_GRANTS for a in g.actions}
    assert actions == granted
    assert not [a for a in actions if a.endswith("*") or "Delete" in a]
    assert '"*"' not in json.dumps([s["Resource"] for s in statements]).replace('/*"', '"')
    audit_objects = f'["{custom.logical_id("Storage/AuditBucket")}", "Arn"]}}, "/'
    on_audit_objects = [s for s in statements if audit_objects in json.dumps(s["Resource"])]
    assert [s["Action"] for s in on_audit_objects] == ["s3:GetObject"]
    # The events and a compacted day's files (docs/compaction.md), nothing else of the bucket.
    resources = json.dumps(on_audit_objects[0]["Resource"])
    assert resources.count('"/') == 2 and f'"/{EVENTS_PREFIX}*"]]}}' in resources and '"/compacted/*"]]}' in resources


def test_quicksight_has_a_data_set_on_events_and_one_per_view(custom: Synth) -> None:
    (source_id,) = custom.of_type("AWS::QuickSight::DataSource")
    data_sets = custom.props("AWS::QuickSight::DataSet")
    views = load_catalog().views
    assert len(data_sets) == 1 + len(views)
    tables = [t for d in data_sets for t in d["PhysicalTableMap"].values()]
    assert [t["RelationalTable"]["Name"] for t in tables if "RelationalTable" in t] == ["events"]
    custom_sql = {t["CustomSql"]["Name"]: t["CustomSql"] for t in tables if "CustomSql" in t}
    assert set(custom_sql) == set(views)
    for name, spec in views.items():
        # Each view's SQL over the deployment's events table, bounded to the last VIEW_DAYS days,
        assert custom_sql[name]["SqlQuery"] == quicksight_sql(spec, glue_database_name(custom.settings.name_prefix),
                                                              VIEW_DAYS)
        assert custom_sql[name]["DataSourceArn"] == {"Fn::GetAtt": [source_id, "Arn"]}
        # with the columns its header declares.
        assert custom_sql[name]["Columns"] == [{"Name": c.name, "Type": VIEW_TYPES[c.type]} for c in spec.columns]
    assert {d["ImportMode"] for d in data_sets} == {"DIRECT_QUERY"}
    assert all(d["DataSetId"].startswith(custom.settings.name_prefix + "-") for d in data_sets)


def test_quicksight_dashboard_is_the_definition_in_the_repository(custom: Synth) -> None:
    (dashboard,) = custom.props("AWS::QuickSight::Dashboard")
    views = load_catalog().views
    view_sets = {t["CustomSql"]["Name"]: key for key, d in _quicksight(custom, "AWS::QuickSight::DataSet").items()
                 for t in d["PhysicalTableMap"].values() if "CustomSql" in t}
    definition = dashboard["Definition"]
    # Given the file with each data set identifier bound to that view's data set,
    expected = json.loads(DASHBOARD_FILE.read_text())
    for declaration in expected["DataSetIdentifierDeclarations"]:
        declaration["DataSetArn"] = {"Fn::GetAtt": [view_sets[declaration["Identifier"]], "Arn"]}
    assert definition == expected
    # every column a visual or filter reads is one its view declares, of a type that field takes.
    types = {(name, c.name): VIEW_TYPES[c.type] for name, spec in views.items() for c in spec.columns}
    used = list(_columns_used(definition["Sheets"])) + list(_columns_used(definition["FilterGroups"]))
    assert used
    for kind, column in used:
        key = (column["DataSetIdentifier"], column["ColumnName"])
        assert key in types, key
        assert types[key] in FIELD_KINDS[kind], (kind, key)


def _columns_used(node: object, kind: str = "") -> Iterator[tuple[str, dict]]:
    if isinstance(node, dict):
        if "DataSetIdentifier" in node and "ColumnName" in node:
            yield kind, node
        for key, value in node.items():
            yield from _columns_used(value, key if key in FIELD_KINDS else kind)
    elif isinstance(node, list):
        for value in node:
            yield from _columns_used(value, kind)


def test_dashboard_definition_refuses_an_identifier_that_is_no_view() -> None:
    with pytest.raises(ValueError, match="is not a view"):
        dashboard_definition({"prediction_hourly": "arn:aws:quicksight:us-east-1:123456789012:dataset/x"})


def test_quicksight_principal_may_read_and_use_but_not_change(custom: Synth) -> None:
    principal = custom.settings.quicksight_principal_arn
    permissions = [p for t in QUICKSIGHT_TYPES for r in custom.props(t) for p in r["Permissions"]]
    assert len(permissions) == 2 + len(load_catalog().views) + 1
    assert {p["Principal"] for p in permissions} == {principal}
    actions = {a for p in permissions for a in p["Actions"]}
    assert not [a for a in actions if any(verb in a for verb in ("Update", "Delete", "Create", "Cancel"))]
    assert {"quicksight:PassDataSource", "quicksight:PassDataSet", "quicksight:QueryDashboard"} <= actions
