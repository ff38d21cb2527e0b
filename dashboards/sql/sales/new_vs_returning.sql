-- Identified customers per UTC day, new or returning. A customer returns on a day when they also bought on an
-- earlier day within the 90 days before it (days, not orders: two orders on one day are one visit); anonymous
-- sales are left out. The 90 days of history before the range are read too, so the range's first day is fair.
WITH customer_days AS (
    -- DISTINCT: a redelivered sale (same event_id) adds no visit.
    SELECT DISTINCT
        customer_key,
        CAST(dt AS date) AS day
    FROM sales
    WHERE dt > date_format($__timeFrom() - INTERVAL '91' DAY, '%Y-%m-%d')
      AND dt <= $__rawTimeTo('yyyy-MM-dd')
      AND event_time <= $__timeTo()
      AND customer_key IS NOT NULL
),

visits AS (
    SELECT
        day,
        lag(day) OVER (PARTITION BY customer_key ORDER BY day) AS previous_day
    FROM customer_days
)

SELECT
    CAST(day AS timestamp) AS time,
    count(*) FILTER (WHERE previous_day IS NULL OR previous_day < day - INTERVAL '90' DAY) AS new_customers,
    count(*) FILTER (WHERE previous_day >= day - INTERVAL '90' DAY) AS returning_customers
FROM visits
WHERE day >= CAST($__rawTimeFrom('yyyy-MM-dd') AS date)
GROUP BY day
ORDER BY day
