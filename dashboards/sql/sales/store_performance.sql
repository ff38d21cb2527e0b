-- Orders, revenue and average basket per outlet (each store, and the web as 'web'), best first.
WITH
-- include: sales_once
SELECT
    outlet,
    count(*) AS orders,
    sum(total_price) AS revenue,
    round(avg(CAST(total_price AS double)), 2) AS avg_basket
FROM sales_once
GROUP BY outlet
ORDER BY revenue DESC, outlet
