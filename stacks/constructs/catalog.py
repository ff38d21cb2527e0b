"""Glue Data Catalog: the lakewatch database and one table per lake table, with partition projection.

The Glue L2 constructs are alpha, so this uses the L1 `CfnDatabase`/`CfnTable`. Columns, S3 location
and projection parameters all come from `lakewatch.domain.tables`; nothing here names a column.
"""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lakewatch.domain.tables import CATALOG_TABLES, PARTITION_KEY, LakeTable

PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


def table_construct_id(table: LakeTable) -> str:
    """`sales` -> `SalesTable`: the construct id, hence the logical id, of a lake table (must stay stable)."""
    return "".join(part.title() for part in table.name.split("_")) + "Table"


class LakeCatalog(Construct):
    """No crawler and no MSCK REPAIR: partition projection on `dt` makes every day visible immediately.

    The Data Catalog's metadata (and any connection password) is encrypted at rest with the lakewatch key.
    That setting belongs to the account and region, not to this database, so exactly one stage per account and
    region sets it (`encrypts_catalog`, from `glue_catalog_encryption`), and never one whose key is destroyed
    with it: a deleted key would make every database of the account unreadable. Whoever reads the catalog
    needs `kms:Decrypt` on the key: the Glue job roles and the Firehose roles have it, and Athena users need
    it as they need it for the lake and the query results.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        database_name: str,
        bucket: s3.IBucket,
        key: kms.IKey,
        encrypts_catalog: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.database_name = database_name
        self.encryption_settings = _encrypt_catalog(self, key) if encrypts_catalog else None
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name,
                description="lakewatch: sales and job-run lake tables (Parquet, partition projection on dt)",
            ),
        )
        if self.encryption_settings is not None:
            # Metadata is encrypted from the moment it is written.
            self.database.add_resource_dependency(self.encryption_settings)
        self.tables: dict[str, glue.CfnTable] = {}
        for table in CATALOG_TABLES.values():
            cfn_table = glue.CfnTable(
                self,
                table_construct_id(table),
                catalog_id=Aws.ACCOUNT_ID,
                database_name=database_name,
                table_input=_table_input(table, bucket.bucket_name),
            )
            cfn_table.add_resource_dependency(self.database)
            self.tables[table.name] = cfn_table

    def table_arn(self, table_name: str) -> str:
        return Stack.of(self).format_arn(
            service="glue", resource="table", resource_name=f"{self.database_name}/{table_name}"
        )

    @property
    def database_arn(self) -> str:
        return Stack.of(self).format_arn(service="glue", resource="database", resource_name=self.database_name)

    @property
    def catalog_arn(self) -> str:
        return Stack.of(self).format_arn(service="glue", resource="catalog")


def _encrypt_catalog(scope: Construct, key: kms.IKey) -> glue.CfnDataCatalogEncryptionSettings:
    settings = glue.CfnDataCatalogEncryptionSettings
    return settings(
        scope,
        "EncryptionSettings",
        catalog_id=Aws.ACCOUNT_ID,
        data_catalog_encryption_settings=settings.DataCatalogEncryptionSettingsProperty(
            encryption_at_rest=settings.EncryptionAtRestProperty(
                catalog_encryption_mode="SSE-KMS", sse_aws_kms_key_id=key.key_arn
            ),
            connection_password_encryption=settings.ConnectionPasswordEncryptionProperty(
                return_connection_password_encrypted=True, kms_key_id=key.key_arn
            ),
        ),
    )


def _table_input(table: LakeTable, bucket_name: str) -> glue.CfnTable.TableInputProperty:
    return glue.CfnTable.TableInputProperty(
        name=table.name,
        description=table.description,
        table_type="EXTERNAL_TABLE",
        parameters={
            "EXTERNAL": "TRUE",
            "classification": "parquet",
            "parquet.compression": "SNAPPY",
            **table.projection_parameters(bucket_name),
        },
        partition_keys=[glue.CfnTable.ColumnProperty(name=PARTITION_KEY, type="string", comment="UTC event date")],
        storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
            columns=[
                glue.CfnTable.ColumnProperty(name=column.name, type=column.glue_type, comment=column.comment or None)
                for column in table.columns
            ],
            location=f"s3://{bucket_name}/{table.prefix}",
            input_format=PARQUET_INPUT_FORMAT,
            output_format=PARQUET_OUTPUT_FORMAT,
            compressed=True,
            serde_info=glue.CfnTable.SerdeInfoProperty(
                serialization_library=PARQUET_SERDE, parameters={"serialization.format": "1"}
            ),
        ),
    )
