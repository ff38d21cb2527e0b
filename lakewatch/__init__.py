"""lakewatch: a serverless sales and job-run data lake on AWS, with a local runner that replays it offline."""
