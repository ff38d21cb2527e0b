"""The stateless stack: Lambdas and their event sources, Firehose, Glue, SNS, alarms, Athena."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match
from job_monitor.handler import ALERT_METRICS
from transform import delivery as transform_delivery

from glue_jobs import pos_csv_etl
from lakewatch.athena_sql import load_named_queries
from lakewatch.domain.job_events import Prices
from lakewatch.domain.tables import CATALOG_TABLES, PARTITION_KEY, TABLES
from stacks.config import LANDING_POS_PREFIX
from stacks.constructs import bundling
from stacks.constructs.delivery import backup_prefix
from stacks.lambda_runtime import LAMBDA_PYTHON_VERSION
from tests.infrastructure.conftest import DISTINCT_CONTEXT, REPO_ROOT, Synth, logical_id, render, synthesize

HANDLERS = {
    "transform.handler.handler": {
        "SALES_STREAM_NAME",
        "JOB_RUNS_STREAM_NAME",
        "QUARANTINE_BUCKET",
        "PII_KEY_SECRET_ARN",
    },
    "job_monitor.handler.handler": {
        "ALERTS_TOPIC_ARN",
        "BASELINES_TABLE_NAME",
        "QUARANTINE_BUCKET",
        "ATHENA_WORKGROUP",
    },
    "overdue_check.handler.handler": {
        "ATHENA_WORKGROUP",
        "ALERTS_TOPIC_ARN",
        "BASELINES_TABLE_NAME",
        "DEFAULT_EXPECTED_INTERVAL_HOURS",
        "OVERDUE_GRACE_HOURS",
        "EXPECTED_INTERVAL_OVERRIDES",
    },
    "job_events.handler.handler": {"EVENTS_RAW_STREAM_NAME", "MONITORED_JOBS", "CLIENT_BY_JOB"}
    | {f"PRICE_{field.name.upper()}" for field in dataclasses.fields(Prices)},
    "forecast_hourly.handler.handler": {
        "LAKE_BUCKET",
        "MODEL_PREFIX",
        "ATHENA_WORKGROUP",
        "GLUE_DATABASE",
        "FORECAST_SERIES",
        "FORECASTS_DELIVERY_STREAM",
        "ALERTS_TOPIC_ARN",
        "ALERT_CLAIMS_TABLE_NAME",
        "BREACH_THRESHOLDS",
        "DRIFT_MASE_THRESHOLD",
    },
    "forecast_training.handler.handler": {
        "LAKE_BUCKET",
        "MODEL_PREFIX",
        "ATHENA_WORKGROUP",
        "GLUE_DATABASE",
        "FORECAST_SERIES",
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


def test_every_function_on_arm64_and_the_declared_python_with_both_layers(synth: Synth, resources: dict) -> None:
    functions = functions_by_handler(resources)
    assert set(functions) == set(HANDLERS)
    python = LAMBDA_PYTHON_VERSION.replace(".", "")
    layer_arn = (
        f"arn:aws:lambda:<AWS::Region>:017000801446:layer:AWSLambdaPowertoolsPythonV3-python{python}-arm64:"
        f"{DISTINCT_CONTEXT['powertools_layer_version']}"
    )
    shared_layer = next(iter(of_type(resources, "AWS::Lambda::LayerVersion")))
    for props in (props for _, props in functions.values()):
        assert props["Architectures"] == ["arm64"]
        assert props["Runtime"] == f"python{LAMBDA_PYTHON_VERSION}" == "python3.13"
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


def test_without_the_grafana_flag_nothing_grafana_related_is_created(resources: dict) -> None:
    text = json.dumps(resources)
    assert "AWS::Grafana::" not in text and "Custom::LakewatchGrafana" not in text and "grafana" not in text.lower()


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
    # transform's and job_monitor's event source mappings, job_events' async invocations, EventBridge's targets
    assert len(queues) == 4
    event_dead_letters = logical_id(synth.pipeline, synth.pipeline.event_dead_letters)
    for key, queue in queues.items():
        if key == event_dead_letters:
            # EventBridge writes it as the service: SQS-managed encryption keeps EventBridge out of the key policy
            assert queue["Properties"]["SqsManagedSseEnabled"] is True
        else:
            assert "KmsMasterKeyId" in queue["Properties"]
        assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
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


def test_an_event_eventbridge_cannot_deliver_is_kept_on_an_alarmed_queue_only_its_rules_may_write(
    synth: Synth, resources: dict
) -> None:
    """Without a dead-letter queue EventBridge drops an event after its retries, silently: a job run that never
    reaches the lake, a failed Glue run nobody is told about, a scheduled run that never happens."""
    queue_id = logical_id(synth.pipeline, synth.pipeline.event_dead_letters)
    rules = of_type(resources, "AWS::Events::Rule")
    assert len(rules) == 8
    for key, rule in rules.items():
        for target in rule["Properties"]["Targets"]:
            assert render(target.get("DeadLetterConfig")) == {"Arn": f"<{queue_id}.Arn>"}, key
    (policy,) = [
        policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in of_type(resources, "AWS::SQS::QueuePolicy").values()
        if policy["Properties"]["Queues"] == [{"Ref": queue_id}]
    ]
    senders = [statement for statement in policy if statement["Effect"] == "Allow"]
    assert {render(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) for statement in senders} == {
        f"<{key}.Arn>" for key in rules
    }
    for statement in senders:
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
    depth = [
        alarm["Properties"]
        for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and render(alarm["Properties"]["Dimensions"]) == [{"Name": "QueueName", "Value": f"<{queue_id}.QueueName>"}]
    ]
    assert [(alarm["Threshold"], alarm["ComparisonOperator"]) for alarm in depth] == [
        (1, "GreaterThanOrEqualToThreshold")
    ]


def test_every_function_eventbridge_invokes_keeps_a_failed_invocation_on_an_alarmed_queue(
    synth: Synth, resources: dict
) -> None:
    """EventBridge invokes asynchronously: once Lambda has accepted the event, a run that raises is retried twice,
    then dropped unless the function has an on-failure destination."""
    invoked = {
        render(permission["Properties"]["FunctionName"])
        for permission in of_type(resources, "AWS::Lambda::Permission").values()
        if permission["Properties"]["Principal"] == "events.amazonaws.com"
    }
    assert len(invoked) == 4  # job_events, overdue_check, forecast_hourly, forecast_training
    destinations = {
        f"<{render(config['Properties']['FunctionName'])[1:-1]}.Arn>": render(
            config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
        )
        for config in of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
    }
    alarmed_queues = {
        render(alarm["Properties"]["Dimensions"][0]["Value"]).replace(".QueueName>", ".Arn>")
        for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    }
    for function in invoked:
        assert destinations.get(function) in alarmed_queues, function


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


def test_transform_may_write_objects_only_under_its_quarantine_folder(synth: Synth, resources: dict) -> None:
    # Not quarantine/*: the transform could otherwise overwrite job_monitor's and the POS job's evidence
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
        (["s3:PutObject"], f"quarantine/{transform_delivery.SOURCE}/*")
    ]


def test_the_pos_job_may_write_quarantine_objects_only_under_its_folder(synth: Synth, resources: dict) -> None:
    role_id = logical_id(synth.pipeline, synth.pipeline.glue.pos_csv_etl_role)
    written = {
        resource
        for p in of_type(resources, "AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
        for statement in p["Properties"]["PolicyDocument"]["Statement"]
        if "s3:PutObject" in _as_list(statement["Action"])
        for resource in _as_list(render(statement["Resource"]))
    }
    assert {resource.split("/", 1)[1] for resource in written if "/quarantine/" in resource} == {
        f"quarantine/{pos_csv_etl.SOURCE}/*"
    }


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
    assert converted == catalog == set(CATALOG_TABLES)


def test_every_alarm_notifies_the_ops_topic(synth: Synth, resources: dict) -> None:
    ops = {"Ref": logical_id(synth.pipeline, synth.pipeline.topics.ops)}
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    assert alarms
    for key, alarm in alarms.items():
        # on OK too: whoever is re-driving a dead letter must learn when its queue is empty again
        assert alarm["Properties"].get("AlarmActions") == [ops], key
        assert alarm["Properties"].get("OKActions") == [ops], key


def test_the_dashboard_shows_every_alarm_of_the_stack(synth: Synth, resources: dict) -> None:
    (dashboard,) = of_type(resources, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert [key for key in of_type(resources, "AWS::CloudWatch::Alarm") if f'"{key}"' not in body] == []


def test_an_on_failure_message_pages_again_before_its_stream_drops_the_records_it_names(
    synth: Synth, resources: dict
) -> None:
    """The depth alarm fires once and stays in ALARM; the records a message names expire with the stream."""
    alarms = [alarm["Properties"] for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values()]
    retention_seconds = synth.config.stream_retention_hours * 3600
    consumers = {
        synth.pipeline.transform.on_failure_queue: synth.config.transform,
        synth.pipeline.job_monitoring.on_failure_queue: synth.config.job_monitor,
    }
    for queue, settings in consumers.items():
        queue_name = f"<{logical_id(synth.pipeline, queue)}.QueueName>"
        (age,) = [
            alarm
            for alarm in alarms
            if alarm["MetricName"] == "ApproximateAgeOfOldestMessage"
            and render(alarm["Dimensions"]) == [{"Name": "QueueName", "Value": queue_name}]
        ]
        # a message is sent once its records are max_record_age old: the alarm leaves half the rest to re-drive
        assert age["Statistic"] == "Maximum"
        assert age["Threshold"] + settings.max_record_age_seconds < retention_seconds
        assert age["Threshold"] == (retention_seconds - settings.max_record_age_seconds) // 2


def test_alarms_cover_every_failure_path(synth: Synth, resources: dict) -> None:
    metrics = sorted(
        (alarm["Properties"]["Namespace"], alarm["Properties"]["MetricName"])
        for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values()
    )
    assert metrics == sorted(
        [("AWS/Lambda", "Errors")] * 6
        + [("AWS/Lambda", "IteratorAge")] * 2
        + [("AWS/SQS", "ApproximateNumberOfMessagesVisible")] * 4
        + [("AWS/SQS", "ApproximateAgeOfOldestMessage")] * 2
        + [("lakewatch", "RecordsQuarantined")] * 2
        + [("lakewatch", "RecordsQuarantined_transform_error")]
        + [("lakewatch", "PosRowsQuarantined")]
        + [("lakewatch", "AlertsPublishedUnmarked")]
        + [("AWS/Firehose", "DeliveryToS3.DataFreshness")] * len(CATALOG_TABLES)
        + [("AWS/Firehose", "FailedConversion.Records")] * len(CATALOG_TABLES)
        + [("AWS/Firehose", "PartitionCountExceeded")] * len(CATALOG_TABLES)
        + [("lakewatch", "ForecastDriftMASE")] * len(synth.config.forecast_series)
    )
    synth.pipeline_template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "RecordsQuarantined", "Dimensions": [{"Name": "service", "Value": "transform"}]},
    )
    synth.pipeline_template.resource_count_is("AWS::CloudWatch::Dashboard", 1)


def test_records_firehose_sends_to_errors_for_too_many_partitions_page_ops(synth: Synth, resources: dict) -> None:
    """Past its active-partition limit (500) Firehose writes the rest of the buffer under errors/, not the lake."""
    streams = {f"<{key}>" for key in of_type(resources, "AWS::KinesisFirehose::DeliveryStream")}
    alarmed = {
        render(alarm["Properties"]["Dimensions"][0]["Value"]): alarm["Properties"]
        for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == "PartitionCountExceeded"
    }
    assert set(alarmed) == streams
    for alarm in alarmed.values():
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
            "Maximum",
            "GreaterThanOrEqualToThreshold",
            1,
        )


def test_a_transform_error_and_any_run_or_till_row_set_aside_page_ops(synth: Synth, resources: dict) -> None:
    alarms = [alarm["Properties"] for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values()]
    (transform_errors,) = [alarm for alarm in alarms if alarm["MetricName"] == "RecordsQuarantined_transform_error"]
    assert render(transform_errors["Dimensions"]) == [{"Name": "service", "Value": "transform"}]
    # A clean job run job_monitor sets aside, for any reason, neither alerted nor updated its baseline (a false
    # run_overdue may follow): each one pages, not only transform_error
    (job_monitor,) = [
        alarm
        for alarm in alarms
        if alarm["MetricName"] == "RecordsQuarantined"
        and render(alarm["Dimensions"]) == [{"Name": "service", "Value": "job_monitor"}]
    ]
    (pos,) = [alarm for alarm in alarms if alarm["MetricName"] == "PosRowsQuarantined"]
    assert pos["Dimensions"] == [
        {"Name": "job", "Value": {"Ref": synth.pipeline.get_logical_id(synth.pipeline.glue.pos_csv_etl)}}
    ]
    for alarm in (transform_errors, job_monitor, pos):
        assert alarm["Namespace"] == "lakewatch"
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
            "Sum",
            "GreaterThanOrEqualToThreshold",
            1,
        )
        assert alarm["Dimensions"][0]["Name"] in {"service", "job"}


def test_only_the_pos_job_may_publish_lakewatch_metrics(synth: Synth, resources: dict) -> None:
    glue = synth.pipeline.glue
    policies = of_type(resources, "AWS::IAM::Policy")

    def metric_namespaces(job: Any) -> list[str]:
        role = (
            render(resources[synth.pipeline.get_logical_id(job)]["Properties"]["Role"]).strip("<>").removesuffix(".Arn")
        )
        (policy,) = [p["Properties"] for p in policies.values() if p["Properties"]["Roles"] == [{"Ref": role}]]
        (statement,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Action"] == "cloudwatch:PutMetricData"]
        namespaces = statement["Condition"]["StringEquals"]["cloudwatch:namespace"]
        return sorted([namespaces] if isinstance(namespaces, str) else namespaces)

    assert metric_namespaces(glue.pos_csv_etl) == ["Glue", "lakewatch"]
    for job in glue.compactions.values():
        assert metric_namespaces(job) == ["Glue"]


def test_every_log_group_is_encrypted_with_the_lakewatch_key_and_kept_for_the_stage(
    synth: Synth, resources: dict
) -> None:
    # The on-failure queues are encrypted with the lakewatch key: the log groups must name the same key
    (queue_key,) = {
        render(q["Properties"]["KmsMasterKeyId"])
        for q in of_type(resources, "AWS::SQS::Queue").values()
        if "KmsMasterKeyId" in q["Properties"]
    }
    log_groups = of_type(resources, "AWS::Logs::LogGroup")
    # One per function and one per Firehose delivery stream
    assert len(log_groups) == len(HANDLERS) + len(CATALOG_TABLES)
    for key, log_group in log_groups.items():
        assert render(log_group["Properties"].get("KmsKeyId")) == queue_key, key
        assert log_group["Properties"]["RetentionInDays"] == synth.config.log_retention_days, key
    functions = functions_by_handler(resources)
    assert {render(fn["LoggingConfig"]["LogGroup"]) for _, fn in functions.values()} <= {
        f"<{key}>" for key in log_groups
    }


def pattern_rules(synth: Synth, resources: dict) -> dict[str, dict[str, Any]]:
    """The event-pattern rules (not schedules), by logical id."""
    rules = of_type(resources, "AWS::Events::Rule")
    return {key: rule["Properties"] for key, rule in rules.items() if "EventPattern" in rule["Properties"]}


def job_event_rules(synth: Synth) -> set[str]:
    """Logical ids of the rules feeding job_events (tested in test_job_events_stack.py)."""
    return {logical_id(synth.pipeline, rule) for rule in synth.pipeline.job_events.rules}


def test_eventbridge_publishes_to_ops_through_a_role_only_this_rule_may_assume(synth: Synth, resources: dict) -> None:
    (glue_rule,) = [rule for key, rule in pattern_rules(synth, resources).items() if key not in job_event_rules(synth)]
    (target,) = glue_rule["Targets"]
    assert render(target["Arn"]) == f"<{logical_id(synth.pipeline, synth.pipeline.topics.ops)}>"
    role_id = render(target["RoleArn"]).strip("<>").removesuffix(".Arn")
    (trust,) = resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    conditions = trust["Condition"]["StringEquals"]
    assert render(conditions["aws:SourceAccount"]) == "<AWS::AccountId>"
    assert render(conditions["aws:SourceArn"]).endswith(f":rule/{glue_rule['Name']}")
    assert glue_rule["Name"] == f"{synth.config.resource_prefix}-glue-job-failed"
    # No topic policy grants EventBridge (or anyone) publishing by service principal
    assert of_type(resources, "AWS::SNS::TopicPolicy") == {} or all(
        "events.amazonaws.com" not in str(p) for p in of_type(resources, "AWS::SNS::TopicPolicy").values()
    )


def test_failed_glue_runs_and_the_hourly_overdue_check_are_scheduled_events(synth: Synth, resources: dict) -> None:
    rules = [rule["Properties"] for rule in of_type(resources, "AWS::Events::Rule").values()]
    (glue_rule,) = [rule for key, rule in pattern_rules(synth, resources).items() if key not in job_event_rules(synth)]
    assert glue_rule["EventPattern"]["detail-type"] == ["Glue Job State Change"]
    assert {"FAILED", "TIMEOUT"} <= set(glue_rule["EventPattern"]["detail"]["state"])
    assert {render(name) for name in glue_rule["EventPattern"]["detail"]["jobName"]} == {
        f"<{synth.pipeline.get_logical_id(job)}>" for job in synth.pipeline.glue.jobs
    }
    assert [render(target["Arn"]) for target in glue_rule["Targets"]] == [
        f"<{logical_id(synth.pipeline, synth.pipeline.topics.ops)}>"
    ]
    (schedule,) = [rule for rule in rules if rule.get("ScheduleExpression", "").startswith("rate(")]
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    overdue_id = functions_by_handler(resources)["overdue_check.handler.handler"][0]
    assert [render(target["Arn"]) for target in schedule["Targets"]] == [f"<{overdue_id}.Arn>"]


def test_glue_jobs_use_glue_5_the_security_configuration_and_config_sizes(synth: Synth, resources: dict) -> None:
    jobs = {key: job["Properties"] for key, job in of_type(resources, "AWS::Glue::Job").items()}
    assert len(jobs) == 1 + len(TABLES)
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
        t["Properties"]["Description"]: t["Properties"] for t in of_type(resources, "AWS::Glue::Trigger").values()
    }
    assert len(triggers) == 2
    etl = triggers["lakewatch: pick up new POS CSV drops"]
    assert [render(action["JobName"]) for action in etl["Actions"]] == [
        f"<{synth.pipeline.get_logical_id(glue.pos_csv_etl)}>"
    ]
    assert (etl["Type"], etl["Schedule"], etl["StartOnCreation"]) == (
        "SCHEDULED",
        synth.config.glue.pos_etl_schedule,
        True,
    )
    compaction = triggers["lakewatch: compact yesterday's partitions of every lake table"]
    assert compaction["Type"] == "SCHEDULED"
    assert compaction["Schedule"] == synth.config.glue.compaction_schedule
    started = [render(action["JobName"]).strip("<>") for action in compaction["Actions"]]
    assert sorted(resources[job]["Properties"]["DefaultArguments"]["--table"] for job in started) == sorted(TABLES)


def test_compaction_never_runs_twice_at_once_on_a_table(synth: Synth, resources: dict) -> None:
    # The compaction protocol forbids two runs on one table and day: one job per table, one run at a time.
    jobs = synth.pipeline.glue.compactions
    assert sorted(jobs) == sorted(TABLES)
    for table_name, job in jobs.items():
        props = resources[synth.pipeline.get_logical_id(job)]["Properties"]
        assert props["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
        assert props["DefaultArguments"]["--table"] == table_name


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
    # The console shows each file as one self-contained statement: its `-- include:` fragments inlined.
    files = {path.stem: path.read_text(encoding="utf-8") for path in (REPO_ROOT / "athena").glob("*.sql")}
    expanded = {query.name: query.sql for query in load_named_queries()}
    queries = {q["Properties"]["Name"]: q["Properties"] for q in of_type(resources, "AWS::Athena::NamedQuery").values()}
    assert set(queries) == set(files)
    for name, props in queries.items():
        assert props["QueryString"] == expanded[name]
        assert props["QueryString"].splitlines()[:3] == files[name].splitlines()[:3]  # name, purpose, window
        assert "-- include:" not in props["QueryString"]
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


def test_the_shared_layer_ships_only_wheels_for_the_lambda_python_on_arm64(synth: Synth) -> None:
    (layer_dir,) = [path for path in synth.outdir.glob("asset.*") if (path / "python" / "lakewatch").is_dir()]
    tags = bundling.wheel_tags(layer_dir / "python")
    assert tags
    assert all(tag.startswith("cp313-cp313-") and tag.endswith("aarch64") for tag in tags), tags


@pytest.mark.parametrize(
    ("tag", "runs"),
    [
        ("cp313-cp313-manylinux2014_aarch64", True),
        ("py3-none-any", True),
        ("cp38-abi3-manylinux_2_17_aarch64", True),
        ("cp311-cp311-manylinux2014_aarch64", False),
        ("cp313-cp313-manylinux2014_x86_64", False),
    ],
)
def test_wheel_tags_are_checked_against_the_lambda_runtime(tag: str, runs: bool) -> None:
    assert bundling.runs_on_lambda(tag) is runs


def test_synth_refuses_wheels_downloaded_for_another_python(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dist_info = tmp_path / "python" / "msgspec-0.22.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "WHEEL").write_text("Wheel-Version: 1.0\nTag: cp311-cp311-manylinux2014_aarch64\n")
    (tmp_path / ".installed").touch()
    monkeypatch.setattr(bundling, "LAMBDA_DEPS_DIR", tmp_path)
    monkeypatch.setattr(bundling, "LAMBDA_DEPS_STAMP", tmp_path / ".installed")
    with pytest.raises(bundling.MissingBuildArtifactError, match="cp311-cp311"):
        bundling.require_lambda_deps()


def test_makefile_downloads_wheels_for_the_declared_lambda_python() -> None:
    printed = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "--eval=print-lambda-deps: ; @echo $(LAMBDA_PYTHON_VERSION) $(LAMBDA_DEPS_DIR)",
            "print-lambda-deps",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert printed == [LAMBDA_PYTHON_VERSION, str(bundling.LAMBDA_DEPS_DIR.relative_to(REPO_ROOT))]


def test_synth_refuses_to_run_without_bootstrapped_lambda_deps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bundling, "LAMBDA_DEPS_STAMP", tmp_path / ".installed")
    with pytest.raises(bundling.MissingBuildArtifactError, match="make bootstrap"):
        bundling.require_lambda_deps()


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_an_alert_published_but_not_marked_sent_pages_ops(resources: dict) -> None:
    # The metric name is the one job_monitor emits; a rename on either side would silence the alarm.
    alarms = [alarm["Properties"] for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values()]
    (unmarked,) = [alarm for alarm in alarms if alarm["MetricName"] == "AlertsPublishedUnmarked"]
    assert "AlertsPublishedUnmarked" in ALERT_METRICS.values()
    assert render(unmarked["Dimensions"][0]["Value"]) == "job_monitor"
    assert (unmarked["Statistic"], unmarked["Threshold"]) == ("Sum", 1)
