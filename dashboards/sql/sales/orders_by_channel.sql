-- Orders per UTC day and channel (web or store).
WITH
-- include: sales_once
SELECT
    $__timeGroup(event_time, '1d') AS time,
    channel,
    count(*) AS orders
FROM sales_once
GROUP BY 1, 2
ORDER BY 1, 2
