-- The selected client's jobs with a run that ended in the range (the `job` variable's choices).
SELECT DISTINCT job_name
FROM job_runs
WHERE dt BETWEEN $__rawTimeFrom('yyyy-MM-dd') AND $__rawTimeTo('yyyy-MM-dd')
  AND $__timeFilter(ended_at)
  AND client = url_decode('${client:percentencode}')
ORDER BY job_name
