"""The three Kinesis streams: raw events in, clean sales and clean job runs out of the transform."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from constructs import Construct

from lakewatch.domain.tables import JOB_RUNS, SALES
from stacks.config import StageConfig, StreamCapacityMode
from stacks.nag import acknowledge


class PipelineStreams(Construct):
    """KMS-encrypted streams whose capacity mode and retention come from the stage config."""

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, config: StageConfig, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)

        def stream(stream_id: str) -> kinesis.Stream:
            provisioned = config.stream_capacity_mode is StreamCapacityMode.PROVISIONED
            created = kinesis.Stream(
                self,
                stream_id,
                encryption=kinesis.StreamEncryption.KMS,
                encryption_key=key,
                stream_mode=kinesis.StreamMode.PROVISIONED if provisioned else kinesis.StreamMode.ON_DEMAND,
                shard_count=config.stream_shard_count if provisioned else None,
                retention_period=Duration.hours(config.stream_retention_hours),
                removal_policy=removal_policy,
            )
            acknowledge(
                created,
                "AwsSolutions-KDS3",
                "A customer-managed key on purpose: events-raw carries card numbers and names in clear, so only "
                "principals granted on the lakewatch key may decrypt any of these streams.",
            )
            return created

        self.events_raw = stream("EventsRaw")
        self.sales_clean = stream("SalesClean")
        self.job_runs_clean = stream("JobRunsClean")
        #: Clean stream per lake table: what Firehose reads to fill that table.
        self.clean_streams: dict[str, kinesis.Stream] = {
            SALES.name: self.sales_clean,
            JOB_RUNS.name: self.job_runs_clean,
        }
