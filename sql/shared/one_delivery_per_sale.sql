-- One row per sale of `sale_deliveries`: the includer's CTE of the sales rows it reads, cut to its window of `dt`
-- (what Athena prunes on) and to any filter that must hold before de-duplication. Delivery is at least once, so
-- a sale delivered twice (same event_id) counts once. Every column of sales comes along, and delivery_rank
-- (always 1).
one_delivery_per_sale AS (
    SELECT *
    FROM (
        SELECT
            *,
            row_number() OVER (PARTITION BY event_id ORDER BY ingested_at DESC) AS delivery_rank
        FROM sale_deliveries
    ) AS deliveries
    WHERE delivery_rank = 1
)
