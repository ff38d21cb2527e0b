"""The `transform` Lambda: `events-raw` -> `sales-clean` / `job-runs-clean` / S3 quarantine."""
