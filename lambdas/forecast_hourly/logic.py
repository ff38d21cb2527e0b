"""The hourly forecast run of every configured series, at the origin its scheduled event names.

Per series: read eight weeks of history through Athena, load the current model, score its drift on the
forecasts it made over the last week (made again, `forecast_schedule.reforecast`), then the shared hourly
step (`forecast_schedule.run_origin`: train if there is no model or it drifted, forecast, find breaches);
store a newly trained model, send the forecasts to the table's Firehose and each breach alert once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from forecast_common.athena import read_series
from forecast_common.models import load_model, save_model
from forecast_common.settings import Settings

from forecast_hourly.delivery import publish_once, put_forecasts
from lakewatch.domain import forecast_schedule
from lakewatch.domain.forecast import Forecast, HourlySeries, floor_hour
from lakewatch.domain.forecast_schedule import Drift
from lakewatch.domain.forecast_series import HISTORY, load_series


@dataclass(frozen=True, slots=True)
class Dependencies:
    settings: Settings
    athena: Any
    s3: Any
    firehose: Any
    sns: Any
    dynamodb: Any


@dataclass(frozen=True, slots=True)
class SeriesOutcome:
    """What one series' run did, for metrics and logs (figures and names only)."""

    series: str
    forecasts: int
    model_version: str | None
    trained: bool
    retrained_on_drift: bool
    breaches: int
    alerts_published: int
    drift: Drift | None
    #: The horizon-1 forecast of each key (the hour starting at the origin), for the dashboard's panel.
    next_hour: tuple[Forecast, ...] = ()
    #: Each key's orders in the last complete hour (before the origin), the panel's actual line.
    last_hour: dict[str, float] = field(default_factory=dict)


def run_hourly(deps: Dependencies, now: datetime) -> list[SeriesOutcome]:
    settings = deps.settings
    origin = floor_hour(now)
    outcomes = []
    for query in load_series(settings.series):
        history = read_series(
            deps.athena,
            query,
            workgroup=settings.athena_workgroup,
            database=settings.glue_database,
            until=origin,
            length=HISTORY,
        )
        model = load_model(deps.s3, settings.lake_bucket, settings.model_prefix, query.name)
        recent = forecast_schedule.reforecast(model, history, origin) if model is not None else []
        outcome = forecast_schedule.run_origin(
            query.name,
            history,
            origin,
            model=model,
            recent=recent,
            thresholds=settings.breach_thresholds,
            drift_threshold=settings.drift_mase_threshold,
            generated_at=now,
        )
        if outcome.trained is not None:
            save_model(deps.s3, settings.lake_bucket, settings.model_prefix, outcome.trained)
        put_forecasts(deps.firehose, settings.forecasts_delivery_stream, outcome.forecasts)
        published = sum(
            publish_once(
                deps.dynamodb,
                deps.sns,
                table=settings.alert_claims_table_name,
                topic_arn=settings.alerts_topic_arn,
                alert=alert,
                now=now,
            )
            for alert in outcome.alerts
        )
        outcomes.append(
            SeriesOutcome(
                series=query.name,
                forecasts=len(outcome.forecasts),
                model_version=outcome.model.model_version if outcome.model else None,
                trained=outcome.trained is not None,
                retrained_on_drift=bool(outcome.retrained_on_drift),
                breaches=len(outcome.alerts),
                alerts_published=published,
                drift=outcome.drift,
                next_hour=tuple(row for row in outcome.forecasts if row.horizon == 1),
                last_hour={key: _last_hour(hourly, origin) for key, hourly in history.items()},
            )
        )
    return outcomes


def _last_hour(hourly: HourlySeries, origin: datetime) -> float:
    known = hourly.known_before(origin)
    return known[-1] if known else 0.0
