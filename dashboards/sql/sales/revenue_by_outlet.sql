-- Revenue (the sum of total_price, after discounts) per UTC day and outlet: each store, and the web as 'web'.
WITH
-- include: sales_once
SELECT
    $__timeGroup(event_time, '1d') AS time,
    outlet,
    sum(total_price) AS revenue
FROM sales_once
GROUP BY 1, 2
ORDER BY 1, 2
