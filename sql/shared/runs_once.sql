-- The job runs that ended in the dashboard's time range, each once (one report per run, the latest). `dt` (the
-- UTC day of ended_at) prunes the partitions Athena reads. Grafana macros: dashboards only.
run_reports AS (
    SELECT *
    FROM job_runs
    WHERE dt BETWEEN $__rawTimeFrom('yyyy-MM-dd') AND $__rawTimeTo('yyyy-MM-dd')
      AND $__timeFilter(ended_at)
),

-- include: one_report_per_run
,

runs_once AS (
    SELECT
        client,
        job_name,
        client || ' / ' || job_name AS job,
        run_id,
        status,
        status IN ('FAILED', 'TIMED_OUT') AS is_failed,
        started_at,
        ended_at,
        duration_seconds,
        data_processed_gb,
        cost_usd,
        instance_size,
        error_message
    FROM one_report_per_run
)
