-- The ten best-selling products: units (quantity sold) and revenue (the sum of line_total over every item
-- line, before any basket discount), ranked by revenue.
WITH
-- include: sales_once
,

-- include: item_lines
SELECT
    product,
    sum(quantity) AS units,
    sum(line_total) AS revenue
FROM item_lines
GROUP BY product
ORDER BY revenue DESC, product
LIMIT 10
