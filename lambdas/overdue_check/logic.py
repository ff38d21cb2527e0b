"""What one overdue check does: find client/jobs whose last run ended too long ago, alert once per episode.

An *episode* is identified by the `last_ended_at` it started from. Alerting it takes three writes of the
baseline item's `overdue_alerted_for`, each conditional on what the previous one left:

1. claim: `overdue_alerted_for = "claimed:<now>|<last_ended_at>"`, only if the item still has that
   `last_ended_at` and `overdue_alerted_for` is still what the check read, so repeated hourly ticks,
   EventBridge's retries and overlapping invocations alert once;
2. publish; if that fails, the claim is released (the attribute removed) and the next tick alerts;
3. mark it sent: `overdue_alerted_for = last_ended_at`.

A claim left by a check that died between 1 and 3 (the function timed out in a slow publish, or was killed) is
taken over by a check at least `CLAIM_LEASE` later (the next tick), so a crash delays the page by an hour
instead of losing it; the price is a second page when the publish went out and the death came before the mark.
The next run moves `last_ended_at` on, which re-arms the check by itself. The writes touch neither `version`
nor the history, so they never conflict with job_monitor's.

The check does not scan the table: it queries the sparse index `by_last_run` (client/job states by last run
end, see `lakewatch/domain/baseline.py`) for the states whose last run ended before the earliest moment any
of them can be overdue (now minus the shortest expected interval and the grace), and judges only those.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from lambda_common.aws import is_condition_failure
from lambda_common.observability import logger

from lakewatch.domain import alerts, baseline, tables
from lakewatch.domain.baseline import JobState
from overdue_check.settings import Settings

#: A claim older than this, by the scheduled times of the checks, belongs to a check that died: the next tick
#: takes it over. Longer than the function's timeout (300 s), shorter than the hourly schedule, so an
#: EventBridge retry of the same tick leaves a live claim alone and the next tick always finds a dead one stale.
CLAIM_LEASE = timedelta(minutes=10)
_CLAIM_PREFIX = "claimed:"
#: Attempts at marking a published alert sent, each with botocore's own retries inside.
MARK_SENT_ATTEMPTS = 3


class OverdueAlertsFailed(RuntimeError):
    """Some alerts could not be published; their claims were released so a retry or the next tick sends them."""


@dataclass(frozen=True, slots=True)
class Dependencies:
    settings: Settings
    dynamodb: Any
    sns: Any


@dataclass(slots=True)
class CheckSummary:
    #: Client/jobs read from the index: those whose last run ended before the earliest possible overdue cutoff.
    scanned: int = 0
    #: Overdue now, alerted in this check or in an earlier one (a gauge for the dashboard).
    overdue: int = 0
    alerted: int = 0
    failed: int = 0


def iter_states(
    dynamodb: Any, table_name: str, *, ended_before: str, page_size: int | None = None
) -> Iterator[JobState]:
    """The client/job states whose last run ended before `ended_before` (sortable UTC text), oldest first,
    page after page, from the sparse index (dedupe markers are not in it). The index projects only what
    the check reads (no history). `page_size` is for tests; DynamoDB's 1 MB page limit applies otherwise."""
    paginator = dynamodb.get_paginator("query")
    pages = paginator.paginate(
        TableName=table_name,
        IndexName=baseline.LAST_RUN_INDEX,
        KeyConditionExpression="#watched = :watched AND #last_ended_at < :cutoff",
        ExpressionAttributeNames={
            "#watched": baseline.LAST_RUN_INDEX_PARTITION,
            "#last_ended_at": baseline.LAST_RUN_INDEX_SORT,
        },
        ExpressionAttributeValues={":watched": {"S": baseline.WATCHED}, ":cutoff": {"S": ended_before}},
        PaginationConfig={"PageSize": page_size} if page_size else {},
    )
    for page in pages:
        for item in page.get("Items", []):
            yield baseline.state_from_item(item)


def claim_value(episode: str, now: datetime) -> str:
    """What `overdue_alerted_for` holds while the check of `now` publishes the episode (never a timestamp, so
    never mistaken for a sent episode)."""
    return f"{_CLAIM_PREFIX}{alerts.iso_utc(now)}|{episode}"


def _live_claim(value: str | None, episode: str, now: datetime) -> bool:
    """Whether `value` is another check's claim on `episode`, still within its lease."""
    if value is None or not value.startswith(_CLAIM_PREFIX):
        return False
    claimed_at, _, claimed = value[len(_CLAIM_PREFIX) :].partition("|")
    if claimed != episode:
        return False
    return datetime.fromisoformat(claimed_at.replace("Z", "+00:00")) > now - CLAIM_LEASE


def overdue_alert(state: JobState, settings: Settings, now: datetime) -> tuple[bool, alerts.Alert | None]:
    """(is overdue, alert to send). The alert is None when not overdue, when this episode was already alerted,
    or while another check's claim on it is live."""
    if not state.last_ended_at:
        return False, None
    expected = settings.expected_interval_hours(state.client, state.job_name)
    if now - tables.parse_clean_utc(state.last_ended_at) <= timedelta(hours=expected + settings.grace_hours):
        return False, None
    if state.overdue_alerted_for == state.last_ended_at or _live_claim(
        state.overdue_alerted_for, state.last_ended_at, now
    ):
        return True, None
    return True, episode_alert(state, settings, now)


def episode_alert(state: JobState, settings: Settings, now: datetime, last_status: str | None = None) -> alerts.Alert:
    """The `run_overdue` alert of the episode `state` is in. `last_status` is the last run's, when known: the
    index does not project it, the claim returns it."""
    return alerts.run_overdue(
        client=state.client,
        job_name=state.job_name,
        last_run_id=state.last_run_id,
        last_ended_at=tables.parse_clean_utc(state.last_ended_at or ""),
        now=now,
        expected_interval_hours=settings.expected_interval_hours(state.client, state.job_name),
        grace_hours=settings.grace_hours,
        last_run_status=last_status,
    )


def _key(state: JobState) -> dict[str, Any]:
    return {"pk": {"S": baseline.partition_key(state.client, state.job_name)}, "sk": {"S": baseline.BASELINE_SK}}


def claim_episode(dynamodb: Any, table_name: str, state: JobState, now: datetime) -> bool:
    """True when this call claimed the episode; False when another check did, or a new run re-armed it."""
    return _claim(dynamodb, table_name, state, now) is not None


def _claim(dynamodb: Any, table_name: str, state: JobState, now: datetime) -> dict[str, Any] | None:
    """The claimed item (all of it, so the alert can say what the index does not project), or None.

    Conditional on the item still holding what `state` was read with (`overdue_alerted_for` absent, a past
    episode, or a claim whose lease is over), so of two checks that read the same item only one wins."""
    seen = state.overdue_alerted_for
    unchanged = "attribute_not_exists(overdue_alerted_for)" if seen is None else "overdue_alerted_for = :seen"
    try:
        response = dynamodb.update_item(
            TableName=table_name,
            Key=_key(state),
            UpdateExpression="SET overdue_alerted_for = :claim, overdue_alerted_at = :now",
            ConditionExpression=f"last_ended_at = :episode AND {unchanged}",
            ExpressionAttributeValues={
                ":episode": {"S": state.last_ended_at or ""},
                ":claim": {"S": claim_value(state.last_ended_at or "", now)},
                ":now": {"S": alerts.iso_utc(now)},
                **({} if seen is None else {":seen": {"S": seen}}),
            },
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if is_condition_failure(error):
            return None
        raise
    return response.get("Attributes", {})


def mark_sent(dynamodb: Any, table_name: str, state: JobState, now: datetime) -> bool:
    """Turn our claim into the sent episode (`overdue_alerted_for = last_ended_at`); False when every attempt
    failed (the claim then stays, and the next tick after its lease sends the alert a second time)."""
    for _attempt in range(MARK_SENT_ATTEMPTS):
        try:
            dynamodb.update_item(
                TableName=table_name,
                Key=_key(state),
                UpdateExpression="SET overdue_alerted_for = :episode",
                ConditionExpression="overdue_alerted_for = :claim",
                ExpressionAttributeValues={
                    ":episode": {"S": state.last_ended_at or ""},
                    ":claim": {"S": claim_value(state.last_ended_at or "", now)},
                },
            )
        except ClientError as error:
            if is_condition_failure(error):  # a new run re-armed the check meanwhile: nothing left to mark
                return True
            continue
        except BotoCoreError:
            continue
        return True
    return False


def release_episode(dynamodb: Any, table_name: str, state: JobState, now: datetime) -> None:
    """Undo our claim (only if it is still ours) after a failed publish, so the next check alerts."""
    try:
        dynamodb.update_item(
            TableName=table_name,
            Key=_key(state),
            UpdateExpression="REMOVE overdue_alerted_for, overdue_alerted_at",
            ConditionExpression="overdue_alerted_for = :claim",
            ExpressionAttributeValues={":claim": {"S": claim_value(state.last_ended_at or "", now)}},
        )
    except ClientError as error:
        if not is_condition_failure(error):
            raise


def check(deps: Dependencies, now: datetime, *, page_size: int | None = None) -> CheckSummary:
    """One pass over the client/jobs that may be overdue. A failed publish does not stop the others: it is
    released, counted and raised at the end, so the invocation fails visibly and EventBridge's retry (or the
    next tick) sends it."""
    summary = CheckSummary()
    table_name = deps.settings.baselines_table_name
    cutoff = tables.format_clean_timestamp(now - timedelta(hours=deps.settings.shortest_overdue_hours()))
    for state in iter_states(deps.dynamodb, table_name, ended_before=cutoff, page_size=page_size):
        summary.scanned += 1
        is_overdue, alert = overdue_alert(state, deps.settings, now)
        summary.overdue += is_overdue
        claimed = None if alert is None else _claim(deps.dynamodb, table_name, state, now)
        if claimed is None:
            continue
        alert = episode_alert(state, deps.settings, now, claimed.get("last_status", {}).get("S") or None)
        try:
            deps.sns.publish(
                TopicArn=deps.settings.alerts_topic_arn,
                # One message per protocol (e-mail text, chat, today's JSON for the rest).
                **alerts.publish_arguments(alert, deps.settings.alert_links),
            )
        except Exception as error:  # any failure of one alert: the other client/jobs are still checked
            logger.warning("overdue alert not published", error_type=type(error).__name__)
            release_episode(deps.dynamodb, table_name, state, now)
            summary.failed += 1
            continue
        summary.alerted += 1
        if not mark_sent(deps.dynamodb, table_name, state, now):
            logger.warning("overdue alert published but not marked sent", attempts=MARK_SENT_ATTEMPTS)
    return summary
