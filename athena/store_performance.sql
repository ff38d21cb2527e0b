-- name: store_performance
-- purpose: Orders, revenue (the sum of total_price, after discounts) and average basket per store over the last 30 days, with the web channel shown as the store 'web'.
-- window: last 30 days (the 30 UTC days up to and including today)
WITH sale_deliveries AS (
    SELECT *
    FROM sales
    WHERE dt > date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
      AND dt <= date_format(current_date, '%Y-%m-%d')
),

-- include: one_delivery_per_sale
SELECT
    CASE WHEN channel = 'web' THEN 'web' ELSE store END AS store,
    count(*) AS orders,
    sum(total_price) AS revenue,
    -- Through double so Athena (avg of a decimal keeps its scale) and other engines agree to the penny.
    round(avg(CAST(total_price AS double)), 2) AS avg_basket
FROM one_delivery_per_sale
GROUP BY 1
ORDER BY revenue DESC, store
