-- name: failure_cost_by_month
-- purpose: The monthly bill for failure: runs, failed runs (FAILED or TIMED_OUT), total cost, cost of failed runs and data processed by failed runs, per calendar month over the last 12 months.
-- window: last 12 months (this calendar month so far and the 11 before it, by the UTC day each run ended)
WITH runs AS (
    -- One row per run. A record delivered twice repeats its event_id and its run, and a run re-reported under
    -- a new event_id is still one run, so keeping one report per run (the latest) removes both.
    SELECT
        substr(dt, 1, 7) AS month,
        cost_usd,
        data_processed_gb,
        status IN ('FAILED', 'TIMED_OUT') AS is_failed
    FROM (
        SELECT
            dt,
            status,
            cost_usd,
            data_processed_gb,
            row_number() OVER (
                PARTITION BY client, job_name, run_id ORDER BY ingested_at DESC, event_id
            ) AS report_rank
        FROM job_runs
        WHERE dt >= date_format(date_trunc('month', current_date) - INTERVAL '11' MONTH, '%Y-%m-%d')
          AND dt <= date_format(current_date, '%Y-%m-%d')
    ) AS reports
    WHERE report_rank = 1
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
