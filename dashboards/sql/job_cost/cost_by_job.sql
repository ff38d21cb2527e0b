-- Cost (USD) per client job over the range, split by run status; the 15 costliest jobs.
-- Grouped by client and job_name, not by the label: "a / b" + "c" and "a" + "b / c" read alike.
WITH
-- include: runs_once
SELECT
    job,
    sum(CASE WHEN status = 'SUCCEEDED' THEN cost_usd ELSE 0 END) AS succeeded,
    sum(CASE WHEN status = 'FAILED' THEN cost_usd ELSE 0 END) AS failed,
    sum(CASE WHEN status = 'TIMED_OUT' THEN cost_usd ELSE 0 END) AS timed_out
FROM runs_once
GROUP BY client, job_name, job
ORDER BY sum(cost_usd) DESC, job, client, job_name
LIMIT 15
