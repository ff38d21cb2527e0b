-- Share of runs that failed (FAILED or TIMED_OUT) per UTC day.
WITH
-- include: runs_once
SELECT
    $__timeGroup(ended_at, '1d') AS time,
    round(CAST(count(*) FILTER (WHERE is_failed) AS double) / count(*), 4) AS failure_rate
FROM runs_once
GROUP BY 1
ORDER BY 1
