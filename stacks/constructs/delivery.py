"""Firehose: one delivery stream per lake table, from its clean Kinesis stream (or, for `forecasts`, put
directly by the function that makes the rows) to Parquet in `lake/<table>/`.

The L1 `CfnDeliveryStream` is used so every setting the lake depends on is visible in one place:
dynamic partitioning on the `dt` field the transform adds (event time, not arrival time, decides the
partition), JSON -> Parquet conversion against the Glue table (so the Parquet schema is the catalog's),
a non-empty error prefix, and a gzip copy of every source record under `backup/<table>/`.
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lakewatch.domain.tables import PARTITION_KEY, LakeTable
from stacks.config import BACKUP_ROOT, StageConfig
from stacks.constructs.catalog import LakeCatalog, table_construct_id
from stacks.constructs.functions import log_retention
from stacks.constructs.permissions import allow_objects, default_policy
from stacks.nag import acknowledge

#: Firehose inline (JQ) parsing: the partition key is the `dt` field of each clean record.
METADATA_EXTRACTION_QUERY = f"{{{PARTITION_KEY}: .{PARTITION_KEY}}}"
JSON_PARSING_ENGINE = "JQ-1.6"
DESTINATION_LOG_STREAM = "DestinationDelivery"
BACKUP_LOG_STREAM = "BackupDelivery"


def backup_prefix(table: LakeTable) -> str:
    return f"{BACKUP_ROOT}/{table.name}/"


class TableDelivery(Construct):
    """The delivery stream of one lake table, with its own role, log group and least-privilege policy."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: LakeTable,
        source: kinesis.IStream | None,
        bucket: s3.IBucket,
        key: kms.IKey,
        catalog: LakeCatalog,
        config: StageConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = table
        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention(config.log_retention_days),
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        for stream_name in (DESTINATION_LOG_STREAM, BACKUP_LOG_STREAM):
            logs.LogStream(
                self,
                stream_name,
                log_group=log_group,
                log_stream_name=stream_name,
                removal_policy=RemovalPolicy.DESTROY,
            )

        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": Aws.ACCOUNT_ID}}
            ),
            description=f"lakewatch Firehose for {table.name}: read its source, write its lake prefixes",
        )
        if source is not None:
            source.grant_read(role)
        object_actions = ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
        for prefix, why in (
            (table.prefix, "Firehose writes Parquet under this table's prefix, in partitions named by the data."),
            (_static_root(table.firehose_error_prefix), "Firehose writes failed records under this table's errors/."),
            (backup_prefix(table), "Firehose writes the gzip copy of every source record under backup/<table>/."),
        ):
            allow_objects(role, bucket, object_actions, f"{prefix}*", why)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[bucket.bucket_arn],
            )
        )
        key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
                resources=[catalog.catalog_arn, catalog.database_arn, catalog.table_arn(table.name)],
            )
        )
        log_group.grant_write(role)

        kms_encryption = firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
            kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(awskms_key_arn=key.key_arn)
        )
        self.delivery_stream = firehose.CfnDeliveryStream(
            self,
            "DeliveryStream",
            **_source_properties(source, role, key),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=bucket.bucket_arn,
                role_arn=role.role_arn,
                prefix=table.firehose_prefix,
                error_output_prefix=table.firehose_error_prefix,
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=config.firehose_buffer_interval_seconds,
                    size_in_m_bs=config.firehose_buffer_size_mib,
                ),
                # Parquet pages are compressed by the serializer (SNAPPY); the object itself must not be.
                compression_format="UNCOMPRESSED",
                encryption_configuration=kms_encryption,
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True, log_group_name=log_group.log_group_name, log_stream_name=DESTINATION_LOG_STREAM
                ),
                dynamic_partitioning_configuration=firehose.CfnDeliveryStream.DynamicPartitioningConfigurationProperty(
                    enabled=True,
                    retry_options=firehose.CfnDeliveryStream.RetryOptionsProperty(duration_in_seconds=300),
                ),
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        firehose.CfnDeliveryStream.ProcessorProperty(
                            type="MetadataExtraction",
                            parameters=[
                                firehose.CfnDeliveryStream.ProcessorParameterProperty(
                                    parameter_name="MetadataExtractionQuery",
                                    parameter_value=METADATA_EXTRACTION_QUERY,
                                ),
                                firehose.CfnDeliveryStream.ProcessorParameterProperty(
                                    parameter_name="JsonParsingEngine", parameter_value=JSON_PARSING_ENGINE
                                ),
                            ],
                        )
                    ],
                ),
                data_format_conversion_configuration=firehose.CfnDeliveryStream.DataFormatConversionConfigurationProperty(
                    enabled=True,
                    input_format_configuration=firehose.CfnDeliveryStream.InputFormatConfigurationProperty(
                        # Clean timestamps are `yyyy-MM-dd HH:mm:ss.ffffff`, the Hive JSON SerDe's native format.
                        deserializer=firehose.CfnDeliveryStream.DeserializerProperty(
                            hive_json_ser_de=firehose.CfnDeliveryStream.HiveJsonSerDeProperty()
                        )
                    ),
                    output_format_configuration=firehose.CfnDeliveryStream.OutputFormatConfigurationProperty(
                        serializer=firehose.CfnDeliveryStream.SerializerProperty(
                            parquet_ser_de=firehose.CfnDeliveryStream.ParquetSerDeProperty(compression="SNAPPY")
                        )
                    ),
                    schema_configuration=firehose.CfnDeliveryStream.SchemaConfigurationProperty(
                        catalog_id=Aws.ACCOUNT_ID,
                        database_name=catalog.database_name,
                        table_name=table.name,
                        region=Aws.REGION,
                        role_arn=role.role_arn,
                        version_id="LATEST",
                    ),
                ),
                s3_backup_mode="Enabled",
                s3_backup_configuration=firehose.CfnDeliveryStream.S3DestinationConfigurationProperty(
                    bucket_arn=bucket.bucket_arn,
                    role_arn=role.role_arn,
                    prefix=backup_prefix(table),
                    compression_format="GZIP",
                    encryption_configuration=kms_encryption,
                    cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                        enabled=True, log_group_name=log_group.log_group_name, log_stream_name=BACKUP_LOG_STREAM
                    ),
                ),
            ),
        )
        # Firehose checks its role's permissions on creation: the policy must exist first.
        self.delivery_stream.node.add_dependency(default_policy(role))
        self.delivery_stream.node.add_dependency(catalog.tables[table.name])
        self.role = role
        if source is not None:
            acknowledge(
                self.delivery_stream,
                "AwsSolutions-KDF1",
                "Firehose cannot apply its own SSE to a Kinesis-stream source; the source stream is KMS-encrypted "
                "and every object written to S3 is encrypted with the lakewatch key (EncryptionConfiguration).",
            )


def _source_properties(source: kinesis.IStream | None, role: iam.IRole, key: kms.IKey) -> dict:
    """A clean Kinesis stream as the source, or none (`DirectPut`: a Lambda puts the records itself, encrypted
    at rest in Firehose with the lakewatch key)."""
    if source is None:
        return {
            "delivery_stream_type": "DirectPut",
            "delivery_stream_encryption_configuration_input": (
                firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                    key_type="CUSTOMER_MANAGED_CMK", key_arn=key.key_arn
                )
            ),
        }
    return {
        "delivery_stream_type": "KinesisStreamAsSource",
        "kinesis_stream_source_configuration": firehose.CfnDeliveryStream.KinesisStreamSourceConfigurationProperty(
            kinesis_stream_arn=source.stream_arn, role_arn=role.role_arn
        ),
    }


def _static_root(prefix: str) -> str:
    """The part of a Firehose prefix before its first `!{...}` expression (IAM cannot match expressions)."""
    return prefix.split("!{", 1)[0]


class LakeDelivery(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: list[LakeTable],
        streams: dict[str, kinesis.IStream],
        bucket: s3.IBucket,
        key: kms.IKey,
        catalog: LakeCatalog,
        config: StageConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        self.deliveries: dict[str, TableDelivery] = {
            table.name: TableDelivery(
                self,
                table_construct_id(table).removesuffix("Table"),
                table=table,
                source=streams[table.name],
                bucket=bucket,
                key=key,
                catalog=catalog,
                config=config,
            )
            for table in tables
        }
