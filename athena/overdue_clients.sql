-- name: overdue_clients
-- purpose: Client jobs whose daily batch has not run for over 24 hours: when each last ended (any status) and how many hours ago, most overdue first.
-- window: all clients, as of now; only runs of the last 90 days are read, so a job silent for longer than that (retired) drops off the list
WITH last_runs AS (
    -- No de-duplication needed: a record delivered twice (same event_id) cannot change a latest end time.
    SELECT
        client,
        job_name,
        max(ended_at) AS last_run_at
    FROM job_runs
    WHERE dt > date_format(current_date - INTERVAL '90' DAY, '%Y-%m-%d')
      AND dt <= date_format(current_date, '%Y-%m-%d')
    GROUP BY client, job_name
),

ages AS (
    SELECT
        client,
        job_name,
        last_run_at,
        -- current_timestamp is UTC in Athena; the cast drops the zone to compare with the UTC lake timestamps.
        CAST(date_diff('second', last_run_at, CAST(current_timestamp AS timestamp)) AS double) / 3600
            AS hours_since_last_run
    FROM last_runs
)

SELECT
    client,
    job_name,
    last_run_at,
    round(hours_since_last_run, 1) AS hours_since_last_run
FROM ages
-- OVERDUE_AFTER_HOURS = 24: the default expected interval of a daily batch (per-job overrides live in the Lambda).
WHERE hours_since_last_run > 24
ORDER BY hours_since_last_run DESC, client, job_name
