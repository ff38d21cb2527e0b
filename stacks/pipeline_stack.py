"""Stateless compute: Lambdas, Firehose, Glue jobs, schedules, SNS, alarms, dashboard and Athena.

Everything here can be destroyed and recreated without losing data. The stateful constructs arrive
through the constructor (`storage`), and grants are made here, where producer meets consumer.
"""

from __future__ import annotations

from aws_cdk import Stack, Tags
from constructs import Construct

from lakewatch.domain import alerts
from lakewatch.domain.job_events import CLIENT_TAG, JOB_NAME_TAG
from lakewatch.domain.tables import TABLES
from stacks.config import StageConfig
from stacks.constructs.alerting import Topics
from stacks.constructs.athena import AthenaAnalytics
from stacks.constructs.delivery import LakeDelivery
from stacks.constructs.forecasting import Forecasting, forecast_panels
from stacks.constructs.functions import LambdaFactory
from stacks.constructs.glue_etl import GlueJobs
from stacks.constructs.grafana import GrafanaDashboards
from stacks.constructs.ingest import TransformFunction, event_dead_letter_queue
from stacks.constructs.job_events import JobEvents
from stacks.constructs.job_monitoring import JobMonitoring
from stacks.constructs.monitoring import PipelineMonitoring, StreamConsumer
from stacks.storage_stack import StorageStack

#: The client lakewatch's own Glue jobs are monitored as.
OWN_CLIENT = "lakewatch"


class PipelineStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, storage: StorageStack, **kwargs: object
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        key = storage.key
        streams = storage.streams
        self.topics = Topics(self, "Topics", key=key, alert_emails=config.alert_emails, ops_emails=config.ops_emails)
        factory = LambdaFactory(self, "Lambda", config=config, key=key)
        #: One dead-letter queue for every EventBridge rule target of the stack (alarmed in `PipelineMonitoring`).
        self.event_dead_letters = event_dead_letter_queue(self, "EventDeadLetters")
        self.transform = TransformFunction(
            self,
            "Transform",
            factory=factory,
            key=key,
            events_raw=streams.events_raw,
            sales_stream=streams.sales_clean,
            job_runs_stream=streams.job_runs_clean,
            lake_bucket=storage.lake_bucket,
            pii_key_secret=storage.pii_key_secret,
            settings=config.transform,
        )
        self.job_monitoring = JobMonitoring(
            self,
            "JobMonitoring",
            factory=factory,
            key=key,
            job_runs_stream=streams.job_runs_clean,
            baselines_table=storage.baselines_table,
            alerts_topic=self.topics.alerts,
            lake_bucket=storage.lake_bucket,
            config=config,
            event_dead_letters=self.event_dead_letters,
        )
        self.delivery = LakeDelivery(
            self,
            "Delivery",
            tables=list(TABLES.values()),
            streams=dict(streams.clean_streams),
            bucket=storage.lake_bucket,
            key=key,
            catalog=storage.catalog,
            config=config,
        )
        self.glue = GlueJobs(
            self, "Glue", config=config, key=key, bucket=storage.lake_bucket, pii_key_secret=storage.pii_key_secret
        )
        # lakewatch's own Glue jobs are monitored like any client's, as client `lakewatch`, under readable names.
        own_jobs = {"pos_csv_etl": self.glue.pos_csv_etl} | {
            f"compact_partitions_{table}": job for table, job in self.glue.compactions.items()
        }
        for job_name, job in own_jobs.items():
            Tags.of(job).add(CLIENT_TAG, OWN_CLIENT)
            Tags.of(job).add(JOB_NAME_TAG, job_name)
        self.job_events = JobEvents(
            self,
            "JobEvents",
            factory=factory,
            key=key,
            events_raw=streams.events_raw,
            config=config.job_events,
            ops_topic=self.topics.ops,
            event_dead_letters=self.event_dead_letters,
        )
        self.athena = AthenaAnalytics(
            self,
            "Athena",
            config=config,
            bucket=storage.lake_bucket,
            key=key,
            database_name=storage.catalog.database_name,
        )
        # Opt-in (`-c grafana=true`): without it, nothing Grafana-related is created.
        self.grafana = None
        if config.grafana:
            self.grafana = GrafanaDashboards(
                self,
                "Grafana",
                config=config,
                factory=factory,
                bucket=storage.lake_bucket,
                key=key,
                workgroup_name=config.resource_prefix,
                database_name=storage.catalog.database_name,
            )
        # Where alert messages link to (`alerts.AlertLinks`): the workspace's dashboards, else the Athena console.
        for alerting in (self.job_monitoring.job_monitor, self.job_monitoring.overdue_check):
            alerting.add_environment(alerts.ATHENA_WORKGROUP_ENV, config.resource_prefix)
            if self.grafana is not None:
                alerting.add_environment(alerts.DASHBOARD_URL_ENV, self.grafana.url)
        self.forecasting = Forecasting(
            self,
            "Forecasting",
            factory=factory,
            config=config,
            key=key,
            bucket=storage.lake_bucket,
            catalog=storage.catalog,
            workgroup_name=self.athena.workgroup.ref,
            alerts_topic=self.topics.alerts,
            ops_topic=self.topics.ops,
            claims_table=storage.baselines_table,
            event_dead_letters=self.event_dead_letters,
        )
        self.monitoring = PipelineMonitoring(
            self,
            "Monitoring",
            config=config,
            ops_topic=self.topics.ops,
            consumers=[
                StreamConsumer(
                    "Transform",
                    self.transform.function,
                    self.transform.on_failure_queue,
                    config.transform.max_record_age_seconds,
                ),
                StreamConsumer(
                    "JobMonitor",
                    self.job_monitoring.job_monitor,
                    self.job_monitoring.on_failure_queue,
                    config.job_monitor.max_record_age_seconds,
                ),
            ],
            scheduled_functions=[
                ("OverdueCheck", self.job_monitoring.overdue_check),
                ("JobEvents", self.job_events.function),
                ("ForecastHourly", self.forecasting.hourly),
                ("ForecastTraining", self.forecasting.training),
            ],
            deliveries=[*self.delivery.deliveries.values(), self.forecasting.delivery],
            glue_jobs=list(self.glue.jobs),
            transform_service="transform",
            job_monitor_service="job_monitor",
            pos_csv_job=self.glue.pos_csv_etl,
            event_dead_letters=self.event_dead_letters,
            alarms_elsewhere=[self.job_events.on_failure_alarm, *self.forecasting.drift_alarms],
        )
        self.monitoring.dashboard.add_widgets(*forecast_panels(config.forecast_series))
