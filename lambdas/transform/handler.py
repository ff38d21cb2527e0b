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
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import KinesisStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from lambda_common.observability import logger, metrics, tracer

from lakewatch.domain import tables
from transform.delivery import BatchOutcome, Destinations, InputRecord, Retry, process_batch
from transform.settings import Settings

#: Short timeouts and botocore's own retries for whole-call errors; per-entry retries are ours (delivery.py).
_CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})

kinesis_client = boto3.client("kinesis", config=_CLIENT_CONFIG)
s3_client = boto3.client("s3", config=_CLIENT_CONFIG)
secrets_client = boto3.client("secretsmanager", config=_CLIENT_CONFIG)
retry_policy = Retry(sleep=time.sleep)


@functools.cache
def settings() -> Settings:
    """Parsed once per execution environment (tests clear the cache)."""
    return Settings.from_env(os.environ)


@functools.cache
def pii_key() -> bytes:
    """The customer-hash key, fetched once per execution environment; a failed fetch is not cached."""
    return fetch_pii_key(secrets_client, settings().pii_key_secret_arn)


def fetch_pii_key(secrets: Any, secret_arn: str) -> bytes:
    """The secret's text as key bytes, exactly as the POS Glue job reads it (same customer, same key)."""
    return secrets.get_secret_value(SecretId=secret_arn)["SecretString"].encode()


def emit_metrics(outcome: BatchOutcome) -> None:
    for table in tables.TABLES:
        metrics.add_metric(name=f"RecordsDelivered_{table}", unit=MetricUnit.Count, value=outcome.delivered[table])
    metrics.add_metric(name="RecordsQuarantined", unit=MetricUnit.Count, value=outcome.quarantined.total())
    for reason, count in outcome.quarantined.items():
        metrics.add_metric(name=f"RecordsQuarantined_{reason}", unit=MetricUnit.Count, value=count)
    metrics.add_metric(name="DeliveryRetries", unit=MetricUnit.Count, value=outcome.retried_entries)
    metrics.add_metric(name="DeliveryFailures", unit=MetricUnit.Count, value=len(outcome.failed_sequence_numbers))


def log_outcome(outcome: BatchOutcome) -> None:
    """Counts, reasons, error codes and sequence numbers only: never a payload, never PII."""
    logger.info(
        "batch transformed",
        received=outcome.received,
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


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    current = settings()
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
        kinesis=kinesis_client,
        s3=s3_client,
        retry=retry_policy,
        now=datetime.now(UTC),
    )
    emit_metrics(outcome)
    log_outcome(outcome)
    return {"batchItemFailures": [{"itemIdentifier": number} for number in outcome.failed_sequence_numbers]}
