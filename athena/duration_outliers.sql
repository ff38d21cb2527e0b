-- name: duration_outliers
-- purpose: Successful runs of the last 30 days that took at least 2.5 times as long as their recent baseline (the median duration of the same client and job's previous 20 successful runs), longest multiple first.
-- window: last 30 days of runs (by the UTC day each ended), each judged against up to 20 earlier successful runs from the last 120 days
--
-- job_monitor's outlier rule, the same as the dashboards': the fragment outlier_verdicts (below) states it,
-- with baseline.py's numbers, and names where it differs from the Lambda's.
WITH run_reports AS (
    SELECT *
    FROM job_runs
    -- Failed runs never make or meet the baseline.
    WHERE status = 'SUCCEEDED'
      AND duration_seconds IS NOT NULL
      -- 120 days: room for 20 earlier runs of a daily job before the oldest run in the 30-day window.
      AND dt > date_format(current_date - INTERVAL '120' DAY, '%Y-%m-%d')
      AND dt <= date_format(current_date, '%Y-%m-%d')
),

-- include: outlier_verdicts
SELECT
    client,
    job_name,
    run_id,
    started_at,
    duration_seconds,
    baseline_seconds,
    round(duration_seconds / baseline_seconds, 2) AS ratio
FROM run_verdicts
WHERE is_outlier
  AND dt > date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
ORDER BY ratio DESC, client, job_name, started_at
