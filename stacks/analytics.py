"""Analytics: the Glue table over events/ (columns generated from the event
contract, partition projection so no crawler or MSCK is ever needed), an Athena
workgroup with enforced, encrypted results, and opt-in QuickSight."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_quicksight as quicksight
from aws_cdk import aws_s3 as s3
from constructs import Construct
from mlaudit.contract import EventType
from mlaudit.layout import EVENTS_PREFIX, PARTITION_KEYS, glue_columns
from mlaudit.resources import glue_database_name, workgroup_name
from mlaudit.settings import Settings

from stacks.storage import encrypted_bucket

EVENTS_TABLE = "events"
# First day partition projection considers; queries name a date range, so older is harmless.
PROJECTION_START = "2024-01-01"
# Query results may hold personal data in clear: keep them briefly.
RESULTS_EXPIRE_DAYS = 30
# QuickSight reads scalar columns only; arrays stay queryable in Athena.
QUICKSIGHT_TYPES = {"string": "STRING", "int": "INTEGER", "bigint": "INTEGER", "double": "DECIMAL",
                    "timestamp": "DATETIME", "boolean": "BOOLEAN"}


def projection_parameters(bucket_name: str) -> dict[str, str]:
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
            f"s3://{bucket_name}/{EVENTS_PREFIX}{date_key}=${{{date_key}}}/{type_key}=${{{type_key}}}/"
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
        prefix = settings.name_prefix

        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=glue_database_name(prefix), description="mlaudit audit trail"
            ),
        )
        self.database_name = glue_database_name(prefix)
        self.table = glue.CfnTable(
            self,
            "EventsTable",
            catalog_id=stack.account,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=EVENTS_TABLE,
                description="One row per audit event (mlaudit event contract v1)",
                table_type="EXTERNAL_TABLE",
                parameters=projection_parameters(audit_bucket.bucket_name),
                partition_keys=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in PARTITION_KEYS],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=f"s3://{audit_bucket.bucket_name}/{EVENTS_PREFIX}",
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
        self.table.node.add_dependency(self.database)

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

        if settings.quicksight_principal_arn:
            self._quicksight(settings.quicksight_principal_arn, prefix)

    def _quicksight(self, principal_arn: str, prefix: str) -> None:
        # QuickSight's own service role must be allowed the audit and results buckets and
        # the key (QuickSight console > Security & permissions); see docs/deploy.md.
        stack = Stack.of(self)
        self.data_source = quicksight.CfnDataSource(
            self,
            "QuickSightDataSource",
            aws_account_id=stack.account,
            data_source_id=f"{prefix}-athena",
            name=f"{prefix} (Athena)",
            type="ATHENA",
            data_source_parameters=quicksight.CfnDataSource.DataSourceParametersProperty(
                athena_parameters=quicksight.CfnDataSource.AthenaParametersProperty(
                    work_group=self.workgroup.name
                )
            ),
            ssl_properties=quicksight.CfnDataSource.SslPropertiesProperty(disable_ssl=False),
            permissions=[
                quicksight.CfnDataSource.ResourcePermissionProperty(
                    principal=principal_arn,
                    actions=[
                        "quicksight:DescribeDataSource",
                        "quicksight:DescribeDataSourcePermissions",
                        "quicksight:PassDataSource",
                        "quicksight:UpdateDataSource",
                        "quicksight:DeleteDataSource",
                        "quicksight:UpdateDataSourcePermissions",
                    ],
                )
            ],
        )
        self.data_source.node.add_dependency(self.workgroup)
        columns = [*glue_columns(), *({"name": n, "type": t} for n, t in PARTITION_KEYS)]
        self.data_set = quicksight.CfnDataSet(
            self,
            "QuickSightDataSet",
            aws_account_id=stack.account,
            data_set_id=f"{prefix}-events",
            name=f"{prefix} events",
            import_mode="DIRECT_QUERY",
            physical_table_map={
                "events": quicksight.CfnDataSet.PhysicalTableProperty(
                    relational_table=quicksight.CfnDataSet.RelationalTableProperty(
                        data_source_arn=self.data_source.attr_arn,
                        catalog="AwsDataCatalog",
                        schema=self.database_name,
                        name=EVENTS_TABLE,
                        input_columns=[
                            quicksight.CfnDataSet.InputColumnProperty(
                                name=c["name"], type=QUICKSIGHT_TYPES[c["type"]]
                            )
                            for c in columns
                            if c["type"] in QUICKSIGHT_TYPES
                        ],
                    )
                )
            },
            permissions=[
                quicksight.CfnDataSet.ResourcePermissionProperty(
                    principal=principal_arn,
                    actions=[
                        "quicksight:DescribeDataSet",
                        "quicksight:DescribeDataSetPermissions",
                        "quicksight:PassDataSet",
                        "quicksight:DescribeIngestion",
                        "quicksight:ListIngestions",
                        "quicksight:UpdateDataSet",
                        "quicksight:DeleteDataSet",
                        "quicksight:CreateIngestion",
                        "quicksight:CancelIngestion",
                        "quicksight:UpdateDataSetPermissions",
                    ],
                )
            ],
        )
        self.data_set.node.add_dependency(self.table)
