-- name: returning_customers
-- purpose: How many identified customers bought in the last 30 days, how many of them came back (bought on at least 2 different UTC days), and that share; anonymous sales are left out.
-- window: last 30 days (the 30 UTC days up to and including today)
WITH sale_deliveries AS (
    SELECT *
    FROM sales
    WHERE dt > date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
      AND dt <= date_format(current_date, '%Y-%m-%d')
      AND customer_key IS NOT NULL
),

-- include: one_delivery_per_sale
,

customer_days AS (
    -- Days, not orders: two orders on the same day are one visit, not a return.
    SELECT
        customer_key,
        count(DISTINCT dt) AS days_bought
    FROM one_delivery_per_sale
    GROUP BY customer_key
)

SELECT
    count(*) AS customers,
    count(*) FILTER (WHERE days_bought >= 2) AS returning_customers,
    round(CAST(count(*) FILTER (WHERE days_bought >= 2) AS double) / nullif(count(*), 0), 4) AS returning_share
FROM customer_days
