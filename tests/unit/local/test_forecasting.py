"""Forecasts on the local lake: the replayed schedule, its outputs, no leakage, and the demo data's acceptance."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import orjson
import pyarrow.parquet as pq
import pytest

from lakewatch.domain.forecast import HOUR, MIN_HISTORY_HOURS, floor_hour, series_from_rows
from lakewatch.domain.tables import FORECASTS, SALES
from lakewatch.local import forecasting, synthetic
from lakewatch.local.lake import write_rows
from tests.unit.athena.factories import sale

START = datetime(2024, 5, 6, tzinfo=UTC)  # a Monday
DAYS = 16
NOW = START + timedelta(days=DAYS, hours=-1)
STORES = ("Leeds", "London Camden")


@pytest.fixture(scope="module")
def demo_like_sales() -> list[dict]:
    """The demo's streamed sales (its stores, seed and generator) over the lake days of this module."""
    dataset = synthetic.generate_sales(start=START.date(), days=DAYS, seed=2024, stores=STORES)
    rows = []
    for index, event in enumerate(dataset.events):
        moment = datetime.fromisoformat(event["event_time"]).astimezone(UTC).replace(tzinfo=None)
        rows.append(sale(f"e{index}", moment, store=event.get("store"), items=[("latte", 2.0, 1)]))
    return rows


def _lake(root: Path, rows: list[dict]) -> Path:
    write_rows(SALES, rows, root / "lake", file_name="part-sales")
    return root / "lake"


def _run_step(lake: Path, out: Path) -> SimpleNamespace:
    report = SimpleNamespace(alerts={}, forecasts={}, step_seconds={})
    forecasting.run_forecast_step(lake, NOW, out / "alerts.jsonl", report, lambda *_: None)
    return report


@pytest.fixture(scope="module")
def step(tmp_path_factory: pytest.TempPathFactory, demo_like_sales: list[dict]) -> tuple[Path, SimpleNamespace]:
    out = tmp_path_factory.mktemp("forecast-step")
    (out / "alerts.jsonl").write_bytes(b'{"topic": "alerts", "attributes": {"alert_type": "job_failed"}}\n')
    lake = _lake(out, demo_like_sales)
    return lake, _run_step(lake, out)


def _forecast_rows(lake: Path) -> list[dict]:
    files = sorted((lake / FORECASTS.name).glob("dt=*/*.parquet"))
    rows = []
    for path in files:
        for row in pq.read_table(path).to_pylist():
            rows.append({**row, "dt": path.parent.name.removeprefix("dt=")})
    return rows


def test_every_hourly_origin_from_fourteen_days_of_history_up_to_now_is_forecast(step, demo_like_sales):
    lake, report = step
    rows = _forecast_rows(lake)
    first_sale = min(datetime.fromisoformat(row["event_time"]) for row in demo_like_sales)
    origins = sorted({row["origin_hour"] for row in rows})
    assert origins[0] == first_sale.replace(minute=0, second=0, microsecond=0) + MIN_HISTORY_HOURS * HOUR
    assert origins[-1] == floor_hour(NOW).replace(tzinfo=None)
    assert len(origins) == (origins[-1] - origins[0]) / HOUR + 1
    per_origin = Counter((row["series"], row["origin_hour"]) for row in rows)
    # orders_total: one key; orders_by_store: the web (first orders at 23:00 UTC), then the two stores as well
    # from the hour they have 14 days of history (their first sales at 06:00); six horizons each
    stores_ready = datetime(2024, 5, 20, 6)
    assert {count for (series, _), count in per_origin.items() if series == "orders_total"} == {6}
    by_store = {origin: count for (series, origin), count in per_origin.items() if series == "orders_by_store"}
    assert {count for origin, count in by_store.items() if origin < stores_ready} == {6}
    assert {count for origin, count in by_store.items() if origin >= stores_ready} == {18}
    assert all(row["dt"] == row["origin_hour"].strftime("%Y-%m-%d") for row in rows)
    assert all(row["target_hour"] == row["origin_hour"] + (row["horizon"] - 1) * HOUR for row in rows)
    assert report.forecasts["orders_total"]["forecasts"] == len([r for r in rows if r["series"] == "orders_total"])
    assert report.step_seconds["forecasts"] > 0


def test_breach_alerts_are_appended_to_alerts_jsonl_once_per_key_and_target_hour(step):
    lake, report = step
    alerts = [orjson.loads(line) for line in (lake.parent / "alerts.jsonl").read_bytes().splitlines()]
    assert alerts[0]["attributes"]["alert_type"] == "job_failed"  # what was there is kept
    breaches = [alert for alert in alerts if alert["attributes"]["alert_type"] == "forecast_breach"]
    assert report.alerts.get("forecast_breach", 0) == len(breaches)
    targets = [(alert["message"]["series_key"], alert["message"]["target_hour"]) for alert in breaches]
    assert len(targets) == len(set(targets))
    for alert in breaches:
        assert alert["attributes"] == {"alert_type": "forecast_breach", "severity": "warning"}
        assert alert["message"]["yhat"] >= alert["message"]["threshold"]
        assert alert["message"]["origin_hour"] <= alert["message"]["target_hour"]


def test_forecasts_made_before_t_do_not_change_when_the_lake_changes_after_t(
    tmp_path: Path, step, demo_like_sales: list[dict]
):
    # Given the same lake, except that every sale from T on is dropped and a rush is added after T
    lake, _ = step
    cut = START + timedelta(days=15, hours=10)
    naive_cut = cut.replace(tzinfo=None)
    kept = [row for row in demo_like_sales if datetime.fromisoformat(row["event_time"]) < naive_cut]
    rush = [sale(f"rush{i}", naive_cut + timedelta(minutes=i % 50), items=[("latte", 2.0, 1)]) for i in range(300)]
    other = _lake(tmp_path, kept + rush)
    _run_step(other, tmp_path)

    # Then every forecast made at or before T is the same in both; later ones differ
    def made_until(rows: list[dict], until: datetime) -> list[tuple]:
        return sorted(
            (r["series"], r["series_key"], r["origin_hour"], r["horizon"], r["yhat"], r["yhat_lo"], r["yhat_hi"])
            for r in rows
            if r["origin_hour"] <= until
        )

    assert made_until(_forecast_rows(other), naive_cut) == made_until(_forecast_rows(lake), naive_cut)
    later = naive_cut + 2 * HOUR
    assert made_until(_forecast_rows(other), later) != made_until(_forecast_rows(lake), later)


def test_on_the_demo_sales_the_model_beats_seasonal_naive_for_orders_total():
    # Given the demo's streamed sales over its 45 days (the till CSV stores join for the last 14 only)
    dataset = synthetic.generate_sales(start=date(2024, 5, 18), days=45, seed=2024, stores=STORES)
    rows = [("all", datetime.fromisoformat(event["event_time"]).astimezone(UTC), 1) for event in dataset.events]
    history = series_from_rows(_hourly_counts(rows))
    # When the schedule is replayed up to the demo's now
    run = forecasting.replay_series("orders_total", history, until=datetime(2024, 7, 1, 12, tzinfo=UTC), thresholds={})
    lines = forecasting.backtest(run, history)
    # Then the model's MASE is below 0.85 on average over horizons 1-6 and below 1 at every horizon
    mase = [line.mase("model") for line in lines]
    assert len(mase) == 6
    assert sum(mase) / 6 < 0.85
    assert max(mase) < 1


def _hourly_counts(rows: list[tuple[str, datetime, int]]) -> list[tuple[str, datetime, int]]:
    counts = Counter((key, floor_hour(moment)) for key, moment, _ in rows)
    return [(key, hour, count) for (key, hour), count in counts.items()]


def test_backtest_report_prints_every_horizon_and_the_baselines(step):
    lake, _ = step
    lines = forecasting.backtest_report(lake, NOW)
    assert "naive-day" in lines[1]
    assert "seas-avg" in lines[1]
    total = [line for line in lines if line.startswith("orders_total")]
    assert [line.split()[2] for line in total] == ["1", "2", "3", "4", "5", "6", "mean"]


def test_backtest_report_on_an_empty_lake_says_so(tmp_path: Path):
    assert forecasting.backtest_report(tmp_path / "lake") == [f"no sales in {tmp_path / 'lake'}: nothing to forecast"]


def test_forecast_backtest_command_prints_the_table_or_one_line_errors(step, tmp_path: Path, capsys):
    from lakewatch.__main__ import main

    lake, _ = step
    assert main(["forecast-backtest", "--lake", str(lake), "--now", NOW.isoformat()]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("MASE: MAE over the MAE of seasonal naive")
    assert any(line.startswith("orders_total     all            mean") for line in printed)
    assert main(["forecast-backtest", "--lake", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err == f"lakewatch: error: --lake is not a directory: {tmp_path / 'missing'}\n"


def test_one_sale_years_before_the_rest_does_not_make_the_replay_start_years_back():
    # Given three weeks of hourly orders, and one sale dated 2020 (inside the accepted event times)
    until = datetime(2024, 7, 1, 12, tzinfo=UTC)
    hours = [until - hour * HOUR for hour in range(21 * 24)]
    rows = [("all", hour, 10 + hour.hour) for hour in hours] + [("all", datetime(2020, 1, 2, tzinfo=UTC), 1)]
    history = series_from_rows(rows)
    # When the schedule is replayed up to now
    run = forecasting.replay_series("orders_total", history, until=until, thresholds={})
    # Then it covers at most the replay window, ending at now, not every hour since 2020
    origins = sorted({row.origin_hour for row in run.forecasts})
    assert len(origins) == forecasting.MAX_REPLAY_HOURS + 1
    assert (origins[0], origins[-1]) == (until - forecasting.MAX_REPLAY_HOURS * HOUR, until)
