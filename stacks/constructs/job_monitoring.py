"""Job-run monitoring: `job_monitor` on `job-runs-clean` and the hourly `overdue_check`."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import QUARANTINE_PREFIX, StageConfig
from stacks.constructs.functions import FunctionSpec, LambdaFactory
from stacks.constructs.ingest import keep_failed_scheduled_runs, kinesis_source, on_failure_queue
from stacks.constructs.permissions import acknowledge_kms_grant_wildcards, allow_objects
from stacks.nag import acknowledge_wildcards, nag_arn

#: Where job_monitor sets aside the records it can never process (see `lambdas/job_monitor/handler.py`).
JOB_MONITOR_QUARANTINE_PREFIX = f"{QUARANTINE_PREFIX}job_monitor/"


class JobMonitoring(Construct):
    """Failed and abnormally long runs alert from the stream; missing runs alert from the schedule.

    `overdue_check` takes "now" from the scheduled event's `time`, so the local runner can fire it at
    simulated times; the rule fires hourly so an overdue client is noticed within an hour of its grace.
    `job_monitor` writes what it cannot process to `quarantine/job_monitor/` in the lake bucket.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        key: kms.IKey,
        job_runs_stream: kinesis.IStream,
        baselines_table: dynamodb.ITable,
        alerts_topic: sns.ITopic,
        lake_bucket: s3.IBucket,
        config: StageConfig,
        event_dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        common_environment = {
            "ALERTS_TOPIC_ARN": alerts_topic.topic_arn,
            "BASELINES_TABLE_NAME": baselines_table.table_name,
        }
        self.job_monitor = factory.create(
            self,
            FunctionSpec(
                name="job_monitor",
                description="lakewatch: alert on failed and abnormally long job runs; keep per-job baselines",
                memory_mb=512,
                timeout=Duration.seconds(60),
                environment={**common_environment, "QUARANTINE_BUCKET": lake_bucket.bucket_name},
            ),
        )
        allow_objects(
            self.job_monitor.role,
            lake_bucket,
            ["s3:PutObject"],
            f"{JOB_MONITOR_QUARANTINE_PREFIX}*",
            "job_monitor writes one object per record it cannot process under quarantine/job_monitor/ only.",
        )
        key.grant(self.job_monitor.role, "kms:GenerateDataKey")
        self.on_failure_queue = on_failure_queue(self, "OnFailureQueue", key=key)
        self.job_monitor.add_event_source(kinesis_source(job_runs_stream, config.job_monitor, self.on_failure_queue))

        self.overdue_check = factory.create(
            self,
            FunctionSpec(
                name="overdue_check",
                description="lakewatch: alert once per episode on client jobs that have not run when expected",
                memory_mb=512,
                timeout=Duration.seconds(300),
                environment={
                    **common_environment,
                    "DEFAULT_EXPECTED_INTERVAL_HOURS": _number(config.overdue_default_interval_hours),
                    "OVERDUE_GRACE_HOURS": _number(config.overdue_grace_hours),
                    "EXPECTED_INTERVAL_OVERRIDES": config.overdue_interval_overrides_json,
                },
            ),
        )
        self.schedule = events.Rule(
            self,
            "HourlySchedule",
            description="lakewatch: run overdue_check every hour",
            schedule=events.Schedule.rate(Duration.hours(1)),
            targets=[
                targets.LambdaFunction(self.overdue_check, retry_attempts=2, dead_letter_queue=event_dead_letters)
            ],
        )
        keep_failed_scheduled_runs(self.overdue_check, event_dead_letters)
        for function in (self.job_monitor, self.overdue_check):
            baselines_table.grant_read_write_data(function)
            alerts_topic.grant_publish(function)
            acknowledge_kms_grant_wildcards(function.role)
            acknowledge_wildcards(
                function.role,
                {
                    f"Resource::{nag_arn(baselines_table, consumer=function.role)}/index/*": (
                        "The table's own indexes: the overdue check queries its sparse last-run index."
                    )
                },
            )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
