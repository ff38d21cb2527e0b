-- name: failure_cost_by_month
-- purpose: The monthly bill for failure: runs, failed runs (FAILED or TIMED_OUT), total cost, cost of failed runs and data processed by failed runs, per calendar month over the last 12 months.
-- window: last 12 months (this calendar month so far and the 11 before it, by the UTC day each run ended)
WITH run_reports AS (
    SELECT *
    FROM job_runs
    WHERE dt >= date_format(date_trunc('month', current_date) - INTERVAL '11' MONTH, '%Y-%m-%d')
      AND dt <= date_format(current_date, '%Y-%m-%d')
),

-- include: one_report_per_run
,

runs AS (
    SELECT
        substr(dt, 1, 7) AS month,
        cost_usd,
        data_processed_gb,
        status IN ('FAILED', 'TIMED_OUT') AS is_failed
    FROM one_report_per_run
)

SELECT
    month,
    count(*) AS runs,
    count(*) FILTER (WHERE is_failed) AS failed_runs,
    sum(cost_usd) AS total_cost_usd,
    sum(CASE WHEN is_failed THEN cost_usd ELSE 0 END) AS failed_cost_usd,
    round(sum(CASE WHEN is_failed THEN data_processed_gb ELSE 0 END), 3) AS failed_data_gb
FROM runs
GROUP BY month
ORDER BY month
