-- Data processed (GB) per client job over the range, split by run status; the 15 jobs that processed most.
-- Grouped by client and job_name, not by the label: "a / b" + "c" and "a" + "b / c" read alike.
WITH
-- include: runs_once
SELECT
    job,
    round(sum(CASE WHEN status = 'SUCCEEDED' THEN data_processed_gb ELSE 0 END), 2) AS succeeded,
    round(sum(CASE WHEN status = 'FAILED' THEN data_processed_gb ELSE 0 END), 2) AS failed,
    round(sum(CASE WHEN status = 'TIMED_OUT' THEN data_processed_gb ELSE 0 END), 2) AS timed_out
FROM runs_once
GROUP BY client, job_name, job
ORDER BY sum(data_processed_gb) DESC, job, client, job_name
LIMIT 15
