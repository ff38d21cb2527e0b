-- The sales of the dashboard's time range, each once (however often it was delivered). `dt` (the UTC day of
-- event_time) prunes the partitions Athena reads; event_time then cuts the exact range. Grafana macros:
-- dashboards only.
sale_deliveries AS (
    SELECT *
    FROM sales
    WHERE dt BETWEEN $__rawTimeFrom('yyyy-MM-dd') AND $__rawTimeTo('yyyy-MM-dd')
      AND $__timeFilter(event_time)
),

-- include: one_delivery_per_sale
,

sales_once AS (
    SELECT
        event_time,
        channel,
        store,
        customer_key,
        items,
        total_price,
        CASE WHEN channel = 'web' THEN 'web' ELSE store END AS outlet
    FROM one_delivery_per_sale
)
