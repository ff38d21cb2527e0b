-- name: store_performance
-- purpose: Orders, revenue (the sum of total_price, after discounts) and average basket per store over the last 30 days, with the web channel shown as the store 'web'.
-- window: last 30 days (the 30 UTC days up to and including today)
WITH sales_once AS (
    -- At-least-once delivery: a sale delivered twice (same event_id) counts once.
    SELECT channel, store, total_price
    FROM (
        SELECT
            channel,
            store,
            total_price,
            row_number() OVER (PARTITION BY event_id ORDER BY ingested_at DESC) AS delivery_rank
        FROM sales
        WHERE dt > date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
          AND dt <= date_format(current_date, '%Y-%m-%d')
    ) AS deliveries
    WHERE delivery_rank = 1
)
SELECT
    CASE WHEN channel = 'web' THEN 'web' ELSE store END AS store,
    count(*) AS orders,
    sum(total_price) AS revenue,
    -- Through double so Athena (avg of a decimal keeps its scale) and other engines agree to the penny.
    round(avg(CAST(total_price AS double)), 2) AS avg_basket
FROM sales_once
GROUP BY 1
ORDER BY revenue DESC, store
