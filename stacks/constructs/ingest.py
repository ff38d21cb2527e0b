"""The `transform` Lambda on `events-raw`: validate, normalise, mask PII and route every record."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import QUARANTINE_PREFIX, StreamConsumerConfig
from stacks.constructs.functions import FunctionSpec, LambdaFactory
from stacks.constructs.permissions import acknowledge_kms_grant_wildcards, allow_objects, allow_secret_read
from stacks.nag import acknowledge

#: Where the transform sets aside the records it rejects (`SOURCE` in `lambdas/transform/delivery.py`; a test
#: keeps them equal). Only there: job_monitor's and the POS job's quarantine are not the transform's to write.
TRANSFORM_QUARANTINE_PREFIX = f"{QUARANTINE_PREFIX}stream/"


def on_failure_queue(scope: Construct, construct_id: str, *, key: kms.IKey) -> sqs.Queue:
    """Where the event source mapping sends the metadata of a batch it gave up on (retries or age exhausted)."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    acknowledge(
        queue,
        "AwsSolutions-SQS3",
        "This queue is itself the on-failure destination (dead letter) of a Kinesis event source mapping; "
        "its depth is alarmed and its messages are replayed by hand.",
    )
    return queue


def event_dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """Where EventBridge keeps an event it could not deliver to a rule's target once its retries are spent.

    Without one, EventBridge drops the event silently: a job run that never reaches the lake, a failed Glue run
    nobody hears of, a scheduled run that never happens. EventBridge writes here as the service itself, so the
    queue uses SQS-managed encryption rather than the lakewatch key: the key (storage stack) would otherwise
    need a key-policy grant to EventBridge naming rules of this (pipeline) stack. The queue policy CDK writes
    lets only this stack's rules send (`aws:SourceArn`). The events hold job metadata (names, run ids, states,
    a failed Glue run's message), never a customer's record.
    """
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    acknowledge(
        queue,
        "AwsSolutions-SQS3",
        "This queue is itself the dead-letter queue of every EventBridge rule target; its depth is alarmed and its "
        "messages (the undelivered events) are replayed by hand.",
    )
    return queue


def keep_failed_scheduled_runs(function: lambda_.Function, dead_letters: sqs.IQueue) -> None:
    """A scheduled run that raises is retried twice by Lambda, then kept on `dead_letters` instead of dropped.

    The message's `requestPayload` is the scheduled event, whose `time` the function takes as "now": invoking
    the function with it again re-runs that tick.
    """
    function.configure_async_invoke(retry_attempts=2, on_failure=destinations.SqsDestination(dead_letters))


def kinesis_source(
    stream: kinesis.IStream, settings: StreamConsumerConfig, on_failure: sqs.IQueue
) -> event_sources.KinesisEventSource:
    """Partial batch responses, bisect on error, bounded retries and record age, an on-failure queue."""
    return event_sources.KinesisEventSource(
        stream,
        starting_position=lambda_.StartingPosition.TRIM_HORIZON,
        batch_size=settings.batch_size,
        max_batching_window=Duration.seconds(settings.batching_window_seconds),
        retry_attempts=settings.retry_attempts,
        max_record_age=Duration.seconds(settings.max_record_age_seconds),
        parallelization_factor=settings.parallelization_factor,
        bisect_batch_on_error=True,
        report_batch_item_failures=True,
        on_failure=event_sources.SqsDlq(on_failure),
    )


class TransformFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        key: kms.IKey,
        events_raw: kinesis.IStream,
        sales_stream: kinesis.IStream,
        job_runs_stream: kinesis.IStream,
        lake_bucket: s3.IBucket,
        pii_key_secret: secretsmanager.ISecret,
        settings: StreamConsumerConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = factory.create(
            self,
            FunctionSpec(
                name="transform",
                description="lakewatch: validate, normalise and mask raw events; route to clean streams or quarantine",
                memory_mb=1024,
                timeout=Duration.seconds(120),
                environment={
                    "SALES_STREAM_NAME": sales_stream.stream_name,
                    "JOB_RUNS_STREAM_NAME": job_runs_stream.stream_name,
                    "QUARANTINE_BUCKET": lake_bucket.bucket_name,
                    "PII_KEY_SECRET_ARN": pii_key_secret.secret_arn,
                },
            ),
        )
        self.on_failure_queue = on_failure_queue(self, "OnFailureQueue", key=key)
        self.function.add_event_source(kinesis_source(events_raw, settings, self.on_failure_queue))
        sales_stream.grant_write(self.function)
        job_runs_stream.grant_write(self.function)
        role = self.function.role
        allow_objects(
            role,
            lake_bucket,
            ["s3:PutObject"],
            f"{TRANSFORM_QUARANTINE_PREFIX}*",
            "The transform writes one object per rejected batch under quarantine/stream/ and nowhere else in the "
            "bucket.",
        )
        key.grant(role, "kms:GenerateDataKey")
        allow_secret_read(role, pii_key_secret, key)
        acknowledge_kms_grant_wildcards(role)
