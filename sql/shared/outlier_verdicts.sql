-- job_monitor's outlier rule, applied to every run of `one_report_per_run` (included below): `run_verdicts` is
-- each run with its baseline, spread and verdict `is_outlier`. lakewatch/domain/baseline.py states the rule and
-- explains each number; the `rule` row holds the same numbers (a unit test compares them):
--   same:      the baseline is the median, and the spread the median absolute deviation (MAD), of the same
--              client and job's previous 20 successful runs, at least 7 of them; an outlier is at least 2.5x
--              the median, 5 robust standard deviations above it, and 300 s longer than it;
--   different: earlier outliers stay in this history (the median and MAD shrug them off; the Lambda drops
--              them), and the history is every earlier successful run in the lake, in end-time order, while
--              the Lambda's is the runs it had processed when the run arrived. So a run can differ from its
--              alert near a cluster of outliers or after late deliveries.
-- The includer's `run_reports` holds only successful runs with a duration (a run that died after two minutes
-- says nothing about how long a healthy one takes, so failed runs never make or meet a baseline), read from far
-- enough back for 20 earlier runs: 120 days before the first run judged, for a daily job.
-- include: one_report_per_run
,

rule AS (
    -- baseline.py: RATIO_THRESHOLD, MAD_K, MAD_TO_SIGMA, ABSOLUTE_FLOOR_SECONDS, MIN_HISTORY (BASELINE_WINDOW
    -- is the window frame of `history` below).
    SELECT
        2.5 AS ratio_threshold,
        5.0 AS mad_k,
        1.4826 AS mad_to_sigma,
        300.0 AS absolute_floor_seconds,
        7 AS min_history
),

history AS (
    SELECT
        *,
        -- The previous 20 successful runs of the same client and job, never the run itself.
        array_sort(array_agg(duration_seconds) OVER (
            PARTITION BY client, job_name ORDER BY ended_at, run_id ROWS BETWEEN 20 PRECEDING AND 1 PRECEDING
        )) AS recent_durations
    FROM one_report_per_run
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

run_verdicts AS (
    SELECT
        spreads.*,
        rule.min_history,
        -- Every threshold through the rule row, never a literal, so a number changed there changes the verdict.
        COALESCE(
            -- With fewer earlier runs one odd run would be half the evidence.
            history_size >= min_history
            AND baseline_seconds > 0
            AND duration_seconds >= ratio_threshold * baseline_seconds
            -- A job whose healthy durations vary widely is not an outlier within its own spread.
            AND duration_seconds >= baseline_seconds + mad_k * mad_to_sigma * mad_seconds
            -- A 20-second job taking a minute is not worth anyone's time.
            AND duration_seconds - baseline_seconds >= absolute_floor_seconds,
            false
        ) AS is_outlier
    FROM spreads
    CROSS JOIN rule
)
