"""The forecasting domain: dense series, the six direct models, no leakage, intervals, breaches, drift."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from lakewatch.domain import forecast
from lakewatch.domain.forecast import (
    HORIZONS,
    HOUR,
    MIN_HISTORY_HOURS,
    HourlySeries,
    SeriesModel,
    breaches,
    forecast_at,
    score,
    series_from_rows,
    threshold_for,
    train_series,
)
from lakewatch.domain.forecast_schedule import (
    DRIFT_WINDOW,
    MIN_DRIFT_POINTS,
    ScheduleState,
    drift,
    reforecast,
    run_origin,
)

START = datetime(2024, 5, 6, tzinfo=UTC)  # a Monday


def cafe_rate(hour: datetime) -> float:
    """A café's orders per hour: a morning rush and a lunch bump on weekdays, later and flatter at weekends."""
    weekend = hour.weekday() >= 5
    shape = {8: 12, 9: 9, 12: 10, 13: 8} if not weekend else {10: 8, 11: 9, 12: 8, 13: 7}
    return shape.get(hour.hour, 4 if 7 <= hour.hour <= 17 else 0.5)


def cafe_series(days: int, seed: int = 7, rate=cafe_rate) -> HourlySeries:
    rng = random.Random(seed)
    values = []
    for index in range(days * 24):
        lam = rate(START + index * HOUR)
        values.append(float(_poisson(rng, lam)))
    return HourlySeries(START, tuple(values))


def _poisson(rng: random.Random, lam: float) -> int:
    threshold, count, product = math.exp(-lam), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def test_series_from_rows_is_dense_per_key_from_its_first_row():
    rows = [
        ("web", datetime(2024, 5, 1, 10, 0), 3),
        ("web", datetime(2024, 5, 1, 13, 0), 1),
        ("Leeds", datetime(2024, 5, 1, 12, 0), 2),
    ]
    series = series_from_rows(rows)
    assert series["web"] == HourlySeries(datetime(2024, 5, 1, 10, tzinfo=UTC), (3.0, 0.0, 0.0, 1.0))
    assert series["Leeds"].start == datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_known_before_cuts_at_the_origin_and_pads_quiet_hours_with_zeros():
    hourly = HourlySeries(START, (1.0, 2.0, 3.0))
    assert hourly.known_before(START + 2 * HOUR) == [1.0, 2.0]
    assert hourly.known_before(START + 5 * HOUR) == [1.0, 2.0, 3.0, 0.0, 0.0]


def test_no_key_is_trained_or_forecast_before_fourteen_days_of_history():
    history = {"Leeds": cafe_series(20)}
    assert train_series("orders_by_store", history, START + (MIN_HISTORY_HOURS - 1) * HOUR) is None
    model = train_series("orders_by_store", history, START + MIN_HISTORY_HOURS * HOUR)
    assert model is not None
    assert forecast_at(model, history, START + (MIN_HISTORY_HOURS - 1) * HOUR, generated_at=START) == []


def _changed_after(hourly: HourlySeries, cut: datetime, *, extra_hours: int) -> HourlySeries:
    """The same series with every value from `cut` on replaced by a rush, and more hours appended."""
    index = hourly.index_of(cut)
    return HourlySeries(hourly.start, hourly.values[:index] + (500.0,) * (len(hourly.values) - index + extra_hours))


def test_a_forecast_made_at_t_does_not_change_when_data_after_t_changes():
    history = {"all": cafe_series(30)}
    model = train_series("orders_total", history, START + timedelta(days=21))
    origin = START + timedelta(days=25, hours=9)
    made = forecast_at(model, history, origin, generated_at=origin)
    changed = {"all": _changed_after(history["all"], origin, extra_hours=48)}
    assert forecast_at(model, changed, origin, generated_at=origin) == made
    assert [row.target_hour for row in made] == [origin + (h - 1) * HOUR for h in HORIZONS]
    # ...while a change before the origin does move it: the test above can fail.
    earlier = {"all": _changed_after(history["all"], origin - HOUR, extra_hours=0)}
    assert forecast_at(model, earlier, origin, generated_at=origin) != made


def test_a_model_trained_at_t_does_not_change_when_data_after_t_changes():
    history = {"all": cafe_series(30)}
    trained_at = START + timedelta(days=21, hours=1)
    changed = {"all": _changed_after(history["all"], trained_at, extra_hours=100)}
    assert train_series("orders_total", changed, trained_at) == train_series("orders_total", history, trained_at)


def test_the_model_learns_the_daily_and_weekly_rhythm_and_beats_seasonal_naive():
    history = {"Leeds": cafe_series(49)}
    model = train_series("orders_by_store", history, START + timedelta(days=35))
    rows = []
    for hours in range(7 * 24):
        origin = START + timedelta(days=35) + hours * HOUR
        rows += forecast_at(model, history, origin, generated_at=origin)
    scores = score(rows, history)
    assert all(scores[h].count == 7 * 24 for h in HORIZONS)
    assert all(scores[h].mase < 0.85 for h in HORIZONS)


def test_the_80_percent_interval_covers_about_80_percent_of_actuals():
    history = {"Leeds": cafe_series(49, seed=11)}
    model = train_series("orders_by_store", history, START + timedelta(days=35))
    covered = total = 0
    for hours in range(7 * 24):
        origin = START + timedelta(days=35) + hours * HOUR
        for row in forecast_at(model, history, origin, generated_at=origin):
            actual = history["Leeds"].values[history["Leeds"].index_of(row.target_hour)]
            assert row.yhat_lo <= row.yhat <= row.yhat_hi
            covered += row.yhat_lo <= actual <= row.yhat_hi
            total += 1
    assert 0.7 <= covered / total <= 0.95


def test_the_artefact_round_trips_through_json_with_its_window_and_backtest_scores():
    history = {"Leeds": cafe_series(21), "web": cafe_series(21, seed=3)}
    model = train_series("orders_by_store", history, START + timedelta(days=21))
    document = json.loads(json.dumps(model.to_json()))
    assert SeriesModel.from_json(document) == model
    assert document["window_start"] == "2024-05-06T00:00:00Z"
    assert document["window_end"] == "2024-05-26T23:00:00Z"
    assert all(horizon["backtest_mase"] > 0 for horizon in document["keys"]["Leeds"])
    assert model.model_version == "orders_by_store-20240527T0000Z"


def test_thresholds_per_key_beat_the_series_wide_one():
    thresholds = {"orders_by_store": 40, "orders_by_store/web": 25}
    assert threshold_for(thresholds, "orders_by_store", "web") == 25
    assert threshold_for(thresholds, "orders_by_store", "Leeds") == 40
    assert threshold_for(thresholds, "orders_total", "all") is None


def _with_friday_rush(hour: datetime) -> float:
    """The café, plus a planted rush every Friday 17:00-18:00 UTC (a weekly event: the model can learn it)."""
    return 30.0 if hour.weekday() == 4 and hour.hour == 17 else cafe_rate(hour)


def test_a_planted_rush_hour_alerts_before_it_once_per_target_hour():
    # Given four weeks of a café with a weekly Friday-evening rush, and a threshold between normal and rush
    history = {"Leeds": cafe_series(35, rate=_with_friday_rush)}
    thresholds = {"orders_by_store/Leeds": 20}
    rush = START + timedelta(days=32, hours=17)  # Friday of the fifth week
    assert rush.weekday() == 4
    state = ScheduleState()
    published: dict[str, object] = {}
    # When the hourly runs go from the Friday's noon up to the rush (each run forecasts six hours ahead)
    for hours in range(12, 18):
        origin = START + timedelta(days=32, hours=hours)
        outcome = run_origin(
            "orders_by_store", history, origin, model=state.model, recent=state.recent, thresholds=thresholds
        )
        state.remember(outcome, origin)
        for alert in outcome.alerts:
            published.setdefault(alert.dedupe_id, alert)
    # Then the rush hour alerted, from the first run that saw it coming (six hours ahead), and nothing else did
    assert list(published) == ["orders_by_store/Leeds/2024-06-07T17:00:00Z"]
    alert = published["orders_by_store/Leeds/2024-06-07T17:00:00Z"]
    assert alert.body["origin_hour"] == "2024-06-07T12:00:00Z"
    assert alert.body["horizon"] == 6
    assert alert.message_attributes["alert_type"]["StringValue"] == "forecast_breach"
    assert alert.message_attributes["severity"]["StringValue"] == "warning"
    assert len(alert.subject) < 100


def test_breaches_are_one_per_series_key_and_target_hour_from_the_earliest_origin():
    history = {"all": cafe_series(21)}
    model = train_series("orders_total", history, START + timedelta(days=21))
    origin = START + timedelta(days=21, hours=6)
    rows = forecast_at(model, history, origin, generated_at=origin) + forecast_at(
        model, history, origin + HOUR, generated_at=origin + HOUR
    )
    found = breaches(rows, {"orders_total": 0})
    assert len(found) == len({row.target_hour for row in rows})
    first_origin_targets = [breach for breach in found if breach.forecast.target_hour < origin + 6 * HOUR]
    assert all(breach.forecast.origin_hour == origin for breach in first_origin_targets)
    assert found[-1].forecast.origin_hour == origin + HOUR


def _stale(model: SeriesModel, level: float) -> SeriesModel:
    """The model with every horizon predicting a flat `level`: what a model of a café that changed looks like."""
    flat = (level,) + (0.0,) * (len(forecast.FEATURE_NAMES) - 1)
    return dataclasses.replace(
        model,
        keys={
            key: tuple(dataclasses.replace(h, coefficients=flat) for h in models) for key, models in model.keys.items()
        },
    )


def test_drift_retrains_when_the_model_is_worse_than_seasonal_naive():
    # Given a model that has gone stale (it forecasts a flat 30 orders an hour, the café sells far fewer)
    history = {"all": cafe_series(28)}
    stale = _stale(train_series("orders_total", history, START + timedelta(days=21)), 30.0)
    state = ScheduleState(model=stale)
    origin = START + timedelta(days=21)
    # When the hourly runs go on
    for _ in range(MIN_DRIFT_POINTS + 12):
        outcome = run_origin("orders_total", history, origin, model=state.model, recent=state.recent, thresholds={})
        state.remember(outcome, origin)
        if outcome.trained is not None:
            break
        origin += HOUR
    # Then it is retrained from the latest history once a day of its forecasts has matured for every horizon
    assert outcome.retrained_on_drift == 1
    assert outcome.drift is not None and outcome.drift.mean_mase > outcome.drift.threshold
    assert origin == START + timedelta(days=21) + (MIN_DRIFT_POINTS + max(HORIZONS) - 1) * HOUR
    assert outcome.trained.trained_at == origin
    assert outcome.forecasts[0].model_version == outcome.trained.model_version
    # and the fresh model is judged on its own forecasts only
    assert drift(outcome.trained, state.recent, history, origin + HOUR).scores == {}


def test_no_drift_on_a_steady_series():
    history = {"all": cafe_series(35)}
    model = train_series("orders_total", history, START + timedelta(days=28))
    recent = []
    origin = START + timedelta(days=28)
    for hours in range(5 * 24):
        recent += forecast_at(model, history, origin + hours * HOUR, generated_at=origin)
    verdict = drift(model, recent, history, origin + 5 * 24 * HOUR)
    assert verdict.enough_evidence
    assert not verdict.drifted


@pytest.mark.parametrize("moment", [datetime(2024, 5, 6, 10, 30, tzinfo=UTC), datetime(2024, 5, 6, 10, 30)])
def test_floor_hour_reads_naive_times_as_utc(moment: datetime):
    assert forecast.floor_hour(moment) == datetime(2024, 5, 6, 10, tzinfo=UTC)


def test_reforecast_gives_back_the_forecasts_the_hourly_runs_made():
    # Given the hourly runs of a model for ten days after its training
    history = {"all": cafe_series(35)}
    trained_at = START + timedelta(days=21)
    model = train_series("orders_total", history, trained_at)
    made = []
    for hours in range(10 * 24):
        origin = trained_at + hours * HOUR
        made += forecast_at(model, history, origin, generated_at=origin + timedelta(minutes=15))
    now = trained_at + 10 * 24 * HOUR
    # When the drift window's forecasts are made again at the next run
    again = reforecast(model, history, now)
    # Then they are exactly the ones made then, for every target hour the drift window can score
    window = [row for row in made if row.target_hour >= now - DRIFT_WINDOW]
    assert set(window) <= set(again)
    assert drift(model, again, history, now) == drift(model, made, history, now)
