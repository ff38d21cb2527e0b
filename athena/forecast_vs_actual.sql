-- name: forecast_vs_actual
-- purpose: How good the hourly forecasts are: every matured forecast of the last 7 days (target hour before now) next to the orders that actually came, its error and whether the 80% interval held them.
-- window: forecasts whose target hour lies in the 7 days before now (UTC); actuals from the same hours
WITH forecasts_once AS (
    -- An hourly run that was retried writes its forecasts again: the latest run of an origin wins.
    SELECT series, series_key, origin_hour, target_hour, horizon, yhat, yhat_lo, yhat_hi, model_version
    FROM (
        SELECT
            series,
            series_key,
            origin_hour,
            target_hour,
            horizon,
            yhat,
            yhat_lo,
            yhat_hi,
            model_version,
            row_number() OVER (
                PARTITION BY series, series_key, origin_hour, horizon ORDER BY generated_at DESC
            ) AS run_rank
        FROM forecasts
        WHERE dt >= date_format(current_date - INTERVAL '8' DAY, '%Y-%m-%d')
          AND dt <= date_format(current_date, '%Y-%m-%d')
    ) AS runs
    WHERE run_rank = 1
      AND target_hour >= date_trunc('hour', current_timestamp) - INTERVAL '7' DAY
      AND target_hour < date_trunc('hour', current_timestamp)
),
orders AS (
    -- The series files' definitions (lakewatch/domain/series_sql/): distinct event_id per UTC hour of event_time.
    SELECT
        CASE WHEN channel = 'web' THEN 'web' ELSE store END AS store_key,
        date_trunc('hour', event_time) AS hour,
        count(DISTINCT event_id) AS orders
    FROM sales
    WHERE dt >= date_format(current_date - INTERVAL '8' DAY, '%Y-%m-%d')
      AND dt <= date_format(current_date, '%Y-%m-%d')
    GROUP BY 1, 2
),
actuals AS (
    SELECT 'orders_by_store' AS series, store_key AS series_key, hour, orders AS actual FROM orders
    UNION ALL
    SELECT 'orders_total' AS series, 'all' AS series_key, hour, sum(orders) AS actual FROM orders GROUP BY hour
)
SELECT
    f.series,
    f.series_key,
    f.target_hour,
    f.horizon,
    f.yhat,
    f.yhat_lo,
    f.yhat_hi,
    coalesce(a.actual, 0) AS actual,
    coalesce(a.actual, 0) - f.yhat AS error,
    coalesce(a.actual, 0) BETWEEN f.yhat_lo AND f.yhat_hi AS in_interval,
    f.origin_hour,
    f.model_version
FROM forecasts_once AS f
LEFT JOIN actuals AS a
    ON a.series = f.series AND a.series_key = f.series_key AND a.hour = f.target_hour
ORDER BY f.series, f.series_key, f.target_hour, f.horizon
