-- name: duration_mom_change
-- purpose: Month-over-month change in each client's average successful run duration: the month's average, the previous calendar month's, and the change in percent (empty when the previous month has no runs).
-- window: last 13 months (this calendar month so far and the 12 before it, by the UTC day each run ended); the oldest month has no previous month
WITH run_reports AS (
    SELECT *
    FROM job_runs
    -- Only successful runs: a failure's duration is how long it took to die, not how long the batch takes.
    WHERE status = 'SUCCEEDED'
      AND duration_seconds IS NOT NULL
      AND dt >= date_format(date_trunc('month', current_date) - INTERVAL '12' MONTH, '%Y-%m-%d')
      AND dt <= date_format(current_date, '%Y-%m-%d')
),

-- include: one_report_per_run
,

monthly AS (
    SELECT
        client,
        date_trunc('month', CAST(dt AS date)) AS month_start,
        avg(duration_seconds) AS avg_duration_seconds
    FROM one_report_per_run
    GROUP BY 1, 2
)

SELECT
    this_month.client,
    date_format(this_month.month_start, '%Y-%m') AS month,
    round(this_month.avg_duration_seconds, 1) AS avg_duration_seconds,
    round(previous_month.avg_duration_seconds, 1) AS prev_month_avg_seconds,
    round(
        100 * (this_month.avg_duration_seconds - previous_month.avg_duration_seconds)
        -- No change against a month whose runs took no time (0 s is a valid duration): not Infinity or NaN.
        / nullif(previous_month.avg_duration_seconds, 0),
        2
    ) AS pct_change
FROM monthly AS this_month
-- The calendar month before, not merely the previous row: a client with a silent month gets no change figure.
LEFT JOIN monthly AS previous_month
    ON previous_month.client = this_month.client
    AND previous_month.month_start = this_month.month_start - INTERVAL '1' MONTH
ORDER BY this_month.client, month
