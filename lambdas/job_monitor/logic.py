"""What job_monitor does with one clean job run: keep the client/job state, alert on failures and outliers.

Delivery is at-least-once (Kinesis retries a failed batch from its first failed record, so records after it
that already succeeded come again), and the alerts contract says a run never alerts twice for the same type.
Every step is therefore idempotent, and the steps are ordered so that every outcome converges:

1. apply the run to its client/job state first, whatever happens to its alert later. The state item is the
   overdue check's only input, so a run that is not applied becomes a false `run_overdue` page. A failed run
   is one conditional update (it only moves the last run forward); a successful run is judged against the
   baseline and written back in one version-conditioned update. A run already counted writes nothing.
2. then alert, at most once per alert, through a dedupe marker claimed before publishing (`publish_once`).

DynamoDB calls per record, the fewest each outcome allows: a successful run one `UpdateItem` (none when
already counted), a failed run one `UpdateItem`, and an alert its claim (`PutItem`) and its mark
(`UpdateItem`). The states a batch's successful runs are judged against are read before the batch, one
`BatchGetItem` per 100 client/jobs (`read_states`), and kept up to date as the batch writes them. A state
read earlier can only be older than the item: the version condition refuses a write based on it, and the
refusal returns the current item (`ReturnValuesOnConditionCheckFailure`), so a stale read costs one refused
write, never a lost or double-counted run.

Clients are created once by the handler and passed in; nothing here reads the environment.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError
from lambda_common.aws import is_condition_failure
from lambda_common.observability import logger

from job_monitor.records import JobRun, MalformedRecord
from job_monitor.settings import Settings
from lakewatch.domain import alerts, baseline, tables
from lakewatch.domain.baseline import HistoryEntry, JobState, Verdict
from lakewatch.domain.reasons import Reason

#: Bounded optimistic-lock retries. Writers of one client/job are rare (one run a day, the odd late or
#: redelivered record), so a handful of conflicts in a row means something is wrong: fail the record.
MAX_UPDATE_ATTEMPTS = 5
#: Attempts at marking a published alert `sent`, each with botocore's own retries and backoff inside.
MARK_SENT_ATTEMPTS = 3
#: A dedupe marker outlives any redelivery: an event source mapping keeps retrying a record for at most
#: its MaximumRecordAgeInSeconds (7 days at most).
ALERT_MARKER_TTL_SECONDS = 14 * 86_400
#: A marker still "sending" after this long, claimed by another delivery, belongs to an attempt that died
#: between claim and publish; the next attempt takes it over. It must exceed the function timeout (60 s in
#: `stacks/constructs/job_monitoring.py`), so a live attempt is never overtaken, and stay short so a
#: crashed attempt's alert is not held back for long. A redelivery of the *same* record takes its own
#: claim over at once: the mapping only redelivers a record after the attempt that held it has ended.
ALERT_CLAIM_LEASE_SECONDS = 120
_SENDING, _SENT = "sending", "sent"
#: How far the transform's clock (which stamped `ingested_at`) may run ahead of this function's.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class RetryLater(RuntimeError):
    """The record cannot be finished now but will be: fail it so the event source mapping retries it."""


class BaselineContention(RetryLater):
    """The baseline kept changing under us."""


class AlertInFlight(RetryLater):
    """Another delivery holds a fresh claim on this alert; the retry will find it settled (or the lease over)."""


class AlertDelivery(StrEnum):
    """What `publish_once` did with an alert."""

    PUBLISHED = "published"
    #: Published, but every attempt to mark the marker `sent` failed: see `publish_once` for what follows.
    PUBLISHED_UNMARKED = "published_unmarked"
    #: An earlier delivery already published it.
    DEDUPLICATED = "deduplicated"


@dataclass(frozen=True, slots=True)
class Dependencies:
    settings: Settings
    dynamodb: Any
    sns: Any
    s3: Any


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What happened to one run, for metrics and logs (no PII: ids and figures only)."""

    run: JobRun
    verdict: Verdict | None
    alert_type: alerts.AlertType | None = None
    alert_delivery: AlertDelivery | None = None


def _state_key(client: str, job_name: str) -> dict[str, Any]:
    return {"pk": {"S": baseline.partition_key(client, job_name)}, "sk": {"S": baseline.BASELINE_SK}}


def load_state(dynamodb: Any, table_name: str, client: str, job_name: str) -> JobState:
    item = dynamodb.get_item(TableName=table_name, Key=_state_key(client, job_name), ConsistentRead=True).get("Item")
    return JobState(client=client, job_name=job_name) if item is None else baseline.state_from_item(item)


def read_states(dynamodb: Any, table_name: str, runs: Iterable[JobRun]) -> dict[str, JobState]:
    """The states `runs` will be judged against, by partition key: one consistent `BatchGetItem` per
    `baseline.MAX_BATCH_GET_KEYS` client/jobs instead of one `GetItem` per record. Only successful runs need
    one (a failed run writes without reading). A client/job without an item maps to an empty state; a key
    DynamoDB leaves unprocessed (throttling) is left out, and its records read their own state as they go."""
    wanted: dict[str, tuple[str, str]] = {}
    for run in runs:
        if not run.failed:
            wanted[baseline.partition_key(run.row.client, run.row.job_name)] = (run.row.client, run.row.job_name)
    pending = list(wanted.items())
    states: dict[str, JobState] = {}
    for start in range(0, len(pending), baseline.MAX_BATCH_GET_KEYS):
        chunk = dict(pending[start : start + baseline.MAX_BATCH_GET_KEYS])
        response = dynamodb.batch_get_item(
            RequestItems={
                table_name: {"Keys": [_state_key(*names) for names in chunk.values()], "ConsistentRead": True}
            }
        )
        for item in response.get("Responses", {}).get(table_name, []):
            states[item["pk"]["S"]] = baseline.state_from_item(item)
        unprocessed = response.get("UnprocessedKeys", {}).get(table_name, {}).get("Keys", [])
        skipped = {key["pk"]["S"] for key in unprocessed}
        for pk, (client, job_name) in chunk.items():
            if pk not in states and pk not in skipped:
                states[pk] = JobState(client=client, job_name=job_name)
    return states


def _next_state(state: JobState, run: JobRun) -> tuple[JobState, Verdict | None]:
    """The state after a successful `run`, and the verdict on it (None when the run is already counted)."""
    row = run.row
    history, verdict = state.history, None
    if not baseline.contains_run(history, row.run_id):
        verdict = baseline.judge(history, row.duration_seconds)
        if not verdict.is_outlier:
            history = baseline.admit(history, HistoryEntry(row.run_id, run.ended_at_text, row.duration_seconds))
    last = state.last_ended_at, state.last_run_id, state.last_status
    if state.last_ended_at is None or run.ended_at_text > state.last_ended_at:
        last = run.ended_at_text, row.run_id, row.status
    return (
        JobState(
            client=state.client,
            job_name=state.job_name,
            history=history,
            last_ended_at=last[0],
            last_run_id=last[1],
            last_status=last[2],
            overdue_alerted_for=state.overdue_alerted_for,
            version=state.version + 1,
        ),
        verdict,
    )


def _expires_at(last_ended_at: str) -> dict[str, str]:
    return {"N": str(int(tables.parse_clean_utc(last_ended_at).timestamp()) + baseline.STATE_RETENTION_SECONDS)}


def _write_state(dynamodb: Any, table_name: str, previous: JobState, state: JobState, now: datetime) -> None:
    """Conditional on the version read, and touching only the attributes job_monitor owns (so the overdue
    check's `overdue_alerted_for` is never overwritten by a stale copy). A refused write carries the current
    item (`ReturnValuesOnConditionCheckFailure`), so a conflict costs no extra read."""
    if previous.version == 0:
        condition, values = "attribute_not_exists(pk)", {}
    else:
        condition, values = "version = :expected", {":expected": {"N": str(previous.version)}}
    last_ended_at = state.last_ended_at or ""
    dynamodb.update_item(
        TableName=table_name,
        Key=_state_key(state.client, state.job_name),
        UpdateExpression=(
            "SET client = :client, job_name = :job_name, history = :history, last_ended_at = :last_ended_at, "
            "last_run_id = :last_run_id, last_status = :last_status, version = :version, "
            f"{baseline.LAST_RUN_INDEX_PARTITION} = :watched, expires_at = :expires_at, updated_at = :updated_at"
        ),
        ConditionExpression=condition,
        ExpressionAttributeValues={
            ":client": {"S": state.client},
            ":job_name": {"S": state.job_name},
            ":history": baseline.history_attribute(state.history),
            ":last_ended_at": {"S": last_ended_at},
            ":last_run_id": {"S": state.last_run_id or ""},
            ":last_status": {"S": state.last_status or ""},
            ":version": {"N": str(state.version)},
            ":watched": {"S": baseline.WATCHED},
            ":expires_at": _expires_at(last_ended_at),
            ":updated_at": {"S": alerts.iso_utc(now)},
            **values,
        },
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )


def _apply_successful_run(
    dynamodb: Any, table_name: str, run: JobRun, now: datetime, states: dict[str, JobState]
) -> Verdict | None:
    """Fold a successful run into the baseline (optimistic lock, bounded retry); return the verdict on it.

    It starts from the state in `states` (read before the batch, or left by an earlier record of it) or, when
    there is none, reads it. A run already counted (redelivery), or an outlier older than what is known,
    writes nothing. On a conflict the run is re-judged against the state the refused write returned, so no
    concurrent duration is lost. `states` is left holding what was written, for the batch's next records.
    """
    row = run.row
    pk = baseline.partition_key(row.client, row.job_name)
    state = states.pop(pk, None) or load_state(dynamodb, table_name, row.client, row.job_name)
    for _attempt in range(MAX_UPDATE_ATTEMPTS):
        new_state, verdict = _next_state(state, run)
        unchanged = (new_state.history, new_state.last_ended_at) == (state.history, state.last_ended_at)
        if unchanged and state.version:
            states[pk] = state
            return verdict
        try:
            _write_state(dynamodb, table_name, state, new_state, now)
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            current = error.response.get("Item")
            state = (
                baseline.state_from_item(current)
                if current is not None
                else load_state(dynamodb, table_name, row.client, row.job_name)
            )
            continue
        states[pk] = new_state
        return verdict
    raise BaselineContention(f"baseline of run {row.run_id} changed {MAX_UPDATE_ATTEMPTS} times in a row")


def _apply_failed_run(dynamodb: Any, table_name: str, run: JobRun, now: datetime) -> None:
    """Move the last run forward to a failed run: one conditional update, no read.

    A failed run never enters the history, so it needs no judgement: only `last_ended_at` (which re-arms
    the overdue check: the job did run) moves, and only forward. `version` is incremented so a concurrent
    successful-run writer, whose update is conditioned on the version it read, re-reads instead of writing
    back the older last run. A redelivered or late failure fails the condition and changes nothing.
    """
    row = run.row
    try:
        dynamodb.update_item(
            TableName=table_name,
            Key=_state_key(row.client, row.job_name),
            UpdateExpression=(
                "SET client = :client, job_name = :job_name, last_ended_at = :ended, last_run_id = :run_id, "
                f"last_status = :status, {baseline.LAST_RUN_INDEX_PARTITION} = :watched, "
                "expires_at = :expires_at, updated_at = :updated_at ADD version :one"
            ),
            ConditionExpression="attribute_not_exists(last_ended_at) OR last_ended_at < :ended",
            ExpressionAttributeValues={
                ":client": {"S": row.client},
                ":job_name": {"S": row.job_name},
                ":ended": {"S": run.ended_at_text},
                ":run_id": {"S": row.run_id},
                ":status": {"S": row.status},
                ":watched": {"S": baseline.WATCHED},
                ":expires_at": _expires_at(run.ended_at_text),
                ":updated_at": {"S": alerts.iso_utc(now)},
                ":one": {"N": "1"},
            },
        )
    except ClientError as error:
        if not is_condition_failure(error):
            raise


def apply_run(
    dynamodb: Any, table_name: str, run: JobRun, now: datetime, states: dict[str, JobState] | None = None
) -> Verdict | None:
    """Fold one run into its client/job state; the verdict on a successful run not yet counted, else None.

    `states` holds the states already read for the batch (`read_states`), by partition key; it is kept up to
    date with what this run writes. Without it, the state is read.
    """
    states = {} if states is None else states
    if run.failed:
        # The failed run moves the item's version on: a copy read before it would only be refused.
        states.pop(baseline.partition_key(run.row.client, run.row.job_name), None)
        _apply_failed_run(dynamodb, table_name, run, now)
        return None
    return _apply_successful_run(dynamodb, table_name, run, now, states)


def publish_once(deps: Dependencies, alert: alerts.Alert, *, pk: str, now: datetime, delivery_id: str) -> AlertDelivery:
    """Publish `alert` unless an earlier delivery did. `delivery_id` names this delivery of the record (the
    Kinesis event id: the same on every redelivery of that record).

    1. claim: conditional put of the marker (`state = sending`, `claimed_by = delivery_id`). It succeeds
       when there is no marker; when the marker is "sending" and ours (an earlier attempt at this very
       record died, since the mapping redelivers a record only after its attempt ended); or when it is
       "sending" and older than the lease (another delivery died between claim and publish). A marker
       already `sent` means a redelivery: nothing to do. A fresh foreign "sending" marker means another
       delivery is publishing right now: raise `AlertInFlight`, the record is retried and finds it settled.
    2. publish. If SNS fails, our claim is released and the error propagates: the record fails and its retry
       publishes. If even the release fails, the marker stays ours, and the retry takes it over at once.
    3. mark `sent`, retried `MARK_SENT_ATTEMPTS` times. If every attempt fails the record still succeeds
       (the page went out, and failing the record would only re-page or strand it): PUBLISHED_UNMARKED.

    Residual windows, all needing two faults: a duplicate page when a publish succeeded, every mark-`sent`
    attempt then failed (or the function died between publish and mark), *and* the same alert is
    delivered again: at once by a replay of the same record (an earlier record of its batch failed, so the
    mapping retries from there), or after the lease by another record of the same run. No page is lost
    while the record is retried: a delivery that dies before or during the publish leaves a claim its own
    retry takes over (and once the mapping gives up on it, the on-failure queue holds it for a re-drive).
    """
    key = {"pk": {"S": pk}, "sk": {"S": baseline.alert_marker_sk(alert.alert_type, alert.dedupe_id)}}
    claimed_at = now.timestamp()
    if not _claim(deps, key, alert, claimed_at=claimed_at, delivery_id=delivery_id):
        return AlertDelivery.DEDUPLICATED
    try:
        deps.sns.publish(
            TopicArn=deps.settings.alerts_topic_arn,
            # One message per protocol (e-mail text, chat, today's JSON for the rest).
            **alerts.publish_arguments(alert, deps.settings.alert_links),
        )
    except Exception:
        _release_claim(deps, key, delivery_id)
        raise
    return AlertDelivery.PUBLISHED if _mark_sent(deps, key) else AlertDelivery.PUBLISHED_UNMARKED


def _claim(
    deps: Dependencies, key: dict[str, Any], alert: alerts.Alert, *, claimed_at: float, delivery_id: str
) -> bool:
    """True when this delivery now owns the alert; False when it was already sent; AlertInFlight otherwise."""
    try:
        deps.dynamodb.put_item(
            TableName=deps.settings.baselines_table_name,
            Item={
                **key,
                "alert_type": {"S": str(alert.alert_type)},
                "dedupe_id": {"S": alert.dedupe_id},
                "state": {"S": _SENDING},
                "claimed_by": {"S": delivery_id},
                "claimed_at": {"N": repr(claimed_at)},
                "expires_at": {"N": str(int(claimed_at) + ALERT_MARKER_TTL_SECONDS)},
            },
            ConditionExpression=(
                "attribute_not_exists(pk) OR (#state = :sending AND (claimed_by = :me OR claimed_at < :stale))"
            ),
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":sending": {"S": _SENDING},
                ":me": {"S": delivery_id},
                ":stale": {"N": repr(claimed_at - ALERT_CLAIM_LEASE_SECONDS)},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if not is_condition_failure(error):
            raise
        if error.response.get("Item", {}).get("state", {}).get("S") == _SENT:
            return False
        raise AlertInFlight(f"{alert.alert_type} for run {alert.dedupe_id} is being published") from None
    return True


def _release_claim(deps: Dependencies, key: dict[str, Any], delivery_id: str) -> None:
    """Best effort: a claim left behind is ours, and our retry takes it over at once."""
    try:
        deps.dynamodb.delete_item(
            TableName=deps.settings.baselines_table_name,
            Key=key,
            ConditionExpression="claimed_by = :me AND #state = :sending",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":me": {"S": delivery_id}, ":sending": {"S": _SENDING}},
        )
    except Exception as error:
        if not is_condition_failure(error):
            logger.warning("alert claim not released", error_type=type(error).__name__)


def _mark_sent(deps: Dependencies, key: dict[str, Any]) -> bool:
    last_error: Exception | None = None
    for _attempt in range(MARK_SENT_ATTEMPTS):
        try:
            deps.dynamodb.update_item(
                TableName=deps.settings.baselines_table_name,
                Key=key,
                UpdateExpression="SET #state = :sent, sent_at = :sent_at",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":sent": {"S": _SENT}, ":sent_at": {"N": repr(time.time())}},
            )
        except Exception as error:
            last_error = error
            continue
        return True
    logger.warning(
        "alert published but not marked sent",
        attempts=MARK_SENT_ATTEMPTS,
        error_type=type(last_error).__name__,
    )
    return False


def failure_alert(run: JobRun) -> alerts.Alert:
    row = run.row
    return alerts.job_failed(
        client=row.client,
        job_name=row.job_name,
        run_id=row.run_id,
        status=row.status,
        started_at=run.started_at,
        ended_at=run.ended_at,
        duration_seconds=row.duration_seconds,
        cost_usd=row.cost_usd,
        data_processed_gb=row.data_processed_gb,
        instance_size=row.instance_size,
        error_message=row.error_message,
    )


def outlier_alert(run: JobRun, verdict: Verdict) -> alerts.Alert:
    row = run.row
    return alerts.duration_outlier(
        client=row.client,
        job_name=row.job_name,
        run_id=row.run_id,
        started_at=run.started_at,
        ended_at=run.ended_at,
        duration_seconds=row.duration_seconds,
        baseline_seconds=verdict.median_seconds or 0.0,
        mad_seconds=verdict.mad_seconds or 0.0,
        threshold_seconds=verdict.threshold_seconds or 0.0,
        history_size=verdict.history_size,
        cost_usd=row.cost_usd,
        data_processed_gb=row.data_processed_gb,
    )


def check_processable(run: JobRun, now: datetime) -> None:
    """Raise `MalformedRecord` for a run no attempt could ever store: keys DynamoDB refuses, or a time
    outside the accepted event-time range.

    The transform already rejects such runs; this is the cheap second line, so that one bad record is set
    aside instead of failing its batch forever, and a run "ending" in 2030 never moves `last_ended_at` out
    of the overdue check's reach. The range is the transform's, from the record's ingestion time, but never
    from later than `MAX_CLOCK_SKEW` after now: a record whose `ingested_at` is itself in the future does not
    widen it, and a run the transform accepted at the range's very end is not refused because this function's
    clock reads a hair earlier than the transform's did.
    """
    row = run.row
    if len(baseline.partition_key(row.client, row.job_name).encode()) > baseline.MAX_PARTITION_KEY_BYTES:
        field = "client" if len(row.client) >= len(row.job_name) else "job_name"
        raise MalformedRecord(Reason.INVALID_FIELD, field, "too long for a DynamoDB key")
    longest_marker = baseline.alert_marker_sk(max(alerts.AlertType, key=len), row.run_id)
    if len(longest_marker.encode()) > baseline.MAX_SORT_KEY_BYTES:
        raise MalformedRecord(Reason.INVALID_FIELD, "run_id", "too long for a DynamoDB key")
    earliest, latest = tables.accepted_event_times(min(run.ingested_at, now + MAX_CLOCK_SKEW))
    if not earliest <= run.ended_at <= latest:
        raise MalformedRecord(Reason.INVALID_FIELD, "ended_at", "outside the accepted event-time range")


def process_run(
    deps: Dependencies,
    run: JobRun,
    now: datetime,
    *,
    delivery_id: str,
    states: dict[str, JobState] | None = None,
) -> RunOutcome:
    """Apply the run first (so the overdue check sees it whatever the alert does), then alert: a failure
    always, a success when the baseline judged it an outlier. An outlier never enters the baseline, so a
    redelivery after a failed alert judges, and alerts, it again. `states` as in `apply_run`."""
    check_processable(run, now)
    table_name = deps.settings.baselines_table_name
    verdict = apply_run(deps.dynamodb, table_name, run, now, states)
    pk = baseline.partition_key(run.row.client, run.row.job_name)
    if run.failed:
        delivery = publish_once(deps, failure_alert(run), pk=pk, now=now, delivery_id=delivery_id)
        return RunOutcome(run, None, alerts.AlertType.JOB_FAILED, delivery)
    if verdict is not None and verdict.is_outlier:
        delivery = publish_once(deps, outlier_alert(run, verdict), pk=pk, now=now, delivery_id=delivery_id)
        return RunOutcome(run, verdict, alerts.AlertType.DURATION_OUTLIER, delivery)
    return RunOutcome(run, verdict)
