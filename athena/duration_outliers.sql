-- name: duration_outliers
-- purpose: Successful runs of the last 30 days that took at least 3 times as long as their recent baseline (the median duration of the same client and job's previous 20 successful runs), longest multiple first.
-- window: last 30 days of runs (by the UTC day each ended), each judged against up to 20 earlier successful runs from the last 120 days
--
-- Close to the job_monitor Lambda's judgement (lakewatch/domain/baseline.py) but not identical:
--   same:      median of the previous 20 successful runs, at least 7 of them, and at least 300 s longer than it;
--   stricter:  3x rather than the Lambda's 2.5x, so this list holds the runs worth a look, not every alert;
--   different: no MAD test (a job whose healthy durations vary widely can show here without having alerted),
--              and earlier outliers stay in the history (the median shrugs them off; the Lambda drops them).
WITH runs AS (
    -- One row per run. A record delivered twice repeats its event_id and its run, and a run re-reported under
    -- a new event_id is still one run, so keeping one report per run (the latest) removes both.
    SELECT
        client,
        job_name,
        run_id,
        started_at,
        ended_at,
        duration_seconds,
        dt
    FROM (
        SELECT
            client,
            job_name,
            run_id,
            started_at,
            ended_at,
            duration_seconds,
            dt,
            row_number() OVER (
                PARTITION BY client, job_name, run_id ORDER BY ingested_at DESC, event_id
            ) AS report_rank
        FROM job_runs
        -- Failed runs never make or meet the baseline: a run that died after two minutes says nothing about
        -- how long a healthy one takes.
        WHERE status = 'SUCCEEDED'
          AND duration_seconds IS NOT NULL
          -- 120 days: room for 20 earlier runs of a daily job before the oldest run in the 30-day window.
          AND dt > date_format(current_date - INTERVAL '120' DAY, '%Y-%m-%d')
          AND dt <= date_format(current_date, '%Y-%m-%d')
    ) AS reports
    WHERE report_rank = 1
),

history AS (
    SELECT
        client,
        job_name,
        run_id,
        started_at,
        duration_seconds,
        dt,
        -- The previous 20 successful runs of the same client and job, never the run itself.
        array_sort(array_agg(duration_seconds) OVER (
            PARTITION BY client, job_name ORDER BY ended_at, run_id ROWS BETWEEN 20 PRECEDING AND 1 PRECEDING
        )) AS recent_durations
    FROM runs
),

baselines AS (
    SELECT
        client,
        job_name,
        run_id,
        started_at,
        duration_seconds,
        dt,
        cardinality(recent_durations) AS history_size,
        -- Exact median of the sorted history: the k-th value from each end, k = ceil(n / 2).
        (
            element_at(recent_durations, CAST(ceil(cardinality(recent_durations) / 2.0) AS integer))
            + element_at(recent_durations, -CAST(ceil(cardinality(recent_durations) / 2.0) AS integer))
        ) / 2 AS baseline_seconds
    FROM history
)

SELECT
    client,
    job_name,
    run_id,
    started_at,
    duration_seconds,
    baseline_seconds,
    round(duration_seconds / baseline_seconds, 2) AS ratio
FROM baselines
WHERE dt > date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
  -- MIN_HISTORY = 7: with fewer earlier runs one odd run would be half the evidence.
  AND history_size >= 7
  AND baseline_seconds > 0
  -- RATIO_THRESHOLD = 3.0
  AND duration_seconds >= 3.0 * baseline_seconds
  -- ABSOLUTE_FLOOR_SECONDS = 300: a 20-second job taking a minute is not worth anyone's time.
  AND duration_seconds - baseline_seconds >= 300
ORDER BY ratio DESC, client, job_name, started_at
