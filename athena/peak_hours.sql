-- name: peak_hours
-- purpose: When customers buy: orders and revenue (the sum of total_price, after discounts) per hour of the day (UTC, 0-23) over the last 30 days, all stores and the web together.
-- window: last 30 days (the 30 UTC days up to and including today)
WITH sales_once AS (
    -- At-least-once delivery: a sale delivered twice (same event_id) counts once.
    SELECT event_time, total_price
    FROM (
        SELECT
            event_time,
            total_price,
            row_number() OVER (PARTITION BY event_id ORDER BY ingested_at DESC) AS delivery_rank
        FROM sales
        WHERE dt > date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
          AND dt <= date_format(current_date, '%Y-%m-%d')
    ) AS deliveries
    WHERE delivery_rank = 1
)
SELECT
    hour(event_time) AS hour,
    count(*) AS orders,
    sum(total_price) AS revenue
FROM sales_once
GROUP BY 1
ORDER BY 1
