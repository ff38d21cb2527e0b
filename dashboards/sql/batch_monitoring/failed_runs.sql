-- Every failed run (FAILED or TIMED_OUT) in the range, latest first (at most 100), with its masked error message.
WITH
-- include: runs_once
SELECT
    ended_at,
    client,
    job_name,
    run_id,
    status,
    round(duration_seconds / 60, 1) AS duration_minutes,
    error_message
FROM runs_once
WHERE is_failed
ORDER BY ended_at DESC, client, job_name
LIMIT 100
