-- The range at a glance: revenue, orders, average basket and identified customers.
WITH
-- include: sales_once
SELECT
    sum(total_price) AS revenue,
    count(*) AS orders,
    -- Through double so Athena (avg of a decimal keeps its scale) and other engines agree to the penny.
    round(avg(CAST(total_price AS double)), 2) AS avg_basket,
    count(DISTINCT customer_key) AS customers
FROM sales_once
