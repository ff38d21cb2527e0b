-- Failed runs (FAILED or TIMED_OUT) of the selected client and job in the range.
WITH
-- include: runs_once
SELECT count(*) FILTER (WHERE is_failed) AS failed_runs
FROM runs_once
WHERE client = url_decode('${client:percentencode}')
  AND job_name = url_decode('${job:percentencode}')
