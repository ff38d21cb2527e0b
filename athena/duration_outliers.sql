-- name: duration_outliers
-- purpose: Successful runs of the last 30 days that took at least 2.5 times as long as their recent baseline (the median duration of the same client and job's previous 20 successful runs), longest multiple first.
-- window: last 30 days of runs (by the UTC day each ended), each judged against up to 20 earlier successful runs from the last 120 days
--
-- The job_monitor Lambda's outlier rule (lakewatch/domain/baseline.py, where the rule is stated and each
-- number explained), with the same numbers in the `rule` row below (a unit test compares them):
--   same:      median and median absolute deviation (MAD) of the previous 20 successful runs, at least 7 of
--              them; an outlier is at least 2.5x the median, 5 robust standard deviations above it, and
--              300 s longer than it;
--   different: earlier outliers stay in this history (the median and MAD shrug them off; the Lambda drops
--              them), and the history is every earlier successful run in the lake, in end-time order,
--              while the Lambda's is the runs it had processed when the run arrived. So a run can differ
--              from its alert near a cluster of outliers or after late deliveries.
WITH rule AS (
    -- baseline.py: RATIO_THRESHOLD, MAD_K, MAD_TO_SIGMA, ABSOLUTE_FLOOR_SECONDS, MIN_HISTORY (BASELINE_WINDOW
    -- is the window frame of `history` below).
    SELECT
        2.5 AS ratio_threshold,
        5.0 AS mad_k,
        1.4826 AS mad_to_sigma,
        300.0 AS absolute_floor_seconds,
        7 AS min_history
),

runs AS (
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
        recent_durations,
        cardinality(recent_durations) AS history_size,
        -- Exact median of the sorted history: the k-th value from each end, k = ceil(n / 2).
        (
            element_at(recent_durations, CAST(ceil(cardinality(recent_durations) / 2.0) AS integer))
            + element_at(recent_durations, -CAST(ceil(cardinality(recent_durations) / 2.0) AS integer))
        ) / 2 AS baseline_seconds
    FROM history
),

spreads AS (
    SELECT
        *,
        -- The median absolute deviation: the same exact median, of the sorted distances from the median.
        (
            element_at(deviations, CAST(ceil(cardinality(deviations) / 2.0) AS integer))
            + element_at(deviations, -CAST(ceil(cardinality(deviations) / 2.0) AS integer))
        ) / 2 AS mad_seconds
    FROM (
        SELECT
            *,
            array_sort(transform(recent_durations, duration -> abs(duration - baseline_seconds))) AS deviations
        FROM baselines
    ) AS with_deviations
)

SELECT
    client,
    job_name,
    run_id,
    started_at,
    duration_seconds,
    baseline_seconds,
    round(duration_seconds / baseline_seconds, 2) AS ratio
FROM spreads
CROSS JOIN rule
WHERE dt > date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
  -- With fewer earlier runs one odd run would be half the evidence.
  AND history_size >= min_history
  AND baseline_seconds > 0
  AND duration_seconds >= ratio_threshold * baseline_seconds
  -- A job whose healthy durations vary widely is not an outlier within its own spread.
  AND duration_seconds >= baseline_seconds + mad_k * mad_to_sigma * mad_seconds
  -- A 20-second job taking a minute is not worth anyone's time.
  AND duration_seconds - baseline_seconds >= absolute_floor_seconds
ORDER BY ratio DESC, client, job_name, started_at
