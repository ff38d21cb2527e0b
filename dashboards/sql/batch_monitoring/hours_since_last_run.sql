-- Client jobs whose latest run (any status) ended more than a day before the end of the range, with the hours
-- since; runs of the 90 days before the range's end are read, so a job silent for longer (retired) drops off.
WITH last_runs AS (
    -- No de-duplication needed: a record delivered twice cannot change a latest end time.
    SELECT
        client || ' / ' || job_name AS job,
        max(ended_at) AS last_run_at
    FROM job_runs
    WHERE dt > date_format($__timeTo() - INTERVAL '90' DAY, '%Y-%m-%d')
      AND dt <= $__rawTimeTo('yyyy-MM-dd')
      AND ended_at <= $__timeTo()
    GROUP BY client, job_name
),

ages AS (
    SELECT
        job,
        CAST(date_diff('second', last_run_at, CAST($__timeTo() AS timestamp)) AS double) / 3600 AS hours
    FROM last_runs
)

SELECT
    job,
    round(hours, 1) AS hours_since_last_run
FROM ages
-- 24 h: the default expected interval of a daily batch (the overdue check's per-job overrides are not here).
WHERE hours > 24
ORDER BY hours DESC, job
