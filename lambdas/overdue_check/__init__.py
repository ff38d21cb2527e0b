"""overdue_check: hourly, alerts once per episode on client/jobs whose last run is too long ago."""
