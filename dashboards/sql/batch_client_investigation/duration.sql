-- The selected client and job's successful runs over the range, in the unit picked (minutes or hours): each
-- run's duration, its baseline (the median of its previous runs), and the outliers marked as their own series.
WITH
-- include: judged_runs
SELECT
    ended_at AS time,
    round(duration_seconds / CAST('${unit:percentencode}' AS double), 2) AS duration,
    round(baseline_seconds / CAST('${unit:percentencode}' AS double), 2) AS baseline,
    CASE WHEN is_outlier THEN round(duration_seconds / CAST('${unit:percentencode}' AS double), 2) END AS outlier
FROM judged_runs
WHERE client = url_decode('${client:percentencode}')
  AND job_name = url_decode('${job:percentencode}')
ORDER BY ended_at
