"""job_monitor entry point: Kinesis `job-runs-clean` -> client/job state, alerts, quarantine. Thin on purpose.

Every record ends in one of three ways:

* processed: its run applied to the state, its alert (if any) published once;
* quarantined: what no retry could ever process (a clean record that does not decode or breaks the
  contract, a key DynamoDB refuses, a run outside the accepted event-time range, or any unexpected
  exception while processing it: reason `transform_error`) is written alone to
  `quarantine/job_monitor/dt=<UTC arrival date>/<shard>-<sequence number>.jsonl` in the lake bucket and the
  batch carries on. The object name is the record's own, written only if absent, so a replay neither
  duplicates the row nor counts it twice in `RecordsQuarantined_<reason>`;
* failed, for the event source mapping to retry: what may succeed later, i.e. AWS throttling, 5xx,
  timeouts and other transport errors, any AWS error but an invalid request (a missing permission is a
  deployment fault to fix, not a record to set aside: `lambda_common.aws.is_transient` draws the line),
  and `logic.RetryLater`. It is reported alone in
  `batchItemFailures`; Kinesis retries from it, and the idempotent logic makes the replay of the records
  after it harmless. After the mapping's retry limits it lands on the on-failure queue.

When every record of a batch fails we return that list too instead of raising
(`raise_on_entire_batch_failure=False`): the mapping treats both the same way, and one code path keeps the
retry / bisect / on-failure-destination settings in charge.

Before its records, the batch's client/job states are read at once (`logic.read_states`: one BatchGetItem per
100 client/jobs instead of a GetItem per record). That read only saves calls: if it fails, every record reads
its own state, and meets (and is triaged on) whatever error that read meets.
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime
from typing import Any

import msgspec
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from lambda_common import aws
from lambda_common.observability import logger, metrics, tracer

from job_monitor.logic import (
    AlertDelivery,
    Dependencies,
    RetryLater,
    RunOutcome,
    check_processable,
    process_run,
    read_states,
)
from job_monitor.records import MalformedRecord, parse_job_run
from job_monitor.settings import Settings
from lakewatch.domain import pii, tables
from lakewatch.domain.baseline import JobState
from lakewatch.domain.reasons import Reason
from lakewatch.domain.transform import Rejected, quarantine_row

#: The `source` of job_monitor's quarantine rows, and the folder under the quarantine root they go to.
QUARANTINE_SOURCE = "job_monitor"
ALERT_METRICS = {
    AlertDelivery.PUBLISHED: "AlertsPublished",
    AlertDelivery.PUBLISHED_UNMARKED: "AlertsPublishedUnmarked",
    AlertDelivery.DEDUPLICATED: "AlertsDeduplicated",
}

processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)


@functools.cache
def dependencies() -> Dependencies:
    """Settings and clients, once per execution environment (tests clear the cache between mocks)."""
    return Dependencies(
        settings=Settings.from_env(os.environ),
        dynamodb=aws.client("dynamodb"),
        sns=aws.client("sns"),
        s3=aws.client("s3"),
    )


def _emit_metrics(outcome: RunOutcome) -> None:
    """Per-run EMF metrics. Dimensions stay at the Powertools `service` only: per-client figures live in the
    lake (Athena), and ~100 clients x 4 metrics as CloudWatch dimensions would cost more than they tell."""
    run, row = outcome.run, outcome.run.row
    metrics.add_metric(name="JobRunDuration", unit=MetricUnit.Seconds, value=row.duration_seconds)
    if row.cost_usd is not None:
        metrics.add_metric(name="JobRunCostUsd", unit=MetricUnit.NoUnit, value=row.cost_usd)
    if run.failed:
        metrics.add_metric(name="JobRunFailures", unit=MetricUnit.Count, value=1)
        if row.cost_usd is not None:
            metrics.add_metric(name="FailedJobRunCostUsd", unit=MetricUnit.NoUnit, value=row.cost_usd)
    if outcome.verdict is not None and outcome.verdict.is_outlier:
        metrics.add_metric(name="DurationOutliers", unit=MetricUnit.Count, value=1)
    if outcome.alert_delivery is not None:
        metrics.add_metric(name=ALERT_METRICS[outcome.alert_delivery], unit=MetricUnit.Count, value=1)


def quarantine_key(record: KinesisStreamRecord) -> str:
    """One object per record, named after it: the same on every redelivery, so a replay finds it written."""
    arrived = datetime.fromtimestamp(record.kinesis.approximate_arrival_timestamp, UTC)
    day = arrived.strftime(tables.PARTITION_DATE_FORMAT)
    name = record.event_id.replace(":", "-")
    return f"{tables.QUARANTINE_ROOT}/{QUARANTINE_SOURCE}/{tables.PARTITION_KEY}={day}/{name}.jsonl"


#: The keys of a clean `job_runs` row: what a quarantined record keeps with its values.
_CLEAN_KEYS = frozenset((*tables.JOB_RUNS.column_names, tables.PARTITION_KEY))


def _scrubbed(value: dict[str, Any]) -> dict[str, Any]:
    """The quarantine form of a decoded record, by allowlist. A clean row carries no PII, but a record set aside
    is by definition not quite one (a raw event written to the wrong stream, a producer bug), so: clean columns
    keep their values with cards and e-mails masked (`pii.scrub`); any other key keeps its name, when it reads
    as a field name that is not PII, and loses its value (a `customerName` holds a name no mask recognises)."""
    scrubbed: dict[str, Any] = {}
    for name, item in value.items():
        if name in _CLEAN_KEYS:
            scrubbed[name] = pii.scrub(item)
        elif name not in pii.PII_FIELDS and pii.is_plain_field_name(name):
            scrubbed[name] = pii.REDACTED
    return scrubbed


def _quarantined_record(data: bytes) -> tuple[str | None, Any]:
    """(event_id, record) for a quarantine row: the record as decoded and scrubbed (`_scrubbed`), or the
    fingerprint of bytes that are not a JSON object (their length: job_monitor holds no PII key to hash them)."""
    try:
        value = msgspec.json.decode(data)
    except Exception:
        return None, pii.fingerprint(data, None)
    if not isinstance(value, dict):
        return None, pii.fingerprint(data, None)
    record = _scrubbed(value)
    event_id = record.get("event_id")
    return (event_id if isinstance(event_id, str) else None), record


def quarantine(deps: Dependencies, record: KinesisStreamRecord, reason: Reason, field: str | None) -> None:
    """Write the record's quarantine row unless an earlier attempt did; count it only the first time.

    A failed write raises (transient: the record is retried), so a record is never dropped unaccounted.
    """
    data = record.kinesis.data_as_bytes()
    event_id, value = _quarantined_record(data)
    row = quarantine_row(
        Rejected(reason, field, event_id, value),
        sequence_number=record.kinesis.sequence_number,
        source=QUARANTINE_SOURCE,
        quarantined_at=datetime.now(UTC),
    )
    try:
        deps.s3.put_object(
            Bucket=deps.settings.quarantine_bucket,
            Key=quarantine_key(record),
            Body=msgspec.json.encode(row) + b"\n",
            ContentType="application/x-ndjson",
            IfNoneMatch="*",
        )
    except ClientError as error:
        if aws.error_code(error) != "PreconditionFailed":
            raise
        logger.info("record already quarantined", sequence_number=record.kinesis.sequence_number, reason=reason)
        return
    metrics.add_metric(name="RecordsQuarantined", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=f"RecordsQuarantined_{reason}", unit=MetricUnit.Count, value=1)
    logger.warning("record quarantined", sequence_number=record.kinesis.sequence_number, reason=reason, field=field)


def batch_states(deps: Dependencies, event: dict[str, Any]) -> dict[str, JobState]:
    """The states the batch's processable runs are judged against (`logic.read_states`); empty when the read
    fails, so that each record reads its own."""
    now = datetime.now(UTC)
    runs = []
    for raw in event.get("Records", []):
        try:
            run = parse_job_run(KinesisStreamRecord(raw).kinesis.data_as_bytes())
            check_processable(run, now)
        except Exception:  # noqa: S112  a record that cannot be read is set aside by its own record_handler
            continue
        runs.append(run)
    try:
        return read_states(deps.dynamodb, deps.settings.baselines_table_name, runs)
    except Exception as error:  # an optimisation only: the records' own reads meet and triage the error
        logger.warning("batch read of baselines failed; records read their own", error_type=type(error).__name__)
        return {}


def record_handler(record: KinesisStreamRecord, states: dict[str, JobState] | None = None) -> None:
    deps = dependencies()
    try:
        run = parse_job_run(record.kinesis.data_as_bytes())
        outcome = process_run(deps, run, datetime.now(UTC), delivery_id=record.event_id, states=states)
    except MalformedRecord as malformed:
        quarantine(deps, record, malformed.reason, malformed.field)
        return
    except RetryLater:
        raise
    except Exception as error:
        if aws.is_transient(error):
            raise
        logger.exception("unexpected error; record quarantined", sequence_number=record.kinesis.sequence_number)
        quarantine(deps, record, Reason.TRANSFORM_ERROR, None)
        return
    _emit_metrics(outcome)
    row = outcome.run.row
    logger.info(
        "job run processed",
        client=row.client,
        job_name=row.job_name,
        run_id=row.run_id,
        status=row.status,
        outlier=bool(outcome.verdict and outcome.verdict.is_outlier),
        alert=outcome.alert_type and str(outcome.alert_type),
        alert_delivery=outcome.alert_delivery and str(outcome.alert_delivery),
    )


@logger.inject_lambda_context(log_event=False)  # never the raw event, whatever POWERTOOLS_LOGGER_LOG_EVENT says
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    states = batch_states(dependencies(), event)
    return process_partial_response(
        event=event,
        record_handler=functools.partial(record_handler, states=states),
        processor=processor,
        context=context,
    )
