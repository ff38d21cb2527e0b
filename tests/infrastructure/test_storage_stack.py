"""The stateful stack: encryption, retention, access, the Glue catalog derived from tables.py, streams, state."""

from __future__ import annotations

from datetime import date

import pytest
from aws_cdk.assertions import Capture, Match

from lakewatch.domain.tables import CATALOG_TABLES, PARTITION_KEY
from stacks.config import (
    ATHENA_RESULTS_ROOT,
    BACKUP_ROOT,
    ERRORS_ROOT,
    LANDING_ROOT,
    ConfigError,
    StageConfig,
    StreamCapacityMode,
)
from tests.infrastructure.conftest import DISTINCT_CONTEXT, Synth, logical_id, render, synthesize

SHARDS = 2


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(
        tmp_path_factory.mktemp("storage"),
        **DISTINCT_CONTEXT,
        stream_capacity_mode="PROVISIONED",
        stream_shard_count=SHARDS,
        stream_retention_hours=48,
    )


@pytest.fixture(scope="module")
def ids(synth: Synth) -> dict[str, str]:
    storage = synth.storage
    return {
        "key": logical_id(storage, storage.key),
        "lake": logical_id(storage, storage.lake_bucket),
        "logs": logical_id(storage, storage.access_logs_bucket),
    }


def test_key_is_customer_managed_with_rotation_and_retained_in_prod(synth: Synth) -> None:
    # Given the prod stage (the default)
    # When the storage stack is synthesized
    # Then the one KMS key rotates and survives a stack deletion
    synth.storage_template.has_resource(
        "AWS::KMS::Key",
        {"Properties": Match.object_like({"EnableKeyRotation": True}), "DeletionPolicy": "Retain"},
    )


@pytest.mark.parametrize("bucket", ["lake", "logs"])
def test_buckets_are_versioned_private_and_tls_only(synth: Synth, ids: dict[str, str], bucket: str) -> None:
    template = synth.storage_template
    props = template.to_json()["Resources"][ids[bucket]]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": ids[bucket]},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_lake_bucket_is_kms_encrypted_and_logs_to_the_log_bucket(synth: Synth, ids: dict[str, str]) -> None:
    props = synth.storage_template.to_json()["Resources"][ids["lake"]]["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": [ids["key"], "Arn"]}
    assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": ids["logs"]}


def test_every_lake_prefix_has_a_lifecycle_rule(synth: Synth, ids: dict[str, str]) -> None:
    # Given the lifecycle days of the stage
    lifecycle = synth.config.lifecycle
    rules = synth.storage_template.to_json()["Resources"][ids["lake"]]["Properties"]["LifecycleConfiguration"]["Rules"]
    by_prefix = {rule.get("Prefix"): rule for rule in rules}
    # Then the lake tiers (and keeps its data) while every other prefix expires after its configured days
    lake_rule = by_prefix["lake/"]
    assert "ExpirationInDays" not in lake_rule
    assert lake_rule["Transitions"] == [
        {"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": lifecycle.lake_intelligent_tiering_days}
    ]
    expected_expiry = {
        "quarantine/": lifecycle.quarantine_expiry_days,
        f"{BACKUP_ROOT}/": lifecycle.backup_expiry_days,
        f"{ERRORS_ROOT}/": lifecycle.errors_expiry_days,
        f"{LANDING_ROOT}/": lifecycle.landing_expiry_days,
        f"{ATHENA_RESULTS_ROOT}/": DISTINCT_CONTEXT["athena_results_expiry_days"],
    }
    assert {prefix: by_prefix[prefix]["ExpirationInDays"] for prefix in expected_expiry} == expected_expiry
    assert all(rule["Status"] == "Enabled" for rule in rules)


def test_raw_till_csvs_are_kept_a_week_and_their_old_versions_a_day() -> None:
    # Card numbers in clear: only as long as re-processing needs (the default, not a stage override)
    lifecycle = StageConfig.from_context({}).lifecycle
    assert lifecycle.landing_expiry_days == 7


def test_landing_versions_expire_a_day_after_the_file(synth: Synth, ids: dict[str, str]) -> None:
    rules = synth.storage_template.to_json()["Resources"][ids["lake"]]["Properties"]["LifecycleConfiguration"]["Rules"]
    (landing,) = [rule for rule in rules if rule.get("Prefix") == f"{LANDING_ROOT}/"]
    assert landing["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}


def test_key_policy_trusts_aws_services_only_for_this_account(synth: Synth, ids: dict[str, str]) -> None:
    policy = synth.storage_template.to_json()["Resources"][ids["key"]]["Properties"]["KeyPolicy"]
    services = {}
    for statement in policy["Statement"]:
        principal = statement["Principal"]
        if "Service" in principal:
            names = principal["Service"] if isinstance(principal["Service"], list) else [principal["Service"]]
            for name in names:
                services[render(name)] = statement.get("Condition")
    # EventBridge publishes through an execution role: KMS cannot scope a statement for it to this account
    assert "events.amazonaws.com" not in services
    assert services["cloudwatch.amazonaws.com"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    logs_condition = services["logs.<AWS::Region>.amazonaws.com"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert render(logs_condition) == "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*"
    assert set(services) == {"cloudwatch.amazonaws.com", "logs.<AWS::Region>.amazonaws.com"}


def test_glue_data_catalog_is_encrypted_with_the_lakewatch_key(synth: Synth, ids: dict[str, str]) -> None:
    (settings,) = synth.storage_template.find_resources("AWS::Glue::DataCatalogEncryptionSettings").values()
    encryption = settings["Properties"]["DataCatalogEncryptionSettings"]
    key_arn = {"Fn::GetAtt": [ids["key"], "Arn"]}
    assert encryption["EncryptionAtRest"] == {"CatalogEncryptionMode": "SSE-KMS", "SseAwsKmsKeyId": key_arn}
    assert encryption["ConnectionPasswordEncryption"] == {
        "ReturnConnectionPasswordEncrypted": True,
        "KmsKeyId": key_arn,
    }
    (database,) = synth.storage_template.find_resources("AWS::Glue::Database").values()
    assert database["DependsOn"] == [
        next(iter(synth.storage_template.find_resources("AWS::Glue::DataCatalogEncryptionSettings")))
    ]


def test_every_table_of_tables_py_is_a_glue_table_with_its_columns(synth: Synth) -> None:
    # Given the single schema source
    glue_tables = synth.storage_template.find_resources("AWS::Glue::Table")
    by_name = {
        resource["Properties"]["TableInput"]["Name"]: resource["Properties"] for resource in glue_tables.values()
    }
    # Then there is exactly one Glue table per lake table, and its columns are the definition's, in order
    assert set(by_name) == set(CATALOG_TABLES)
    for name, table in CATALOG_TABLES.items():
        table_input = by_name[name]["TableInput"]
        columns = [(column["Name"], column["Type"]) for column in table_input["StorageDescriptor"]["Columns"]]
        assert columns == [(column.name, column.glue_type) for column in table.columns]
        assert [(key["Name"], key["Type"]) for key in table_input["PartitionKeys"]] == [(PARTITION_KEY, "string")]
        assert table_input["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
        assert by_name[name]["DatabaseName"] == synth.config.glue_database_name


def test_partition_projection_matches_the_firehose_layout(synth: Synth, ids: dict[str, str]) -> None:
    # Given a day and a bucket name standing in for the deployed one
    day = date(2024, 5, 1).isoformat()
    refs = {ids["lake"]: "lake-bucket"}
    glue_tables = synth.storage_template.find_resources("AWS::Glue::Table")
    for resource in glue_tables.values():
        table_input = resource["Properties"]["TableInput"]
        table = CATALOG_TABLES[table_input["Name"]]
        parameters = render(table_input["Parameters"], refs)
        # When Athena projects the day's partition from the synthesized template
        projected = parameters["storage.location.template"].replace(f"${{{PARTITION_KEY}}}", day)
        # Then it is exactly where Firehose writes that day (its prefix with the partition key resolved)
        firehose_path = table.firehose_prefix.replace(f"!{{partitionKeyFromQuery:{PARTITION_KEY}}}", day)
        assert projected == f"s3://lake-bucket/{firehose_path}"
        assert projected == f"s3://lake-bucket/{table.partition_prefix(day)}"
        assert parameters == {
            "EXTERNAL": "TRUE",
            "classification": "parquet",
            "parquet.compression": "SNAPPY",
            **table.projection_parameters("lake-bucket"),
        }
        assert render(table_input["StorageDescriptor"]["Location"], refs) == f"s3://lake-bucket/{table.prefix}"


def test_no_crawler_is_needed(synth: Synth) -> None:
    synth.storage_template.resource_count_is("AWS::Glue::Crawler", 0)


def test_three_streams_encrypted_with_the_key_and_capacity_from_config(synth: Synth, ids: dict[str, str]) -> None:
    streams = synth.storage_template.find_resources("AWS::Kinesis::Stream")
    assert len(streams) == 3
    for stream in streams.values():
        props = stream["Properties"]
        assert props["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": {"Fn::GetAtt": [ids["key"], "Arn"]}}
        assert props["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
        assert props["ShardCount"] == SHARDS
        assert props["RetentionPeriodHours"] == 48
        assert stream["DeletionPolicy"] == "Retain"


def test_baselines_table_has_keys_ttl_pitr_and_customer_managed_encryption(synth: Synth, ids: dict[str, str]) -> None:
    synth.storage_template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": Match.array_with(
                [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}]
            ),
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {
                "SSEEnabled": True,
                "SSEType": "KMS",
                "KMSMasterKeyId": {"Fn::GetAtt": [ids["key"], "Arn"]},
            },
        },
    )


def test_baselines_table_has_the_sparse_last_run_index_the_overdue_check_queries(synth: Synth) -> None:
    # (job monitoring) The index the local runner and tests create from `baseline.table_definition`.
    from lakewatch.domain import baseline

    [definition] = baseline.table_definition("any")["GlobalSecondaryIndexes"]
    synth.storage_template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": definition["IndexName"],
                    "KeySchema": definition["KeySchema"],
                    "Projection": definition["Projection"],
                }
            ]
        },
    )


def test_pii_key_secret_is_generated_encrypted_and_never_rotated(synth: Synth, ids: dict[str, str]) -> None:
    length = Capture()
    synth.storage_template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "KmsKeyId": {"Fn::GetAtt": [ids["key"], "Arn"]},
            "GenerateSecretString": Match.object_like({"PasswordLength": length}),
        },
    )
    assert length.as_number() >= 32
    synth.storage_template.resource_count_is("AWS::SecretsManager::RotationSchedule", 0)


def test_config_defaults_are_the_production_choices() -> None:
    # Given an empty context
    config = StageConfig.from_context({})
    # Then the stage is prod, data is retained, streams are on-demand and Firehose buffers enough to partition
    assert config.stage == "prod"
    assert config.removal_policy.value == "retain"
    assert config.stream_capacity_mode is StreamCapacityMode.ON_DEMAND
    assert config.firehose_buffer_size_mib >= 64
    assert config.powertools_layer_version == 27
    assert config.glue_database_name == "lakewatch"


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"alert_email": "a@b.co"}, ("a@b.co",)),
        ({"alert_email": "a@b.co,c@d.co"}, ("a@b.co", "c@d.co")),
        ({"alert_emails": ["a@b.co"], "alert_email": "c@d.co"}, ("a@b.co", "c@d.co")),
        ({"alert_emails": '["a@b.co"]'}, ("a@b.co",)),
    ],
)
def test_alert_emails_accept_a_single_string_or_a_list(context: dict, expected: tuple[str, ...]) -> None:
    assert StageConfig.from_context(context).alert_emails == expected


@pytest.mark.parametrize(
    "context",
    [
        {"removal_policy": "destroy"},
        {"firehose_buffer_size_mib": 32},
        {"alert_email": "not-an-address"},
        {"transform_parallelization_factor": "11"},
        {"stream_capacity_mode": "SOMETIMES"},
    ],
)
def test_unsafe_or_invalid_context_is_refused(context: dict) -> None:
    with pytest.raises(ConfigError):
        StageConfig.from_context(context)


def test_per_stage_overrides_apply_and_flat_keys_win() -> None:
    context = {
        "stage": "dev",
        "stages": {
            "dev": {"removal_policy": "destroy", "glue_catalog_encryption": "elsewhere", "stream_retention_hours": 72}
        },
        "stream_retention_hours": "36",
    }
    config = StageConfig.from_context(context)
    assert config.removal_policy.value == "destroy"
    assert config.stream_retention_hours == 36


def test_stateful_logical_ids_never_change_by_accident(synth: Synth) -> None:
    # A changed logical id makes CloudFormation replace the resource: a new, empty bucket, table or key.
    stateful_types = {
        "AWS::KMS::Key",
        "AWS::S3::Bucket",
        "AWS::Glue::Database",
        "AWS::Glue::Table",
        "AWS::Kinesis::Stream",
        "AWS::DynamoDB::Table",
        "AWS::SecretsManager::Secret",
    }
    found = {
        key
        for key, resource in synth.storage_template.to_json()["Resources"].items()
        if resource["Type"] in stateful_types
    }
    # New resources may appear; the ones holding data today must keep their ids.
    assert found >= {
        "EncryptionKey3A692D6E",
        "BucketsAccessLogsBucketA2F77391",
        "BucketsLakeBucket556C5D55",
        "CatalogDatabaseE63956BB",
        "CatalogSalesTable8A843A67",
        "CatalogJobRunsTable759B0FF9",
        "StreamsEventsRaw5866F792",
        "StreamsSalesClean61B35EEB",
        "StreamsJobRunsClean90F08DB6",
        "BaselinesTable1D102F1D",
        "PiiKeySecret5BF9AC79",
    }
