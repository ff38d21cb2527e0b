-- name: job_failures
-- purpose: Which client jobs fail, and what failures cost: runs, failed runs (FAILED or TIMED_OUT), failure rate and the cost of failed and of all runs per client and job over the last 30 days.
-- window: last 30 days (the 30 UTC days up to and including today, by the day each run ended)
WITH run_reports AS (
    SELECT *
    FROM job_runs
    WHERE dt > date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
      AND dt <= date_format(current_date, '%Y-%m-%d')
),

-- include: one_report_per_run
,

runs AS (
    SELECT
        client,
        job_name,
        cost_usd,
        status IN ('FAILED', 'TIMED_OUT') AS is_failed
    FROM one_report_per_run
)

SELECT
    client,
    job_name,
    count(*) AS runs,
    count(*) FILTER (WHERE is_failed) AS failed_runs,
    round(CAST(count(*) FILTER (WHERE is_failed) AS double) / count(*), 4) AS failure_rate,
    sum(CASE WHEN is_failed THEN cost_usd ELSE 0 END) AS failed_cost_usd,
    sum(cost_usd) AS total_cost_usd
FROM runs
GROUP BY client, job_name
ORDER BY failed_runs DESC, failed_cost_usd DESC, client, job_name
