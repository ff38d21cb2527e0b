"""What both Glue jobs share: how they write Parquet and how they publish their counts as metrics.

Each Glue job ships as one script; everything the two scripts share must reach the Glue workers another way,
and the `lakewatch` package does (`--extra-py-files`, the same domain bundle as the Lambda layer). So the
shared pieces live here, in plain Python: nothing imports Spark or boto3 at import time, the Spark session and
the CloudWatch client are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Parquet timestamps as INT96: what Athena reads for a zone-less Hive `timestamp` and what DuckDB and pyarrow
#: read as naive UTC, like the Firehose and local lake writers' files (Spark's TIMESTAMP_MICROS is flagged
#: UTC-adjusted and would become TIMESTAMPTZ in DuckDB). INT96 holds nanoseconds, so rewriting millisecond or
#: microsecond files loses nothing. Proleptic Gregorian calendar for old dates instead of failing the write.
PARQUET_WRITE_CONF = {
    "spark.sql.parquet.outputTimestampType": "INT96",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
}

#: The CloudWatch namespace of every lakewatch metric (the Lambdas' `POWERTOOLS_METRICS_NAMESPACE`).
METRICS_NAMESPACE = "lakewatch"
#: The dimension that tells the Glue jobs' metrics apart: the job's name, as Glue passes it (`--JOB_NAME`).
JOB_DIMENSION = "job"


def use_parquet_write_conf(spark: Any) -> None:
    """Set `PARQUET_WRITE_CONF` on the session before a job writes lake files."""
    for name, value in PARQUET_WRITE_CONF.items():
        spark.conf.set(name, value)


def put_job_metrics(cloudwatch: Any, job_name: str, counts: Mapping[str, int]) -> None:
    """Publish `counts` (metric name -> count) for one job run in a single `PutMetricData` call.

    Zeros are published too: an alarm on a count then sees a datum every run, so a quiet run reads as
    "nothing went wrong", not as missing data.
    """
    cloudwatch.put_metric_data(
        Namespace=METRICS_NAMESPACE,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": JOB_DIMENSION, "Value": job_name}],
                "Value": float(count),
                "Unit": "Count",
            }
            for name, count in counts.items()
        ],
    )
