"""The forecast series queries and the `forecast_vs_actual` saved query, executed on DuckDB over a small lake.

The lake plants, for each rule: a redelivered sale (counted once), a web order (key `web`), an origin whose
hourly run was retried (the latest run wins), a forecast whose target hour has not come yet and one older
than the window (both left out), and an hour with a forecast but no order (actual 0).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakewatch.domain.forecast import Forecast, series_from_rows
from lakewatch.domain.forecast_series import DEFAULT_SERIES, available_series, history_dates, load_series
from lakewatch.domain.tables import FORECASTS, SALES
from lakewatch.local.forecasting import load_history
from lakewatch.local.lake import write_rows
from lakewatch.local.queries import connect_lake, load_named_queries, run_query, to_duckdb_sql
from tests.unit.athena.factories import INGESTED_AT, clean_time, sale

NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
NAIVE_NOW = NOW.replace(tzinfo=None)


def _sales() -> list[dict]:
    hour = datetime(2024, 6, 15, 9, 0)
    first = sale("s1", hour + timedelta(minutes=5), store="Leeds", items=[("latte", 3.0, 1)])
    return [
        first,
        {**first, "ingested_at": clean_time(INGESTED_AT + timedelta(minutes=5))},  # redelivered
        sale("s2", hour + timedelta(minutes=50), store="Leeds", items=[("tea", 2.0, 1)]),
        sale("s3", hour + timedelta(minutes=20), items=[("beans", 6.5, 1)]),  # web
        sale("s4", hour + timedelta(hours=1, minutes=1), store="Camden", items=[("latte", 3.0, 1)]),
    ]


def _forecast(key: str, series: str, origin: datetime, horizon: int, yhat: float, generated: datetime) -> Forecast:
    return Forecast(
        series=series,
        series_key=key,
        origin_hour=origin,
        target_hour=origin + timedelta(hours=horizon - 1),
        horizon=horizon,
        yhat=yhat,
        yhat_lo=max(0.0, yhat - 1),
        yhat_hi=yhat + 1,
        model_version=f"{series}-v1",
        generated_at=generated,
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("forecast-lake") / "lake"
    write_rows(SALES, _sales(), root, file_name="part-sales")
    origin = datetime(2024, 6, 15, 9, tzinfo=UTC)
    rows = [
        _forecast("Leeds", "orders_by_store", origin, 1, 5.0, origin + timedelta(minutes=15)),
        # The same origin run again later (a retry): it replaces the first run's row.
        _forecast("Leeds", "orders_by_store", origin, 1, 2.5, origin + timedelta(minutes=40)),
        _forecast("Leeds", "orders_by_store", origin, 2, 3.0, origin + timedelta(minutes=40)),  # 10:00, no order
        _forecast("all", "orders_total", origin, 1, 3.0, origin + timedelta(minutes=15)),
        _forecast("all", "orders_total", origin, 6, 3.0, origin + timedelta(minutes=15)),  # 14:00: not yet
        _forecast("all", "orders_total", origin - timedelta(days=8), 1, 3.0, origin),  # before the window
    ]
    write_rows(FORECASTS, [row.clean_record() for row in rows], root, file_name="part-forecasts")
    return root


@pytest.fixture(scope="module")
def forecast_vs_actual(lake: Path) -> list[dict]:
    (query,) = [query for query in load_named_queries() if query.name == "forecast_vs_actual"]
    connection = connect_lake(lake)
    try:
        return run_query(connection, query, NOW).records()
    finally:
        connection.close()


def test_forecast_vs_actual_joins_matured_forecasts_to_orders_counted_once(forecast_vs_actual: list[dict]):
    rows = [
        (row["series"], row["series_key"], row["target_hour"], row["horizon"], row["yhat"], row["actual"])
        for row in forecast_vs_actual
    ]
    assert rows == [
        ("orders_by_store", "Leeds", datetime(2024, 6, 15, 9), 1, 2.5, 2),
        ("orders_by_store", "Leeds", datetime(2024, 6, 15, 10), 2, 3.0, 0),
        ("orders_total", "all", datetime(2024, 6, 15, 9), 1, 3.0, 3),
    ]
    first = forecast_vs_actual[0]
    assert first["error"] == -0.5
    assert first["in_interval"] is True
    assert forecast_vs_actual[1]["in_interval"] is False


def test_every_configured_series_has_a_file():
    assert set(DEFAULT_SERIES) <= set(available_series())
    with pytest.raises(ValueError, match="no forecast series 'nope'"):
        load_series(["nope"])


def test_series_queries_count_distinct_orders_per_key_and_hour(lake: Path):
    history = load_history(lake, DEFAULT_SERIES, NOW)
    by_store = history["orders_by_store"]
    assert by_store["Leeds"].values == (2.0,)
    assert by_store["web"].values == (1.0,)
    assert by_store["Camden"].start == datetime(2024, 6, 15, 10, tzinfo=UTC)
    assert history["orders_total"]["all"].values == (3.0, 1.0)


def test_series_parameters_bound_the_history_by_dt(lake: Path):
    (query,) = load_series(["orders_total"])
    connection = connect_lake(lake)
    try:
        sql = to_duckdb_sql(query.sql, NOW)
        assert connection.execute(sql, list(history_dates(NOW, timedelta(hours=3)))).fetchall()
        assert connection.execute(sql, ["2024-06-16", "2024-06-20"]).fetchall() == []
    finally:
        connection.close()
    assert history_dates(NOW, timedelta(days=29)) == ("2024-05-17", "2024-06-15")


def test_forecast_vs_actual_counts_actuals_as_the_series_files_do(lake: Path, forecast_vs_actual: list[dict]):
    # The saved query spells the series' counting once more (a saved query is one file): held equal here.
    history = load_history(lake, DEFAULT_SERIES, NOW)
    for row in forecast_vs_actual:
        hourly = history[row["series"]].get(row["series_key"])
        index = hourly.index_of(row["target_hour"]) if hourly else -1
        expected = hourly.values[index] if hourly and 0 <= index < len(hourly.values) else 0
        assert row["actual"] == expected
    assert series_from_rows([]) == {}
