-- The sales of the dashboard's time range, each once: a sale delivered twice (same event_id) counts once.
-- `dt` (the UTC day of event_time) prunes the partitions Athena reads; event_time then cuts the exact range.
sales_once AS (
    SELECT
        event_time,
        channel,
        store,
        customer_key,
        items,
        total_price,
        CASE WHEN channel = 'web' THEN 'web' ELSE store END AS outlet
    FROM (
        SELECT
            *,
            row_number() OVER (PARTITION BY event_id ORDER BY ingested_at DESC) AS delivery_rank
        FROM sales
        WHERE dt BETWEEN $__rawTimeFrom('yyyy-MM-dd') AND $__rawTimeTo('yyyy-MM-dd')
          AND $__timeFilter(event_time)
    ) AS deliveries
    WHERE delivery_rank = 1
)
