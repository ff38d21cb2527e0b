"""job_monitor entry point: Kinesis `job-runs-clean` -> alerts + baselines. Thin on purpose.

Partial batch responses: a record that cannot be processed (malformed, or a transient AWS error) is
reported alone in `batchItemFailures`; Kinesis retries from it, and the idempotent logic makes the replay
of the records after it harmless. When every record of a batch fails we return that list too instead of
raising (`raise_on_entire_batch_failure=False`): the event source mapping treats both the same way, and
one code path keeps the retry / bisect / on-failure-destination settings in charge.
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from lambda_common.observability import logger, metrics, tracer

from job_monitor.logic import Dependencies, RunOutcome, process_run
from job_monitor.records import MalformedRecord, parse_job_run
from job_monitor.settings import Settings

#: Short timeouts so one slow SNS/DynamoDB call fails the record (and is retried) well within the
#: function timeout and the alert-claim lease of `logic.ALERT_CLAIM_LEASE_SECONDS`.
_CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})

processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)


@functools.cache
def dependencies() -> Dependencies:
    """Settings and clients, once per execution environment (tests clear the cache between mocks)."""
    return Dependencies(
        settings=Settings.from_env(os.environ),
        dynamodb=boto3.client("dynamodb", config=_CLIENT_CONFIG),
        sns=boto3.client("sns", config=_CLIENT_CONFIG),
    )


def _emit_metrics(outcome: RunOutcome) -> None:
    """Per-run EMF metrics. Dimensions stay at the Powertools `service` only: per-client figures live in the
    lake (Athena), and ~100 clients x 4 metrics as CloudWatch dimensions would cost more than they tell."""
    run = outcome.run
    metrics.add_metric(name="JobRunDuration", unit=MetricUnit.Seconds, value=run.duration_seconds)
    if run.cost_usd is not None:
        metrics.add_metric(name="JobRunCostUsd", unit=MetricUnit.NoUnit, value=run.cost_usd)
    if run.failed:
        metrics.add_metric(name="JobRunFailures", unit=MetricUnit.Count, value=1)
        if run.cost_usd is not None:
            metrics.add_metric(name="FailedJobRunCostUsd", unit=MetricUnit.NoUnit, value=run.cost_usd)
    if outcome.verdict is not None and outcome.verdict.is_outlier:
        metrics.add_metric(name="DurationOutliers", unit=MetricUnit.Count, value=1)
    if outcome.alert_type is not None:
        name = "AlertsPublished" if outcome.alert_published else "AlertsDeduplicated"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def record_handler(record: KinesisStreamRecord) -> None:
    try:
        run = parse_job_run(record.kinesis.data_as_bytes())
    except MalformedRecord as error:
        metrics.add_metric(name="MalformedJobRunRecords", unit=MetricUnit.Count, value=1)
        logger.error("malformed clean job_run", sequence_number=record.kinesis.sequence_number, problem=str(error))
        raise
    outcome = process_run(dependencies(), run, datetime.now(UTC))
    _emit_metrics(outcome)
    logger.info(
        "job run processed",
        client=run.client,
        job_name=run.job_name,
        run_id=run.run_id,
        status=run.status,
        outlier=bool(outcome.verdict and outcome.verdict.is_outlier),
        alert=outcome.alert_type and str(outcome.alert_type),
        alert_published=outcome.alert_published,
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
