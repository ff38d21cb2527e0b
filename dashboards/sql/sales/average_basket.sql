-- Average basket (total_price after discounts) per UTC day and channel.
WITH
-- include: sales_once
SELECT
    $__timeGroup(event_time, '1d') AS time,
    channel,
    round(avg(CAST(total_price AS double)), 2) AS avg_basket
FROM sales_once
GROUP BY 1, 2
ORDER BY 1, 2
