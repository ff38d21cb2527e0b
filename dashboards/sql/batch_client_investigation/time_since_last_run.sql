-- Hours from the selected client and job's latest run (any status) to the end of the range; runs of the 90
-- days before the range's end are read.
SELECT
    round(
        CAST(date_diff('second', max(ended_at), CAST($__timeTo() AS timestamp)) AS double) / 3600, 1
    ) AS hours_since_last_run
FROM job_runs
WHERE dt > date_format($__timeTo() - INTERVAL '90' DAY, '%Y-%m-%d')
  AND dt <= $__rawTimeTo('yyyy-MM-dd')
  AND ended_at <= $__timeTo()
  AND client = url_decode('${client:percentencode}')
  AND job_name = url_decode('${job:percentencode}')
