"""What the forecast schedule does at each hour: the one function the hourly Lambda and the local runner call.

At an origin (a whole UTC hour), for one series:

1. without a model yet, train one (the first run after a series has 14 days of history, or a fresh stage),
   and train again when a key (a new store) reaches 14 days of history the model has not seen;
2. otherwise score drift: the current model's matured forecasts of the last seven days against actuals, per
   horizon, MAE and MASE against seasonal naive (same hour last week). When the mean MASE over the horizons
   crosses the threshold (with at least a day of matured forecasts per horizon), retrain from the latest
   history at once;
3. forecast the next six hours and turn every forecast at or over its threshold into one `forecast_breach`
   alert (the caller publishes it once per series key and target hour).

The weekly retraining is the other entry point (`is_weekly_training`, `forecast.train_series`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lakewatch.domain import alerts
from lakewatch.domain.forecast import (
    HORIZONS,
    HOUR,
    MIN_HISTORY_HOURS,
    Forecast,
    HorizonScore,
    HourlySeries,
    SeriesModel,
    breaches,
    floor_hour,
    forecast_at,
    score,
    train_series,
)

#: Mean MASE over the horizons above which the model has drifted: clearly worse than seasonal naive (a
#: healthy model sits near 0.8 on café data; a quiet week can bring it to 1.0 by chance alone).
DEFAULT_DRIFT_THRESHOLD = 1.2
DRIFT_WINDOW = timedelta(days=7)
#: Matured forecasts per horizon a drift verdict needs: a day's worth, so one odd hour cannot retrain.
MIN_DRIFT_POINTS = 24
#: The weekly training runs on Mondays at this UTC hour (EventBridge cron in the stack, the replay locally).
WEEKLY_TRAINING_WEEKDAY = 0
WEEKLY_TRAINING_HOUR = 1
#: Minutes past the hour the hourly run starts: Firehose has written the last complete hour by then (its
#: buffer interval is at most 900 s), so "the complete hours before T" are really in the lake.
HOURLY_RUN_MINUTE = 15


def is_weekly_training(moment: datetime) -> bool:
    hour = floor_hour(moment)
    return hour.weekday() == WEEKLY_TRAINING_WEEKDAY and hour.hour == WEEKLY_TRAINING_HOUR


@dataclass(frozen=True, slots=True)
class Drift:
    """The current model's accuracy over the drift window, per horizon, and the verdict."""

    model_version: str
    scores: dict[int, HorizonScore]
    threshold: float

    @property
    def mean_mase(self) -> float | None:
        values = [item.mase for item in self.scores.values()]
        if any(value is None for value in values) or not values:
            return None
        return sum(values) / len(values)  # type: ignore[arg-type]

    @property
    def enough_evidence(self) -> bool:
        return bool(self.scores) and all(item.count >= MIN_DRIFT_POINTS for item in self.scores.values())

    @property
    def drifted(self) -> bool:
        mean = self.mean_mase
        return self.enough_evidence and mean is not None and mean > self.threshold


def drift(
    model: SeriesModel,
    recent: Iterable[Forecast],
    history: Mapping[str, HourlySeries],
    origin: datetime,
    threshold: float = DEFAULT_DRIFT_THRESHOLD,
) -> Drift:
    """Score the current model's forecasts whose target hour matured in the week before `origin`.

    Only forecasts made by this model version count: a fresh model is judged on its own forecasts, never on
    its predecessor's, so one retraining is not followed by another on the same evidence.
    """
    origin = floor_hour(origin)
    if origin - model.trained_at < MIN_DRIFT_POINTS * HOUR:
        return Drift(model.model_version, {}, threshold)  # no forecast of this model can have matured enough
    matured = [
        row
        for row in recent
        if row.model_version == model.model_version and origin - DRIFT_WINDOW <= row.target_hour < origin
    ]
    return Drift(model.model_version, score(matured, history), threshold)


def untrained_keys(model: SeriesModel, history: Mapping[str, HourlySeries], origin: datetime) -> list[str]:
    """Keys that reached `MIN_HISTORY_HOURS` since the model was trained (a new store): training now gives them
    forecasts at once instead of at the next weekly run."""
    return [
        key for key, hourly in history.items() if key not in model.keys and hourly.index_of(origin) >= MIN_HISTORY_HOURS
    ]


def reforecast(model: SeriesModel, history: Mapping[str, HourlySeries], origin: datetime) -> list[Forecast]:
    """The current model's forecasts whose target hours fall in the drift window before `origin`, made again.

    A forecast depends only on the model and the hours before its origin, so these are the forecasts the hourly
    runs published (but for orders that reached the lake after their hour, which the actuals include too). The
    hourly Lambda scores drift on them instead of reading its own output back from the lake.
    """
    origin = floor_hour(origin)
    moment = max(model.trained_at, origin - DRIFT_WINDOW - (max(HORIZONS) - 1) * HOUR)
    rows: list[Forecast] = []
    while moment < origin:
        generated_at = moment + timedelta(minutes=HOURLY_RUN_MINUTE)
        rows.extend(forecast_at(model, history, moment, generated_at=generated_at))
        moment += HOUR
    return rows


@dataclass(frozen=True, slots=True)
class OriginOutcome:
    """What one hourly run did for one series."""

    model: SeriesModel | None
    forecasts: list[Forecast]
    alerts: list[alerts.Alert]
    drift: Drift | None = None
    #: The model trained during this run (none yet, or drifted), to be stored as the new version.
    trained: SeriesModel | None = None
    retrained_on_drift: int = 0


@dataclass
class ScheduleState:
    """The current model and its recent forecasts: what the Lambda keeps in S3, the replay in memory."""

    model: SeriesModel | None = None
    recent: list[Forecast] = field(default_factory=list)

    def remember(self, outcome: OriginOutcome, origin: datetime) -> None:
        if outcome.trained is not None:
            self.recent = []
        self.model = outcome.model
        cutoff = floor_hour(origin) - DRIFT_WINDOW
        self.recent = [row for row in self.recent if row.target_hour >= cutoff] + outcome.forecasts


def run_origin(
    series: str,
    history: Mapping[str, HourlySeries],
    origin: datetime,
    *,
    model: SeriesModel | None,
    recent: Sequence[Forecast],
    thresholds: Mapping[str, float],
    drift_threshold: float = DEFAULT_DRIFT_THRESHOLD,
    generated_at: datetime | None = None,
) -> OriginOutcome:
    """The hourly run of one series at `origin`: train if needed, score drift, forecast, find breaches."""
    origin = floor_hour(origin)
    trained, retrained_on_drift, verdict = None, 0, None
    if model is not None:
        verdict = drift(model, recent, history, origin, drift_threshold)
        if verdict.drifted:
            trained, retrained_on_drift = train_series(series, history, origin), 1
    if model is None or (trained is None and untrained_keys(model, history, origin)):
        trained = train_series(series, history, origin)
    current = trained or model
    if current is None:
        return OriginOutcome(None, [], [], verdict)
    generated_at = generated_at or origin + timedelta(minutes=HOURLY_RUN_MINUTE)
    forecasts = forecast_at(current, history, origin, generated_at=generated_at)
    found = [
        alerts.forecast_breach(
            series=breach.forecast.series,
            series_key=breach.forecast.series_key,
            target_hour=breach.forecast.target_hour,
            origin_hour=breach.forecast.origin_hour,
            horizon=breach.forecast.horizon,
            yhat=breach.forecast.yhat,
            yhat_lo=breach.forecast.yhat_lo,
            yhat_hi=breach.forecast.yhat_hi,
            threshold=breach.threshold,
            model_version=breach.forecast.model_version,
            dedupe_id=breach.dedupe_id,
        )
        for breach in breaches(forecasts, thresholds)
    ]
    return OriginOutcome(current, forecasts, found, verdict, trained, retrained_on_drift)
