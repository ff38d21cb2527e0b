-- name: orders_total
-- purpose: All orders per UTC hour, web and stores together: distinct event_id by the hour of event_time.
-- window: the history the caller asks for: dt from the first to the last parameter (UTC dates, inclusive)
SELECT
    'all' AS series_key,
    date_trunc('hour', event_time) AS hour,
    count(DISTINCT event_id) AS value
FROM sales
WHERE dt >= ? AND dt <= ?
GROUP BY 1, 2
