-- Every successful run that ended in the dashboard's time range, judged by job_monitor's outlier rule
-- (lakewatch/domain/baseline.py states it and explains each number; athena/duration_outliers.sql applies it
-- the same way, and a unit test compares the `rule` row below with baseline.py):
--   the baseline is the median, and the spread the median absolute deviation (MAD), of the same client and
--   job's previous 20 successful runs (at least 7 of them); an outlier is at least 2.5x the median,
--   5 robust standard deviations above it, and 300 s longer than it.
-- As in the saved query, earlier outliers stay in the history (the median and MAD shrug them off; the Lambda
-- drops them), and the history is every earlier successful run in the lake, read from up to 120 days before
-- the range starts (room for 20 runs of a daily job).
rule AS (
    SELECT
        2.5 AS ratio_threshold,
        5.0 AS mad_k,
        1.4826 AS mad_to_sigma,
        300.0 AS absolute_floor_seconds,
        7 AS min_history
),

successful_runs AS (
    SELECT client, job_name, run_id, started_at, ended_at, duration_seconds, instance_size
    FROM (
        SELECT
            *,
            row_number() OVER (
                PARTITION BY client, job_name, run_id ORDER BY ingested_at DESC, event_id
            ) AS report_rank
        FROM job_runs
        -- Failed runs never make or meet the baseline.
        WHERE status = 'SUCCEEDED'
          AND duration_seconds IS NOT NULL
          AND dt > date_format($__timeFrom() - INTERVAL '120' DAY, '%Y-%m-%d')
          AND dt <= $__rawTimeTo('yyyy-MM-dd')
    ) AS reports
    WHERE report_rank = 1
),

history AS (
    SELECT
        *,
        -- The previous 20 successful runs of the same client and job, never the run itself.
        array_sort(array_agg(duration_seconds) OVER (
            PARTITION BY client, job_name ORDER BY ended_at, run_id ROWS BETWEEN 20 PRECEDING AND 1 PRECEDING
        )) AS recent_durations
    FROM successful_runs
),

baselines AS (
    SELECT
        *,
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
),

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
        COALESCE(
            history_size >= min_history
            AND baseline_seconds > 0
            AND duration_seconds >= ratio_threshold * baseline_seconds
            AND duration_seconds >= baseline_seconds + mad_k * mad_to_sigma * mad_seconds
            AND duration_seconds - baseline_seconds >= absolute_floor_seconds,
            false
        ) AS is_outlier
    FROM spreads
    CROSS JOIN rule
    WHERE $__timeFilter(ended_at)
)
