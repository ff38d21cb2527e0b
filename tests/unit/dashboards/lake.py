"""A small hand-built lake whose dashboard answers are known, written in two Firehose deliveries.

The dashboards' time range is RANGE_FROM .. RANGE_TO (1 June 00:00 to 15 June 12:00 UTC). For each rule a panel
must honour there is a record that would change its answer if the rule were broken: a redelivered sale and
failed run, a run re-reported under a new event_id, sales and runs just outside the range on either side, a
customer who comes back within 90 days next to one who comes back after longer, outliers (5x, and 2.8x with the
5x still in its history) next to slow growth and a 10x run with too little history, a client silent for over a
day, failures in and out of the last 24 hours; forecasts of the chain's orders retried, made further ahead, of
another series, and outside the range, next to the one-hour-ahead forecasts the forecast panel draws.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from lakewatch.domain.tables import CLEAN_TIMESTAMP_FORMAT, FORECASTS, JOB_RUNS, PARTITION_DATE_FORMAT, SALES
from lakewatch.local.lake import write_rows
from tests.unit.athena.factories import INGESTED_AT, job_run, sale

RANGE_FROM = datetime(2024, 6, 1, 0, 0, tzinfo=UTC)
RANGE_TO = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
REDELIVERED_AT = (INGESTED_AT + timedelta(minutes=5)).strftime(CLEAN_TIMESTAMP_FORMAT)


def sales() -> tuple[list[dict], list[dict]]:
    """(first delivery, redelivery) of the sales."""
    camden_10_june = sale(
        "s1", datetime(2024, 6, 10, 9, 15), store="Camden", customer_key="cust-a",
        items=[("latte", 3.00, 2), ("croissant", 2.50, 1)],
    )  # fmt: skip
    first = [
        camden_10_june,
        sale("s2", datetime(2024, 6, 12, 9, 40), store="Camden", customer_key="cust-a", items=[("latte", 3.00, 1)]),
        # cust-b twice on one day (web): one visit.
        sale("s3", datetime(2024, 6, 12, 14, 5), customer_key="cust-b", items=[("tea", 2.00, 3)], discount=1.00),
        sale("s4", datetime(2024, 6, 12, 18, 30), customer_key="cust-b", items=[("croissant", 2.50, 2)]),
        # Anonymous: an order, never a customer.
        sale("s5", datetime(2024, 6, 14, 9, 5), store="Soho", items=[("latte", 3.00, 1), ("tea", 2.00, 1)]),
        # cust-c: the last minute before the range (history only), then back on 3 June: returning.
        sale("s6", datetime(2024, 5, 31, 23, 59), store="Soho", customer_key="cust-c", items=[("croissant", 2.50, 1)]),
        sale("s7", datetime(2024, 6, 3, 10, 0), store="Soho", customer_key="cust-c", items=[("latte", 3.00, 1)]),
        # cust-e: 92 days apart, so new again on 5 June.
        sale("s9", datetime(2024, 3, 5, 12, 0), store="Camden", customer_key="cust-e", items=[("tea", 2.00, 1)]),
        sale("s10", datetime(2024, 6, 5, 11, 0), store="Camden", customer_key="cust-e", items=[("tea", 2.00, 1)]),
        # After the range's end: out.
        sale("s8", datetime(2024, 6, 15, 13, 0), customer_key="cust-d", items=[("latte", 3.00, 5)]),
    ]
    return first, [{**camden_10_june, "ingested_at": REDELIVERED_AT}]


def _daily(client: str, job: str, first_day: datetime, durations: list[float], **kwargs) -> list[dict]:
    return [
        job_run(client, job, first_day + timedelta(days=index), duration, **kwargs)
        for index, duration in enumerate(durations)
    ]


def job_runs() -> tuple[list[dict], list[dict]]:
    """(first delivery, redelivery) of the job runs."""
    # acme: slow growth (+30 s a day) from 1 May to 14 June: never an outlier; May averages 3450 s, June 4125 s.
    acme = _daily("acme", "nightly_sales", datetime(2024, 5, 1, 1, 0), [3000 + 30 * day for day in range(45)],
                  cost_usd=1.2345)  # fmt: skip
    acme_13_june, acme_14_june = acme[43], acme[44]

    # globex: 950/1050 s alternating from 10 May (median 1000), 5x on 8 June, 2.8x on 12 June; failed 15 June.
    globex_durations = [950.0 if day % 2 == 0 else 1050.0 for day in range(36)]
    globex_durations[29] = 5000.0
    globex_durations[33] = 2800.0
    globex = _daily("globex", "nightly_sales", datetime(2024, 5, 10, 1, 0), globex_durations, cost_usd=0.5)
    globex_failed = job_run("globex", "nightly_sales", datetime(2024, 6, 15, 3, 0), 300, status="FAILED", cost_usd=0.5)

    # initech: a 10x run after only 5 runs of history (too little to judge); silent since 6 June.
    initech = _daily("initech", "nightly_sales", datetime(2024, 6, 1, 1, 0), [600] * 5 + [6000], cost_usd=0.25)

    umbrella_failed = job_run("umbrella", "weekly_export", datetime(2024, 6, 14, 22, 0), 600, status="FAILED",
                              cost_usd=4.0, data_processed_gb=8.0)  # fmt: skip
    umbrella = [
        job_run("umbrella", "weekly_export", datetime(2024, 6, 3, 3, 0), 2400, cost_usd=1.0, data_processed_gb=5.0),
        job_run("umbrella", "weekly_export", datetime(2024, 6, 10, 3, 0), 10800, status="TIMED_OUT",
                cost_usd=3.5, data_processed_gb=20.25),
        umbrella_failed,
        # After the range's end: out of every panel.
        job_run("umbrella", "weekly_export", datetime(2024, 6, 15, 13, 0), 600, status="FAILED", cost_usd=50.0),
    ]  # fmt: skip
    # oldco: last ran in February, beyond the 90 days read: retired, not overdue.
    oldco = [job_run("oldco", "nightly_sales", datetime(2024, 2, 1, 1, 0), 100, cost_usd=0.1)]

    re_reported = {**acme_13_june, "event_id": "evt-acme-13-june-resent", "ingested_at": REDELIVERED_AT}
    redelivered = [{**acme_14_june, "ingested_at": REDELIVERED_AT}, re_reported, {**umbrella_failed,
                   "ingested_at": REDELIVERED_AT}]  # fmt: skip
    return [*acme, *globex, globex_failed, *initech, *umbrella, *oldco], redelivered


def forecast(target_hour: datetime, yhat: float, low: float, high: float, *, horizon: int = 1,
             series: str = "orders_total", series_key: str = "all", generated_after: timedelta = timedelta(seconds=5),
             ) -> dict:  # fmt: skip
    """A `forecasts` clean record: made at the origin `horizon - 1` hours before its target hour."""
    origin_hour = target_hour - timedelta(hours=horizon - 1)
    return {
        "series": series, "series_key": series_key,
        "origin_hour": origin_hour.strftime(CLEAN_TIMESTAMP_FORMAT),
        "target_hour": target_hour.strftime(CLEAN_TIMESTAMP_FORMAT),
        "horizon": horizon, "yhat": yhat, "yhat_lo": low, "yhat_hi": high,
        "model_version": f"{series}-20240603T0100Z",
        "generated_at": (origin_hour + generated_after).strftime(CLEAN_TIMESTAMP_FORMAT),
        "dt": origin_hour.strftime(PARTITION_DATE_FORMAT),
    }  # fmt: skip


def forecasts() -> tuple[list[dict], list[dict]]:
    """(first run, retried run) of the forecasts. The panel's forecasts are the chain's (orders_total/all), made
    one hour ahead, the latest run of an origin winning; the rest would change its answer if it were read."""
    first = [
        forecast(datetime(2024, 6, 12, 9, 0), 1.2, 0.4, 2.6),
        forecast(datetime(2024, 6, 12, 10, 0), 0.8, 0.0, 1.9),  # no order came: an actual zero
        forecast(datetime(2024, 6, 12, 9, 0), 9.0, 5.0, 13.0, horizon=2),  # made two hours ahead
        forecast(datetime(2024, 6, 12, 9, 0), 7.0, 6.0, 8.0, series="orders_by_store", series_key="Camden"),
        forecast(datetime(2024, 5, 31, 23, 0), 3.0, 1.0, 5.0),  # before the range
        forecast(datetime(2024, 6, 15, 13, 0), 5.0, 3.0, 7.0),  # after the range's end
    ]
    retried = [forecast(datetime(2024, 6, 12, 9, 0), 1.4, 0.5, 2.8, generated_after=timedelta(minutes=3))]
    return first, retried


def write_lake(lake_root: Path) -> Path:
    for table, (first, redelivered) in ((SALES, sales()), (JOB_RUNS, job_runs()), (FORECASTS, forecasts())):
        write_rows(table, first, lake_root, file_name="part-00000")
        write_rows(table, redelivered, lake_root, file_name="part-00001-redelivery")
    return lake_root
