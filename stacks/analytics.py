"""Analytics: the Glue tables over events/ and compacted/ (columns generated from the event
contract, partition projection so no crawler or MSCK is ever needed) and the `events` view
that reads each day from one of them (mlaudit.events_view), an Athena
workgroup with enforced, encrypted results, and opt-in QuickSight: a data source on the
workgroup, a data set on the events table and one per named view, and a dashboard from
the definition in stacks/quicksight/dashboard.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_quicksight as quicksight
from aws_cdk import aws_s3 as s3
from constructs import Construct
from mlaudit.contract import EventType
from mlaudit.events_view import NOTHING_COMPACTED, TABLE_ROOTS, VIEW, view_input
from mlaudit.functions import RUN_ATHENA_QUERIES, Grant
from mlaudit.layout import EVENTS_PREFIX, PARTITION_KEYS, glue_columns
from mlaudit.queries.catalog import QuerySpec, load_catalog, quicksight_sql
from mlaudit.resources import Resource, glue_database_name, workgroup_name
from mlaudit.settings import Settings

from stacks.functions import ResourceMap
from stacks.storage import encrypted_bucket

EVENTS_TABLE = VIEW  # what readers name: the view (mlaudit.events_view)
# First day partition projection considers; queries name a date range, so older is harmless.
PROJECTION_START = "2024-01-01"
# Query results may hold personal data in clear: keep them briefly.
RESULTS_EXPIRE_DAYS = 30
# QuickSight reads scalar columns only; arrays stay queryable in Athena.
QUICKSIGHT_TYPES = {"string": "STRING", "int": "INTEGER", "bigint": "INTEGER", "double": "DECIMAL",
                    "timestamp": "DATETIME", "boolean": "BOOLEAN"}
# A view's declared result types (catalog RESULT_TYPES) as QuickSight's.
VIEW_TYPES = {"string": "STRING", "integer": "INTEGER", "double": "DECIMAL", "timestamp": "DATETIME",
              "date": "DATETIME", "boolean": "BOOLEAN"}
# The views' data sets read this many days back: a dashboard never scans all history.
VIEW_DAYS = 92
# The dashboard the stack creates, as `aws quicksight describe-dashboard-definition` gives it
# (edit it in QuickSight, export it, keep it here); data set identifiers are view names.
DASHBOARD_FILE = Path(__file__).parent / "quicksight" / "dashboard.json"
# What the principal may do with what the stack declares: read, query and build analyses of
# its own on it, never change or delete it (the repository holds the definition; a change
# made in the console would be undone by the next deploy, or break it).
DATA_SOURCE_ACTIONS = ["quicksight:DescribeDataSource", "quicksight:DescribeDataSourcePermissions",
                       "quicksight:PassDataSource"]
DATA_SET_ACTIONS = ["quicksight:DescribeDataSet", "quicksight:DescribeDataSetPermissions", "quicksight:PassDataSet",
                    "quicksight:DescribeIngestion", "quicksight:ListIngestions"]
DASHBOARD_ACTIONS = ["quicksight:DescribeDashboard", "quicksight:ListDashboardVersions",
                     "quicksight:QueryDashboard"]
# The role QuickSight assumes for this data source only (AthenaParameters.RoleArn), so the
# account-wide QuickSight service role needs no access to the audit trail: what a named
# query's function may do in Athena, plus stopping a query a viewer abandons, reading the
# workgroup's settings, and the data key (the events and the results are SSE-KMS).
QUICKSIGHT_GRANTS = (
    *RUN_ATHENA_QUERIES,
    Grant(Resource.WORKGROUP, ("athena:StopQueryExecution", "athena:GetWorkGroup")),
    Grant(Resource.DATA_KEY, ("kms:Decrypt", "kms:GenerateDataKey"),
          why="Athena reads the SSE-KMS events and writes SSE-KMS results as the caller"),
)


def view_input_property(database: str) -> glue.CfnTable.TableInputProperty:
    """The `events` view as the template declares it: nothing compacted yet. The compaction
    function moves it on (glue:UpdateTable); a deploy that changes it puts this back, which
    reads every day from events/ (correct, slower) until the function's next run."""
    given = view_input(database, NOTHING_COMPACTED)
    return glue.CfnTable.TableInputProperty(
        name=given["Name"],
        description=given["Description"],
        table_type=given["TableType"],
        parameters=given["Parameters"],
        view_original_text=given["ViewOriginalText"],
        view_expanded_text=given["ViewExpandedText"],
        storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
            columns=[glue.CfnTable.ColumnProperty(name=c["Name"], type=c["Type"])
                     for c in given["StorageDescriptor"]["Columns"]],
            serde_info=glue.CfnTable.SerdeInfoProperty(),
        ),
    )


def projection_parameters(bucket_name: str, root: str = EVENTS_PREFIX) -> dict[str, str]:
    date_key, type_key = (name for name, _ in PARTITION_KEYS)
    return {
        "classification": "parquet",
        "parquet.compression": "ZSTD",
        "projection.enabled": "true",
        f"projection.{date_key}.type": "date",
        f"projection.{date_key}.format": "yyyy-MM-dd",
        f"projection.{date_key}.range": f"{PROJECTION_START},NOW",
        f"projection.{date_key}.interval": "1",
        f"projection.{date_key}.interval.unit": "DAYS",
        f"projection.{type_key}.type": "enum",
        f"projection.{type_key}.values": ",".join(t.value for t in EventType),
        "storage.location.template": (
            f"s3://{bucket_name}/{root}{date_key}=${{{date_key}}}/{type_key}=${{{type_key}}}/"
        ),
    }


class Analytics(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        key: kms.IKey,
        audit_bucket: s3.IBucket,
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.prefix = prefix = settings.name_prefix

        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=glue_database_name(prefix), description="mlaudit audit trail"
            ),
        )
        self.database_name = glue_database_name(prefix)
        # Two tables, one over each root, and the view every reader names (mlaudit.events_view):
        # a compacted day from its compacted files, every other day from its written files.
        self.tables = {
            name: self._table(construct_id, name, root, audit_bucket.bucket_name)
            for construct_id, (name, root) in zip(("WrittenTable", "CompactedTable"), TABLE_ROOTS.items(), strict=True)
        }
        # The view keeps the construct id (and so the logical id) of the table it replaces: on
        # a stack deployed before it, CloudFormation updates the Glue table `events` in place
        # into the view (same name), instead of creating a second `events` while the old one
        # still exists (Glue refuses a name twice; the old would only go in the cleanup phase).
        self.view = self.table = glue.CfnTable(
            self,
            "EventsTable",
            catalog_id=stack.account,
            database_name=self.database_name,
            table_input=view_input_property(self.database_name),
        )
        for table in self.tables.values():
            self.view.node.add_dependency(table)

        self.results_bucket = encrypted_bucket(
            self,
            "QueryResults",
            key=key,
            access_logs=access_logs,
            access_logs_prefix="query-results/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-results",
                    expiration=Duration.days(RESULTS_EXPIRE_DAYS),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=workgroup_name(prefix),
            description="mlaudit named queries; settings enforced on every client",
            state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=settings.athena_bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.results_bucket.bucket_name}/",
                    expected_bucket_owner=stack.account,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )

    def _table(self, construct_id: str, name: str, root: str, bucket_name: str) -> glue.CfnTable:
        table = glue.CfnTable(
            self,
            construct_id,
            catalog_id=Stack.of(self).account,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=name,
                description=f"One row per audit event in {root} (mlaudit event contract v1); read through the "
                            f"`{VIEW}` view",
                table_type="EXTERNAL_TABLE",
                parameters=projection_parameters(bucket_name, root),
                partition_keys=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in PARTITION_KEYS],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=f"s3://{bucket_name}/{root}",
                    input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                    ),
                    columns=[
                        glue.CfnTable.ColumnProperty(name=c["name"], type=c["type"]) for c in glue_columns()
                    ],
                    compressed=True,
                ),
            ),
        )
        table.node.add_dependency(self.database)
        return table

    def share_with_quicksight(self, principal_arn: str, resources: ResourceMap) -> None:
        """The QuickSight part (with `quicksight_principal_arn`): a data source on the workgroup
        reading through a role of its own, a data set on the events table and one per named
        view, and the dashboard of DASHBOARD_FILE, each shared read-only with the principal."""
        stack = Stack.of(self)
        prefix = self.prefix
        self.quicksight_role = iam.Role(
            self,
            "QuickSightRole",
            assumed_by=iam.ServicePrincipal("quicksight.amazonaws.com"),
            description=f"QuickSight's access to the {prefix} audit trail, for its data source only",
        )
        # A managed policy, not the role's inline default: one can read what QuickSight may do.
        self.quicksight_policy = iam.ManagedPolicy(
            self,
            "QuickSightPolicy",
            description="What QuickSight may do through the mlaudit data source, and nothing else",
            statements=[iam.PolicyStatement(actions=list(g.actions), resources=resources.grant_arns(g))
                        for g in QUICKSIGHT_GRANTS],
            roles=[self.quicksight_role],
        )
        self.data_source = quicksight.CfnDataSource(
            self,
            "QuickSightDataSource",
            aws_account_id=stack.account,
            data_source_id=f"{prefix}-athena",
            name=f"{prefix} (Athena)",
            type="ATHENA",
            data_source_parameters=quicksight.CfnDataSource.DataSourceParametersProperty(
                athena_parameters=quicksight.CfnDataSource.AthenaParametersProperty(
                    work_group=self.workgroup.name, role_arn=self.quicksight_role.role_arn
                )
            ),
            ssl_properties=quicksight.CfnDataSource.SslPropertiesProperty(disable_ssl=False),
            permissions=[
                quicksight.CfnDataSource.ResourcePermissionProperty(principal=principal_arn,
                                                                     actions=DATA_SOURCE_ACTIONS)
            ],
        )
        # QuickSight checks the connection when it creates the source: the role's policy first.
        self.data_source.node.add_dependency(self.quicksight_policy)
        self.data_source.node.add_dependency(self.workgroup)
        columns = [*glue_columns(), *({"name": n, "type": t} for n, t in PARTITION_KEYS)]
        self.data_set = self._data_set(
            "QuickSightDataSet", EVENTS_TABLE, principal_arn,
            quicksight.CfnDataSet.PhysicalTableProperty(
                relational_table=quicksight.CfnDataSet.RelationalTableProperty(
                    data_source_arn=self.data_source.attr_arn,
                    catalog="AwsDataCatalog",
                    schema=self.database_name,
                    name=EVENTS_TABLE,
                    input_columns=[
                        quicksight.CfnDataSet.InputColumnProperty(name=c["name"], type=QUICKSIGHT_TYPES[c["type"]])
                        for c in columns
                        if c["type"] in QUICKSIGHT_TYPES
                    ],
                )
            ),
        )
        self.view_data_sets = {
            name: self._view_data_set(spec, principal_arn) for name, spec in load_catalog().views.items()
        }
        self.dashboard = quicksight.CfnDashboard(
            self,
            "QuickSightDashboard",
            aws_account_id=stack.account,
            dashboard_id=f"{prefix}-models",
            name=f"{prefix}: models",
            permissions=[quicksight.CfnDashboard.ResourcePermissionProperty(principal=principal_arn,
                                                                            actions=DASHBOARD_ACTIONS)],
            # A definition QuickSight finds fault with is created all the same and shows its
            # errors on the dashboard, rather than rolling the audit trail's stack back.
            validation_strategy=quicksight.CfnDashboard.ValidationStrategyProperty(mode="LENIENT"),
        )
        self.dashboard.add_property_override(
            "Definition", dashboard_definition({name: ds.attr_arn for name, ds in self.view_data_sets.items()})
        )

    def _view_data_set(self, spec: QuerySpec, principal_arn: str) -> quicksight.CfnDataSet:
        """A named view (queries/views/) as a data set: its SQL over the events table, the
        last VIEW_DAYS days only; its columns as the view's header declares them."""
        return self._data_set(
            "QuickSightView" + "".join(part.title() for part in spec.name.split("_")), spec.name, principal_arn,
            quicksight.CfnDataSet.PhysicalTableProperty(
                custom_sql=quicksight.CfnDataSet.CustomSqlProperty(
                    data_source_arn=self.data_source.attr_arn,
                    name=spec.name,
                    sql_query=quicksight_sql(spec, self.database_name, VIEW_DAYS),
                    columns=[quicksight.CfnDataSet.InputColumnProperty(name=c.name, type=VIEW_TYPES[c.type])
                             for c in spec.columns],
                )
            ),
        )

    def _data_set(self, construct_id: str, name: str, principal_arn: str,
                  table: quicksight.CfnDataSet.PhysicalTableProperty) -> quicksight.CfnDataSet:
        """A direct-query data set `<prefix>-<name>` of one table, shared read-only."""
        data_set = quicksight.CfnDataSet(
            self,
            construct_id,
            aws_account_id=Stack.of(self).account,
            data_set_id=f"{self.prefix}-{name.replace('_', '-')}",
            name=f"{self.prefix} {name}",
            import_mode="DIRECT_QUERY",
            physical_table_map={name.replace("_", "-"): table},
            permissions=[quicksight.CfnDataSet.ResourcePermissionProperty(principal=principal_arn,
                                                                          actions=DATA_SET_ACTIONS)],
        )
        data_set.node.add_dependency(self.table)
        return data_set


def dashboard_definition(data_sets: dict[str, str]) -> dict[str, Any]:
    """The dashboard's definition from DASHBOARD_FILE, each data set identifier (a view's
    name) given the ARN of that view's data set."""
    definition = json.loads(DASHBOARD_FILE.read_text())
    for declaration in definition["DataSetIdentifierDeclarations"]:
        if declaration["Identifier"] not in data_sets:
            raise ValueError(f"{DASHBOARD_FILE.name}: {declaration['Identifier']!r} is not a view in queries/views/")
        declaration["DataSetArn"] = data_sets[declaration["Identifier"]]
    return definition
