"""Hourly load forecasts: the hourly and weekly forecast Lambdas, their schedules, the `forecasts` Firehose
and the drift alarms.

- `forecast_hourly` runs every hour at :15 (`forecast_schedule.HOURLY_RUN_MINUTE`, once Firehose has written
  the last complete hour): Athena series queries in the lakewatch workgroup, model artefacts in the lake bucket
  under `forecast-models/`, forecasts to the `forecasts` table's Firehose (DirectPut, Parquet via the Glue
  table, as the other tables), breach alerts to the `alerts` topic once per series key and target hour (claims
  in the baselines table, next to job_monitor's alert markers).
- `forecast_training` runs weekly (`forecast_schedule.WEEKLY_TRAINING_*`) and stores a new model version.
- One alarm per series to `ops` when the mean MASE of its forecasts crosses the drift threshold (the hourly
  function retrains at the same moment; the alarm tells a person it happened).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lakewatch.domain import forecast_schedule
from lakewatch.domain.forecast_series import load_series
from lakewatch.domain.tables import FORECASTS, SALES
from stacks.config import ATHENA_RESULTS_ROOT, FORECAST_MODELS_PREFIX, StageConfig
from stacks.constructs.catalog import LakeCatalog
from stacks.constructs.delivery import TableDelivery
from stacks.constructs.functions import METRICS_NAMESPACE, FunctionSpec, LambdaFactory
from stacks.constructs.ingest import keep_failed_scheduled_runs
from stacks.constructs.permissions import acknowledge_kms_grant_wildcards, allow_objects

#: Published by `forecast_hourly` per series (dimension `series`): what the drift alarms watch.
DRIFT_METRIC = "ForecastDriftMASE"
HOURLY_SCHEDULE = events.Schedule.cron(minute=str(forecast_schedule.HOURLY_RUN_MINUTE))
WEEKLY_SCHEDULE = events.Schedule.cron(
    minute="0",
    hour=str(forecast_schedule.WEEKLY_TRAINING_HOUR),
    week_day=("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")[forecast_schedule.WEEKLY_TRAINING_WEEKDAY],
)


class Forecasting(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        config: StageConfig,
        key: kms.IKey,
        bucket: s3.IBucket,
        catalog: LakeCatalog,
        workgroup_name: str,
        alerts_topic: sns.ITopic,
        ops_topic: sns.ITopic,
        claims_table: dynamodb.ITable,
        event_dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.delivery = TableDelivery(
            self, "Delivery", table=FORECASTS, source=None, bucket=bucket, key=key, catalog=catalog, config=config
        )
        common = {
            "LAKE_BUCKET": bucket.bucket_name,
            "MODEL_PREFIX": FORECAST_MODELS_PREFIX,
            "ATHENA_WORKGROUP": workgroup_name,
            "GLUE_DATABASE": catalog.database_name,
            "FORECAST_SERIES": json.dumps(list(config.forecast_series)),
        }
        self.hourly = factory.create(
            self,
            FunctionSpec(
                name="forecast_hourly",
                description="lakewatch: forecast the next 6 hours of each series, score drift, alert on breaches",
                memory_mb=1024,
                timeout=Duration.minutes(5),
                environment={
                    **common,
                    "FORECASTS_DELIVERY_STREAM": self.delivery.delivery_stream.ref,
                    "ALERTS_TOPIC_ARN": alerts_topic.topic_arn,
                    "ALERT_CLAIMS_TABLE_NAME": claims_table.table_name,
                    "BREACH_THRESHOLDS": config.forecast_breach_thresholds_json,
                    "DRIFT_MASE_THRESHOLD": str(config.forecast_drift_mase_threshold),
                },
            ),
        )
        self.training = factory.create(
            self,
            FunctionSpec(
                name="forecast_training",
                description="lakewatch: train the six direct forecast models of each series, weekly",
                memory_mb=1024,
                timeout=Duration.minutes(10),
                environment=common,
            ),
        )
        for function in (self.hourly, self.training):
            _allow_series_queries(function, bucket=bucket, key=key, catalog=catalog, workgroup_name=workgroup_name)
            allow_objects(
                function.role,
                bucket,
                ["s3:GetObject", "s3:PutObject"],
                f"{FORECAST_MODELS_PREFIX}*",
                "Forecast model artefacts: one object per training run and a latest pointer per series.",
            )
            key.grant(function.role, "kms:Decrypt", "kms:GenerateDataKey")
        self.hourly.add_to_role_policy(
            iam.PolicyStatement(actions=["firehose:PutRecordBatch"], resources=[self.delivery.delivery_stream.attr_arn])
        )
        alerts_topic.grant_publish(self.hourly)
        self.hourly.add_to_role_policy(  # the claim items only: no index, no read
            iam.PolicyStatement(
                actions=["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[claims_table.table_arn],
            )
        )
        acknowledge_kms_grant_wildcards(self.hourly.role, ["kms:GenerateDataKey*"])
        events.Rule(
            self,
            "HourlySchedule",
            description="lakewatch: forecast every hour, once the last complete hour is in the lake",
            schedule=HOURLY_SCHEDULE,
            targets=[targets.LambdaFunction(self.hourly, retry_attempts=2, dead_letter_queue=event_dead_letters)],
        )
        events.Rule(
            self,
            "WeeklySchedule",
            description="lakewatch: retrain the forecast models every week",
            schedule=WEEKLY_SCHEDULE,
            targets=[targets.LambdaFunction(self.training, retry_attempts=2, dead_letter_queue=event_dead_letters)],
        )
        keep_failed_scheduled_runs(self.hourly, event_dead_letters)
        keep_failed_scheduled_runs(self.training, event_dead_letters)
        self.drift_alarms = _drift_alarms(self, config.forecast_series, config.forecast_drift_mase_threshold, ops_topic)
        load_series(config.forecast_series)  # a series without its SQL file fails the synth, not the first hour


#: Published by `forecast_hourly` per series and key, each stamped with the hour it is about (see its handler).
PANEL_FORECAST_METRICS = ("ForecastNextHour", "ForecastNextHourLow", "ForecastNextHourHigh")
PANEL_ACTUAL_METRIC = "OrdersLastHour"


def forecast_panels(series: Sequence[str]) -> list[cloudwatch.IWidget]:
    """The dashboard's forecast panel: per series, each key's orders per hour against the forecast made for
    that hour and its 80% interval, then the drift metric of every series. Keys (stores) are found by a
    metric search: they are data, not configuration."""
    widgets: list[cloudwatch.IWidget] = []
    for name in series:
        lines = [
            cloudwatch.MathExpression(
                expression=(
                    f'SEARCH(\'{{{METRICS_NAMESPACE},series,series_key}} MetricName="{metric}" '
                    f"series=\"{name}\"', 'Average', 3600)"
                ),
                label=metric,
                period=Duration.hours(1),
            )
            for metric in (PANEL_ACTUAL_METRIC, *PANEL_FORECAST_METRICS)
        ]
        widgets.append(
            cloudwatch.GraphWidget(
                title=f"{name}: orders per hour, actual vs forecast (80% interval)", left=lines, width=12
            )
        )
    widgets.append(
        cloudwatch.GraphWidget(
            title="Forecast drift: mean MASE over horizons 1-6 (below 1 beats last week)",
            left=[
                cloudwatch.Metric(
                    namespace=METRICS_NAMESPACE,
                    metric_name=DRIFT_METRIC,
                    dimensions_map={"series": name},
                    period=Duration.hours(1),
                    statistic="Maximum",
                )
                for name in series
            ],
            width=12,
        )
    )
    return widgets


def _allow_series_queries(
    function: lambda_.Function, *, bucket: s3.IBucket, key: kms.IKey, catalog: LakeCatalog, workgroup_name: str
) -> None:
    """Run the series queries: Athena in the workgroup, the `sales` table's metadata and files, the results."""
    stack = Stack.of(function)
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults"],
            resources=[stack.format_arn(service="athena", resource="workgroup", resource_name=workgroup_name)],
        )
    )
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"],
            resources=[catalog.catalog_arn, catalog.database_arn, catalog.table_arn(SALES.name)],
        )
    )
    function.add_to_role_policy(
        iam.PolicyStatement(actions=["s3:GetBucketLocation", "s3:ListBucket"], resources=[bucket.bucket_arn])
    )
    allow_objects(
        function.role,
        bucket,
        ["s3:GetObject"],
        f"{SALES.prefix}*",
        "Athena reads the sales table's Parquet files for the series queries, nothing else of the lake.",
    )
    allow_objects(
        function.role,
        bucket,
        ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
        f"{ATHENA_RESULTS_ROOT}/*",
        "Athena writes and the function reads the results of its series queries.",
    )


def _drift_alarms(
    scope: Construct, series: Sequence[str], threshold: float, ops_topic: sns.ITopic
) -> list[cloudwatch.Alarm]:
    alarms = []
    for name in series:
        alarm = cloudwatch.Alarm(
            scope,
            "".join(part.title() for part in name.split("_")) + "DriftAlarm",
            alarm_description=(
                f"lakewatch: the {name} forecasts are worse than seasonal naive (mean MASE over horizons 1-6, last "
                f"7 days, > {threshold:g}); forecast_hourly retrained the model from the latest history. See "
                "docs/forecasts.md."
            ),
            metric=cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=DRIFT_METRIC,
                dimensions_map={"series": name},
                period=Duration.hours(1),
                statistic="Maximum",
            ),
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(ops_topic))
        alarm.add_ok_action(cloudwatch_actions.SnsAction(ops_topic))
        alarms.append(alarm)
    return alarms
