-- name: daily_revenue
-- purpose: The revenue trend: orders and revenue (the sum of total_price, after discounts) per UTC day and channel (web or store) over the last 30 days.
-- window: last 30 days (the 30 UTC days up to and including today)
WITH sales_once AS (
    -- At-least-once delivery: a sale delivered twice (same event_id) counts once.
    SELECT dt, channel, total_price
    FROM (
        SELECT
            dt,
            channel,
            total_price,
            row_number() OVER (PARTITION BY event_id ORDER BY ingested_at DESC) AS delivery_rank
        FROM sales
        WHERE dt > date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
          AND dt <= date_format(current_date, '%Y-%m-%d')
    ) AS deliveries
    WHERE delivery_rank = 1
)
SELECT
    dt,
    channel,
    count(*) AS orders,
    sum(total_price) AS revenue
FROM sales_once
GROUP BY dt, channel
ORDER BY dt, channel
