-- name: job_failures
-- purpose: Which client jobs fail, and what failures cost: runs, failed runs (FAILED or TIMED_OUT), failure rate and the cost of failed and of all runs per client and job over the last 30 days.
-- window: last 30 days (the 30 UTC days up to and including today, by the day each run ended)
WITH runs AS (
    -- One row per run. A record delivered twice repeats its event_id and its run, and a run re-reported under
    -- a new event_id is still one run, so keeping one report per run (the latest) removes both.
    SELECT
        client,
        job_name,
        cost_usd,
        status IN ('FAILED', 'TIMED_OUT') AS is_failed
    FROM (
        SELECT
            client,
            job_name,
            status,
            cost_usd,
            row_number() OVER (
                PARTITION BY client, job_name, run_id ORDER BY ingested_at DESC, event_id
            ) AS report_rank
        FROM job_runs
        WHERE dt > date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
          AND dt <= date_format(current_date, '%Y-%m-%d')
    ) AS reports
    WHERE report_rank = 1
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
