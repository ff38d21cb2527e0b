"""Forecasts on the local lake: what the hourly and weekly forecast Lambdas would have done over a replay.

`local-run` calls `run_local_forecasts` once the lake is built: every series query runs on DuckDB over the
lake, then the schedule is replayed hour by hour from the first origin with 14 days of history up to `--now`
(at most eight weeks of it):

- a model is trained (`forecast.train_series`, history before the training time only) when a series has none
  yet, on the weekly schedule (`forecast_schedule.is_weekly_training`), and when drift says so;
- at every whole hour the hourly function (`forecast_schedule.run_origin`, the one the Lambda calls) forecasts
  the next six hours from the hours before it, scores drift and finds breaches; each breach is one
  `forecast_breach` alert, once per series key and target hour, appended to `alerts.jsonl` as SNS received it.

An origin sees only the hours before it, whatever the lake holds after it (`HourlySeries.known_before`): the
lake is built once from the whole replay, and the cut is made by time, as the Lambda's would be by arrival.
Forecasts are written as Parquet to `lake/forecasts/dt=<origin date>/`. `forecast-backtest` prints, per
series and horizon, the model's MAE and MASE next to three simple baselines.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from lakewatch.domain import forecast_schedule
from lakewatch.domain.forecast import (
    DAY_HOURS,
    HORIZONS,
    HOUR,
    MIN_HISTORY_HOURS,
    WEEK_HOURS,
    Forecast,
    HourlySeries,
    SeriesModel,
    floor_hour,
    score,
    series_from_rows,
    train_series,
)
from lakewatch.domain.forecast_series import DEFAULT_SERIES, load_series
from lakewatch.domain.tables import FORECASTS, PARTITION_DATE_FORMAT

#: The breach thresholds of a local run unless the caller gives others (a deployed stage sets its own in
#: `forecast_breach_thresholds`): a chain-wide morning rush the demo's data reaches on a few weekdays once
#: the till CSV stores have joined, so the demo shows what a `forecast_breach` alert looks like.
DEFAULT_LOCAL_THRESHOLDS = {"orders_total": 55.0}
#: How far before `--now` the hourly schedule is replayed at most: eight weekly trainings, more than any demo or
#: backtest needs. The accepted event times reach back to 2020, so without it one old sale in the input made a
#: local run replay every hour since then (38,605 origins: 218 s of a 230 s run).
MAX_REPLAY_HOURS = 8 * WEEK_HOURS


@dataclass
class SeriesRun:
    """What the replayed schedule did for one series."""

    series: str
    forecasts: list[Forecast] = field(default_factory=list)
    models: list[SeriesModel] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    retrained_on_drift: int = 0


def load_history(
    lake_root: Path, series_names: Sequence[str], now: datetime | None
) -> dict[str, dict[str, HourlySeries]]:
    """Every series' hourly values from the local lake (DuckDB), up to the day of the hour before `now` (or all).

    Hours after `now` may be in it (the last day's later hours): each origin cuts its own history anyway."""
    from lakewatch.local.queries import connect_lake, to_duckdb_sql

    connection = connect_lake(lake_root)
    last = "9999-12-31" if now is None else (floor_hour(now) - HOUR).strftime(PARTITION_DATE_FORMAT)
    first, now = "0000-01-01", now or datetime.now(UTC)
    try:
        return {
            query.name: series_from_rows(connection.execute(to_duckdb_sql(query.sql, now), [first, last]).fetchall())
            for query in load_series(series_names)
        }
    finally:
        connection.close()


def replay_series(
    series: str,
    history: Mapping[str, HourlySeries],
    *,
    until: datetime,
    thresholds: Mapping[str, float],
    drift_threshold: float = forecast_schedule.DEFAULT_DRIFT_THRESHOLD,
) -> SeriesRun:
    """Every hourly origin of `series` from its first 14 days of history up to `until`, as the Lambdas run;
    at most `MAX_REPLAY_HOURS` of them."""
    run = SeriesRun(series)
    origin = first_origin(history)
    if origin is None:
        return run
    origin = max(origin, until - MAX_REPLAY_HOURS * HOUR)
    state = forecast_schedule.ScheduleState()
    claimed: set[str] = set()
    while origin <= until:
        if state.model is not None and forecast_schedule.is_weekly_training(origin):
            weekly = train_series(series, history, origin)  # the weekly Lambda, just before the hourly one
            if weekly is not None:
                state.model, state.recent = weekly, []
                run.models.append(weekly)
        outcome = forecast_schedule.run_origin(
            series,
            history,
            origin,
            model=state.model,
            recent=state.recent,
            thresholds=thresholds,
            drift_threshold=drift_threshold,
        )
        state.remember(outcome, origin)
        run.forecasts.extend(outcome.forecasts)
        if outcome.trained is not None:
            run.models.append(outcome.trained)
            run.retrained_on_drift += outcome.retrained_on_drift
        for alert in outcome.alerts:
            if alert.dedupe_id not in claimed:  # the DynamoDB claim of the Lambda, in memory
                claimed.add(alert.dedupe_id)
                run.alerts.append(_as_published(alert))
        origin += HOUR
    return run


def first_origin(history: Mapping[str, HourlySeries]) -> datetime | None:
    """The first whole hour at which some key of the series has `MIN_HISTORY_HOURS` of history."""
    starts = [hourly.start for hourly in history.values()]
    return min(starts) + MIN_HISTORY_HOURS * HOUR if starts else None


def _as_published(alert: Any) -> dict[str, Any]:
    """An alert as `alerts.jsonl` records SNS publishes (see `lakewatch/local/aws.py`)."""
    return {
        "topic": "alerts",
        "subject": alert.subject,
        "message": alert.body,
        "attributes": {name: value["StringValue"] for name, value in alert.message_attributes.items()},
    }


def run_local_forecasts(
    lake_root: Path,
    now: datetime,
    *,
    series_names: Sequence[str] = DEFAULT_SERIES,
    thresholds: Mapping[str, float] | None = None,
) -> list[SeriesRun]:
    """Replay the forecast schedule over the local lake; write `lake/forecasts/` and return what happened."""
    now = now.astimezone(UTC)
    histories = load_history(lake_root, series_names, now)
    limits = DEFAULT_LOCAL_THRESHOLDS if thresholds is None else thresholds
    runs = [replay_series(name, histories[name], until=floor_hour(now), thresholds=limits) for name in series_names]
    write_forecasts([row for run in runs for row in run.forecasts], lake_root)
    return runs


def write_forecasts(rows: Sequence[Forecast], lake_root: Path) -> dict[str, int]:
    """The `forecasts` rows as Parquet, one file per origin day, as the Firehose of the table writes them."""
    from lakewatch.local.lake import write_rows

    return write_rows(FORECASTS, [row.clean_record() for row in rows], lake_root, file_name="part-00000-forecast")


# ------------------------------------------------------------------------------------------------ backtest
@dataclass(frozen=True, slots=True)
class BacktestLine:
    """One series key and horizon: MAE of the model and of each baseline, on the same target hours."""

    series: str
    series_key: str
    horizon: int
    count: int
    mae: dict[str, float]

    def mase(self, method: str) -> float | None:
        naive = self.mae["seasonal_naive_week"]
        return self.mae[method] / naive if naive > 0 else None


BASELINES = ("seasonal_naive_week", "seasonal_naive_day", "seasonal_average")


def backtest(run: SeriesRun, history: Mapping[str, HourlySeries]) -> list[BacktestLine]:
    """The replayed forecasts scored against actuals, per key and horizon, beside the baselines."""
    lines = []
    for key in sorted(history):
        rows = [row for row in run.forecasts if row.series_key == key]
        scores = score(rows, {key: history[key]})
        for horizon in HORIZONS:
            scored = [row for row in rows if row.horizon == horizon and _matured(row, history[key])]
            if not scored:
                continue
            mae = {"model": scores[horizon].mae}
            for baseline in BASELINES:
                mae[baseline] = _baseline_mae(baseline, scored, history[key])
            lines.append(BacktestLine(run.series, key, horizon, len(scored), mae))
    return lines


def _matured(row: Forecast, hourly: HourlySeries) -> bool:
    return WEEK_HOURS <= hourly.index_of(row.target_hour) < len(hourly.values)


def _baseline_mae(baseline: str, rows: Sequence[Forecast], hourly: HourlySeries) -> float:
    errors = []
    for row in rows:
        index = hourly.index_of(row.target_hour)
        actual = hourly.values[index]
        if baseline == "seasonal_naive_week":
            guess = hourly.values[index - WEEK_HOURS]
        elif baseline == "seasonal_naive_day":
            guess = hourly.values[index - DAY_HOURS]
        else:  # the mean of the same hour of the week over the last (up to) four weeks, all before the origin
            past = [hourly.values[index - weeks * WEEK_HOURS] for weeks in (1, 2, 3, 4) if index >= weeks * WEEK_HOURS]
            guess = sum(past) / len(past)
        errors.append(abs(actual - guess))
    return sum(errors) / len(errors)


# ------------------------------------------------------------------------------------------------ local-run step
@dataclass(frozen=True)
class ForecastHistory:
    """The step's series as read from the lake, and the seconds the read took (part of the step's time)."""

    histories: dict[str, dict[str, HourlySeries]]
    seconds: float


def read_forecast_history(lake_root: Path, now: datetime) -> ForecastHistory:
    """The first half of the forecast step: its series from the lake, read once, before anything rewrites the lake
    (`local-run` then compacts the lake while the schedule is replayed over this)."""
    started = time.perf_counter()
    histories = load_history(lake_root, DEFAULT_SERIES, now.astimezone(UTC))
    return ForecastHistory(histories, time.perf_counter() - started)


def run_forecast_step(
    lake_root: Path,
    now: datetime,
    alerts_path: Path,
    report: Any,
    notify: Any,
    *,
    history: ForecastHistory | None = None,
) -> None:
    """`local-run`'s forecast step: replay the schedule, write `lake/forecasts/`, append breach alerts to
    `alerts.jsonl`, and put per-series figures (with the backtest's MASE) into the run report.

    `history`: the series already read (`read_forecast_history`); read here when not given."""
    notify("forecasts (hourly, 6 hours ahead)", 0, 1)
    history = history or read_forecast_history(lake_root, now)
    started = time.perf_counter() - history.seconds
    now = now.astimezone(UTC)
    histories = history.histories
    runs = [
        replay_series(name, histories[name], until=floor_hour(now), thresholds=DEFAULT_LOCAL_THRESHOLDS)
        for name in DEFAULT_SERIES
    ]
    write_forecasts([row for run in runs for row in run.forecasts], lake_root)
    alerts = [alert for run in runs for alert in run.alerts]
    with alerts_path.open("ab") as sink:
        sink.writelines(orjson.dumps(alert) + b"\n" for alert in alerts)
    if alerts:
        report.alerts["forecast_breach"] = report.alerts.get("forecast_breach", 0) + len(alerts)
    report.forecasts = {run.series: series_summary(run, histories[run.series]) for run in runs}
    notify("forecasts (hourly, 6 hours ahead)", 1, 1)
    report.step_seconds["forecasts"] = time.perf_counter() - started


def series_summary(run: SeriesRun, history: Mapping[str, HourlySeries]) -> dict[str, Any]:
    """What `summary.json` and the demo show of one series: counts, and MASE per key, method and horizon."""
    mase: dict[str, dict[str, list[float | None]]] = {}
    for line in backtest(run, history):
        methods = mase.setdefault(line.series_key, {method: [] for method in ("model", *BASELINES)})
        for method, values in methods.items():
            value = line.mase(method)
            values.append(None if value is None else round(value, 3))
    return {
        "forecasts": len(run.forecasts),
        "origins": len({row.origin_hour for row in run.forecasts}),
        "models_trained": len(run.models),
        "retrained_on_drift": run.retrained_on_drift,
        "breach_alerts": len(run.alerts),
        "mase_by_horizon": mase,
    }


def mean_mase(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return sum(present) / len(present) if present and len(present) == len(values) else None


# ------------------------------------------------------------------------------------------------ forecast-backtest
def backtest_report(lake_root: Path, now: datetime | None = None) -> list[str]:
    """`forecast-backtest`: the replayed schedule scored per series, key and horizon, as printable lines.

    Without `now`, the replay runs up to the last hour of data in the lake.
    """
    histories = load_history(lake_root, DEFAULT_SERIES, now)
    ends = [hourly.start + len(hourly.values) * HOUR for series in histories.values() for hourly in series.values()]
    if not ends:
        return [f"no sales in {lake_root}: nothing to forecast"]
    until = floor_hour(now) if now is not None else max(ends) - HOUR
    methods = ("model", *BASELINES)
    header = f"{'series':<16} {'key':<14} {'h':>4} {'n':>5}" + "".join(
        f" {'MAE ' + _short(method):>13} {'MASE':>6}" for method in methods
    )
    out = [
        "MASE: MAE over the MAE of seasonal naive (same hour last week) on the same target hours; below 1 beats it.",
        header,
    ]
    for name in DEFAULT_SERIES:
        run = replay_series(name, histories[name], until=until, thresholds={})
        lines = backtest(run, histories[name])
        for line in lines:
            cells = "".join(f" {line.mae[method]:>13.3f} {line.mase(method) or 0:>6.3f}" for method in methods)
            out.append(f"{line.series:<16} {line.series_key:<14} {line.horizon:>4} {line.count:>5}{cells}")
        for key in sorted({line.series_key for line in lines}):
            keyed = [line for line in lines if line.series_key == key]
            cells = "".join(
                f" {'':>13} {mean_mase([line.mase(method) for line in keyed]) or 0:>6.3f}" for method in methods
            )
            out.append(f"{name:<16} {key:<14} {'mean':>4} {'':>5}{cells}")
    return out


def _short(method: str) -> str:
    return {"seasonal_naive_week": "naive-wk", "seasonal_naive_day": "naive-day", "seasonal_average": "seas-avg"}.get(
        method, method
    )


# ------------------------------------------------------------------------------------------------ demo
#: The acceptance line the demo reports against: the model's mean MASE over horizons 1-6 for this series.
HEADLINE_SERIES, HEADLINE_KEY, HEADLINE_TARGET = "orders_total", "all", 0.85


def print_headline(console: Any, summaries: Mapping[str, Mapping[str, Any]], lake_root: Path) -> None:
    """The demo's forecast section: how the model did against the baselines, per series key, and what it wrote."""
    from rich import box
    from rich.rule import Rule
    from rich.table import Table

    console.print(Rule("[bold]Forecasts[/] (hourly, the next 6 hours; MASE against seasonal naive, last week)"))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for column in ("series / key", "model h1..h6", "model", "naive (yesterday)", "seasonal average"):
        table.add_column(column, justify="left" if column == "series / key" else "right")
    for series, summary in summaries.items():
        for key, methods in summary.get("mase_by_horizon", {}).items():
            table.add_row(
                f"{series} / {key}",
                " ".join(f"{value:.2f}" if value is not None else "—" for value in methods["model"]),
                *(_mean_text(methods[method]) for method in ("model", "seasonal_naive_day", "seasonal_average")),
            )
    console.print(table)
    headline = summaries.get(HEADLINE_SERIES, {}).get("mase_by_horizon", {}).get(HEADLINE_KEY)
    if headline:
        mean, worst = mean_mase(headline["model"]), max(value or 0 for value in headline["model"])
        passed = mean is not None and mean < HEADLINE_TARGET and worst < 1
        mark = "[green]✓[/]" if passed else "[yellow]![/]"
        console.print(
            f"  {mark} {HEADLINE_SERIES}: mean MASE {mean:.3f} over horizons 1-6 (target < {HEADLINE_TARGET}), "
            f"worst horizon {worst:.3f} (target < 1)"
        )
    totals = {name: sum(int(summary.get(name, 0)) for summary in summaries.values()) for name in _COUNTS}
    totals["origins"] = max((int(summary.get("origins", 0)) for summary in summaries.values()), default=0)
    console.print(
        f"  {totals['forecasts']:,} forecasts from {totals['origins']:,} hourly runs "
        f"in [cyan]{lake_root / 'forecasts'}[/], "
        f"{totals['models_trained']} models trained ({totals['retrained_on_drift']} on drift), "
        f"{totals['breach_alerts']} forecast_breach alerts; "
        f"`python -m lakewatch forecast-backtest --lake {lake_root}` shows every horizon\n"
    )


_COUNTS = ("forecasts", "origins", "models_trained", "retrained_on_drift", "breach_alerts")


def _mean_text(values: Sequence[float | None]) -> str:
    mean = mean_mase(values)
    return "—" if mean is None else f"{mean:.3f}"
