-- The instance size of the selected client and job's latest run in the range.
WITH
-- include: runs_once
SELECT max_by(instance_size, ended_at) AS instance_size
FROM runs_once
WHERE client = url_decode('${client:percentencode}')
  AND job_name = url_decode('${job:percentencode}')
