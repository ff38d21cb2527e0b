"""forecast_hourly and forecast_training with moto: models versioned in S3, forecasts to Firehose, breach
alerts once, drift retraining.

moto runs no SQL, so each series query is answered from the series' hourly values, queued in the order the
functions ask (`orders_by_store`, then `orders_total`), rendered as Athena renders result rows.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from forecast_common import models
from forecast_hourly import handler as hourly
from forecast_training import handler as training
from moto.athena.models import QueryResults, athena_backends

from lakewatch.domain.forecast import FEATURE_NAMES, HOUR, SeriesModel, train_series
from lakewatch.domain.forecast_series import DEFAULT_SERIES
from tests.factories import Aws, alerting_aws, scheduled_event

#: The tests replay 2024; Powertools warns that CloudWatch would drop metrics stamped that long ago.
pytestmark = pytest.mark.filterwarnings("ignore:This metric doesn't meet the requirements:UserWarning")
START = datetime(2024, 5, 6, tzinfo=UTC)  # a Monday
DAYS = 21
ORIGIN = START + timedelta(days=DAYS, hours=8)  # a Monday morning, three weeks of history
ACCOUNT, REGION = "123456789012", "eu-west-1"
STREAM = "lakewatch-forecasts"
BUCKET = "lakewatch-lake"
PREFIX = "forecast-models/"


def _rate(hour: datetime) -> float:
    weekend = hour.weekday() >= 5
    shape = {8: 14, 9: 10, 12: 11, 13: 9} if not weekend else {10: 9, 11: 10, 12: 9}
    return shape.get(hour.hour, 4 if 7 <= hour.hour <= 17 else 0.3)


def _poisson(rng: random.Random, lam: float) -> int:
    threshold, count, product = math.exp(-lam), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def _hours(days: int = DAYS + 1) -> list[datetime]:
    return [START + index * HOUR for index in range(days * 24)]


@pytest.fixture(scope="module")
def store_rows() -> list[tuple[str, datetime, int]]:
    """Orders per hour of two stores over the history (and the day after ORIGIN: the Lambda must cut it)."""
    rng = random.Random(5)
    rows = []
    for key, scale in (("Leeds", 1.0), ("web", 0.5)):
        rows += [(key, hour, _poisson(rng, _rate(hour) * scale)) for hour in _hours()]
    return rows


def _total(rows: list[tuple[str, datetime, int]]) -> list[tuple[str, datetime, int]]:
    totals: dict[datetime, int] = {}
    for _, hour, value in rows:
        totals[hour] = totals.get(hour, 0) + value
    return [("all", hour, value) for hour, value in sorted(totals.items())]


def queue_series_answers(rows: list[tuple[str, datetime, int]]) -> None:
    """One Athena answer per configured series, in the order the functions query them."""
    backend = athena_backends[ACCOUNT][REGION]
    for series in DEFAULT_SERIES:
        answer = rows if series == "orders_by_store" else _total(rows)
        header = {"Data": [{"VarCharValue": name} for name in ("series_key", "hour", "value")]}
        data = [
            {
                "Data": [
                    {"VarCharValue": key},
                    {"VarCharValue": f"{hour:%Y-%m-%d %H:%M:%S}.000"},
                    {"VarCharValue": str(value)},
                ]
            }
            for key, hour, value in answer
            if value
        ]
        columns = [{"Name": name, "Type": "varchar"} for name in ("series_key", "hour", "value")]
        backend.query_results_queue.append(QueryResults(rows=[header, *data], column_info=columns))


@dataclasses.dataclass
class ForecastAws:
    alerting: Aws
    s3: Any
    firehose: Any

    def forecast_records(self) -> list[dict]:
        """Every forecast record Firehose delivered (moto writes the records' bytes to S3)."""
        records = []
        for item in self.s3.list_objects_v2(Bucket=BUCKET, Prefix="firehose/").get("Contents", []):
            body = self.s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            records += [json.loads(line) for line in body.splitlines() if line.strip()]
        return records

    def model_keys(self, series: str) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}{series}/").get("Contents", [])
        return sorted(item["Key"] for item in listing)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForecastAws]:
    with alerting_aws(monkeypatch) as alerting:
        s3, firehose, iam = boto3.client("s3"), boto3.client("firehose"), boto3.client("iam")
        role = iam.create_role(RoleName="firehose", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        firehose.create_delivery_stream(
            DeliveryStreamName=STREAM,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": role,
                "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "Prefix": "firehose/",
                "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 64},
            },
        )
        environment = {
            "LAKE_BUCKET": BUCKET,
            "MODEL_PREFIX": PREFIX,
            "ATHENA_WORKGROUP": "primary",
            "GLUE_DATABASE": "lakewatch",
            "FORECAST_SERIES": json.dumps(list(DEFAULT_SERIES)),
            "FORECASTS_DELIVERY_STREAM": STREAM,
            "ALERT_CLAIMS_TABLE_NAME": alerting.table_name,
            "BREACH_THRESHOLDS": json.dumps({"orders_by_store/Leeds": 9}),
            "DRIFT_MASE_THRESHOLD": "1.2",
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        hourly.dependencies.cache_clear()
        training.dependencies.cache_clear()
        yield ForecastAws(alerting, s3, firehose)
        hourly.dependencies.cache_clear()
        training.dependencies.cache_clear()
        athena_backends[ACCOUNT][REGION].query_results_queue.clear()


def run_hourly(at: datetime, rows: list, context: Any) -> dict:
    queue_series_answers(rows)
    return hourly.handler(scheduled_event(at + timedelta(minutes=15)), context)


def test_first_hourly_run_trains_stores_the_model_and_forecasts_six_hours(aws: ForecastAws, store_rows, lambda_context):
    result = run_hourly(ORIGIN, store_rows, lambda_context)
    assert result["series"] == {"orders_by_store": 12, "orders_total": 6}
    # The model of each series is stored as a version, with a pointer to it
    version = "orders_by_store-20240527T0800Z"
    assert aws.model_keys("orders_by_store") == [
        f"{PREFIX}orders_by_store/latest.json",
        f"{PREFIX}orders_by_store/{version}.json",
    ]
    document = json.loads(
        aws.s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}orders_by_store/{version}.json")["Body"].read()
    )
    assert document["window_start"] == "2024-05-06T00:00:00Z"
    assert document["window_end"] == "2024-05-27T07:00:00Z"
    assert document["features"] == list(FEATURE_NAMES)
    assert all(model["backtest_mase"] is not None for model in document["keys"]["Leeds"])
    # The forecasts went to the table's Firehose as clean records of the `forecasts` table
    records = aws.forecast_records()
    assert len(records) == 18
    leeds = sorted((row for row in records if row["series_key"] == "Leeds"), key=lambda row: row["horizon"])
    assert [row["target_hour"] for row in leeds] == [f"2024-05-27 {hour:02d}:00:00.000000" for hour in range(8, 14)]
    assert {row["origin_hour"] for row in records} == {"2024-05-27 08:00:00.000000"}
    assert {row["dt"] for row in records} == {"2024-05-27"}
    assert {row["generated_at"] for row in records} == {"2024-05-27 08:15:00.000000"}
    assert all(row["yhat_lo"] <= row["yhat"] <= row["yhat_hi"] for row in records)


def test_breach_alerts_are_published_once_even_when_runs_overlap_or_retry(aws: ForecastAws, store_rows, lambda_context):
    # Given a threshold Leeds' morning rush reaches
    run_hourly(ORIGIN, store_rows, lambda_context)
    first = aws.alerting.published()
    assert first, "the 08:00 rush should breach 9 orders"
    assert {alert["attributes"]["alert_type"] for alert in first} == {"forecast_breach"}
    assert {alert["attributes"]["severity"] for alert in first} == {"warning"}
    assert all(alert["body"]["series_key"] == "Leeds" for alert in first)
    # When the same run is retried, and the next hour's run forecasts the same target hours again
    run_hourly(ORIGIN, store_rows, lambda_context)
    run_hourly(ORIGIN + HOUR, store_rows, lambda_context)
    # Then no target hour is alerted twice
    again = aws.alerting.published()
    targets = [alert["body"]["target_hour"] for alert in first + again]
    assert len(targets) == len(set(targets))
    assert {alert["body"]["target_hour"] for alert in first}.isdisjoint(alert["body"]["target_hour"] for alert in again)


def test_a_failed_publish_releases_the_claim_so_the_retry_sends_it(
    aws: ForecastAws, store_rows, lambda_context, monkeypatch
):
    deps = hourly.dependencies()
    real_publish = deps.sns.publish

    def refuse(**kwargs: Any) -> None:
        raise RuntimeError("SNS is down")

    monkeypatch.setattr(deps.sns, "publish", refuse)
    with pytest.raises(RuntimeError, match="SNS is down"):
        run_hourly(ORIGIN, store_rows, lambda_context)
    monkeypatch.setattr(deps.sns, "publish", real_publish)
    athena_backends[ACCOUNT][REGION].query_results_queue.clear()  # the failed run never asked its second query
    run_hourly(ORIGIN, store_rows, lambda_context)
    assert aws.alerting.published()


def test_weekly_training_stores_a_new_version_and_the_hourly_run_uses_it(aws: ForecastAws, store_rows, lambda_context):
    run_hourly(ORIGIN, store_rows, lambda_context)
    queue_series_answers(store_rows)
    monday = ORIGIN + timedelta(days=7) - timedelta(hours=7)  # the next Monday 01:00
    result = training.handler(scheduled_event(monday), lambda_context)
    assert result["models"] == {
        "orders_by_store": f"{PREFIX}orders_by_store/orders_by_store-20240603T0100Z.json",
        "orders_total": f"{PREFIX}orders_total/orders_total-20240603T0100Z.json",
    }
    current = models.load_model(aws.s3, BUCKET, PREFIX, "orders_total")
    assert current.model_version == "orders_total-20240603T0100Z"
    assert len(aws.model_keys("orders_total")) == 3  # both versions and the pointer


def _stale(model: SeriesModel) -> SeriesModel:
    flat = (25.0,) + (0.0,) * (len(FEATURE_NAMES) - 1)
    return dataclasses.replace(
        model,
        keys={key: tuple(dataclasses.replace(h, coefficients=flat) for h in hs) for key, hs in model.keys.items()},
    )


def test_a_drifted_model_is_retrained_from_the_latest_history(aws: ForecastAws, store_rows, lambda_context, capsys):
    # Given a current model trained two days ago that has gone stale (it forecasts a flat 25 orders an hour)
    history_rows = _total(store_rows)
    from lakewatch.domain.forecast import series_from_rows

    trained_at = ORIGIN - timedelta(days=2)
    for series, rows in (("orders_by_store", store_rows), ("orders_total", history_rows)):
        model = train_series(series, series_from_rows(rows), trained_at)
        models.save_model(aws.s3, BUCKET, PREFIX, _stale(model))
    # When the hourly run scores it
    run_hourly(ORIGIN, store_rows, lambda_context)
    # Then it was retrained at this origin and the drift metric was published for the alarm
    assert models.load_model(aws.s3, BUCKET, PREFIX, "orders_total").model_version == "orders_total-20240527T0800Z"
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    drift = [doc for doc in emitted if "ForecastDriftMASE" in doc]
    assert {doc["series"] for doc in drift} == {"orders_by_store", "orders_total"}
    assert all(doc["ForecastDriftMASE"][0] > 1.2 for doc in drift)
    totals = [doc for doc in emitted if "ForecastRetrainedOnDrift" in doc]
    assert totals and totals[-1]["ForecastRetrainedOnDrift"] == [2.0]


def test_the_forecast_panel_metrics_are_stamped_with_the_hour_they_are_about(
    aws: ForecastAws, store_rows, lambda_context, capsys
):
    run_hourly(ORIGIN, store_rows, lambda_context)
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]

    def stamped(name: str, key: str) -> dict:
        (doc,) = [doc for doc in emitted if name in doc and doc.get("series_key") == key]
        return doc

    forecast = stamped("ForecastNextHour", "Leeds")
    assert forecast["series"] == "orders_by_store"
    assert forecast["_aws"]["Timestamp"] == int(ORIGIN.timestamp() * 1000)
    low, high = stamped("ForecastNextHourLow", "Leeds"), stamped("ForecastNextHourHigh", "Leeds")
    assert low["ForecastNextHourLow"][0] <= forecast["ForecastNextHour"][0] <= high["ForecastNextHourHigh"][0]
    actual = stamped("OrdersLastHour", "all")
    assert actual["_aws"]["Timestamp"] == int((ORIGIN - HOUR).timestamp() * 1000)
    expected = sum(value for _, hour, value in store_rows if hour == ORIGIN - HOUR)
    assert actual["OrdersLastHour"] == [float(expected)]
