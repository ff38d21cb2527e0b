-- When customers buy: orders per weekday (1 = Monday) and UTC hour of the day, for an hour x weekday heatmap.
WITH
-- include: sales_once
SELECT
    day_of_week(event_time) AS weekday,
    hour(event_time) AS hour,
    count(*) AS orders
FROM sales_once
GROUP BY 1, 2
ORDER BY 1, 2
