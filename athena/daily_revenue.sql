-- name: daily_revenue
-- purpose: The revenue trend: orders and revenue (the sum of total_price, after discounts) per UTC day and channel (web or store) over the last 30 days.
-- window: last 30 days (the 30 UTC days up to and including today)
WITH sale_deliveries AS (
    SELECT *
    FROM sales
    WHERE dt > date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
      AND dt <= date_format(current_date, '%Y-%m-%d')
),

-- include: one_delivery_per_sale
SELECT
    dt,
    channel,
    count(*) AS orders,
    sum(total_price) AS revenue
FROM one_delivery_per_sale
GROUP BY dt, channel
ORDER BY dt, channel
