-- The clients with a run that ended in the range (the `client` variable's choices).
SELECT DISTINCT client
FROM job_runs
WHERE dt BETWEEN $__rawTimeFrom('yyyy-MM-dd') AND $__rawTimeTo('yyyy-MM-dd')
  AND $__timeFilter(ended_at)
ORDER BY client
