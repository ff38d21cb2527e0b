-- Average data processed per run (GB) of the selected client and job over the range, every status.
WITH
-- include: runs_once
SELECT round(avg(data_processed_gb), 2) AS avg_data_processed_gb
FROM runs_once
WHERE client = url_decode('${client:percentencode}')
  AND job_name = url_decode('${job:percentencode}')
