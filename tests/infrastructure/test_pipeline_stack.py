"""The stateless stack: Lambdas and their event sources, Firehose, Glue, SNS, alarms, Athena."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from lakewatch.domain.tables import PARTITION_KEY, TABLES
from stacks.config import LANDING_POS_PREFIX
from stacks.constructs import bundling
from stacks.constructs.delivery import backup_prefix
from tests.infrastructure.conftest import DISTINCT_CONTEXT, REPO_ROOT, Synth, logical_id, render, synthesize

HANDLERS = {
    "transform.handler.handler": {
        "SALES_STREAM_NAME",
        "JOB_RUNS_STREAM_NAME",
        "QUARANTINE_BUCKET",
        "PII_KEY_SECRET_ARN",
    },
    "job_monitor.handler.handler": {"ALERTS_TOPIC_ARN", "BASELINES_TABLE_NAME", "QUARANTINE_BUCKET"},
    "overdue_check.handler.handler": {
        "ALERTS_TOPIC_ARN",
        "BASELINES_TABLE_NAME",
        "DEFAULT_EXPECTED_INTERVAL_HOURS",
        "OVERDUE_GRACE_HOURS",
        "EXPECTED_INTERVAL_OVERRIDES",
    },
}
POWERTOOLS_ENV = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("pipeline"), **DISTINCT_CONTEXT)


@pytest.fixture(scope="module")
def resources(synth: Synth) -> dict[str, dict[str, Any]]:
    return synth.pipeline_template.to_json()["Resources"]


def of_type(resources: dict[str, dict[str, Any]], resource_type: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in resources.items() if value["Type"] == resource_type}


def functions_by_handler(resources: dict[str, dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        fn["Properties"]["Handler"]: (key, fn["Properties"])
        for key, fn in of_type(resources, "AWS::Lambda::Function").items()
    }


def test_three_functions_on_arm64_python_311_with_both_layers(synth: Synth, resources: dict) -> None:
    functions = functions_by_handler(resources)
    assert set(functions) == set(HANDLERS)
    layer_arn = (
        "arn:aws:lambda:<AWS::Region>:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-arm64:"
        f"{DISTINCT_CONTEXT['powertools_layer_version']}"
    )
    shared_layer = next(iter(of_type(resources, "AWS::Lambda::LayerVersion")))
    for props in (props for _, props in functions.values()):
        assert props["Architectures"] == ["arm64"]
        assert props["Runtime"] == "python3.11"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert sorted(render(props["Layers"]), key=str) == sorted([layer_arn, f"<{shared_layer}>"], key=str)


def test_each_function_gets_exactly_the_environment_of_its_contract(synth: Synth, resources: dict) -> None:
    for handler, (_, props) in functions_by_handler(resources).items():
        variables = props["Environment"]["Variables"]
        assert set(variables) == HANDLERS[handler] | POWERTOOLS_ENV
        assert variables["POWERTOOLS_SERVICE_NAME"] == handler.split(".")[0]
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "lakewatch"
    overdue = functions_by_handler(resources)["overdue_check.handler.handler"][1]["Environment"]["Variables"]
    assert overdue["EXPECTED_INTERVAL_OVERRIDES"] == '{"acme/nightly_load":48.0}'
    assert overdue["DEFAULT_EXPECTED_INTERVAL_HOURS"] == "24"


@pytest.mark.parametrize(
    ("handler", "prefix", "stream"),
    [
        ("transform.handler.handler", "transform", "EventsRaw"),
        ("job_monitor.handler.handler", "job_monitor", "JobRunsClean"),
    ],
)
def test_event_source_mappings_carry_every_setting_in_its_own_slot(
    synth: Synth, resources: dict, handler: str, prefix: str, stream: str
) -> None:
    # Given distinct values for every setting of this consumer
    function_id = functions_by_handler(resources)[handler][0]
    (mapping,) = [
        esm["Properties"]
        for esm in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if esm["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    # Then each setting sits in the property named for it
    assert mapping["BatchSize"] == DISTINCT_CONTEXT[f"{prefix}_batch_size"]
    assert mapping["MaximumBatchingWindowInSeconds"] == DISTINCT_CONTEXT[f"{prefix}_batching_window_seconds"]
    assert mapping["MaximumRetryAttempts"] == DISTINCT_CONTEXT[f"{prefix}_retry_attempts"]
    assert mapping["MaximumRecordAgeInSeconds"] == DISTINCT_CONTEXT[f"{prefix}_max_record_age_seconds"]
    assert mapping["ParallelizationFactor"] == DISTINCT_CONTEXT[f"{prefix}_parallelization_factor"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert stream in render(mapping["EventSourceArn"])
    own_queue = {"transform": synth.pipeline.transform, "job_monitor": synth.pipeline.job_monitoring}[prefix]
    assert mapping["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": [logical_id(synth.pipeline, own_queue.on_failure_queue), "Arn"]}}
    }


def test_on_failure_queues_are_encrypted_and_tls_only(synth: Synth, resources: dict) -> None:
    queues = of_type(resources, "AWS::SQS::Queue")
    assert len(queues) == 2
    for key, queue in queues.items():
        assert "KmsMasterKeyId" in queue["Properties"]
        synth.pipeline_template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": key}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                    )
                },
            },
        )


def test_topics_are_encrypted_tls_only_and_subscribed_from_context(synth: Synth, resources: dict) -> None:
    topics = of_type(resources, "AWS::SNS::Topic")
    assert len(topics) == 2
    assert all("KmsMasterKeyId" in topic["Properties"] for topic in topics.values())
    endpoints = {
        (render(sub["Properties"]["TopicArn"]), sub["Properties"]["Endpoint"])
        for sub in of_type(resources, "AWS::SNS::Subscription").values()
    }
    alerts = f"<{logical_id(synth.pipeline, synth.pipeline.topics.alerts)}>"
    ops = f"<{logical_id(synth.pipeline, synth.pipeline.topics.ops)}>"
    assert endpoints == {
        (alerts, "oncall@example.com"),
        (ops, "ops@example.com"),
        (ops, "data-platform@example.com"),
    }
    for key in topics:
        synth.pipeline_template.has_resource_properties(
            "AWS::SNS::TopicPolicy",
            {
                "Topics": [{"Ref": key}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                    )
                },
            },
        )


def test_transform_may_write_objects_only_under_quarantine(synth: Synth, resources: dict) -> None:
    role_id = logical_id(synth.pipeline, synth.pipeline.transform.function.role)
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in of_type(resources, "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    s3_statements = [
        statement
        for statement in policy["Statement"]
        if any(action.startswith("s3:") for action in _as_list(statement["Action"]))
    ]
    assert [(_as_list(s["Action"]), render(s["Resource"]).split("/", 1)[1]) for s in s3_statements] == [
        (["s3:PutObject"], "quarantine/*")
    ]


def test_job_monitor_may_write_objects_only_under_its_quarantine_folder(synth: Synth, resources: dict) -> None:
    # (job monitoring) Records job_monitor can never process are set aside there, one object each.
    role_id = logical_id(synth.pipeline, synth.pipeline.job_monitoring.job_monitor.role)
    statements = [
        statement
        for p in of_type(resources, "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
        for statement in p["Properties"]["PolicyDocument"]["Statement"]
        if any(action.startswith("s3:") for action in _as_list(statement["Action"]))
    ]
    assert [(_as_list(s["Action"]), render(s["Resource"]).split("/", 1)[1]) for s in statements] == [
        (["s3:PutObject"], "quarantine/job_monitor/*")
    ]


@pytest.mark.parametrize("table_name", sorted(TABLES))
def test_firehose_delivers_each_table_as_partitioned_parquet(synth: Synth, resources: dict, table_name: str) -> None:
    table = TABLES[table_name]
    delivery = synth.pipeline.delivery.deliveries[table_name]
    props = resources[synth.pipeline.get_logical_id(delivery.delivery_stream)]["Properties"]
    assert props["DeliveryStreamType"] == "KinesisStreamAsSource"
    destination = props["ExtendedS3DestinationConfiguration"]
    # Prefixes come from tables.py; the error prefix is never empty (Firehose rejects that with expressions)
    assert destination["Prefix"] == table.firehose_prefix
    assert destination["ErrorOutputPrefix"] == table.firehose_error_prefix
    assert destination["ErrorOutputPrefix"].strip()
    # Dynamic partitioning needs >= 64 MiB of buffer
    assert destination["BufferingHints"]["SizeInMBs"] >= 64
    assert destination["BufferingHints"] == {
        "SizeInMBs": DISTINCT_CONTEXT["firehose_buffer_size_mib"],
        "IntervalInSeconds": DISTINCT_CONTEXT["firehose_buffer_interval_seconds"],
    }
    assert destination["DynamicPartitioningConfiguration"]["Enabled"] is True
    (processor,) = destination["ProcessingConfiguration"]["Processors"]
    assert destination["ProcessingConfiguration"]["Enabled"] is True
    assert processor["Type"] == "MetadataExtraction"
    assert {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]} == {
        "MetadataExtractionQuery": f"{{{PARTITION_KEY}: .{PARTITION_KEY}}}",
        "JsonParsingEngine": "JQ-1.6",
    }
    assert f"!{{partitionKeyFromQuery:{PARTITION_KEY}}}" in destination["Prefix"]
    conversion = destination["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert "HiveJsonSerDe" in conversion["InputFormatConfiguration"]["Deserializer"]
    assert conversion["OutputFormatConfiguration"]["Serializer"]["ParquetSerDe"]["Compression"] == "SNAPPY"
    assert conversion["SchemaConfiguration"]["TableName"] == table.name
    assert conversion["SchemaConfiguration"]["DatabaseName"] == synth.config.glue_database_name
    assert conversion["SchemaConfiguration"]["VersionId"] == "LATEST"
    assert destination["CompressionFormat"] == "UNCOMPRESSED"
    assert destination["S3BackupMode"] == "Enabled"
    backup = destination["S3BackupConfiguration"]
    assert (backup["Prefix"], backup["CompressionFormat"]) == (backup_prefix(table), "GZIP")
    assert backup_prefix(table) == f"backup/{table.name}/"
    assert destination["CloudWatchLoggingOptions"]["Enabled"] is True
    assert "AWSKMSKeyARN" in destination["EncryptionConfiguration"]["KMSEncryptionConfig"]


def test_firehose_schema_tables_exist_in_the_catalog(synth: Synth, resources: dict) -> None:
    catalog = {
        t["Properties"]["TableInput"]["Name"]
        for t in synth.storage_template.find_resources("AWS::Glue::Table").values()
    }
    converted = {
        d["Properties"]["ExtendedS3DestinationConfiguration"]["DataFormatConversionConfiguration"][
            "SchemaConfiguration"
        ]["TableName"]
        for d in of_type(resources, "AWS::KinesisFirehose::DeliveryStream").values()
    }
    assert converted == catalog == set(TABLES)


def test_every_alarm_notifies_the_ops_topic(synth: Synth, resources: dict) -> None:
    ops = {"Ref": logical_id(synth.pipeline, synth.pipeline.topics.ops)}
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    assert alarms
    for key, alarm in alarms.items():
        assert alarm["Properties"].get("AlarmActions") == [ops], key


def test_alarms_cover_every_failure_path(synth: Synth, resources: dict) -> None:
    metrics = sorted(
        (alarm["Properties"]["Namespace"], alarm["Properties"]["MetricName"])
        for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values()
    )
    assert metrics == sorted(
        [("AWS/Lambda", "Errors")] * 3
        + [("AWS/Lambda", "IteratorAge")] * 2
        + [("AWS/SQS", "ApproximateNumberOfMessagesVisible")] * 2
        + [("lakewatch", "RecordsQuarantined")]
        + [("AWS/Firehose", "DeliveryToS3.DataFreshness")] * len(TABLES)
        + [("AWS/Firehose", "FailedConversion.Records")] * len(TABLES)
    )
    synth.pipeline_template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "RecordsQuarantined", "Dimensions": [{"Name": "service", "Value": "transform"}]},
    )
    synth.pipeline_template.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_failed_glue_runs_and_the_hourly_overdue_check_are_scheduled_events(synth: Synth, resources: dict) -> None:
    rules = [rule["Properties"] for rule in of_type(resources, "AWS::Events::Rule").values()]
    (glue_rule,) = [rule for rule in rules if "EventPattern" in rule]
    assert glue_rule["EventPattern"]["detail-type"] == ["Glue Job State Change"]
    assert {"FAILED", "TIMEOUT"} <= set(glue_rule["EventPattern"]["detail"]["state"])
    assert {render(name) for name in glue_rule["EventPattern"]["detail"]["jobName"]} == {
        f"<{synth.pipeline.get_logical_id(job)}>" for job in synth.pipeline.glue.jobs
    }
    assert [render(target["Arn"]) for target in glue_rule["Targets"]] == [
        f"<{logical_id(synth.pipeline, synth.pipeline.topics.ops)}>"
    ]
    (schedule,) = [rule for rule in rules if "ScheduleExpression" in rule]
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    overdue_id = functions_by_handler(resources)["overdue_check.handler.handler"][0]
    assert [render(target["Arn"]) for target in schedule["Targets"]] == [f"<{overdue_id}.Arn>"]


def test_glue_jobs_use_glue_5_the_security_configuration_and_config_sizes(synth: Synth, resources: dict) -> None:
    jobs = {key: job["Properties"] for key, job in of_type(resources, "AWS::Glue::Job").items()}
    assert len(jobs) == 2
    (security_configuration,) = of_type(resources, "AWS::Glue::SecurityConfiguration").values()
    encryption = security_configuration["Properties"]["EncryptionConfiguration"]
    assert encryption["S3Encryptions"][0]["S3EncryptionMode"] == "SSE-KMS"
    assert encryption["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "SSE-KMS"
    assert encryption["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"
    for props in jobs.values():
        assert props["GlueVersion"] == "5.0"
        assert props["Command"]["Name"] == "glueetl"
        assert props["SecurityConfiguration"] == security_configuration["Properties"]["Name"]
        assert (props["WorkerType"], props["NumberOfWorkers"], props["Timeout"]) == ("G.2X", 3, 45)
        assert props["DefaultArguments"]["--enable-continuous-cloudwatch-log"] == "true"
        assert render(props["DefaultArguments"]["--extra-py-files"]).endswith(".zip")


def test_pos_etl_job_has_bookmarks_and_the_documented_arguments(synth: Synth, resources: dict) -> None:
    props = resources[synth.pipeline.get_logical_id(synth.pipeline.glue.pos_csv_etl)]["Properties"]
    arguments = props["DefaultArguments"]
    assert arguments["--job-bookmark-option"] == "job-bookmark-enable"
    assert arguments["--additional-python-modules"] == "msgspec==0.22.0"
    assert arguments["--landing_prefix"] == LANDING_POS_PREFIX == "landing/pos/"
    assert {"--lake_bucket", "--pii_key_secret_arn"} <= set(arguments)
    assert props["ExecutionProperty"] == {"MaxConcurrentRuns": 1}


def test_etl_runs_on_a_schedule_and_compaction_daily_for_every_table(synth: Synth, resources: dict) -> None:
    glue = synth.pipeline.glue
    triggers = {
        render(t["Properties"]["Actions"][0]["JobName"]): t["Properties"]
        for t in of_type(resources, "AWS::Glue::Trigger").values()
    }
    etl = triggers[f"<{synth.pipeline.get_logical_id(glue.pos_csv_etl)}>"]
    compaction = triggers[f"<{synth.pipeline.get_logical_id(glue.compaction)}>"]
    assert (etl["Type"], etl["Schedule"], etl["StartOnCreation"]) == (
        "SCHEDULED",
        synth.config.glue.pos_etl_schedule,
        True,
    )
    assert compaction["Type"] == "SCHEDULED"
    assert compaction["Schedule"] == synth.config.glue.compaction_schedule
    assert sorted(action["Arguments"]["--table"] for action in compaction["Actions"]) == sorted(TABLES)


def test_athena_workgroup_is_enforced_encrypted_and_capped(synth: Synth, resources: dict) -> None:
    (workgroup,) = of_type(resources, "AWS::Athena::WorkGroup").values()
    configuration = workgroup["Properties"]["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["PublishCloudWatchMetricsEnabled"] is True
    assert configuration["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    assert configuration["BytesScannedCutoffPerQuery"] == DISTINCT_CONTEXT["athena_bytes_scanned_cutoff"]
    results = configuration["ResultConfiguration"]
    assert results["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert render(results["OutputLocation"]).endswith("/athena-results/")


def test_one_named_query_per_sql_file(synth: Synth, resources: dict) -> None:
    files = {path.stem: path.read_text(encoding="utf-8") for path in (REPO_ROOT / "athena").glob("*.sql")}
    queries = {q["Properties"]["Name"]: q["Properties"] for q in of_type(resources, "AWS::Athena::NamedQuery").values()}
    assert set(queries) == set(files)
    for name, props in queries.items():
        assert props["QueryString"] == files[name]
        assert props["Database"] == synth.config.glue_database_name


def test_shared_layer_bundle_holds_the_domain_package_and_lambda_deps(synth: Synth) -> None:
    layer_dirs = [path for path in synth.outdir.glob("asset.*") if (path / "python" / "lakewatch").is_dir()]
    assert len(layer_dirs) == 1
    python = layer_dirs[0] / "python"
    assert (python / "lakewatch" / "__init__.py").is_file()
    assert (python / "lakewatch" / "domain" / "tables.py").is_file()
    assert (python / "msgspec" / "__init__.py").is_file()
    assert not (python / "lakewatch" / "local").exists()
    assert not list(python.rglob("__pycache__"))


def test_synth_refuses_to_run_without_bootstrapped_lambda_deps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bundling, "LAMBDA_DEPS_STAMP", tmp_path / ".installed")
    with pytest.raises(bundling.MissingBuildArtifactError, match="make bootstrap"):
        bundling.require_lambda_deps()


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
