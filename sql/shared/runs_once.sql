-- The job runs that ended in the dashboard's time range, each once. A record delivered twice repeats its
-- event_id and its run, and a run re-reported under a new event_id is still one run, so keeping one report per
-- run (the latest) removes both. `dt` (the UTC day of ended_at) prunes the partitions Athena reads.
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
    FROM (
        SELECT
            *,
            row_number() OVER (
                PARTITION BY client, job_name, run_id ORDER BY ingested_at DESC, event_id
            ) AS report_rank
        FROM job_runs
        WHERE dt BETWEEN $__rawTimeFrom('yyyy-MM-dd') AND $__rawTimeTo('yyyy-MM-dd')
          AND $__timeFilter(ended_at)
    ) AS reports
    WHERE report_rank = 1
)
