"""overdue_check with moto: one run_overdue alert per episode, re-armed by the next run."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from botocore.exceptions import ClientError
from job_monitor import handler as job_monitor
from job_monitor import logic as job_monitor_logic
from job_monitor.records import parse_job_run
from overdue_check import handler as overdue_check
from overdue_check import logic
from overdue_check.settings import Settings

from lakewatch.domain import baseline, tables
from tests.factories import Aws, alerting_aws, clean_job_run, kinesis_event, scheduled_event

LAST_RUN_END = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with alerting_aws(monkeypatch) as resources:
        monkeypatch.setenv("DEFAULT_EXPECTED_INTERVAL_HOURS", "24")
        monkeypatch.setenv("OVERDUE_GRACE_HOURS", "2")
        monkeypatch.setenv("EXPECTED_INTERVAL_OVERRIDES", json.dumps({"weekly_rollup": 168, "acme-retail/hourly": 1}))
        overdue_check.dependencies.cache_clear()
        yield resources
        overdue_check.dependencies.cache_clear()


def record_run(aws: Aws, *, ended_at: datetime, run_id: str, **fields: Any) -> None:
    """A run as job_monitor records it (the overdue check's only input)."""
    run = parse_job_run(json.dumps(clean_job_run(run_id=run_id, ended_at=ended_at, **fields)).encode())
    job_monitor_logic.apply_run(aws.dynamodb, aws.table_name, run, ended_at)


def tick(at: datetime, context: Any) -> dict[str, Any]:
    return overdue_check.handler(scheduled_event(at), context)


def test_not_overdue_within_interval_plus_grace_then_alerted(aws: Aws, lambda_context: Any) -> None:
    # Given a daily job whose last run ended at 03:00
    record_run(aws, ended_at=LAST_RUN_END, run_id="r-1")

    # When the check runs exactly at interval + grace (26 h later), Then nothing is sent
    assert tick(LAST_RUN_END + timedelta(hours=26), lambda_context)["alerted"] == 0
    assert aws.published() == []

    # When it runs an hour later, Then one critical run_overdue alert names the gap and the expectation
    assert tick(LAST_RUN_END + timedelta(hours=27), lambda_context)["alerted"] == 1
    [alert] = aws.published()
    assert alert["attributes"] == {"alert_type": "run_overdue", "severity": "critical", "client": "acme-retail"}
    assert alert["subject"] == "OVERDUE: acme-retail/nightly_sales has not run for 27h (expected every 24h)"
    body = alert["body"]
    expected = {
        "alert_type": "run_overdue",
        "client": "acme-retail",
        "job_name": "nightly_sales",
        "last_run_id": "r-1",
        "last_run_status": "SUCCEEDED",
        "last_run_at": "2024-05-01T03:00:00Z",
        "hours_since_last_run": 27.0,
        "expected_interval_hours": 24.0,
        "grace_hours": 2.0,
        "event_time": "2024-05-02T06:00:00Z",
    }
    assert {key: body[key] for key in expected} == expected


def test_the_alert_says_whether_the_job_stopped_after_a_failure(aws: Aws, lambda_context: Any) -> None:
    # Given a job whose last run failed, then nothing for 27 h
    record_run(aws, ended_at=LAST_RUN_END, run_id="r-1", status="FAILED")

    # When the check alerts, Then it names the last run's status
    tick(LAST_RUN_END + timedelta(hours=27), lambda_context)
    [alert] = aws.published()
    assert (alert["body"]["last_run_id"], alert["body"]["last_run_status"]) == ("r-1", "FAILED")


def test_one_alert_per_episode_then_re_armed_by_the_next_run(aws: Aws, lambda_context: Any) -> None:
    # Given a job that stops running after 03:00 on day 1
    record_run(aws, ended_at=LAST_RUN_END, run_id="r-1")

    # When the hourly check fires for three days
    for hour in range(1, 73):
        tick(LAST_RUN_END + timedelta(hours=hour), lambda_context)

    # Then exactly one alert was sent for that episode
    assert [alert["body"]["last_run_id"] for alert in aws.published()] == ["r-1"]

    # When the job runs again (a failed run counts: it did run) and then stops again
    restart = LAST_RUN_END + timedelta(hours=73)
    record_run(aws, ended_at=restart, run_id="r-2", status="FAILED")
    for hour in range(1, 49):
        tick(restart + timedelta(hours=hour), lambda_context)

    # Then the new episode was alerted once, 27 h after the new run
    [alert] = aws.published()
    assert (alert["body"]["last_run_id"], alert["body"]["hours_since_last_run"]) == ("r-2", 27.0)
    assert aws.state().overdue_alerted_for == tables.format_clean_timestamp(restart)


def test_concurrent_checks_alert_once(aws: Aws, lambda_context: Any) -> None:
    # Given an overdue job and two checks that both read it before either claimed it (a retry overlapping a tick)
    record_run(aws, ended_at=LAST_RUN_END, run_id="r-1")
    now = LAST_RUN_END + timedelta(hours=30)
    [state] = logic.iter_states(aws.dynamodb, aws.table_name, ended_before=tables.format_clean_timestamp(now))

    # When both try to claim the episode
    claims = [logic.claim_episode(aws.dynamodb, aws.table_name, state, now) for _ in range(2)]

    # Then only the first wins
    assert claims == [True, False]


def test_a_run_arriving_between_scan_and_claim_cancels_the_alert(aws: Aws) -> None:
    # Given an overdue job read by the check
    record_run(aws, ended_at=LAST_RUN_END, run_id="r-1")
    [state] = logic.iter_states(
        aws.dynamodb, aws.table_name, ended_before=tables.format_clean_timestamp(LAST_RUN_END + timedelta(hours=30))
    )

    # When a new run is recorded before the check claims the episode
    record_run(aws, ended_at=LAST_RUN_END + timedelta(hours=29), run_id="r-2")

    # Then the claim fails (the job is no longer overdue) and nothing is marked
    assert logic.claim_episode(aws.dynamodb, aws.table_name, state, LAST_RUN_END + timedelta(hours=30)) is False
    assert aws.state().overdue_alerted_for is None


def test_the_claim_never_clobbers_job_monitor_state(aws: Aws, lambda_context: Any) -> None:
    # Given an overdue job that has been alerted
    record_run(aws, ended_at=LAST_RUN_END, run_id="r-1")
    before = aws.state()
    tick(LAST_RUN_END + timedelta(hours=30), lambda_context)

    # Then only the episode attribute changed: history, last run and version are job_monitor's
    after = aws.state()
    assert (after.history, after.last_ended_at, after.version) == (before.history, before.last_ended_at, before.version)
    assert after.overdue_alerted_for == before.last_ended_at


def test_expected_interval_overrides_by_client_job_then_job_name(aws: Aws, lambda_context: Any) -> None:
    # Given a weekly job (override by job_name), an hourly one (override by client/job) and a default daily one
    for job_name in ("weekly_rollup", "hourly", "nightly_sales"):
        record_run(aws, ended_at=LAST_RUN_END, run_id=f"r-{job_name}", job_name=job_name)

    # When the check runs 30 h later
    summary = tick(LAST_RUN_END + timedelta(hours=30), lambda_context)

    # Then the weekly job is fine and the other two are overdue against their own intervals
    alerted = {alert["body"]["job_name"]: alert["body"]["expected_interval_hours"] for alert in aws.published()}
    assert alerted == {"hourly": 1.0, "nightly_sales": 24.0}
    assert (summary["scanned"], summary["overdue"]) == (3, 2)


def test_every_page_of_the_scan_is_checked(aws: Aws) -> None:
    # Given seven overdue jobs, plus alert markers that share the table and are filtered out of the scan
    for index in range(7):
        record_run(aws, ended_at=LAST_RUN_END, run_id=f"r-{index}", status="FAILED", job_name=f"job_{index}")
        aws.dynamodb.put_item(
            TableName=aws.table_name,
            Item={
                "pk": {"S": baseline.partition_key("acme-retail", f"job_{index}")},
                "sk": {"S": baseline.alert_marker_sk("job_failed", f"r-{index}")},
            },
        )
    deps = overdue_check.dependencies()

    # When the check scans two items per page (some pages hold only markers)
    summary = logic.check(deps, LAST_RUN_END + timedelta(hours=48), page_size=2)

    # Then every job was found and alerted
    assert (summary.scanned, summary.alerted) == (7, 7)
    assert sorted(alert["body"]["job_name"] for alert in aws.published()) == [f"job_{index}" for index in range(7)]


class FailingSns:
    def publish(self, **_: Any) -> Any:
        from botocore.exceptions import EndpointConnectionError

        raise EndpointConnectionError(endpoint_url="https://sns.eu-west-1.amazonaws.com")


def test_a_failed_publish_releases_the_episode_for_the_next_tick(aws: Aws, lambda_context: Any) -> None:
    # Given an overdue job and SNS unreachable during the first check
    record_run(aws, ended_at=LAST_RUN_END, run_id="r-1")
    deps = overdue_check.dependencies()
    broken = logic.Dependencies(deps.settings, deps.dynamodb, FailingSns())

    # When the first check fails to publish, Then it reports the failure and leaves the episode unclaimed
    assert logic.check(broken, LAST_RUN_END + timedelta(hours=30)).failed == 1
    assert aws.state().overdue_alerted_for is None

    # When the next tick runs with SNS back, Then the alert goes out once
    tick(LAST_RUN_END + timedelta(hours=31), lambda_context)
    tick(LAST_RUN_END + timedelta(hours=32), lambda_context)
    assert len(aws.published()) == 1


@pytest.mark.parametrize("first_day", [datetime(2024, 3, 27), datetime(2024, 10, 24)], ids=["spring", "autumn"])
def test_a_daily_job_scheduled_in_local_time_never_pages_across_a_dst_change(aws: Aws, first_day: datetime) -> None:
    # Given a job that runs daily at 02:00 London time: 23 h or 25 h apart in UTC around a clock change
    london = ZoneInfo("Europe/London")
    deps = overdue_check.dependencies()
    checked = 0
    for day in range(7):
        ended = (first_day + timedelta(days=day)).replace(hour=2, tzinfo=london).astimezone(UTC)
        record_run(aws, ended_at=ended, run_id=f"r-{day}")
        # When the hourly check runs every hour until the next day's run
        for hour in range(1, 26):
            checked += logic.check(deps, ended + timedelta(hours=hour)).scanned

    # Then it read the job near each gap's end and never found it overdue (24 h + 2 h grace covers a 25 h gap)
    assert checked > 0
    assert aws.published() == []


class FunctionKilled(BaseException):
    """What a Lambda timeout or an out-of-memory kill is to the code: nothing runs after it, no handler sees it."""


class DyingSns:
    """An SNS client whose publish never returns: the function dies in it (timeout in a slow publish, OOM)."""

    def publish(self, **kwargs: Any) -> Any:
        raise FunctionKilled


def test_a_check_that_dies_between_claim_and_publish_does_not_lose_the_episode(aws: Aws, lambda_context: Any) -> None:
    # Given an overdue job, and a check that claims its episode and then dies while publishing
    record_run(aws, ended_at=LAST_RUN_END, run_id="r-1")
    deps = overdue_check.dependencies()
    dying = logic.Dependencies(deps.settings, deps.dynamodb, DyingSns())
    with pytest.raises(FunctionKilled):
        logic.check(dying, LAST_RUN_END + timedelta(hours=30))

    # When EventBridge retries that tick (same scheduled time), Then it leaves the claim alone (it may be live)
    assert tick(LAST_RUN_END + timedelta(hours=30), lambda_context)["alerted"] == 0

    # When the next tick runs, Then the claim's lease is over and the episode is alerted, once
    assert tick(LAST_RUN_END + timedelta(hours=31), lambda_context)["alerted"] == 1
    assert tick(LAST_RUN_END + timedelta(hours=32), lambda_context)["alerted"] == 0
    assert [alert["body"]["last_run_id"] for alert in aws.published()] == ["r-1"]
    assert aws.state().overdue_alerted_for == aws.state().last_ended_at


class BrokenForOneClient:
    """An SNS client that raises an unexpected (non-AWS) error for one client's alert only."""

    def __init__(self, real: Any, client: str) -> None:
        self._real, self._client = real, client

    def publish(self, **kwargs: Any) -> Any:
        if kwargs["MessageAttributes"]["client"]["StringValue"] == self._client:
            raise ValueError("unexpected")
        return self._real.publish(**kwargs)


def test_an_unexpected_publish_error_for_one_job_neither_stops_the_others_nor_loses_its_episode(
    aws: Aws, lambda_context: Any
) -> None:
    # Given two overdue jobs, and publishing failing with a non-AWS error for the first one read
    record_run(aws, ended_at=LAST_RUN_END, run_id="r-g", client="globex")
    record_run(aws, ended_at=LAST_RUN_END + timedelta(minutes=1), run_id="r-a")
    deps = overdue_check.dependencies()
    broken = logic.Dependencies(deps.settings, deps.dynamodb, BrokenForOneClient(deps.sns, "globex"))

    # When the check runs, Then the other job is still alerted, and the failure is counted
    summary = logic.check(broken, LAST_RUN_END + timedelta(hours=30))
    assert (summary.alerted, summary.failed) == (1, 1)
    assert [alert["body"]["client"] for alert in aws.published()] == ["acme-retail"]

    # When the next tick runs with SNS healthy, Then the failed job's episode is alerted
    assert tick(LAST_RUN_END + timedelta(hours=31), lambda_context)["alerted"] == 1
    assert [alert["body"]["client"] for alert in aws.published()] == ["globex"]


def test_the_handler_fails_visibly_when_an_alert_could_not_be_sent(aws: Aws, lambda_context: Any) -> None:
    # Given SNS unreachable
    record_run(aws, ended_at=LAST_RUN_END, run_id="r-1")
    deps = overdue_check.dependencies()
    broken = logic.Dependencies(deps.settings, deps.dynamodb, FailingSns())

    # When the scheduled check runs, Then the invocation fails (so the Errors alarm and the async retry see it)
    with pytest.MonkeyPatch.context() as patch, pytest.raises(logic.OverdueAlertsFailed):
        patch.setattr(overdue_check, "dependencies", lambda: broken)
        tick(LAST_RUN_END + timedelta(hours=30), lambda_context)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"EXPECTED_INTERVAL_OVERRIDES": "[1]"}, "EXPECTED_INTERVAL_OVERRIDES"),
        ({"EXPECTED_INTERVAL_OVERRIDES": '{"x": "soon"}'}, "EXPECTED_INTERVAL_OVERRIDES"),
        ({"OVERDUE_GRACE_HOURS": "-1"}, "OVERDUE_GRACE_HOURS"),
        ({"BASELINES_TABLE_NAME": ""}, "BASELINES_TABLE_NAME"),
    ],
)
def test_bad_settings_fail_the_cold_start_with_a_clear_message(env: dict[str, str], problem: str) -> None:
    base = {"ALERTS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:alerts", "BASELINES_TABLE_NAME": "t"}
    with pytest.raises(RuntimeError, match=problem):
        Settings.from_env(base | env)


def test_settings_defaults() -> None:
    settings = Settings.from_env({"ALERTS_TOPIC_ARN": "arn", "BASELINES_TABLE_NAME": "t"})
    assert (settings.default_expected_interval_hours, settings.grace_hours) == (24.0, 2.0)
    assert settings.expected_interval_hours("any", "job") == 24.0


class Faulty:
    """A boto3 client over moto that counts calls and raises `errors[method]` once when set (a paginator's
    pages count, and fail, as its method's calls)."""

    def __init__(self, real: Any, **errors: BaseException) -> None:
        self._real = real
        self._errors = dict(errors)
        self.calls: Counter[str] = Counter()

    def _call(self, name: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls[name] += 1
        if name in self._errors:
            raise self._errors.pop(name)
        return method(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return functools.partial(self._call, name, getattr(self._real, name))

    def get_paginator(self, name: str) -> Any:
        faulty, pages = self, self._real.get_paginator(name)

        class Paginator:
            def paginate(self, **kwargs: Any) -> Iterator[Any]:
                for page in pages.paginate(**kwargs):
                    yield faulty._call(name, lambda page=page: page)

        return Paginator()


def throttled(operation: str) -> ClientError:
    code = {"Query": "ProvisionedThroughputExceededException", "UpdateItem": "ThrottlingException"}[operation]
    return ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)


def test_the_check_reads_only_jobs_that_may_be_overdue_from_the_index_never_scanning(
    aws: Aws, lambda_context: Any
) -> None:
    # Given five jobs that ran an hour ago, one that stopped 30 h ago, and alert markers in the same table
    now = LAST_RUN_END + timedelta(hours=30)
    for index in range(5):
        record_run(
            aws, ended_at=now - timedelta(hours=1), run_id=f"r-{index}", status="FAILED", job_name=f"job_{index}"
        )
        aws.dynamodb.put_item(
            TableName=aws.table_name,
            Item={
                "pk": {"S": baseline.partition_key("acme-retail", f"job_{index}")},
                "sk": {"S": baseline.alert_marker_sk("job_failed", f"r-{index}")},
            },
        )
    record_run(aws, ended_at=LAST_RUN_END, run_id="r-old")
    deps = overdue_check.dependencies()
    dynamodb = Faulty(aws.dynamodb)

    # When the check runs
    summary = logic.check(dataclasses.replace(deps, dynamodb=dynamodb), now)

    # Then it queried the index once, read only the stopped job (the shortest interval is 1 h + 2 h grace),
    # and alerted it (claim, then mark sent)
    assert dynamodb.calls == Counter({"query": 1, "update_item": 2})
    assert (summary.scanned, summary.overdue, summary.alerted) == (1, 1, 1)
    assert [alert["body"]["last_run_id"] for alert in aws.published()] == ["r-old"]


def test_a_run_dated_in_the_future_does_not_silence_the_overdue_check(aws: Aws, lambda_context: Any) -> None:
    # Given a daily job whose last real run ended at 03:00, then a run "ending" in 2030 reaching job_monitor
    record_run(aws, ended_at=LAST_RUN_END, run_id="r-1")
    future = clean_job_run(run_id="r-2030", ended_at=datetime(2030, 1, 1, tzinfo=UTC))
    future["ingested_at"] = clean_job_run(ended_at=LAST_RUN_END)["ingested_at"]
    job_monitor.dependencies.cache_clear()
    job_monitor.handler(kinesis_event([future]), lambda_context)
    job_monitor.dependencies.cache_clear()

    # When the check runs 27 h after the real run, Then the job is alerted as overdue
    assert tick(LAST_RUN_END + timedelta(hours=27), lambda_context)["alerted"] == 1
    assert [alert["body"]["last_run_id"] for alert in aws.published()] == ["r-1"]


@pytest.mark.parametrize("operation", ["Query", "UpdateItem"])
def test_throttling_fails_the_check_visibly_and_the_retry_alerts_once(
    aws: Aws, lambda_context: Any, operation: str
) -> None:
    # Given an overdue job and DynamoDB throttling the index read (or the episode claim) once
    record_run(aws, ended_at=LAST_RUN_END, run_id="r-1")
    deps = overdue_check.dependencies()
    method = {"Query": "query", "UpdateItem": "update_item"}[operation]
    dynamodb = Faulty(aws.dynamodb, **{method: throttled(operation)})

    # When the scheduled check runs, Then the invocation fails (EventBridge retries it) and nothing was sent
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(overdue_check, "dependencies", lambda: dataclasses.replace(deps, dynamodb=dynamodb))
        with pytest.raises(ClientError):
            tick(LAST_RUN_END + timedelta(hours=30), lambda_context)
        assert aws.published() == []
        assert aws.state().overdue_alerted_for is None

        # When it is retried, and the next tick runs too, Then the episode is alerted exactly once
        tick(LAST_RUN_END + timedelta(hours=30), lambda_context)
        tick(LAST_RUN_END + timedelta(hours=31), lambda_context)
    assert [alert["body"]["last_run_id"] for alert in aws.published()] == ["r-1"]
