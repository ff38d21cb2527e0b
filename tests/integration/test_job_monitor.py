"""job_monitor with moto: alerts on failures and outliers, once per run, with a baseline that survives
redelivery, concurrency and late records."""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from job_monitor import handler as job_monitor
from job_monitor import logic
from job_monitor.records import MalformedRecord, parse_job_run
from lambda_common import aws as lambda_aws

from lakewatch.domain import baseline, tables
from tests.factories import Aws, alerting_aws, clean_job_run, kinesis_event

DAY0 = datetime(2024, 3, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with alerting_aws(monkeypatch) as resources:
        job_monitor.dependencies.cache_clear()
        yield resources
        job_monitor.dependencies.cache_clear()


def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return job_monitor.handler(event, context)


def daily_runs(durations: list[float], *, start_day: int = 0, **fields: Any) -> list[dict[str, Any]]:
    return [
        clean_job_run(
            run_id=f"r-{start_day + day}",
            ended_at=DAY0 + timedelta(days=start_day + day),
            duration_seconds=duration,
            **fields,
        )
        for day, duration in enumerate(durations)
    ]


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT"])
def test_a_failed_run_sends_one_critical_job_failed_alert(aws: Aws, lambda_context: Any, status: str) -> None:
    # Given a failed run whose error message still holds an e-mail address
    run = clean_job_run(
        run_id="r-123", status=status, duration_seconds=8_040, error_message="quota for ops@example.com"
    )

    # When job_monitor processes it
    response = invoke(kinesis_event([run]), lambda_context)

    # Then one job_failed alert is published, filterable by type, severity and client, with the figures
    assert response == {"batchItemFailures": []}
    [alert] = aws.published()
    assert alert["attributes"] == {"alert_type": "job_failed", "severity": "critical", "client": "acme-retail"}
    assert alert["subject"] == f"FAILED: acme-retail/nightly_sales run r-123 ({status} after 2h 14m)"
    body = alert["body"]
    assert (body["alert_type"], body["client"], body["job_name"], body["run_id"]) == (
        "job_failed",
        "acme-retail",
        "nightly_sales",
        "r-123",
    )
    assert (body["status"], body["duration_seconds"], body["cost_usd"]) == (status, 8_040.0, 1.2345)
    assert body["event_time"] == "2024-05-01T03:30:00Z"
    assert body["error_message"] == "quota for [email]"
    # ... and the failure re-armed the overdue check without entering the duration history
    state = aws.state()
    assert (state.last_ended_at, state.last_status, state.history) == (run["ended_at"], status, ())


def test_a_run_far_longer_than_its_baseline_sends_a_duration_outlier_warning(aws: Aws, lambda_context: Any) -> None:
    # Given ten days of ~1 h runs already processed
    invoke(kinesis_event(daily_runs([3_600 + 60 * (day % 3) for day in range(10)])), lambda_context)
    assert aws.published() == []

    # When the next run takes 3 h
    [spike] = daily_runs([3 * 3_600 + 300], start_day=10)
    invoke(kinesis_event([spike]), lambda_context)

    # Then one duration_outlier warning names the duration, the baseline and the ratio
    [alert] = aws.published()
    assert alert["attributes"] == {"alert_type": "duration_outlier", "severity": "warning", "client": "acme-retail"}
    assert alert["subject"] == "SLOW RUN: acme-retail/nightly_sales run r-10 took 3h 05m, 3.0x its 1h 01m baseline"
    body = alert["body"]
    assert (body["run_id"], body["duration_seconds"], body["baseline_seconds"]) == ("r-10", 11_100.0, 3_660.0)
    assert body["ratio"] == pytest.approx(11_100 / 3_660, abs=0.01)
    assert body["event_time"] == "2024-03-11T03:00:00Z"
    # ... and the spike did not enter the baseline, but moved last_ended_at
    state = aws.state()
    assert "r-10" not in {entry.run_id for entry in state.history}
    assert state.last_run_id == "r-10"


def test_slow_growth_and_noise_never_alert_end_to_end(aws: Aws, lambda_context: Any) -> None:
    # Given 120 days of runs growing ~1 %/day with ±20 % noise, delivered in batches of 10
    rng = random.Random(0)
    runs = daily_runs([1_800 * (1 + day / 100) * rng.uniform(0.8, 1.2) for day in range(120)])

    # When job_monitor processes them all
    for start in range(0, len(runs), 10):
        assert invoke(kinesis_event(runs[start : start + 10]), lambda_context) == {"batchItemFailures": []}

    # Then nothing was alerted and the baseline holds the latest window of runs
    assert aws.published() == []
    assert [entry.run_id for entry in aws.state().history] == [f"r-{day}" for day in range(100, 120)]


def test_redelivering_a_batch_sends_nothing_new(aws: Aws, lambda_context: Any) -> None:
    # Given a batch with a normal history, a failure and an outlier, processed once
    batch = [*daily_runs([3_600.0] * 8), *daily_runs([600.0], start_day=8, status="FAILED")]
    batch += daily_runs([5 * 3_600.0], start_day=9)
    invoke(kinesis_event(batch), lambda_context)
    first = aws.published()
    state_before = aws.state()

    # When the very same records are delivered twice more (Kinesis retries at least once)
    invoke(kinesis_event(batch), lambda_context)
    invoke(kinesis_event(batch[-2:]), lambda_context)

    # Then the first delivery alerted once per run and type, the redeliveries nothing, and no write happened
    assert sorted((alert["body"]["alert_type"], alert["body"]["run_id"]) for alert in first) == [
        ("duration_outlier", "r-9"),
        ("job_failed", "r-8"),
    ]
    assert aws.published() == []
    assert aws.state() == state_before


class InterleavingDynamoDB:
    """A DynamoDB client that lets another writer commit between our read of the baseline and our write."""

    def __init__(self, real: Any, concurrent_write: Any) -> None:
        self._real = real
        self._concurrent_write = concurrent_write
        self.conflicts_injected = 0

    def get_item(self, **kwargs: Any) -> Any:
        response = self._real.get_item(**kwargs)
        if self._concurrent_write is not None and kwargs["Key"]["sk"]["S"] == baseline.BASELINE_SK:
            concurrent, self._concurrent_write = self._concurrent_write, None
            concurrent()
            self.conflicts_injected += 1
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_interleaved_baseline_updates_lose_no_duration(aws: Aws, lambda_context: Any) -> None:
    # Given an established baseline and two runs of the same job processed at the same moment
    invoke(kinesis_event(daily_runs([3_600.0] * 8)), lambda_context)
    version_before = aws.state().version
    ours, theirs = (parse_job_run(json.dumps(run).encode()) for run in daily_runs([3_500.0, 3_700.0], start_day=8))
    now = datetime(2024, 4, 1, tzinfo=UTC)
    racing = InterleavingDynamoDB(aws.dynamodb, lambda: logic.apply_run(aws.dynamodb, aws.table_name, theirs, now))

    # When the other writer commits between our read and our conditional write
    logic.apply_run(racing, aws.table_name, ours, now)

    # Then our write was retried on the new version and both durations are in the baseline
    state = aws.state()
    assert racing.conflicts_injected == 1
    assert {entry.run_id: entry.duration_seconds for entry in state.history}.items() >= {
        "r-8": 3_500.0,
        "r-9": 3_700.0,
    }.items()
    assert state.version == version_before + 2
    assert state.last_run_id == "r-9"


def test_persistent_contention_fails_the_record_after_bounded_retries(aws: Aws) -> None:
    # Given a baseline that changes under every single attempt
    [first] = (parse_job_run(json.dumps(run).encode()) for run in daily_runs([3_600.0]))
    logic.apply_run(aws.dynamodb, aws.table_name, first, DAY0)
    counter = iter(range(1_000))

    class AlwaysRacing(InterleavingDynamoDB):
        def update_item(self, **kwargs: Any) -> Any:
            [other] = daily_runs([3_600.0], start_day=100 + next(counter))
            logic.apply_run(self._real, aws.table_name, parse_job_run(json.dumps(other).encode()), DAY0)
            return self._real.update_item(**kwargs)

    # When a run is applied, Then it gives up with BaselineContention rather than looping forever
    [mine] = (parse_job_run(json.dumps(run).encode()) for run in daily_runs([3_600.0], start_day=1))
    with pytest.raises(logic.BaselineContention):
        logic.apply_run(AlwaysRacing(aws.dynamodb, None), aws.table_name, mine, DAY0)
    assert next(counter) == logic.MAX_UPDATE_ATTEMPTS


def test_a_late_old_run_does_not_rewind_last_ended_at(aws: Aws, lambda_context: Any) -> None:
    # Given runs up to day 9 processed
    invoke(kinesis_event(daily_runs([3_600.0] * 10)), lambda_context)

    # When a run that ended on day 2 arrives late, and a failure from day 3 too
    late = clean_job_run(run_id="r-late", ended_at=DAY0 + timedelta(days=2, hours=1), duration_seconds=3_650)
    late_failure = clean_job_run(run_id="r-late-f", ended_at=DAY0 + timedelta(days=3, hours=1), status="FAILED")
    invoke(kinesis_event([late, late_failure]), lambda_context)

    # Then last_ended_at still points at day 9, while the late success joined the history in its place
    state = aws.state()
    assert (state.last_run_id, state.last_ended_at) == ("r-9", daily_runs([1.0], start_day=9)[0]["ended_at"])
    assert [entry.run_id for entry in state.history][:4] == ["r-0", "r-1", "r-2", "r-late"]
    # ... and the late failure still alerted (a failure is news whenever it arrives)
    assert [alert["body"]["run_id"] for alert in aws.published()] == ["r-late-f"]


def quarantined(aws: Aws) -> list[dict[str, Any]]:
    """Every quarantine row job_monitor wrote, oldest key first, with the key it was written under."""
    rows = []
    listing = aws.s3.list_objects_v2(Bucket=aws.quarantine_bucket, Prefix="quarantine/job_monitor/")
    for item in sorted(listing.get("Contents", []), key=lambda item: item["Key"]):
        body = aws.s3.get_object(Bucket=aws.quarantine_bucket, Key=item["Key"])["Body"].read()
        rows.extend({**json.loads(line), "key": item["Key"]} for line in body.splitlines())
    return rows


def test_malformed_records_are_quarantined_alone_and_the_batch_goes_on(aws: Aws, lambda_context: Any) -> None:
    # Given a batch with a failed run, then three malformed records, then another failed run
    good_before, good_after = (
        clean_job_run(run_id="r-a", status="FAILED"),
        clean_job_run(run_id="r-b", status="FAILED", job_name="weekly_rollup"),
    )
    bad_status, missing_run_id = clean_job_run(status="succeeded"), clean_job_run()
    del missing_run_id["run_id"]
    event = kinesis_event([good_before, b"{not json", bad_status, missing_run_id, good_after])

    # When job_monitor processes it
    response = invoke(event, lambda_context)

    # Then nothing is left to retry, the good runs were alerted, and each malformed record has its own row
    assert response == {"batchItemFailures": []}
    assert sorted(alert["body"]["run_id"] for alert in aws.published()) == ["r-a", "r-b"]
    sequences = [record["kinesis"]["sequenceNumber"] for record in event["Records"]]
    rows = quarantined(aws)
    assert [(row["sequence_number"], row["reason"], row["field"]) for row in rows] == [
        (sequences[1], "invalid_json", None),
        (sequences[2], "invalid_field", "status"),
        (sequences[3], "missing_field", "run_id"),
    ]
    assert all(row["source"] == "job_monitor" for row in rows)
    assert rows[0]["key"] == f"quarantine/job_monitor/dt=2024-05-01/shardId-000000000000-{sequences[1]}.jsonl"
    assert rows[1]["record"]["status"] == "succeeded" and rows[1]["event_id"] == bad_status["event_id"]


def test_a_batch_of_only_poison_is_quarantined_not_raised(aws: Aws, lambda_context: Any) -> None:
    # Given a batch whose only record is not even UTF-8
    event = kinesis_event([b"\xff\xfe"])

    # When it is processed, Then it is quarantined with its length instead of its bytes (job_monitor has no key
    # to hash them with)
    assert invoke(event, lambda_context) == {"batchItemFailures": []}
    [row] = quarantined(aws)
    assert (row["reason"], row["record"]) == ("invalid_json", {"length": 2})


def test_a_record_set_aside_keeps_no_pii_whatever_it_holds(aws: Aws, lambda_context: Any) -> None:
    # Given records on job-runs-clean that are not clean rows: a raw job_run event (a producer writing to the
    # wrong stream) and a clean-looking row with a bad status, both carrying a card number, an e-mail address
    # and a customer's name, under contract and other names, at the top and nested
    secrets = ("4111 1111 1111 1111", "4111-1111-1111-1111", "jane.doe@example.com", "Jane Doe")
    raw_event = {
        "event_type": "job_run",
        "client": "acme-retail",
        "error_message": "card 4111 1111 1111 1111 of jane.doe@example.com declined",
        "customer_name": "Jane Doe",
        "customerName": "Jane Doe",
        "notes": {"holder": "Jane Doe", "card": "4111-1111-1111-1111"},
        "Jane Doe": 1,
    }
    bad_row = clean_job_run(run_id="r-q", status="BOGUS", error_message="jane.doe@example.com 4111 1111 1111 1111")
    event = kinesis_event([raw_event, {**bad_row, "customer_name": "Jane Doe"}])

    # When job_monitor sets them aside
    assert invoke(event, lambda_context) == {"batchItemFailures": []}

    # Then the quarantine rows still say what broke, and keep the names of unexpected keys, but no secret
    rows = quarantined(aws)
    assert [(row["reason"], row["field"]) for row in rows] == [
        ("missing_field", "event_id"),
        ("invalid_field", "status"),
    ]
    text = json.dumps(rows)
    assert [secret for secret in secrets if secret in text] == []
    assert rows[0]["record"]["customerName"] == rows[0]["record"]["notes"] == "[redacted]"
    assert (rows[1]["record"]["run_id"], rows[1]["record"]["status"], rows[1]["event_id"]) == (
        "r-q",
        "BOGUS",
        "evt-r-q",
    )


def test_a_number_no_float_holds_is_an_invalid_field_not_a_non_object(aws: Aws, lambda_context: Any) -> None:
    # Given a clean-looking row whose duration is 1e400 (JSON allows it; a float does not)
    data = json.dumps(clean_job_run(run_id="r-big", status="FAILED")).replace("3600.0", "1e400").encode()

    # When job_monitor processes it, Then it is set aside naming the column, and nothing else happens
    assert invoke(kinesis_event([data]), lambda_context) == {"batchItemFailures": []}
    [row] = quarantined(aws)
    assert (row["reason"], row["field"]) == ("invalid_field", "duration_seconds")
    assert aws.published() == [] and aws.state().version == 0


class FlakySns:
    """An SNS client whose first publish fails, as a throttled or timed-out call would."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.failures_left = 1

    def publish(self, **kwargs: Any) -> Any:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("SNS unreachable")
        return self._real.publish(**kwargs)


def test_a_failed_publish_is_retried_on_redelivery_and_sent_once(aws: Aws, lambda_context: Any) -> None:
    # Given SNS failing on the first attempt to publish a failure alert
    deps = job_monitor.dependencies()
    flaky = FlakySns(aws.sns)
    event = kinesis_event([clean_job_run(run_id="r-1", status="FAILED")])

    # When the record is processed, fails, and is redelivered
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(job_monitor, "dependencies", lambda: dataclasses.replace(deps, sns=flaky))
        first = invoke(event, lambda_context)
        second = invoke(event, lambda_context)

    # Then the first attempt reports the record failed, released its claim, and the retry published exactly once
    assert len(first["batchItemFailures"]) == 1
    assert second == {"batchItemFailures": []}
    assert [alert["body"]["run_id"] for alert in aws.published()] == ["r-1"]


def _marker(aws: Aws, run_id: str, *, claimed_at: float) -> None:
    aws.dynamodb.put_item(
        TableName=aws.table_name,
        Item={
            "pk": {"S": baseline.partition_key("acme-retail", "nightly_sales")},
            "sk": {"S": baseline.alert_marker_sk("job_failed", run_id)},
            "state": {"S": "sending"},
            "claimed_at": {"N": str(claimed_at)},
        },
    )


def test_a_claim_left_by_a_crashed_attempt_is_taken_over(aws: Aws, lambda_context: Any) -> None:
    # Given a "sending" marker older than the lease (its Lambda died between claim and publish)
    now = datetime.now(UTC).timestamp()
    _marker(aws, "r-1", claimed_at=now - logic.ALERT_CLAIM_LEASE_SECONDS - 60)

    # When the record is redelivered
    response = invoke(kinesis_event([clean_job_run(run_id="r-1", status="FAILED")]), lambda_context)

    # Then the alert is published (not lost) and the marker is now "sent" with a TTL
    assert response == {"batchItemFailures": []}
    assert [alert["body"]["run_id"] for alert in aws.published()] == ["r-1"]
    marker = aws.dynamodb.get_item(
        TableName=aws.table_name,
        Key={
            "pk": {"S": baseline.partition_key("acme-retail", "nightly_sales")},
            "sk": {"S": baseline.alert_marker_sk("job_failed", "r-1")},
        },
    )["Item"]
    assert marker["state"]["S"] == "sent"
    assert int(marker["expires_at"]["N"]) > now + 7 * 86_400


def test_a_fresh_claim_makes_the_record_retry_instead_of_skipping(aws: Aws, lambda_context: Any) -> None:
    # Given another attempt that claimed the same alert a moment ago and is still publishing
    _marker(aws, "r-1", claimed_at=datetime.now(UTC).timestamp() - 1)

    # When the record is processed
    response = invoke(kinesis_event([clean_job_run(run_id="r-1", status="FAILED")]), lambda_context)

    # Then nothing is published now and the record fails, to be retried once the other attempt settled
    assert len(response["batchItemFailures"]) == 1
    assert aws.published() == []


def test_per_run_metrics_are_emitted_without_client_dimensions(
    aws: Aws, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a failed run with a cost
    event = kinesis_event([clean_job_run(status="FAILED", cost_usd=2.5, duration_seconds=900)])

    # When it is processed
    invoke(event, lambda_context)

    # Then one EMF document carries duration, cost, failures, and only low-cardinality dimensions
    [emf] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    [directive] = emf["_aws"]["CloudWatchMetrics"]
    names = {metric["Name"] for metric in directive["Metrics"]}
    assert {"JobRunDuration", "JobRunCostUsd", "JobRunFailures", "FailedJobRunCostUsd", "AlertsPublished"} <= names
    assert (emf["JobRunDuration"], emf["JobRunCostUsd"], emf["JobRunFailures"]) == ([900.0], [2.5], [1.0])
    assert all(set(dimensions) <= {"service"} for dimensions in directive["Dimensions"])


# --- Fault injection: every outcome converges to one alert and one applied run ------------------------------


def aws_error(code: str, operation: str = "UpdateItem") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, operation)


class Crash(BaseException):
    """The function dying mid-record (timeout, out of memory): nothing of ours can catch it."""


class Faulty:
    """A boto3 client over moto that counts calls and raises `faults[method](kwargs)` when that returns one."""

    def __init__(self, real: Any, **faults: Callable[[dict[str, Any]], BaseException | None]) -> None:
        self._real = real
        self._faults = faults
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._real, name)

        def call(**kwargs: Any) -> Any:
            self.calls[name] += 1
            fault = self._faults.get(name)
            error = fault(kwargs) if fault is not None else None
            if error is not None:
                raise error
            return method(**kwargs)

        return call


def failing(error: BaseException, *, times: int = 1_000_000, when: Callable[[dict[str, Any]], bool] = bool) -> Any:
    """A fault that raises `error` on the first `times` calls for which `when(kwargs)` holds."""
    left = [times]

    def fault(kwargs: dict[str, Any]) -> BaseException | None:
        if left[0] and when(kwargs):
            left[0] -= 1
            return error
        return None

    return fault


def on_marker(kwargs: dict[str, Any]) -> bool:
    return kwargs["Key"]["sk"]["S"].startswith("alert#")


def on_baseline(kwargs: dict[str, Any]) -> bool:
    return kwargs["Key"]["sk"]["S"] == baseline.BASELINE_SK


def with_clients(patch: pytest.MonkeyPatch, **clients: Any) -> None:
    deps = job_monitor.dependencies()
    patch.setattr(job_monitor, "dependencies", lambda: dataclasses.replace(deps, **clients))


def marker_state(aws: Aws, run_id: str, alert_type: str = "job_failed") -> str | None:
    item = aws.dynamodb.get_item(
        TableName=aws.table_name,
        Key={
            "pk": {"S": baseline.partition_key("acme-retail", "nightly_sales")},
            "sk": {"S": baseline.alert_marker_sk(alert_type, run_id)},
        },
    ).get("Item")
    return None if item is None else item["state"]["S"]


@pytest.mark.parametrize("times", [1, 1_000], ids=["once", "persistently"])
def test_a_mark_sent_failure_after_the_publish_neither_fails_the_record_nor_skips_the_run(
    aws: Aws, lambda_context: Any, times: int
) -> None:
    # Given DynamoDB refusing to mark the alert sent (once, or on every attempt) after SNS accepted it
    run = clean_job_run(run_id="r-1", status="FAILED")
    dynamodb = Faulty(aws.dynamodb, update_item=failing(aws_error("InternalServerError"), times=times, when=on_marker))

    # When the failed run is processed
    with pytest.MonkeyPatch.context() as patch:
        with_clients(patch, dynamodb=dynamodb)
        response = invoke(kinesis_event([run]), lambda_context)

    # Then the record succeeded, the page went out once, and the run was applied (no false run_overdue later)
    assert response == {"batchItemFailures": []}
    assert [alert["body"]["run_id"] for alert in aws.published()] == ["r-1"]
    assert (aws.state().last_run_id, aws.state().last_ended_at) == ("r-1", run["ended_at"])
    # ... and mark-sent was retried: a single failure still ends "sent"
    assert marker_state(aws, "r-1") == ("sent" if times == 1 else "sending")


def test_a_failed_publish_fails_the_record_but_the_run_is_applied_already(aws: Aws, lambda_context: Any) -> None:
    # Given SNS throttling the first publish of a failure alert
    sns = Faulty(aws.sns, publish=failing(aws_error("Throttling", "Publish"), times=1))
    event = kinesis_event([clean_job_run(run_id="r-1", status="FAILED")])

    # When the record is processed, Then it fails for a retry, yet the run is already applied
    with pytest.MonkeyPatch.context() as patch:
        with_clients(patch, sns=sns)
        assert len(invoke(event, lambda_context)["batchItemFailures"]) == 1
        assert aws.state().last_run_id == "r-1"
        assert marker_state(aws, "r-1") is None  # the claim was released

        # When Kinesis redelivers it, Then the alert goes out once and nothing is left to retry
        assert invoke(event, lambda_context) == {"batchItemFailures": []}
    assert [alert["body"]["run_id"] for alert in aws.published()] == ["r-1"]


def test_a_crash_between_claim_and_publish_is_taken_over_by_the_redelivery_within_the_lease(
    aws: Aws, lambda_context: Any
) -> None:
    # Given an attempt that claimed the failure alert and died before publishing
    event = kinesis_event([clean_job_run(run_id="r-1", status="FAILED")])
    with pytest.MonkeyPatch.context() as patch, pytest.raises(Crash):
        with_clients(patch, sns=Faulty(aws.sns, publish=failing(Crash(), times=1)))
        invoke(event, lambda_context)
    assert marker_state(aws, "r-1") == "sending"

    # When Kinesis redelivers the same record at once (well within the claim's lease)
    response = invoke(event, lambda_context)

    # Then the redelivery takes its own claim over: one alert, one applied run, nothing left to retry
    assert response == {"batchItemFailures": []}
    assert [alert["body"]["run_id"] for alert in aws.published()] == ["r-1"]
    assert (aws.state().last_run_id, marker_state(aws, "r-1")) == ("r-1", "sent")


def test_another_delivery_of_the_same_run_waits_for_the_lease_then_takes_over(aws: Aws) -> None:
    # Given a delivery that claimed the failure alert and died before publishing
    deps = job_monitor.dependencies()
    run = parse_job_run(json.dumps(clean_job_run(run_id="r-1", status="FAILED")).encode())
    now = datetime(2024, 5, 1, 4, 0, tzinfo=UTC)
    crashing = dataclasses.replace(deps, sns=Faulty(aws.sns, publish=failing(Crash(), times=1)))
    with pytest.raises(Crash):
        logic.process_run(crashing, run, now, delivery_id="shard-0:1")

    # When another record of the same run arrives within the lease, Then it is retried, not published
    with pytest.raises(logic.AlertInFlight):
        logic.process_run(deps, run, now + timedelta(seconds=30), delivery_id="shard-0:2")
    assert aws.published() == []

    # When it is retried after the lease, Then it takes the claim over and publishes once
    after_lease = now + timedelta(seconds=logic.ALERT_CLAIM_LEASE_SECONDS + 1)
    outcome = logic.process_run(deps, run, after_lease, delivery_id="shard-0:2")
    assert outcome.alert_delivery is logic.AlertDelivery.PUBLISHED
    assert [alert["body"]["run_id"] for alert in aws.published()] == ["r-1"]
    assert aws.state().last_run_id == "r-1"

    # ... and any later delivery is a duplicate
    later = logic.process_run(deps, run, after_lease + timedelta(hours=1), delivery_id="shard-0:3")
    assert later.alert_delivery is logic.AlertDelivery.DEDUPLICATED
    assert aws.published() == []


@pytest.mark.parametrize(
    ("methods", "error"),
    [
        (("batch_get_item", "get_item"), aws_error("ProvisionedThroughputExceededException", "GetItem")),
        (("update_item",), aws_error("ProvisionedThroughputExceededException")),
        (("update_item",), aws_error("ThrottlingException")),
        (("put_item",), aws_error("InternalServerError", "PutItem")),
    ],
    ids=["read-throttled", "update-throttled", "update-throttling", "claim-5xx"],
)
def test_throttling_and_5xx_fail_the_record_for_a_retry_never_quarantine_it(
    aws: Aws, lambda_context: Any, methods: tuple[str, ...], error: ClientError
) -> None:
    # Given DynamoDB throttling (or failing) one call of an outlier's processing (a read: the batch's, then
    # the record's own)
    invoke(kinesis_event(daily_runs([3_600.0] * 8)), lambda_context)
    event = kinesis_event(daily_runs([5 * 3_600.0], start_day=8))
    dynamodb = Faulty(aws.dynamodb, **{method: failing(error, times=1) for method in methods})

    # When the record is processed and then redelivered
    with pytest.MonkeyPatch.context() as patch:
        with_clients(patch, dynamodb=dynamodb)
        first = invoke(event, lambda_context)
        second = invoke(event, lambda_context)

    # Then the first attempt failed the record (transient), nothing was quarantined, and the retry alerted once
    assert len(first["batchItemFailures"]) == 1
    assert second == {"batchItemFailures": []}
    assert quarantined(aws) == []
    assert [alert["body"]["run_id"] for alert in aws.published()] == ["r-8"]
    assert aws.state().last_run_id == "r-8"


@pytest.mark.parametrize(
    ("field", "overrides"),
    [("client", {"client": "c" * 2_100}), ("run_id", {"run_id": "r" * 1_100})],
)
def test_a_run_whose_keys_dynamodb_refuses_is_quarantined_and_its_neighbours_processed(
    aws: Aws, lambda_context: Any, field: str, overrides: dict[str, str]
) -> None:
    # Given a failed run whose client (or run_id) no DynamoDB key can hold, between two valid failed runs
    event = kinesis_event(
        [
            clean_job_run(run_id="r-a", status="FAILED"),
            clean_job_run(status="FAILED", **overrides),
            clean_job_run(run_id="r-b", status="FAILED", job_name="weekly_rollup"),
        ]
    )

    # When job_monitor processes the batch
    response = invoke(event, lambda_context)

    # Then the poison run is quarantined alone, and the valid runs alerted (instead of failing forever)
    assert response == {"batchItemFailures": []}
    assert [(row["reason"], row["field"]) for row in quarantined(aws)] == [("invalid_field", field)]
    assert sorted(alert["body"]["run_id"] for alert in aws.published()) == ["r-a", "r-b"]


@pytest.mark.parametrize(
    "error",
    [RuntimeError("a bug"), aws_error("ValidationException")],
    ids=["unexpected-exception", "item-dynamodb-refuses"],
)
def test_an_unexpected_error_on_one_record_quarantines_it_as_transform_error(
    aws: Aws, lambda_context: Any, error: BaseException
) -> None:
    # Given processing that raises something no retry can fix, for one client only
    poisoned = clean_job_run(run_id="r-x", client="globex", status="FAILED")
    event = kinesis_event([poisoned, clean_job_run(run_id="r-a", status="FAILED")])
    dynamodb = Faulty(aws.dynamodb, update_item=failing(error, when=lambda kwargs: "globex" in json.dumps(kwargs)))

    # When the batch is processed
    with pytest.MonkeyPatch.context() as patch:
        with_clients(patch, dynamodb=dynamodb)
        response = invoke(event, lambda_context)

    # Then that record is set aside with reason transform_error and the batch carries on
    assert response == {"batchItemFailures": []}
    [row] = quarantined(aws)
    assert (row["reason"], row["event_id"], row["record"]["run_id"]) == ("transform_error", "evt-r-x", "r-x")
    assert [alert["body"]["run_id"] for alert in aws.published()] == ["r-a"]


def test_a_quarantined_record_redelivered_is_written_and_counted_once(
    aws: Aws, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a record that cannot be decoded
    event = kinesis_event([b"{not json"])

    # When it is delivered twice (its batch was retried for another record)
    invoke(event, lambda_context)
    invoke(event, lambda_context)

    # Then there is one quarantine row, and RecordsQuarantined_invalid_json counted it once
    assert len(quarantined(aws)) == 1
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    counted = [document.get("RecordsQuarantined_invalid_json") for document in documents]
    assert [count for count in counted if count is not None] == [[1.0]]


def test_a_run_dated_beyond_the_accepted_range_never_moves_the_last_run(aws: Aws, lambda_context: Any) -> None:
    # Given a job whose last run ended on 1 May
    invoke(kinesis_event([clean_job_run(run_id="r-1")]), lambda_context)
    before = aws.state()

    # When a run "ending" in 2030 arrives, ingested in 2024
    future = clean_job_run(run_id="r-2030", ended_at=datetime(2030, 1, 1, tzinfo=UTC))
    future["ingested_at"] = clean_job_run()["ingested_at"]
    assert invoke(kinesis_event([future]), lambda_context) == {"batchItemFailures": []}

    # Then it is quarantined as invalid ended_at and the overdue check still sees the 1 May run
    assert [(row["reason"], row["field"]) for row in quarantined(aws)] == [("invalid_field", "ended_at")]
    assert aws.state() == before


@pytest.mark.parametrize("clock", [timedelta(0), timedelta(milliseconds=-1), timedelta(days=3)])
def test_a_run_at_the_very_end_of_the_range_the_transform_accepted_is_processed(aws: Aws, clock: timedelta) -> None:
    # Given a run the transform accepted at the last instant of its range (ingestion + MAX_EVENT_LEAD)
    ingested = datetime(2024, 5, 1, 3, 30, tzinfo=UTC)
    row = clean_job_run(run_id="r-edge", status="FAILED", ended_at=ingested + tables.MAX_EVENT_LEAD)
    row["ingested_at"] = clean_job_run(ended_at=ingested - timedelta(seconds=5))["ingested_at"]
    run = parse_job_run(json.dumps(row).encode())

    # When job_monitor's clock reads the same, a millisecond earlier (another machine), or days later (a retry),
    # Then the run is processed, and a microsecond later it would not be
    logic.check_processable(run, ingested + clock)
    late = parse_job_run(json.dumps({**row, "ended_at": row["ended_at"][:-1] + "1"}).encode())
    with pytest.raises(MalformedRecord):
        logic.check_processable(late, ingested + clock)


def test_client_jobs_whose_names_share_a_separator_keep_apart(aws: Aws, lambda_context: Any) -> None:
    # Given two different client/jobs that a "client#job" key would merge, each with a failed run "r-1"
    runs = [
        clean_job_run(run_id="r-1", client="acme", job_name="daily#eu", status="FAILED"),
        clean_job_run(run_id="r-1", client="acme#daily", job_name="eu", status="FAILED"),
    ]

    # When both are processed
    invoke(kinesis_event(runs), lambda_context)

    # Then each alerted once and each has its own state
    assert sorted((alert["body"]["client"], alert["body"]["job_name"]) for alert in aws.published()) == [
        ("acme", "daily#eu"),
        ("acme#daily", "eu"),
    ]
    assert aws.state("acme", "daily#eu").client == "acme"
    assert aws.state("acme#daily", "eu").client == "acme#daily"


def test_a_failed_run_committed_between_read_and_write_is_not_rewound(aws: Aws) -> None:
    # Given an established baseline, a successful run being applied and a later failed run racing it
    deps = job_monitor.dependencies()
    for run in daily_runs([3_600.0] * 8):
        logic.apply_run(aws.dynamodb, aws.table_name, parse_job_run(json.dumps(run).encode()), DAY0)
    [success] = (parse_job_run(json.dumps(run).encode()) for run in daily_runs([3_500.0], start_day=8))
    [failure] = (parse_job_run(json.dumps(run).encode()) for run in daily_runs([60.0], start_day=9, status="FAILED"))
    racing = InterleavingDynamoDB(aws.dynamodb, lambda: logic.apply_run(deps.dynamodb, aws.table_name, failure, DAY0))

    # When the failed run commits between the success's read and its conditional write
    logic.apply_run(racing, aws.table_name, success, DAY0)

    # Then the success entered the history and the later failure stays the last run
    state = aws.state()
    assert racing.conflicts_injected == 1
    assert "r-8" in {entry.run_id for entry in state.history}
    assert (state.last_run_id, state.last_status) == ("r-9", "FAILED")


def test_dynamodb_calls_per_record(aws: Aws, lambda_context: Any) -> None:
    # Given an established baseline and a client counting DynamoDB calls
    invoke(kinesis_event(daily_runs([3_600.0] * 8)), lambda_context)
    dynamodb = Faulty(aws.dynamodb)

    def calls_for(payload: dict[str, Any]) -> dict[str, int]:
        dynamodb.calls.clear()
        with pytest.MonkeyPatch.context() as patch:
            with_clients(patch, dynamodb=dynamodb)
            assert invoke(kinesis_event([payload]), lambda_context) == {"batchItemFailures": []}
        return dict(dynamodb.calls)

    [success] = daily_runs([3_600.0], start_day=8)
    [failure] = daily_runs([60.0], start_day=9, status="FAILED")
    [outlier] = daily_runs([5 * 3_600.0], start_day=10)

    # Then each kind of record costs the fewest calls its outcome allows (the read is the batch's: see below)
    assert calls_for(success) == {"batch_get_item": 1, "update_item": 1}
    assert calls_for(success) == {"batch_get_item": 1}  # redelivered: nothing to write
    assert calls_for(failure) == {"update_item": 2, "put_item": 1}  # last run, claim, mark sent: no read
    assert calls_for(failure) == {"update_item": 1, "put_item": 1}  # redelivered: both conditions refuse
    assert calls_for(outlier) == {"batch_get_item": 1, "update_item": 2, "put_item": 1}
    assert calls_for(outlier) == {"batch_get_item": 1, "put_item": 1}


def counted_calls(aws: Aws, lambda_context: Any, runs: list[dict[str, Any]], **faults: Any) -> dict[str, int]:
    """The DynamoDB calls job_monitor makes for one batch of `runs` (all of which must succeed)."""
    dynamodb = Faulty(aws.dynamodb, **faults)
    with pytest.MonkeyPatch.context() as patch:
        with_clients(patch, dynamodb=dynamodb)
        assert invoke(kinesis_event(runs), lambda_context) == {"batchItemFailures": []}
    return dict(dynamodb.calls)


def test_a_batch_reads_its_baselines_100_at_a_time_not_one_per_record(aws: Aws, lambda_context: Any) -> None:
    # Given 150 client/jobs with a baseline each
    clients = [f"client-{number:03d}" for number in range(150)]
    invoke(
        kinesis_event([run for client in clients for run in daily_runs([3_600.0] * 2, client=client)]), lambda_context
    )

    # When a batch brings one successful run of each, and then two runs of one client/job
    runs = [run for client in clients for run in daily_runs([3_700.0], start_day=2, client=client)]
    per_batch = counted_calls(aws, lambda_context, runs)
    twice = counted_calls(aws, lambda_context, daily_runs([3_650.0, 3_640.0], start_day=3, client="client-000"))

    # Then the baselines were read in two BatchGetItems of at most 100 keys (not 150 GetItems) and each run
    # wrote once; the second run of a client/job was judged against what the first wrote, without reading it
    assert per_batch == {"batch_get_item": 2, "update_item": 150}
    assert twice == {"batch_get_item": 1, "update_item": 2}
    state = aws.state("client-000")
    assert [entry.run_id for entry in state.history] == ["r-0", "r-1", "r-2", "r-3", "r-4"]
    assert state.version == 5


def test_when_the_batch_read_fails_or_leaves_keys_unprocessed_the_records_read_their_own(
    aws: Aws, lambda_context: Any
) -> None:
    # Given two client/jobs with a baseline each
    invoke(
        kinesis_event([*daily_runs([3_600.0] * 8, client="a"), *daily_runs([3_600.0] * 8, client="b")]), lambda_context
    )
    runs = [*daily_runs([3_600.0], start_day=8, client="a"), *daily_runs([5 * 3_600.0], start_day=8, client="b")]

    class Unprocessed(Faulty):
        """DynamoDB under load: the batch read answers for `a` only and leaves `b` for later."""

        def batch_get_item(self, **kwargs: Any) -> Any:
            self.calls["batch_get_item"] += 1
            request = kwargs["RequestItems"][aws.table_name]
            keep = [key for key in request["Keys"] if '"a"' in key["pk"]["S"]]
            response = self._real.batch_get_item(RequestItems={aws.table_name: {**request, "Keys": keep}})
            left = [key for key in request["Keys"] if key not in keep]
            return {**response, "UnprocessedKeys": {aws.table_name: {"Keys": left}}}

    # When the batch read is throttled outright, and when it leaves a key unprocessed
    throttled = counted_calls(aws, lambda_context, runs, batch_get_item=failing(aws_error("ThrottlingException")))
    dynamodb = Unprocessed(aws.dynamodb)
    with pytest.MonkeyPatch.context() as patch:
        with_clients(patch, dynamodb=dynamodb)
        redelivered = invoke(kinesis_event(runs), lambda_context)

    # Then every record read its own state instead: the runs were applied, b's outlier alerted once
    assert throttled == {"batch_get_item": 1, "get_item": 2, "update_item": 3, "put_item": 1}
    assert redelivered == {"batchItemFailures": []}
    assert dict(dynamodb.calls) == {"batch_get_item": 1, "get_item": 1, "put_item": 1}
    assert [alert["body"]["run_id"] for alert in aws.published()] == ["r-8"]
    assert aws.state("a").last_run_id == aws.state("b").last_run_id == "r-8"


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (aws_error("ProvisionedThroughputExceededException"), True),
        (aws_error("ThrottlingException"), True),
        (aws_error("InternalServerError"), True),
        (aws_error("AccessDeniedException"), True),  # a deployment fault: retry after the fix, never set aside
        (aws_error("ResourceNotFoundException"), True),
        (EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com"), True),
        (TimeoutError(), True),
        (aws_error("ValidationException"), False),
        (aws_error("InvalidParameter", "Publish"), False),
        (ValueError("a bug"), False),
    ],
)
def test_the_line_between_retrying_and_setting_aside(error: BaseException, transient: bool) -> None:
    assert lambda_aws.is_transient(error) is transient


def deliver_like_an_event_source_mapping(records: list[dict[str, Any]], context: Any, *, batch_size: int) -> int:
    """Deliver `records` as one shard to the handler: each batch from the first record not yet done, retried from
    its first reported failure (ReportBatchItemFailures). Returns how many batches reported a failure."""
    event = kinesis_event(records)
    pending = event["Records"]
    retried = 0
    while pending:
        batch = {"Records": pending[:batch_size]}
        failed = {item["itemIdentifier"] for item in invoke(batch, context)["batchItemFailures"]}
        if not failed:
            pending = pending[batch_size:]
            continue
        retried += 1
        assert retried < 1_000, "the shard never moved on"
        pending = pending[[record["kinesis"]["sequenceNumber"] in failed for record in pending].index(True) :]
    return retried


def test_under_faults_redelivery_and_reordering_every_failure_pages_once_and_every_state_converges(
    aws: Aws, lambda_context: Any
) -> None:
    # Given 30 days of runs of five client/jobs whose names share separators, case and spacing, with failures,
    # spikes and failed runs retried under the same run_id, delivered roughly in order with neighbours swapped
    # and 40 records delivered again
    rng = random.Random(20241128)
    jobs = [("acme", "daily"), ("acme", "Daily"), ("acme#x", "y"), ("acme", "x#y "), ("caf\u00e9", "daily")]
    runs = []
    for index, (client, job_name) in enumerate(jobs):
        for day in range(30):
            status = rng.choice(["SUCCEEDED"] * 6 + ["FAILED", "TIMED_OUT"])
            duration = 3_600 * (5 if day > 10 and rng.random() < 0.1 else rng.uniform(0.9, 1.1))
            ended_at = DAY0 + timedelta(days=day, minutes=index)
            run_id = f"r-{index}-{day}"
            names = {"run_id": run_id, "client": client, "job_name": job_name, "duration_seconds": duration}
            runs.append(clean_job_run(status=status, ended_at=ended_at, **names))
            if status != "SUCCEEDED" and rng.random() < 0.3:  # retried, and succeeded, under the same run_id
                runs.append(clean_job_run(ended_at=ended_at + timedelta(minutes=30), **names))
    delivered = list(runs)
    for position in range(len(delivered) - 1):
        if rng.random() < 0.2:
            delivered[position], delivered[position + 1] = delivered[position + 1], delivered[position]
    delivered += [rng.choice(runs) for _ in range(40)]
    # ... while DynamoDB throttles 8 % of writes and reads and SNS fails 10 % of publishes
    throttle = lambda _kwargs: aws_error("ThrottlingException") if rng.random() < 0.08 else None  # noqa: E731
    flaky_sns = lambda _kwargs: ConnectionError("SNS unreachable") if rng.random() < 0.1 else None  # noqa: E731
    dynamodb = Faulty(
        aws.dynamodb, **dict.fromkeys(("update_item", "put_item", "get_item", "batch_get_item"), throttle)
    )

    # When a shard's event source mapping delivers them in batches of 25, retrying from each first failure
    with pytest.MonkeyPatch.context() as patch:
        with_clients(patch, dynamodb=dynamodb, sns=Faulty(aws.sns, publish=flaky_sns))
        retried = deliver_like_an_event_source_mapping(delivered, lambda_context, batch_size=25)

    # Then the faults did cause retries, every failed run paged exactly once, and no other alert repeated
    assert retried > 0
    pages = Counter((a["body"]["alert_type"], a["body"]["client"], a["body"]["job_name"], a["body"]["run_id"])
                    for a in aws.published())  # fmt: skip
    assert [page for page, count in pages.items() if count > 1] == []
    failed = {(run["client"], run["job_name"], run["run_id"]) for run in runs if run["status"] != "SUCCEEDED"}
    assert {page[1:] for page in pages if page[0] == "job_failed"} == failed
    # ... and each client/job's state holds its latest run and a history of distinct successful runs in end order
    for client, job_name in jobs:
        state = aws.state(client, job_name)
        own = [run for run in runs if (run["client"], run["job_name"]) == (client, job_name)]
        assert state.last_ended_at == max(run["ended_at"] for run in own)
        succeeded = {run["run_id"] for run in own if run["status"] == "SUCCEEDED"}
        history = [entry.run_id for entry in state.history]
        assert len(history) == len(set(history)) and set(history) <= succeeded
        assert [entry.ended_at for entry in state.history] == sorted(entry.ended_at for entry in state.history)
    assert quarantined(aws) == []
