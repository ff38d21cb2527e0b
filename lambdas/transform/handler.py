"""transform entry point: Kinesis `events-raw` -> clean streams + S3 quarantine. Thin on purpose.

Failure semantics, chosen deliberately:
- a record that cannot be delivered (PutRecords still failing after bounded retries, or the quarantine
  PutObject failing) is reported in `batchItemFailures`; the event source mapping retries from the lowest
  one, and replays are harmless downstream (the lake and the alerts de-duplicate on event_id);
- an invalid record is never a failure: it is quarantined with its reason;
- what makes the whole batch impossible (the PII key cannot be read, settings are missing) raises: the
  mapping retries the batch, bisecting on error, and after its retry / record-age limits sends the batch
  metadata to the on-failure queue. We do not swallow such an error into "every record failed", which
  would only delay the same outcome without the error being visible as a Lambda error.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import KinesisStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from lambda_common import aws
from lambda_common.observability import logger, metrics, tracer

from lakewatch.domain import tables
from transform.delivery import BatchOutcome, Destinations, InputRecord, Retry, process_batch
from transform.settings import Settings


@dataclass(frozen=True, slots=True)
class Dependencies:
    """Settings and clients of one execution environment. Whole-call errors get botocore's retries (the
    shared client config); per-entry PutRecords retries are ours (`retry`, see delivery.py)."""

    settings: Settings
    kinesis: Any
    s3: Any
    secrets: Any
    retry: Retry


@functools.cache
def dependencies() -> Dependencies:
    """Settings and clients, once per execution environment (tests clear the cache between mocks)."""
    return Dependencies(
        settings=Settings.from_env(os.environ),
        kinesis=aws.client("kinesis"),
        s3=aws.client("s3"),
        secrets=aws.client("secretsmanager"),
        retry=Retry(sleep=time.sleep),
    )


@functools.cache
def pii_key() -> bytes:
    """The customer-hash key, fetched once per execution environment; a failed fetch is not cached."""
    deps = dependencies()
    return fetch_pii_key(deps.secrets, deps.settings.pii_key_secret_arn)


def fetch_pii_key(secrets: Any, secret_arn: str) -> bytes:
    """The secret's text as key bytes, exactly as the POS Glue job reads it (same customer, same key)."""
    return secrets.get_secret_value(SecretId=secret_arn)["SecretString"].encode()


def emit_metrics(outcome: BatchOutcome) -> None:
    for table in tables.TABLES:
        metrics.add_metric(name=f"RecordsDelivered_{table}", unit=MetricUnit.Count, value=outcome.delivered[table])
    metrics.add_metric(name="RecordsQuarantined", unit=MetricUnit.Count, value=outcome.quarantined.total())
    for reason, count in outcome.quarantined.items():
        metrics.add_metric(name=f"RecordsQuarantined_{reason}", unit=MetricUnit.Count, value=count)
    if outcome.deaggregated:  # only producers using KPL aggregation have any
        metrics.add_metric(name="KplUserRecords", unit=MetricUnit.Count, value=outcome.deaggregated)
    metrics.add_metric(name="DeliveryRetries", unit=MetricUnit.Count, value=outcome.retried_entries)
    metrics.add_metric(name="DeliveryFailures", unit=MetricUnit.Count, value=len(outcome.failed_sequence_numbers))


def log_outcome(outcome: BatchOutcome) -> None:
    """Counts, reasons, error codes and sequence numbers only: never a payload, never PII."""
    logger.info(
        "batch transformed",
        received=outcome.received,
        kpl_user_records=outcome.deaggregated,
        delivered=dict(outcome.delivered),
        quarantined={str(reason): count for reason, count in outcome.quarantined.items()},
        quarantine_key=outcome.quarantine_key,
        retried_entries=outcome.retried_entries,
    )
    if outcome.failed_sequence_numbers:
        logger.warning(
            "records left for Kinesis to retry",
            failed_sequence_numbers=outcome.failed_sequence_numbers,
            delivery_error_codes=dict(outcome.delivery_error_codes),
            quarantine_failed=outcome.quarantine_failed,
        )


@logger.inject_lambda_context(log_event=False)  # never the raw event, whatever POWERTOOLS_LOGGER_LOG_EVENT says
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = dependencies()
    current = deps.settings
    records = [
        InputRecord(
            record.kinesis.sequence_number,
            record.kinesis.data_as_bytes(),
            record.kinesis.approximate_arrival_timestamp,
        )
        for record in KinesisStreamEvent(event).records
    ]
    # Counted before anything can fail, so a batch that fails as a whole still shows up as received.
    metrics.add_metric(name="RecordsReceived", unit=MetricUnit.Count, value=len(records))
    outcome = process_batch(
        records,
        pii_key=pii_key(),
        destinations=Destinations(
            streams={tables.SALES.name: current.sales_stream_name, tables.JOB_RUNS.name: current.job_runs_stream_name},
            quarantine_bucket=current.quarantine_bucket,
        ),
        kinesis=deps.kinesis,
        s3=deps.s3,
        retry=deps.retry,
        now=datetime.now(UTC),
    )
    emit_metrics(outcome)
    log_outcome(outcome)
    return {"batchItemFailures": [{"itemIdentifier": number} for number in outcome.failed_sequence_numbers]}
