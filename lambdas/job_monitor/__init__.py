"""job_monitor: alerts on failed and unusually slow job runs read from `job-runs-clean`."""
