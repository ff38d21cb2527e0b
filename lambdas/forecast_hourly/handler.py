"""forecast_hourly entry point: EventBridge, every hour at :15 -> forecasts, drift metrics, breach alerts."""

from __future__ import annotations

import functools
import os
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from forecast_common.settings import Settings
from lambda_common import aws
from lambda_common.observability import logger, metrics, tracer
from lambda_common.schedule import parse_event_time

from forecast_hourly.logic import Dependencies, SeriesOutcome, run_hourly
from lakewatch.domain.forecast import HOUR, floor_hour

#: Published per series (dimension `series`): the drift alarm's metric, mean MASE over horizons 1-6.
DRIFT_METRIC = "ForecastDriftMASE"
#: The forecast panel's metrics, per series and key (dimensions `series`, `series_key`), each stamped with the
#: hour it is about, so the dashboard draws forecast and actual of the same hour on top of each other.
PANEL_FORECAST_METRICS = ("ForecastNextHour", "ForecastNextHourLow", "ForecastNextHourHigh")
PANEL_ACTUAL_METRIC = "OrdersLastHour"


@functools.cache
def dependencies() -> Dependencies:
    """Settings and clients, once per execution environment (tests clear the cache between mocks)."""
    return Dependencies(
        settings=Settings.from_env(os.environ, hourly=True),
        athena=aws.client("athena"),
        s3=aws.client("s3"),
        firehose=aws.client("firehose"),
        sns=aws.client("sns"),
        dynamodb=aws.client("dynamodb"),
    )


@logger.inject_lambda_context(log_event=False)  # never the raw event, whatever POWERTOOLS_LOGGER_LOG_EVENT says
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = parse_event_time(event)
    outcomes = run_hourly(dependencies(), now)
    for outcome in outcomes:
        _publish_metrics(outcome)
        _publish_panel(outcome, now)
        logger.info(
            "forecast run done",
            series=outcome.series,
            forecasts=outcome.forecasts,
            model_version=outcome.model_version,
            trained=outcome.trained,
            retrained_on_drift=outcome.retrained_on_drift,
            breaches=outcome.breaches,
            alerts_published=outcome.alerts_published,
            drift_mase=outcome.drift.mean_mase if outcome.drift else None,
        )
    metrics.add_metric(name="ForecastsWritten", unit=MetricUnit.Count, value=sum(o.forecasts for o in outcomes))
    metrics.add_metric(
        name="ForecastBreachAlertsPublished", unit=MetricUnit.Count, value=sum(o.alerts_published for o in outcomes)
    )
    metrics.add_metric(
        name="ForecastRetrainedOnDrift", unit=MetricUnit.Count, value=sum(o.retrained_on_drift for o in outcomes)
    )
    return {"now": now.isoformat(), "series": {o.series: o.forecasts for o in outcomes}}


def _publish_metrics(outcome: SeriesOutcome) -> None:
    """MAE and MASE per horizon, and the mean MASE the drift alarm watches, with the series as dimension."""
    drift = outcome.drift
    if drift is None or not drift.enough_evidence:
        return
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "lakewatch")
    for horizon, score in drift.scores.items():
        for name, value in (("ForecastMAE", score.mae), ("ForecastMASE", score.mase)):
            if value is None:
                continue
            with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=namespace) as metric:
                metric.add_dimension(name="series", value=outcome.series)
                metric.add_dimension(name="horizon", value=str(horizon))
    if drift.mean_mase is not None:
        with single_metric(name=DRIFT_METRIC, unit=MetricUnit.Count, value=drift.mean_mase, namespace=namespace) as m:
            m.add_dimension(name="series", value=outcome.series)


def _publish_panel(outcome: SeriesOutcome, now: datetime) -> None:
    """The horizon-1 forecast (with its interval) of the hour starting now, and the last complete hour's
    orders, per key: what the dashboard's "forecast vs actual" graph plots."""
    origin = floor_hour(now)
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "lakewatch")
    points = [
        (name, row.series_key, value, row.target_hour)
        for row in outcome.next_hour
        for name, value in zip(PANEL_FORECAST_METRICS, (row.yhat, row.yhat_lo, row.yhat_hi), strict=True)
    ]
    points += [(PANEL_ACTUAL_METRIC, key, value, origin - HOUR) for key, value in outcome.last_hour.items()]
    for name, key, value, hour in points:
        with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=namespace) as metric:
            metric.add_dimension(name="series", value=outcome.series)
            metric.add_dimension(name="series_key", value=key)
            metric.set_timestamp(hour)
