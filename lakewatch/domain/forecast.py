"""Hourly load forecasts of the next six hours: features, the six direct models, intervals, breaches.

One model per horizon h = 1..6 ("direct" forecasting: the h-hour-ahead value is predicted straight from what
is known at the origin, never from another forecast). At an origin `T` (a whole UTC hour) only the complete
hours before `T` are known, and the forecast is for the hours starting at `T`, `T+1h`, ... `T+5h`.

The model family is small on purpose: a ridge regression (shrunk toward the plain profile forecast) on a
handful of features that carry the daily and weekly rhythm of a café or a web shop: the mean of the same hour
of the week over the last four weeks, the mean of the same hour over the last five days of the same kind
(weekday or weekend), the same hour last week and yesterday, and how far the last 1, 3 and 24 hours ran above
or below their profile. Nine coefficients per horizon fit in pure Python (no numpy, so the whole thing ships
inside the Lambda layer at a few kilobytes) and train in well under a second per series. The 80% interval
comes from out-of-sample residuals of a holdout week, scaled by sqrt(forecast + 1): count data spread roughly
as the square root of their level, so a quiet night hour gets a narrow band and a rush hour a wide one.

Every function here is pure: the Lambdas and the local runner pass the history in and get rows back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lakewatch.domain.tables import PARTITION_DATE_FORMAT, PARTITION_KEY, format_clean_timestamp

HOUR = timedelta(hours=1)
HORIZONS = (1, 2, 3, 4, 5, 6)
DAY_HOURS = 24
WEEK_HOURS = 7 * DAY_HOURS
#: Weeks averaged for the seasonal profile of an hour of the week (fewer while the history is shorter).
SEASONAL_WEEKS = 4
#: A series is forecast (and a model trained for it) once this much history exists before the origin.
MIN_HISTORY_HOURS = 14 * DAY_HOURS
#: History a training run uses: eight weeks, so the last four weeks of rows have the full four-week profile
#: and the model follows the business as it changes, not as it was a season ago.
TRAINING_HOURS = 8 * WEEK_HOURS
#: The first origin index whose features are all defined: one week for the same hour last week of the
#: target, plus the day the level features look at.
FIRST_FEATURE_INDEX = WEEK_HOURS + DAY_HOURS
#: Origins held out of the first fit to measure out-of-sample residuals (intervals, backtest scores).
HOLDOUT_HOURS = WEEK_HOURS
#: The interval is the central 80%: the 10th and 90th percentiles of the holdout residuals.
INTERVAL_QUANTILES = (0.1, 0.9)
#: Ridge penalty, relative to the mean diagonal of X'X. The coefficients are shrunk toward `PRIOR`, not toward
#: zero: with little or noisy history the model stays close to the plain profile forecast, and the other
#: features earn their weight from the data (on the demo's data this lowers every key's MASE a little). It also
#: keeps the solve stable when two features coincide (early in a series, the weekly profile *is* last week).
RIDGE = 0.01
#: Days of the same kind (weekday or weekend) averaged for the day-type profile of an hour.
DAY_TYPE_DAYS = 5
FEATURE_NAMES = (
    "intercept",
    "weekly_profile",
    "day_type_profile",
    "same_hour_last_week",
    "same_hour_yesterday",
    "deviation_last_hour",
    "deviation_last_3h",
    "deviation_last_24h",
    "day_type_profile_x_level_24h",
)
#: What the ridge penalty shrinks toward: half the weekly, half the day-type profile (the intercept is free).
PRIOR = tuple({"weekly_profile": 0.5, "day_type_profile": 0.5}.get(name, 0.0) for name in FEATURE_NAMES)


def floor_hour(moment: datetime) -> datetime:
    """The whole UTC hour `moment` falls in (aware UTC; a naive time is taken as UTC, as lake times are)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class HourlySeries:
    """One series key's hourly values from `start` on, dense: an hour with no row is an hour with value 0."""

    start: datetime
    values: tuple[float, ...]

    def index_of(self, hour: datetime) -> int:
        """The index of the whole hour `hour` falls in (aware; floors only when it is not a whole hour)."""
        if hour.minute or hour.second or hour.microsecond or hour.tzinfo is not UTC:
            hour = floor_hour(hour)
        return (hour - self.start) // HOUR

    def hour_at(self, index: int) -> datetime:
        return self.start + index * HOUR

    def known_before(self, origin: datetime) -> list[float]:
        """The values of every complete hour before `origin`, padded with zeros up to it: all a forecast made
        at `origin` may see. Rows for `origin` or later are cut here, whatever the caller passed in."""
        count = max(self.index_of(origin), 0)
        known = list(self.values[:count])
        known.extend([0.0] * (count - len(known)))
        return known


def series_from_rows(rows: Iterable[tuple[str, datetime, float]]) -> dict[str, HourlySeries]:
    """`(series_key, hour, value)` rows, as every series query returns them, into one dense series per key.

    A key's series starts at its first row (a store that opened last week has one week of history, not
    months of zeros); hours without a row inside it are zero (no order in that hour).
    """
    by_key: dict[str, dict[datetime, float]] = {}
    for key, hour, value in rows:
        by_key.setdefault(str(key), {})[floor_hour(hour)] = float(value)
    series = {}
    for key, points in sorted(by_key.items()):
        start, end = min(points), max(points)
        length = round((end - start) / HOUR) + 1
        values = [0.0] * length
        for hour, value in points.items():
            values[round((hour - start) / HOUR)] += value
        series[key] = HourlySeries(start=start, values=tuple(values))
    return series


# ------------------------------------------------------------------------------------------------ features
class _Features:
    """The feature rows of one series, computed over `values` (hour 0 is `start`).

    `row(n, h)` describes the origin at index `n` (values[0:n] are known) and the target index `n + h - 1`.
    It reads only values before `n`: the profiles of an hour look back whole days or weeks (at least 24
    hours, more than the longest horizon) and the deviations look at hours before `n`. `values` may run past
    `n` (training passes the whole history); nothing at or after `n` is read for row `n`. Profiles are
    computed from index `first` on only (a forecast needs the last day's, training all of them).
    """

    def __init__(self, values: Sequence[float], start: datetime, first: int = 0) -> None:
        self.values = values
        self.first = first
        #: Hours from the Monday 00:00 UTC before `start` to `start`: index -> day of the week by arithmetic.
        self._week_offset = start.weekday() * DAY_HOURS + start.hour
        indices = range(first, len(values) + max(HORIZONS))
        self.weekly = [self._weekly_profile(index) for index in indices]
        self.daily = [self._day_type_profile(index) for index in indices]
        self._deviation_sums = [0.0]
        self._value_sums = [0.0]
        self._profile_sums = [0.0]
        for index in range(first, len(values)):
            profile = self.daily[index - first]
            self._deviation_sums.append(self._deviation_sums[-1] + values[index] - profile)
            self._value_sums.append(self._value_sums[-1] + values[index])
            self._profile_sums.append(self._profile_sums[-1] + profile)

    def _weekly_profile(self, index: int) -> float:
        """The mean of the same hour of the week over the last `SEASONAL_WEEKS` weeks (those that exist)."""
        past = [
            self.values[index - weeks * WEEK_HOURS]
            for weeks in range(1, SEASONAL_WEEKS + 1)
            if 0 <= index - weeks * WEEK_HOURS < len(self.values)
        ]
        return sum(past) / len(past) if past else 0.0

    def _day_type_profile(self, index: int) -> float:
        """The mean of the same hour over the last `DAY_TYPE_DAYS` days of the same kind (weekday or weekend):
        a café's Tuesday looks like its Wednesday, and five days average the noise of one hour far better
        than the four weeks of the weekly profile do."""
        weekend = self._is_weekend(index)
        past = []
        for days in range(1, 2 * DAY_TYPE_DAYS + 1):
            earlier = index - days * DAY_HOURS
            if earlier < 0 or len(past) == DAY_TYPE_DAYS:
                break
            if earlier < len(self.values) and self._is_weekend(earlier) == weekend:
                past.append(self.values[earlier])
        return sum(past) / len(past) if past else 0.0

    def _is_weekend(self, index: int) -> bool:
        return (self._week_offset + index) // DAY_HOURS % 7 >= 5

    def _sum(self, sums: list[float], n: int, hours: int) -> float:
        return sums[n - self.first] - sums[n - hours - self.first]

    def row(self, n: int, horizon: int) -> list[float]:
        values, target = self.values, n + horizon - 1
        weekly, daily = self.weekly[target - self.first], self.daily[target - self.first]
        recent_profile = self._sum(self._profile_sums, n, DAY_HOURS)
        level = self._sum(self._value_sums, n, DAY_HOURS) / recent_profile - 1.0 if recent_profile > 0 else 0.0
        return [
            1.0,
            weekly,
            daily,
            values[target - WEEK_HOURS],
            values[target - DAY_HOURS],
            self._sum(self._deviation_sums, n, 1),
            self._sum(self._deviation_sums, n, 3) / 3,
            self._sum(self._deviation_sums, n, DAY_HOURS) / DAY_HOURS,
            daily * max(-1.0, min(1.0, level)),
        ]


# ------------------------------------------------------------------------------------------------ models
@dataclass(frozen=True, slots=True)
class HorizonModel:
    """The model of one horizon: coefficients (in `FEATURE_NAMES` order) and its interval and backtest."""

    horizon: int
    coefficients: tuple[float, ...]
    #: 10th and 90th percentiles of holdout residuals divided by sqrt(forecast + 1).
    interval: tuple[float, float]
    #: Holdout scores: MAE of the model, and MASE (its MAE over seasonal naive's, same hour last week).
    backtest_mae: float | None
    backtest_mase: float | None

    def predict(self, features: Sequence[float]) -> tuple[float, float, float]:
        """(yhat, yhat_lo, yhat_hi), never below zero: a count cannot be negative."""
        yhat = max(0.0, sum(weight * value for weight, value in zip(self.coefficients, features, strict=True)))
        spread = math.sqrt(yhat + 1.0)
        return yhat, max(0.0, yhat + self.interval[0] * spread), max(0.0, yhat + self.interval[1] * spread)


@dataclass(frozen=True, slots=True)
class SeriesModel:
    """The artefact of one training run of one series: every key's six horizon models, versioned."""

    series: str
    model_version: str
    trained_at: datetime
    #: The training window: the first and last whole hour of history the models saw (over all keys).
    window_start: datetime
    window_end: datetime
    keys: dict[str, tuple[HorizonModel, ...]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "series": self.series,
            "model_version": self.model_version,
            "trained_at": _iso(self.trained_at),
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "features": list(FEATURE_NAMES),
            "keys": {
                key: [
                    {
                        "horizon": model.horizon,
                        "coefficients": list(model.coefficients),
                        "interval": list(model.interval),
                        "backtest_mae": model.backtest_mae,
                        "backtest_mase": model.backtest_mase,
                    }
                    for model in models
                ]
                for key, models in self.keys.items()
            },
        }

    @classmethod
    def from_json(cls, document: Mapping) -> SeriesModel:
        if list(document["features"]) != list(FEATURE_NAMES):
            raise ValueError(f"model {document.get('model_version')} was trained on other features")
        return cls(
            series=document["series"],
            model_version=document["model_version"],
            trained_at=_parse_iso(document["trained_at"]),
            window_start=_parse_iso(document["window_start"]),
            window_end=_parse_iso(document["window_end"]),
            keys={
                key: tuple(
                    HorizonModel(
                        horizon=int(model["horizon"]),
                        coefficients=tuple(float(value) for value in model["coefficients"]),
                        interval=(float(model["interval"][0]), float(model["interval"][1])),
                        backtest_mae=model["backtest_mae"],
                        backtest_mase=model["backtest_mase"],
                    )
                    for model in models
                )
                for key, models in document["keys"].items()
            },
        )


def model_version(series: str, trained_at: datetime) -> str:
    """`orders_total-20240701T0000Z`: which series and which training run, sortable by time."""
    return f"{series}-{floor_hour(trained_at):%Y%m%dT%H%MZ}"


def train_series(series: str, history: Mapping[str, HourlySeries], trained_at: datetime) -> SeriesModel | None:
    """Six direct models for every key of `series` with `MIN_HISTORY_HOURS` of history before `trained_at`.

    Only the hours before `trained_at` are used, at most the last `TRAINING_HOURS` of them. None when no key
    has enough history yet.
    """
    cutoff = floor_hour(trained_at)
    keys: dict[str, tuple[HorizonModel, ...]] = {}
    starts = []
    for key, hourly in sorted(history.items()):
        known = hourly.known_before(cutoff)[-TRAINING_HOURS:]
        if len(known) < MIN_HISTORY_HOURS:
            continue
        start = cutoff - len(known) * HOUR
        features = _Features(known, start)
        keys[key] = tuple(_train_horizon(features, horizon) for horizon in HORIZONS)
        starts.append(start)
    if not keys:
        return None
    return SeriesModel(
        series=series,
        model_version=model_version(series, cutoff),
        trained_at=cutoff,
        window_start=min(starts),
        window_end=cutoff - HOUR,
        keys=keys,
    )


def _train_horizon(features: _Features, horizon: int) -> HorizonModel:
    """Fit on every origin but the holdout, score the holdout out of sample, then refit on every origin."""
    origins = range(FIRST_FEATURE_INDEX, len(features.values) - horizon + 1)
    rows = [features.row(n, horizon) for n in origins]
    targets = [features.values[n + horizon - 1] for n in origins]
    naive = [row[FEATURE_NAMES.index("same_hour_last_week")] for row in rows]
    holdout = min(HOLDOUT_HOURS, len(rows) // 2)
    first_fit = _least_squares(rows[:-holdout], targets[:-holdout])
    first = HorizonModel(horizon, first_fit, (0.0, 0.0), None, None)
    predicted = [first.predict(row)[0] for row in rows[-holdout:]]
    actual = targets[-holdout:]
    scaled = sorted((value - yhat) / math.sqrt(yhat + 1.0) for value, yhat in zip(actual, predicted, strict=True))
    mae = mean_absolute_error(actual, predicted)
    naive_mae = mean_absolute_error(actual, naive[-holdout:])
    return HorizonModel(
        horizon=horizon,
        coefficients=_least_squares(rows, targets),
        interval=(_quantile(scaled, INTERVAL_QUANTILES[0]), _quantile(scaled, INTERVAL_QUANTILES[1])),
        backtest_mae=mae,
        backtest_mase=mae / naive_mae if naive_mae > 0 else None,
    )


def _least_squares(rows: Sequence[Sequence[float]], targets: Sequence[float]) -> tuple[float, ...]:
    """Solve (X'X + λI) w = X'y + λ·PRIOR (intercept unpenalised) by Gaussian elimination with pivoting."""
    width = len(FEATURE_NAMES)
    gram = [[0.0] * width for _ in range(width)]
    moment = [0.0] * width
    for row, target in zip(rows, targets, strict=True):
        for i in range(width):
            value = row[i]
            if value:
                gram_row = gram[i]
                for j in range(i, width):
                    gram_row[j] += value * row[j]
                moment[i] += value * target
    for i in range(width):
        for j in range(i):
            gram[i][j] = gram[j][i]
    penalty = RIDGE * max(sum(gram[i][i] for i in range(width)) / width, 1.0)
    for i in range(1, width):
        gram[i][i] += penalty
        moment[i] += penalty * PRIOR[i]
    return _solve(gram, moment)


def _solve(matrix: list[list[float]], vector: list[float]) -> tuple[float, ...]:
    size = len(vector)
    augmented = [[*matrix[i], vector[i]] for i in range(size)]
    for column in range(size):
        pivot = max(range(column, size), key=lambda row: abs(augmented[row][column]))
        augmented[column], augmented[pivot] = augmented[pivot], augmented[column]
        lead = augmented[column][column]
        if abs(lead) < 1e-12:
            augmented[column][column] = lead = 1.0  # a feature that never varied: its weight stays 0
        for row in range(column + 1, size):
            factor = augmented[row][column] / lead
            if factor:
                for k in range(column, size + 1):
                    augmented[row][k] -= factor * augmented[column][k]
    solution = [0.0] * size
    for row in range(size - 1, -1, -1):
        total = augmented[row][size] - sum(augmented[row][k] * solution[k] for k in range(row + 1, size))
        solution[row] = total / augmented[row][row]
    return tuple(solution)


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of sorted values (numpy's default)."""
    if not ordered:
        return 0.0
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# ------------------------------------------------------------------------------------------------ forecasts
@dataclass(frozen=True, slots=True)
class Forecast:
    """One row of the `forecasts` table."""

    series: str
    series_key: str
    origin_hour: datetime
    target_hour: datetime
    horizon: int
    yhat: float
    yhat_lo: float
    yhat_hi: float
    model_version: str
    generated_at: datetime

    def clean_record(self) -> dict[str, Any]:
        """The row as a clean record of the `forecasts` table (DEVELOPERS.md, "Clean records"): the table's
        columns with timestamps as clean UTC text, plus `dt`, the UTC date of the origin. What the hourly
        Lambda sends to the table's Firehose and what the local runner writes as Parquet."""
        return {
            "series": self.series,
            "series_key": self.series_key,
            "origin_hour": format_clean_timestamp(self.origin_hour),
            "target_hour": format_clean_timestamp(self.target_hour),
            "horizon": self.horizon,
            "yhat": self.yhat,
            "yhat_lo": self.yhat_lo,
            "yhat_hi": self.yhat_hi,
            "model_version": self.model_version,
            "generated_at": format_clean_timestamp(self.generated_at),
            PARTITION_KEY: self.origin_hour.strftime(PARTITION_DATE_FORMAT),
        }


def forecast_at(
    model: SeriesModel, history: Mapping[str, HourlySeries], origin: datetime, *, generated_at: datetime
) -> list[Forecast]:
    """The six forecasts of every key the model knows and that has `MIN_HISTORY_HOURS` before `origin`.

    The one forecasting function: the hourly Lambda and the local runner both call it. It sees only the hours
    before `origin` (`HourlySeries.known_before`), so a forecast made at `origin` never changes when data
    after it arrives or changes.
    """
    origin = floor_hour(origin)
    rows: list[Forecast] = []
    for key, horizon_models in model.keys.items():
        hourly = history.get(key)
        if hourly is None:
            continue
        known = hourly.known_before(origin)
        if len(known) < MIN_HISTORY_HOURS:
            continue
        n = len(known)
        features = _Features(known, hourly.start, first=n - DAY_HOURS)
        for horizon_model in horizon_models:
            yhat, low, high = horizon_model.predict(features.row(n, horizon_model.horizon))
            rows.append(
                Forecast(
                    series=model.series,
                    series_key=key,
                    origin_hour=origin,
                    target_hour=origin + (horizon_model.horizon - 1) * HOUR,
                    horizon=horizon_model.horizon,
                    yhat=round(yhat, 3),
                    yhat_lo=round(low, 3),
                    yhat_hi=round(high, 3),
                    model_version=model.model_version,
                    generated_at=generated_at,
                )
            )
    return rows


# ------------------------------------------------------------------------------------------------ breaches
@dataclass(frozen=True, slots=True)
class Breach:
    """A forecast at or over its threshold: what the `forecast_breach` alert is about."""

    forecast: Forecast
    threshold: float

    @property
    def dedupe_id(self) -> str:
        """One alert per series key and target hour, whichever origin (and retry) forecast it first."""
        return f"{self.forecast.series}/{self.forecast.series_key}/{_iso(self.forecast.target_hour)}"


def threshold_for(thresholds: Mapping[str, float], series: str, series_key: str) -> float | None:
    """The threshold of one key: `"series/key"` if configured, else the series-wide `"series"`, else none."""
    specific = thresholds.get(f"{series}/{series_key}")
    return specific if specific is not None else thresholds.get(series)


def breaches(forecasts: Iterable[Forecast], thresholds: Mapping[str, float]) -> list[Breach]:
    """Forecasts whose point value reaches their threshold, one per series key and target hour: the one from
    the earliest origin, which gave the most notice."""
    found: dict[tuple[str, str, datetime], Breach] = {}
    for forecast in sorted(forecasts, key=lambda row: (row.target_hour, row.origin_hour)):
        threshold = threshold_for(thresholds, forecast.series, forecast.series_key)
        key = (forecast.series, forecast.series_key, forecast.target_hour)
        if threshold is not None and forecast.yhat >= threshold and key not in found:
            found[key] = Breach(forecast, threshold)
    return list(found.values())


# ------------------------------------------------------------------------------------------------ scoring
def mean_absolute_error(actual: Sequence[float], predicted: Sequence[float]) -> float:
    if not actual:
        return 0.0
    return sum(abs(a - p) for a, p in zip(actual, predicted, strict=True)) / len(actual)


@dataclass(frozen=True, slots=True)
class HorizonScore:
    """Matured forecasts of one horizon scored against actuals; MASE is MAE over seasonal naive's MAE."""

    horizon: int
    count: int
    mae: float
    naive_mae: float

    @property
    def mase(self) -> float | None:
        return self.mae / self.naive_mae if self.naive_mae > 0 else None


def score(forecasts: Iterable[Forecast], history: Mapping[str, HourlySeries]) -> dict[int, HorizonScore]:
    """Per horizon: MAE of the forecasts whose target hour is in the history, and of seasonal naive (the same
    hour one week before the target) on the same hours. Forecasts without an actual yet are skipped."""
    errors: dict[int, list[float]] = {horizon: [] for horizon in HORIZONS}
    naive_errors: dict[int, list[float]] = {horizon: [] for horizon in HORIZONS}
    for forecast in forecasts:
        hourly = history.get(forecast.series_key)
        if hourly is None:
            continue
        index = hourly.index_of(forecast.target_hour)
        if not WEEK_HOURS <= index < len(hourly.values):
            continue
        actual = hourly.values[index]
        errors[forecast.horizon].append(abs(actual - forecast.yhat))
        naive_errors[forecast.horizon].append(abs(actual - hourly.values[index - WEEK_HOURS]))
    return {
        horizon: HorizonScore(
            horizon=horizon,
            count=len(errors[horizon]),
            mae=sum(errors[horizon]) / len(errors[horizon]) if errors[horizon] else 0.0,
            naive_mae=sum(naive_errors[horizon]) / len(naive_errors[horizon]) if naive_errors[horizon] else 0.0,
        )
        for horizon in HORIZONS
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
