-- Orders per UTC hour against the forecast made one hour ahead (horizon 1: the hourly run at the start of the
-- hour) for the whole chain (series orders_total, key all), with its 80% interval. An hour counts its orders as
-- the series does: distinct event_id (sales_once keeps one row per event_id) by the hour of event_time. An hour
-- with a forecast and no order is a zero; an hour before the forecasts begin has no forecast.
WITH
-- include: sales_once
,

actual AS (
    SELECT
        date_trunc('hour', event_time) AS hour,
        count(*) AS orders
    FROM sales_once
    GROUP BY 1
),

forecast AS (
    -- A retried hourly run writes its origin's rows again: the latest run wins. dt is the UTC day of the origin,
    -- which at horizon 1 is the day of the target hour.
    SELECT target_hour AS hour, yhat, yhat_lo, yhat_hi
    FROM (
        SELECT
            *,
            row_number() OVER (PARTITION BY origin_hour ORDER BY generated_at DESC) AS run_rank
        FROM forecasts
        WHERE series = 'orders_total'
          AND series_key = 'all'
          AND horizon = 1
          AND dt BETWEEN $__rawTimeFrom('yyyy-MM-dd') AND $__rawTimeTo('yyyy-MM-dd')
          AND $__timeFilter(target_hour)
    ) AS runs
    WHERE run_rank = 1
)

SELECT
    coalesce(actual.hour, forecast.hour) AS time,
    coalesce(actual.orders, 0) AS orders,
    round(forecast.yhat, 1) AS forecast,
    round(forecast.yhat_lo, 1) AS forecast_low,
    round(forecast.yhat_hi, 1) AS forecast_high
FROM actual
FULL OUTER JOIN forecast ON actual.hour = forecast.hour
ORDER BY 1
