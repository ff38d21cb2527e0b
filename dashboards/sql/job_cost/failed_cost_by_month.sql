-- The monthly bill for failure: cost of failed runs (FAILED or TIMED_OUT) and of all runs per calendar month.
WITH
-- include: runs_once
SELECT
    date_format(ended_at, '%Y-%m') AS month,
    sum(CASE WHEN is_failed THEN cost_usd ELSE 0 END) AS failed_cost_usd,
    sum(cost_usd) AS total_cost_usd
FROM runs_once
GROUP BY 1
ORDER BY 1
