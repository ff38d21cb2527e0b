-- One row per item line of the sales in `one_delivery_per_sale` (each sale once). Unnested by position rather
-- than `UNNEST(items) AS item (product, ...)`: Athena spreads a row's fields into those columns but DuckDB (the
-- local runner) does not, and both must agree. An empty basket (never a valid sale) is left out, away from
-- sequence(1, 0), which counts down.
item_lines AS (
    SELECT
        items[line_number].product AS product,
        items[line_number].quantity AS quantity,
        items[line_number].line_total AS line_total
    FROM one_delivery_per_sale
    CROSS JOIN UNNEST(sequence(1, cardinality(items))) AS line (line_number)
    WHERE cardinality(items) > 0
)
