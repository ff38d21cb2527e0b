-- name: peak_hours
-- purpose: When customers buy: orders and revenue (the sum of total_price, after discounts) per hour of the day (UTC, 0-23) over the last 30 days, all stores and the web together.
-- window: last 30 days (the 30 UTC days up to and including today)
WITH sale_deliveries AS (
    SELECT *
    FROM sales
    WHERE dt > date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
      AND dt <= date_format(current_date, '%Y-%m-%d')
),

-- include: one_delivery_per_sale
SELECT
    hour(event_time) AS hour,
    count(*) AS orders,
    sum(total_price) AS revenue
FROM one_delivery_per_sale
GROUP BY 1
ORDER BY 1
