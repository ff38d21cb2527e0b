-- Every successful run that ended in the dashboard's time range, judged by job_monitor's outlier rule (the
-- fragment outlier_verdicts states it and how it differs from the Lambda's), its history read from up to
-- 120 days before the range starts (room for 20 runs of a daily job). Grafana macros: dashboards only.
run_reports AS (
    -- Failed runs never make or meet the baseline.
    SELECT *
    FROM job_runs
    WHERE status = 'SUCCEEDED'
      AND duration_seconds IS NOT NULL
      AND dt > date_format($__timeFrom() - INTERVAL '120' DAY, '%Y-%m-%d')
      AND dt <= $__rawTimeTo('yyyy-MM-dd')
),

-- include: outlier_verdicts
,

judged_runs AS (
    SELECT
        client,
        job_name,
        client || ' / ' || job_name AS job,
        run_id,
        started_at,
        ended_at,
        duration_seconds,
        instance_size,
        history_size,
        -- No baseline is shown (nor any verdict given) before there is enough history.
        CASE WHEN history_size >= min_history THEN baseline_seconds END AS baseline_seconds,
        is_outlier
    FROM run_verdicts
    WHERE $__timeFilter(ended_at)
)
