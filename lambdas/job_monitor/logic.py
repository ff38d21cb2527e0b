"""What job_monitor does with one clean job run: alert on failures and outliers, keep the baseline.

Delivery is at-least-once (Kinesis retries a failed batch from its first failed record, so records that
already succeeded come again), and the alerts contract says a run never alerts twice for the same type.
Every step is therefore idempotent:

* the baseline admits a run only once (its run_id is kept in the history) and `last_ended_at` only moves
  forward, both inside one version-conditioned write;
* an alert is claimed with a conditional put of a dedupe marker *before* it is published (see
  `publish_once` for the failure cases).

Clients are created once by the handler and passed in; nothing here reads the environment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from job_monitor.records import JobRun
from job_monitor.settings import Settings
from lakewatch.domain import alerts, baseline
from lakewatch.domain.baseline import HistoryEntry, JobState, Verdict

#: Bounded optimistic-lock retries. Writers of one client/job are rare (one run a day, the odd late or
#: redelivered record), so a handful of conflicts in a row means something is wrong: fail the record.
MAX_UPDATE_ATTEMPTS = 5
#: A dedupe marker outlives any redelivery: an event source mapping keeps retrying a record for at most
#: its MaximumRecordAgeInSeconds (7 days at most).
ALERT_MARKER_TTL_SECONDS = 14 * 86_400
#: A marker still "sending" after this long belongs to an attempt that died between claim and publish
#: (timeout, out of memory); the next attempt takes it over. It must exceed the function timeout (60 s in
#: `stacks/constructs/job_monitoring.py`), so a live attempt is never overtaken, and stay short so a
#: crashed attempt's alert is not held back for long.
ALERT_CLAIM_LEASE_SECONDS = 120
_CONDITION_FAILED = "ConditionalCheckFailedException"


class BaselineContention(RuntimeError):
    """The baseline kept changing under us; the record fails and is retried."""


class AlertInFlight(RuntimeError):
    """Another attempt holds a fresh claim on this alert; the record fails and is retried after it settles."""


@dataclass(frozen=True, slots=True)
class Dependencies:
    settings: Settings
    dynamodb: Any
    sns: Any


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What happened to one run, for metrics and logs (no PII: ids and figures only)."""

    run: JobRun
    verdict: Verdict | None
    alert_type: alerts.AlertType | None = None
    alert_published: bool = False


def _is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == _CONDITION_FAILED


def load_state(dynamodb: Any, table_name: str, client: str, job_name: str) -> JobState:
    response = dynamodb.get_item(
        TableName=table_name,
        Key={"pk": {"S": baseline.partition_key(client, job_name)}, "sk": {"S": baseline.BASELINE_SK}},
        ConsistentRead=True,
    )
    item = response.get("Item")
    return JobState(client=client, job_name=job_name) if item is None else baseline.state_from_item(item)


def _next_state(state: JobState, run: JobRun) -> tuple[JobState, Verdict | None]:
    """The state after `run`, and the verdict on it (None for failures and already-counted runs)."""
    history, verdict = state.history, None
    if not run.failed and not baseline.contains_run(history, run.run_id):
        verdict = baseline.judge(history, run.duration_seconds)
        if not verdict.is_outlier:
            history = baseline.admit(history, HistoryEntry(run.run_id, run.ended_at_text, run.duration_seconds))
    last = state.last_ended_at, state.last_run_id, state.last_status
    if state.last_ended_at is None or run.ended_at_text > state.last_ended_at:
        last = run.ended_at_text, run.run_id, run.status
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


def _write_state(dynamodb: Any, table_name: str, previous: JobState, state: JobState, now: datetime) -> None:
    """Conditional on the version read, and touching only the attributes job_monitor owns (so the overdue
    check's `overdue_alerted_for` is never overwritten by a stale copy)."""
    if previous.version == 0:
        condition, values = "attribute_not_exists(pk)", {}
    else:
        condition, values = "version = :expected", {":expected": {"N": str(previous.version)}}
    last_ended = baseline.parse_clean_time(state.last_ended_at or "")
    dynamodb.update_item(
        TableName=table_name,
        Key={"pk": {"S": baseline.partition_key(state.client, state.job_name)}, "sk": {"S": baseline.BASELINE_SK}},
        UpdateExpression=(
            "SET client = :client, job_name = :job_name, history = :history, last_ended_at = :last_ended_at, "
            "last_run_id = :last_run_id, last_status = :last_status, version = :version, "
            "expires_at = :expires_at, updated_at = :updated_at"
        ),
        ConditionExpression=condition,
        ExpressionAttributeValues={
            ":client": {"S": state.client},
            ":job_name": {"S": state.job_name},
            ":history": baseline.history_attribute(state.history),
            ":last_ended_at": {"S": state.last_ended_at or ""},
            ":last_run_id": {"S": state.last_run_id or ""},
            ":last_status": {"S": state.last_status or ""},
            ":version": {"N": str(state.version)},
            ":expires_at": {"N": str(int(last_ended.timestamp()) + baseline.STATE_RETENTION_SECONDS)},
            ":updated_at": {"S": alerts.iso_utc(now)},
            **values,
        },
    )


def apply_run(dynamodb: Any, table_name: str, run: JobRun, now: datetime) -> Verdict | None:
    """Fold one run into its client/job state (optimistic lock, bounded retry); return the verdict on it.

    A run already counted (redelivery) or older than what is known changes nothing and writes nothing.
    On a conflict the state is re-read and the run re-judged against it, so no concurrent duration is lost.
    """
    for _attempt in range(MAX_UPDATE_ATTEMPTS):
        state = load_state(dynamodb, table_name, run.client, run.job_name)
        new_state, verdict = _next_state(state, run)
        unchanged = (new_state.history, new_state.last_ended_at) == (state.history, state.last_ended_at)
        if unchanged and state.version:
            return verdict
        try:
            _write_state(dynamodb, table_name, state, new_state, now)
        except ClientError as error:
            if _is_condition_failure(error):
                continue
            raise
        return verdict
    raise BaselineContention(f"baseline of run {run.run_id} changed {MAX_UPDATE_ATTEMPTS} times in a row")


def publish_once(deps: Dependencies, alert: alerts.Alert, *, pk: str, now: datetime) -> bool:
    """Publish `alert` unless it was already published; True when this call published it.

    At-least-once upstream, at-most-once per alert downstream, in three steps:

    1. claim: conditional put of the marker (`state = sending`). A marker already `sent` means a
       redelivery: nothing to do. A `sending` marker older than the lease was left by an attempt that died
       between claim and publish: take it over, so a crash loses no alert. A fresh `sending` marker means
       another attempt is publishing right now: raise, the record is retried and will find it `sent`.
    2. publish. If SNS fails, the claim is released (conditional delete of *our* claim) and the error
       propagates: the record fails and its retry publishes.
    3. mark `sent`.

    The one remaining duplicate window is a crash between 2 and 3 followed by a retry after the lease:
    we prefer a rare duplicate page to a lost one.
    """
    key = {"pk": {"S": pk}, "sk": {"S": baseline.alert_marker_sk(alert.alert_type, alert.dedupe_id)}}
    table_name = deps.settings.baselines_table_name
    claimed_at = now.timestamp()
    try:
        deps.dynamodb.put_item(
            TableName=table_name,
            Item={
                **key,
                "alert_type": {"S": str(alert.alert_type)},
                "dedupe_id": {"S": alert.dedupe_id},
                "state": {"S": "sending"},
                "claimed_at": {"N": repr(claimed_at)},
                "expires_at": {"N": str(int(claimed_at) + ALERT_MARKER_TTL_SECONDS)},
            },
            ConditionExpression="attribute_not_exists(pk) OR (#state = :sending AND claimed_at < :stale)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":sending": {"S": "sending"},
                ":stale": {"N": repr(claimed_at - ALERT_CLAIM_LEASE_SECONDS)},
            },
        )
    except ClientError as error:
        if not _is_condition_failure(error):
            raise
        existing = deps.dynamodb.get_item(TableName=table_name, Key=key, ConsistentRead=True).get("Item", {})
        if existing.get("state", {}).get("S") == "sending":
            raise AlertInFlight(f"{alert.alert_type} for {alert.dedupe_id} is being published") from error
        return False
    try:
        deps.sns.publish(
            TopicArn=deps.settings.alerts_topic_arn,
            Subject=alert.subject,
            Message=alert.message,
            MessageAttributes=alert.message_attributes,
        )
    except Exception:
        _release_claim(deps, key, claimed_at)
        raise
    deps.dynamodb.update_item(
        TableName=table_name,
        Key=key,
        UpdateExpression="SET #state = :sent, sent_at = :sent_at",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={":sent": {"S": "sent"}, ":sent_at": {"N": repr(time.time())}},
    )
    return True


def _release_claim(deps: Dependencies, key: dict[str, Any], claimed_at: float) -> None:
    try:
        deps.dynamodb.delete_item(
            TableName=deps.settings.baselines_table_name,
            Key=key,
            ConditionExpression="claimed_at = :mine",
            ExpressionAttributeValues={":mine": {"N": repr(claimed_at)}},
        )
    except ClientError as error:
        if not _is_condition_failure(error):
            raise


def failure_alert(run: JobRun) -> alerts.Alert:
    return alerts.job_failed(
        client=run.client,
        job_name=run.job_name,
        run_id=run.run_id,
        status=run.status,
        started_at=run.started_at,
        ended_at=run.ended_at,
        duration_seconds=run.duration_seconds,
        cost_usd=run.cost_usd,
        data_processed_gb=run.data_processed_gb,
        instance_size=run.instance_size,
        error_message=run.error_message,
    )


def outlier_alert(run: JobRun, verdict: Verdict) -> alerts.Alert:
    return alerts.duration_outlier(
        client=run.client,
        job_name=run.job_name,
        run_id=run.run_id,
        started_at=run.started_at,
        ended_at=run.ended_at,
        duration_seconds=run.duration_seconds,
        baseline_seconds=verdict.median_seconds or 0.0,
        mad_seconds=verdict.mad_seconds or 0.0,
        threshold_seconds=verdict.threshold_seconds or 0.0,
        history_size=verdict.history_size,
        cost_usd=run.cost_usd,
        data_processed_gb=run.data_processed_gb,
    )


def process_run(deps: Dependencies, run: JobRun, now: datetime) -> RunOutcome:
    """Alert on a failure first (the page matters more than the bookkeeping), then fold the run into the
    state, which re-arms the overdue check whatever the status. A success is judged inside that fold and
    alerted after it: a crash in between is harmless because an outlier is never admitted, so its
    redelivery is judged, and alerted, again."""
    pk = baseline.partition_key(run.client, run.job_name)
    if run.failed:
        published = publish_once(deps, failure_alert(run), pk=pk, now=now)
        apply_run(deps.dynamodb, deps.settings.baselines_table_name, run, now)
        return RunOutcome(run, None, alerts.AlertType.JOB_FAILED, published)
    verdict = apply_run(deps.dynamodb, deps.settings.baselines_table_name, run, now)
    if verdict is not None and verdict.is_outlier:
        published = publish_once(deps, outlier_alert(run, verdict), pk=pk, now=now)
        return RunOutcome(run, verdict, alerts.AlertType.DURATION_OUTLIER, published)
    return RunOutcome(run, verdict)
