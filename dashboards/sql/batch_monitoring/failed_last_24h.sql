-- Runs that failed (FAILED or TIMED_OUT) in the 24 hours before the end of the range, latest first, with their
-- error messages (masked by the transform before they reached the lake).
WITH reports AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY client, job_name, run_id ORDER BY ingested_at DESC, event_id) AS report_rank
    FROM job_runs
    WHERE dt >= date_format($__timeTo() - INTERVAL '1' DAY, '%Y-%m-%d')
      AND dt <= $__rawTimeTo('yyyy-MM-dd')
      AND ended_at > $__timeTo() - INTERVAL '1' DAY
      AND ended_at <= $__timeTo()
)

SELECT
    ended_at,
    client,
    job_name,
    run_id,
    status,
    round(duration_seconds / 60, 1) AS duration_minutes,
    error_message
FROM reports
WHERE report_rank = 1
  AND status IN ('FAILED', 'TIMED_OUT')
ORDER BY ended_at DESC, client, job_name
