-- The ten best-selling products: units (quantity sold) and revenue (the sum of line_total over every item
-- line, before any basket discount), ranked by revenue.
WITH
-- include: sales_once
,

item_lines AS (
    -- One row per item line, unnested by position (as athena/top_products.sql does, for DuckDB's sake).
    SELECT
        items[line_number].product AS product,
        items[line_number].quantity AS quantity,
        items[line_number].line_total AS line_total
    FROM sales_once
    CROSS JOIN UNNEST(sequence(1, cardinality(items))) AS line (line_number)
    WHERE cardinality(items) > 0
)

SELECT
    product,
    sum(quantity) AS units,
    sum(line_total) AS revenue
FROM item_lines
GROUP BY product
ORDER BY revenue DESC, product
LIMIT 10
