-- Client jobs with runs in the range far above their baseline (job_monitor's outlier rule): how many, and the
-- latest such run with its multiple of the baseline; most outliers first.
WITH
-- include: judged_runs
SELECT
    client,
    job_name,
    count(*) AS outlier_runs,
    max(ended_at) AS latest_outlier_at,
    round(max_by(duration_seconds, ended_at) / 60, 1) AS latest_duration_minutes,
    round(max_by(baseline_seconds, ended_at) / 60, 1) AS baseline_minutes,
    round(max_by(duration_seconds / baseline_seconds, ended_at), 2) AS latest_ratio
FROM judged_runs
WHERE is_outlier
GROUP BY client, job_name
ORDER BY outlier_runs DESC, latest_outlier_at DESC, client, job_name
