-- Month-over-month change of the selected client and job's average successful run duration, for each month the
-- range touches (the month before the range is read for the first month's change; empty when it has no runs).
WITH run_reports AS (
    SELECT *
    FROM job_runs
    WHERE dt >= date_format(date_trunc('month', $__timeFrom()) - INTERVAL '1' MONTH, '%Y-%m-%d')
      AND dt <= $__rawTimeTo('yyyy-MM-dd')
      AND client = url_decode('${client:percentencode}')
      AND job_name = url_decode('${job:percentencode}')
      AND status = 'SUCCEEDED'
      AND duration_seconds IS NOT NULL
),

-- include: one_report_per_run
,

monthly AS (
    SELECT
        date_trunc('month', CAST(dt AS date)) AS month_start,
        avg(duration_seconds) AS avg_duration_seconds
    FROM one_report_per_run
    GROUP BY 1
)

SELECT
    date_format(this_month.month_start, '%Y-%m') AS month,
    round(this_month.avg_duration_seconds / CAST('${unit:percentencode}' AS double), 2) AS avg_duration,
    round(
        100 * (this_month.avg_duration_seconds - previous_month.avg_duration_seconds)
        -- No change against a month whose runs took no time (0 s is a valid duration): not Infinity or NaN.
        / nullif(previous_month.avg_duration_seconds, 0),
        2
    ) AS pct_change
FROM monthly AS this_month
LEFT JOIN monthly AS previous_month
    ON previous_month.month_start = this_month.month_start - INTERVAL '1' MONTH
WHERE this_month.month_start >= date_trunc('month', CAST($__rawTimeFrom('yyyy-MM-dd') AS date))
ORDER BY month
