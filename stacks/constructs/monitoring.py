"""Pipeline health: CloudWatch alarms to the `ops` topic, an EventBridge rule for failed Glue runs, a dashboard.

Every alarm is created through `_alarm`, which always wires the ops topic as alarm and OK action: an
alarm that notifies nobody is the failure mode this project is designed against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lakewatch.domain.reasons import Reason
from stacks.config import StageConfig
from stacks.constructs.delivery import TableDelivery
from stacks.constructs.functions import METRICS_NAMESPACE
from stacks.constructs.permissions import acknowledge_kms_grant_wildcards

_PERIOD = Duration.minutes(5)
#: A Kinesis consumer more than 5 minutes behind is falling behind its producers.
ITERATOR_AGE_THRESHOLD_MS = 5 * 60 * 1000
QUARANTINE_METRIC = "RecordsQuarantined"
#: Powertools publishes a per-reason count next to the total: `RecordsQuarantined_<reason>`.
TRANSFORM_ERROR_METRIC = f"{QUARANTINE_METRIC}_{Reason.TRANSFORM_ERROR.value}"
#: What the POS CSV job publishes per run (CloudWatch PutMetricData), with the Glue job name as dimension.
POS_ROWS_QUARANTINED_METRIC = "PosRowsQuarantined"
#: Emitted by job_monitor (`job_monitor.handler`) for an alert published but not marked sent.
ALERTS_PUBLISHED_UNMARKED_METRIC = "AlertsPublishedUnmarked"
POS_ROWS_WRITTEN_METRIC = "PosRowsWritten"
POS_JOB_DIMENSION = "job"
GLUE_FAILED_STATES = ("FAILED", "TIMEOUT", "ERROR")


def _lakewatch_count(metric_name: str, dimensions: dict[str, str]) -> cloudwatch.Metric:
    """A count lakewatch's own code publishes (namespace `lakewatch`), summed per alarm period."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=metric_name,
        dimensions_map=dimensions,
        period=_PERIOD,
        statistic="Sum",
    )


@dataclass(frozen=True, slots=True)
class StreamConsumer:
    """A Lambda reading a Kinesis stream, with the queue its event source mapping fails over to."""

    label: str
    function: lambda_.IFunction
    on_failure_queue: sqs.IQueue
    #: The mapping's `max_record_age_seconds`: records are this old when their on-failure message is sent.
    max_record_age_seconds: int


def _redrive_window_seconds(stream_retention_hours: int, max_record_age_seconds: int) -> int:
    """How long after its on-failure message the records it names can still be read back from the stream."""
    return stream_retention_hours * 3600 - max_record_age_seconds


class PipelineMonitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        ops_topic: sns.ITopic,
        consumers: Sequence[StreamConsumer],
        scheduled_functions: Sequence[tuple[str, lambda_.IFunction]],
        deliveries: Sequence[TableDelivery],
        glue_jobs: Sequence[glue.CfnJob],
        transform_service: str,
        job_monitor_service: str,
        pos_csv_job: glue.CfnJob,
        event_dead_letters: sqs.IQueue,
        alarms_elsewhere: Sequence[cloudwatch.IAlarm] = (),
    ) -> None:
        """`alarms_elsewhere`: the alarms other constructs made (each wired to ops), for the dashboard's status."""
        super().__init__(scope, construct_id)
        self._action = cloudwatch_actions.SnsAction(ops_topic)
        self.alarms: list[cloudwatch.Alarm] = []

        for consumer in consumers:
            self._alarm(
                f"{consumer.label}Errors",
                consumer.function.metric_errors(period=_PERIOD, statistic="Sum"),
                threshold=1,
                description=f"{consumer.label} Lambda invocations failed (the batch will be retried, then bisected)",
            )
            self._alarm(
                f"{consumer.label}IteratorAge",
                consumer.function.metric("IteratorAge", period=_PERIOD, statistic="Maximum"),
                threshold=ITERATOR_AGE_THRESHOLD_MS,
                description=f"{consumer.label} is more than 5 minutes behind its Kinesis stream",
            )
            self._alarm(
                f"{consumer.label}OnFailureQueueDepth",
                consumer.on_failure_queue.metric_approximate_number_of_messages_visible(
                    period=_PERIOD, statistic="Maximum"
                ),
                threshold=1,
                description=f"{consumer.label} gave up on a batch: its on-failure queue holds records to replay",
            )
            # The depth alarm fires once and stays in ALARM; the records a message names are only re-drivable
            # while the stream still holds them, so page again when half of what is left of that time is gone.
            redrive_deadline = _redrive_window_seconds(config.stream_retention_hours, consumer.max_record_age_seconds)
            self._alarm(
                f"{consumer.label}OnFailureMessageAge",
                consumer.on_failure_queue.metric_approximate_age_of_oldest_message(period=_PERIOD, statistic="Maximum"),
                threshold=redrive_deadline // 2,
                description=f"{consumer.label}'s oldest on-failure message is half-way to its records leaving the "
                f"stream (about {redrive_deadline // 3600} h after the message): re-drive it now or lose them",
            )
        for label, function in scheduled_functions:
            self._alarm(
                f"{label}Errors",
                function.metric_errors(period=_PERIOD, statistic="Sum"),
                threshold=1,
                description=f"{label} Lambda invocations failed",
            )
        self._alarm(
            "EventDeadLetterDepth",
            event_dead_letters.metric_approximate_number_of_messages_visible(period=_PERIOD, statistic="Maximum"),
            threshold=1,
            description="EventBridge could not deliver an event to a rule's target after its retries: the queue holds "
            "the event (a job state change, a failed Glue run's notice or a scheduled tick) to replay",
        )
        quarantined = _lakewatch_count(QUARANTINE_METRIC, {"service": transform_service})
        self._alarm(
            "QuarantineVolume",
            quarantined,
            threshold=config.quarantine_alarm_threshold,
            description="Many records quarantined: a producer is sending invalid events",
        )
        # A transform_error is a bug meeting a record, not bad data: one is enough to page.
        self._alarm(
            "TransformTransformErrors",
            _lakewatch_count(TRANSFORM_ERROR_METRIC, {"service": transform_service}),
            threshold=1,
            description=f"{transform_service} quarantined a record it failed to process "
            f"({Reason.TRANSFORM_ERROR.value}): a bug to fix, then re-drive the quarantined record",
        )
        # job_monitor reads records the transform already validated: any it sets aside (a transform_error or
        # any other reason) is a run that neither alerted nor updated its baseline, so every one pages.
        self._alarm(
            "JobMonitorRecordsQuarantined",
            _lakewatch_count(QUARANTINE_METRIC, {"service": job_monitor_service}),
            threshold=1,
            description=f"{job_monitor_service} set a job run aside under quarantine/job_monitor/: it neither "
            "alerted nor updated its baseline; read the row's reason, fix the cause, re-put the run",
        )
        # An alert published whose sent-mark could not be written is the one state that can page twice (if the
        # same alert is delivered again after the claim's lease): rare enough that every one deserves a look.
        self._alarm(
            "JobMonitorAlertsPublishedUnmarked",
            _lakewatch_count(ALERTS_PUBLISHED_UNMARKED_METRIC, {"service": job_monitor_service}),
            threshold=1,
            description="job_monitor published an alert but could not mark it sent in DynamoDB: a redelivery of the "
            "same run after the claim lease may page twice; check DynamoDB throttling and errors",
        )
        # Every quarantined till row is a sale missing from the lake; the job runs hourly, so one page per bad drop.
        self.pos_rows_quarantined = _lakewatch_count(POS_ROWS_QUARANTINED_METRIC, {POS_JOB_DIMENSION: pos_csv_job.ref})
        self._alarm(
            "PosRowsQuarantined",
            self.pos_rows_quarantined,
            threshold=1,
            description="The POS CSV job quarantined till rows: see quarantine/pos_csv/ for the file and reason",
        )
        # Freshness above twice the buffer interval (plus slack) means Firehose is not keeping up or failing.
        freshness_threshold = 2 * config.firehose_buffer_interval_seconds + 300
        for delivery in deliveries:
            label = f"Firehose{delivery.node.id}"
            self._alarm(
                f"{label}DataFreshness",
                _firehose_metric(delivery, "DeliveryToS3.DataFreshness", "Maximum"),
                threshold=freshness_threshold,
                description=f"Records of {delivery.table.name} are waiting too long to reach the lake",
            )
            self._alarm(
                f"{label}FailedConversion",
                _firehose_metric(delivery, "FailedConversion.Records", "Sum"),
                threshold=1,
                description=f"{delivery.table.name} records failed Parquet conversion (kept under errors/)",
            )
            # Past the active-partition limit (500 dt= values buffered at once) the rest goes to errors/ too.
            self._alarm(
                f"{label}PartitionCountExceeded",
                _firehose_metric(delivery, "PartitionCountExceeded", "Maximum"),
                threshold=1,
                description=f"{delivery.table.name}: Firehose buffered more dt= partitions than its limit and wrote "
                "the excess under errors/ instead of the lake (a replay spanning many days?)",
            )

        self.glue_failure_rule = self._glue_failure_rule(
            f"{config.resource_prefix}-glue-job-failed",
            ops_topic=ops_topic,
            glue_jobs=glue_jobs,
            dead_letters=event_dead_letters,
        )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.days(1))
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="lakewatch alarms", alarms=[*self.alarms, *alarms_elsewhere], width=24),
        )
        self.dashboard.add_widgets(
            *[
                cloudwatch.GraphWidget(
                    title=f"{consumer.label}: invocations, errors, iterator age",
                    left=[
                        consumer.function.metric_invocations(period=_PERIOD),
                        consumer.function.metric_errors(period=_PERIOD),
                    ],
                    right=[consumer.function.metric("IteratorAge", period=_PERIOD, statistic="Maximum")],
                    width=12,
                )
                for consumer in consumers
            ]
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Firehose data freshness (s)",
                left=[
                    _firehose_metric(delivery, "DeliveryToS3.DataFreshness", "Maximum", label=delivery.table.name)
                    for delivery in deliveries
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Records quarantined / failed conversion",
                left=[quarantined],
                right=[
                    _firehose_metric(delivery, "FailedConversion.Records", "Sum", label=delivery.table.name)
                    for delivery in deliveries
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="POS CSV rows per run: written / quarantined",
                left=[
                    cloudwatch.Metric(
                        namespace=METRICS_NAMESPACE,
                        metric_name=POS_ROWS_WRITTEN_METRIC,
                        dimensions_map={POS_JOB_DIMENSION: pos_csv_job.ref},
                        period=_PERIOD,
                        statistic="Sum",
                    )
                ],
                right=[self.pos_rows_quarantined],
                width=12,
            ),
        )

    def _glue_failure_rule(
        self, rule_name: str, *, ops_topic: sns.ITopic, glue_jobs: Sequence[glue.CfnJob], dead_letters: sqs.IQueue
    ) -> events.Rule:
        """A failed Glue run, published to ops through an execution role trusted only by this rule.

        The role (not a grant to `events.amazonaws.com` on the topic and the key) carries the permission: KMS
        cannot check `aws:SourceAccount`/`aws:SourceArn` when EventBridge publishes to an encrypted topic, so a
        key-policy statement for EventBridge would have to trust every rule of every account. The role's trust
        policy names this account and this rule (hence the fixed rule name: its ARN is known before it exists).
        """
        rule_arn = Stack.of(self).format_arn(service="events", resource="rule", resource_name=rule_name)
        role = iam.Role(
            self,
            "GlueJobFailedTargetRole",
            assumed_by=iam.ServicePrincipal(
                "events.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID, "aws:SourceArn": rule_arn}},
            ),
            description="lakewatch: lets the failed-Glue-run rule publish to the encrypted ops topic",
        )
        rule = events.Rule(
            self,
            "GlueJobFailed",
            rule_name=rule_name,
            description="lakewatch: a Glue job run failed or timed out",
            event_pattern=events.EventPattern(
                source=["aws.glue"],
                detail_type=["Glue Job State Change"],
                detail={"jobName": [job.ref for job in glue_jobs], "state": list(GLUE_FAILED_STATES)},
            ),
            targets=[
                targets.SnsTopic(
                    ops_topic,
                    role=role,
                    dead_letter_queue=dead_letters,
                    message=events.RuleTargetInput.from_text(
                        f"Glue job {events.EventField.from_path('$.detail.jobName')} run "
                        f"{events.EventField.from_path('$.detail.jobRunId')} ended "
                        f"{events.EventField.from_path('$.detail.state')}: "
                        f"{events.EventField.from_path('$.detail.message')}"
                    ),
                )
            ],
        )
        acknowledge_kms_grant_wildcards(role, ["kms:GenerateDataKey*"])
        return rule

    def _alarm(self, alarm_id: str, metric: cloudwatch.IMetric, *, threshold: float, description: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            alarm_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"lakewatch: {description}",
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)


def _firehose_metric(
    delivery: TableDelivery, metric_name: str, statistic: str, *, label: str | None = None
) -> cloudwatch.Metric:
    """A label turns an alarm into a metric-math alarm, so only dashboard graphs get one."""
    return cloudwatch.Metric(
        namespace="AWS/Firehose",
        metric_name=metric_name,
        dimensions_map={"DeliveryStreamName": delivery.delivery_stream.ref},
        period=_PERIOD,
        statistic=statistic,
        label=label,
    )
