-- One row per run of `run_reports`: the includer's CTE of the job_runs rows it reads, cut to its window of `dt`
-- (what Athena prunes on) and to any filter that must hold before de-duplication. A record delivered twice
-- repeats its event_id and its run, and a run re-reported under a new event_id is still one run, so keeping one
-- report per run (the latest) removes both. Every column of job_runs comes along, and report_rank (always 1).
one_report_per_run AS (
    SELECT *
    FROM (
        SELECT
            *,
            row_number() OVER (
                PARTITION BY client, job_name, run_id ORDER BY ingested_at DESC, event_id
            ) AS report_rank
        FROM run_reports
    ) AS reports
    WHERE report_rank = 1
)
