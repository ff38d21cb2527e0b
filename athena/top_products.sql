-- name: top_products
-- purpose: The best-selling products of the last 30 days, ranked by revenue, where revenue is the sum of line_total over every item line (before any basket discount) and units the quantity sold.
-- window: last 30 days (the 30 UTC days up to and including today)
WITH sale_deliveries AS (
    SELECT *
    FROM sales
    WHERE dt > date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
      AND dt <= date_format(current_date, '%Y-%m-%d')
      -- Never false for a valid sale; it keeps sequence(1, 0) (which counts down) away from an empty basket.
      AND cardinality(items) > 0
),

-- include: one_delivery_per_sale
,

-- include: item_lines
SELECT
    product,
    sum(quantity) AS units,
    sum(line_total) AS revenue
FROM item_lines
GROUP BY product
ORDER BY revenue DESC, product
