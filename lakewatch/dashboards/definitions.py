"""The four dashboards, one per audience: what each panel shows, in which order, drawn how.

The SQL of each panel is `dashboards/sql/<dashboard>/<panel>.sql`; Grafana's JSON (`grafana.py`) and the local
report (`lakewatch.report`) are both rendered from these definitions.
"""

from __future__ import annotations

from lakewatch.dashboards.model import Dashboard, Panel, Series, Variable
from lakewatch.domain.alerts import INVESTIGATION_DASHBOARD_UID

#: Status colours shared by every "coloured by status" chart.
STATUS_SERIES = {
    "succeeded": Series(color="green", label="SUCCEEDED"),
    "failed": Series(color="red", label="FAILED"),
    "timed_out": Series(color="orange", label="TIMED_OUT"),
}

SALES = Dashboard(
    name="sales",
    uid="lakewatch-sales",
    title="lakewatch · Sales",
    audience="analysts",
    description="What sells, where and when: revenue and orders by outlet and channel, products, peak hours, "
    "new and returning customers, and the hourly orders against their forecast. Every sale counted once, however "
    "often it was delivered.",
    panels=(
        Panel("summary", "Range at a glance", "stat", "Revenue, orders, average basket, identified customers.",
              width=24, height=4,
              series={"revenue": Series(label="Revenue", unit="currencyGBP"), "orders": Series(label="Orders"),
                      "avg_basket": Series(label="Average basket", unit="currencyGBP"),
                      "customers": Series(label="Customers")}),
        Panel("revenue_by_outlet", "Revenue per day by outlet", "timeseries",
              "Sum of total_price (after discounts) per UTC day; the web is shown as the outlet 'web'.",
              unit="currencyGBP", stacked=True),
        Panel("orders_by_channel", "Orders per day by channel", "timeseries", "Orders per UTC day, web and store."),
        Panel("top_products", "Top products", "barchart",
              "Units sold and revenue (line totals, before basket discounts) of the ten best sellers.",
              category="product", horizontal=True),
        Panel("store_performance", "Store performance", "barchart",
              "Revenue per outlet; orders and average basket in the tooltip.", category="outlet", unit="currencyGBP",
              series={"orders": Series(label="Orders"), "avg_basket": Series(label="Average basket")}),
        Panel("peak_hours", "Peak hours (UTC)", "matrix", "Orders per hour of the day and weekday (1 = Monday).",
              matrix=("hour", "weekday", "orders")),
        Panel("new_vs_returning", "New vs returning customers", "timeseries",
              "Identified customers per day; returning = also bought on an earlier day within 90 days.",
              stacked=True, series={"new_customers": Series(color="blue", label="new"),
                                    "returning_customers": Series(color="green", label="returning")}),
        Panel("average_basket", "Average basket per day", "timeseries", "Average total_price per UTC day and channel.",
              width=24, unit="currencyGBP"),
        Panel("orders_vs_forecast", "Orders per hour: actual vs forecast", "timeseries",
              "All orders per UTC hour against the forecast the hourly run made at the start of that hour (series "
              "orders_total), with its 80% interval as a band.", width=24, height=9,
              series={"orders": Series(color="blue", label="orders"),
                      "forecast": Series(color="orange", dashed=True, label="forecast (1 h ahead)"),
                      "forecast_low": Series(color="orange", label="80% interval, low"),
                      "forecast_high": Series(color="orange", label="80% interval, high",
                                              fill_below_to="forecast_low")}),
    ),
)  # fmt: skip

BATCH_CLIENT_INVESTIGATION = Dashboard(
    name="batch_client_investigation",
    uid=INVESTIGATION_DASHBOARD_UID,  # alert e-mails and chat messages link here
    title="lakewatch · Batch client investigation",
    audience="client support",
    description="One client's job over the range: durations against their baseline with the outliers job_monitor "
    "alerts on marked, the month-over-month change, and the facts support asks first.",
    variables=(
        Variable("client", "Client"),
        Variable("job", "Job"),
        Variable("unit", "Unit", options=(("minutes", "60"), ("hours", "3600"))),
    ),
    panels=(
        Panel("time_since_last_run", "Time since latest run", "stat", "Hours from the latest run to the range's end.",
              width=6, height=4, unit="h", decimals=1),
        Panel("instance_size", "Instance size", "stat", "Instance size of the latest run in the range.",
              width=6, height=4),
        Panel("avg_data_processed", "Average data processed per run", "stat", "GB per run over the range.",
              width=6, height=4, unit="decgbytes", decimals=2),
        Panel("failed_runs", "Failed runs in range", "stat", "FAILED or TIMED_OUT runs in the range.",
              width=6, height=4),
        Panel("duration", "Run duration (${unit:text}) against the baseline", "timeseries",
              "Successful runs; baseline = median of the previous 20 successful runs (from 7 on); red triangles are "
              "the runs job_monitor's outlier rule flags.", width=24, height=10,
              series={"duration": Series(color="blue", label="duration"),
                      "baseline": Series(color="grey", dashed=True, label="baseline"),
                      "outlier": Series(color="red", points=True, label="outlier")}),
        Panel("mom_change", "Average duration month over month (${unit:text})", "table",
              "Average successful run duration per month, and its change on the month before in %.", width=24,
              height=6),
    ),
)  # fmt: skip

BATCH_MONITORING = Dashboard(
    name="batch_monitoring",
    uid="lakewatch-batch-monitoring",
    title="lakewatch · Batch monitoring",
    audience="client support",
    description="Every client at once: runs far above their baseline, jobs that have not run for over a day, and "
    "the last day's failures with their (masked) error messages.",
    panels=(
        Panel("far_above_baseline", "Runs far above their baseline", "table",
              "Client jobs with outlier runs in the range (job_monitor's rule); click through to the client.",
              width=24, links_to_investigation=True),
        Panel("hours_since_last_run", "More than a day since the last run", "barchart",
              "Hours since each client job's latest run, at the range's end, for those over 24 h.",
              width=24, height=10, category="job", horizontal=True, unit="h",
              series={"hours_since_last_run": Series(color="red", label="hours since last run")}),
        Panel("failed_last_24h", "Failed runs in the last 24 h", "table",
              "FAILED or TIMED_OUT runs in the 24 hours before the range's end; error messages are masked.",
              width=24, height=6, links_to_investigation=True),
        Panel("failed_runs", "Failed runs in the range", "table",
              "Every FAILED or TIMED_OUT run in the range, latest first; error messages are masked.",
              width=24, height=10, links_to_investigation=True),
    ),
)  # fmt: skip

JOB_COST = Dashboard(
    name="job_cost",
    uid="lakewatch-job-cost",
    title="lakewatch · Job cost",
    audience="FinOps",
    description="Cost, data processed and run time per client job coloured by status, the monthly cost of "
    "failure, and the failure rate.",
    panels=(
        Panel("cost_by_job", "Cost by client job and status", "barchart", "USD over the range; the 15 costliest.",
              width=12, height=10, category="job", horizontal=True, stacked=True, unit="currencyUSD",
              series=STATUS_SERIES),
        Panel("data_processed_by_job", "Data processed by client job and status", "barchart",
              "GB over the range; the 15 largest.", width=12, height=10, category="job", horizontal=True,
              stacked=True, unit="decgbytes", series=STATUS_SERIES),
        Panel("duration_by_job", "Run time by client job and status", "barchart",
              "Hours summed over runs; the 15 longest.", width=12, height=10, category="job", horizontal=True,
              stacked=True, unit="h", series=STATUS_SERIES),
        Panel("failed_cost_by_month", "Cost of failed runs per month", "barchart",
              "What failed runs (FAILED or TIMED_OUT) cost, next to the month's whole bill.", height=10,
              category="month",
              unit="currencyUSD", series={"failed_cost_usd": Series(color="red", label="failed runs"),
                                          "total_cost_usd": Series(color="blue", label="all runs")}),
        Panel("failure_rate", "Failure rate per day", "timeseries", "Share of runs that failed, per UTC day.",
              width=24, unit="percentunit", series={"failure_rate": Series(color="red", label="failure rate")}),
    ),
)  # fmt: skip

DASHBOARDS: tuple[Dashboard, ...] = (SALES, BATCH_CLIENT_INVESTIGATION, BATCH_MONITORING, JOB_COST)
