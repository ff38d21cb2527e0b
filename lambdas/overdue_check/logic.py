"""What one overdue check does: find client/jobs whose last run ended too long ago, alert once per episode.

An *episode* is identified by the `last_ended_at` it started from. Alerting claims it with a conditional
update of the baseline item (`overdue_alerted_for = last_ended_at`, only if the item still has that
`last_ended_at` and has not claimed it yet), so repeated hourly ticks, EventBridge's retries and overlapping
invocations alert once; the next run moves `last_ended_at` on, which re-arms the check by itself. The claim
touches neither `version` nor the history, so it never conflicts with job_monitor's writes.

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

from lakewatch.domain import alerts, baseline, tables
from lakewatch.domain.baseline import JobState
from overdue_check.settings import Settings


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


def overdue_alert(state: JobState, settings: Settings, now: datetime) -> tuple[bool, alerts.Alert | None]:
    """(is overdue, alert to send). The alert is None when not overdue or this episode was already alerted."""
    if not state.last_ended_at:
        return False, None
    last_ended = tables.parse_clean_utc(state.last_ended_at)
    expected = settings.expected_interval_hours(state.client, state.job_name)
    if now - last_ended <= timedelta(hours=expected + settings.grace_hours):
        return False, None
    if state.overdue_alerted_for == state.last_ended_at:
        return True, None
    return True, alerts.run_overdue(
        client=state.client,
        job_name=state.job_name,
        last_run_id=state.last_run_id,
        last_ended_at=last_ended,
        now=now,
        expected_interval_hours=expected,
        grace_hours=settings.grace_hours,
    )


def _key(state: JobState) -> dict[str, Any]:
    return {"pk": {"S": baseline.partition_key(state.client, state.job_name)}, "sk": {"S": baseline.BASELINE_SK}}


def claim_episode(dynamodb: Any, table_name: str, state: JobState, now: datetime) -> bool:
    """True when this call claimed the episode; False when another check did, or a new run re-armed it."""
    try:
        dynamodb.update_item(
            TableName=table_name,
            Key=_key(state),
            UpdateExpression="SET overdue_alerted_for = :episode, overdue_alerted_at = :now",
            ConditionExpression=(
                "last_ended_at = :episode AND "
                "(attribute_not_exists(overdue_alerted_for) OR overdue_alerted_for <> :episode)"
            ),
            ExpressionAttributeValues={
                ":episode": {"S": state.last_ended_at or ""},
                ":now": {"S": alerts.iso_utc(now)},
            },
        )
    except ClientError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def release_episode(dynamodb: Any, table_name: str, state: JobState) -> None:
    """Undo our claim (only if it is still ours) after a failed publish, so the next check alerts."""
    try:
        dynamodb.update_item(
            TableName=table_name,
            Key=_key(state),
            UpdateExpression="REMOVE overdue_alerted_for, overdue_alerted_at",
            ConditionExpression="overdue_alerted_for = :episode",
            ExpressionAttributeValues={":episode": {"S": state.last_ended_at or ""}},
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
        if alert is None or not claim_episode(deps.dynamodb, table_name, state, now):
            continue
        try:
            deps.sns.publish(
                TopicArn=deps.settings.alerts_topic_arn,
                # One message per protocol (e-mail text, chat, today's JSON for the rest).
                **alerts.publish_arguments(alert, deps.settings.alert_links),
            )
        except (ClientError, BotoCoreError):
            release_episode(deps.dynamodb, table_name, state)
            summary.failed += 1
            continue
        summary.alerted += 1
    return summary
