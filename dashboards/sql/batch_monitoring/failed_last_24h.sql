-- Runs that failed (FAILED or TIMED_OUT) in the 24 hours before the end of the range, latest first, with their
-- error messages (masked by the transform before they reached the lake).
WITH run_reports AS (
    -- The 24 hours before the range's end, whatever the range: not runs_once, which reads the range itself.
    SELECT *
    FROM job_runs
    WHERE dt >= date_format($__timeTo() - INTERVAL '1' DAY, '%Y-%m-%d')
      AND dt <= $__rawTimeTo('yyyy-MM-dd')
      AND ended_at > $__timeTo() - INTERVAL '1' DAY
      AND ended_at <= $__timeTo()
),

-- include: one_report_per_run
SELECT
    ended_at,
    client,
    job_name,
    run_id,
    status,
    round(duration_seconds / 60, 1) AS duration_minutes,
    error_message
FROM one_report_per_run
WHERE status IN ('FAILED', 'TIMED_OUT')
ORDER BY ended_at DESC, client, job_name
