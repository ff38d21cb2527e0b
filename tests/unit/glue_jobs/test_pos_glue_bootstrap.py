"""The POS job's Glue script run as Glue runs it: `python pos_csv_etl.py --JOB_NAME ... ` as `__main__`.

The script is executed whole (`runpy`, `__name__ == "__main__"`, so Spark pickles its functions by value as on
Glue) against the `awsglue` stand-in over local Spark, with S3, Secrets Manager and CloudWatch on moto: the
bookmarked DynamicFrame read, `attachFilename`, the byte read of each new file, the secret, the lake write,
the quarantine objects, the metrics and the bookmark commit are the script's own code paths.
"""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from glue_jobs import pos_csv_etl as etl
from lakewatch.domain import tables
from tests.unit.glue_jobs.glue_stand_in import STAND_IN_PATH, mount_s3_for_spark, unmount_s3_for_spark

BUCKET = "lakewatch-test-lake"
JOB_NAME = "lakewatch-test-pos-csv-etl"
PII_KEY = "test-pii-key-0123456789"
LANDING = {
    # A Windows-1252 file: its accented name must survive the whole Glue path
    "landing/pos/2022/06/10/chesterfield_10-06-2022.csv": (
        "10/06/2022 09:00,Chesterfield,Café Royal,Large Latte - 2.45,2.45,CARD,4111111111111111\r\n"
        "10/06/2022 09:00,Chesterfield,,Large Latte - 2.45,2.45,CASH,\r\n"
        "10/06/2022 09:00,Chesterfield,,Large Latte - 2.45,2.45,CASH,\r\n"
        "10/06/2022 09:04,Chesterfield,Arlen Calvert,Regular Latte - 2.15,two,CARD,\r\n"
    ).encode("cp1252"),
    "landing/pos/2022/06/10/leeds_10-06-2022.csv": (
        b"10/06/2022 10:00,Leeds,Allen Ford,Regular Latte - 2.15,2.15,CASH,\n"
    ),
}


@pytest.fixture
def aws() -> Iterator[dict]:
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for key, body in LANDING.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        secret = boto3.client("secretsmanager").create_secret(Name="lakewatch/pii-key", SecretString=PII_KEY)
        yield {"s3": s3, "secret_arn": secret["ARN"], "cloudwatch": boto3.client("cloudwatch")}


@pytest.fixture
def glue(spark, aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """What Glue provides a job run: `awsglue`, the job arguments, `lakewatch` on the workers, S3 for Spark."""
    monkeypatch.syspath_prepend(str(STAND_IN_PATH))
    for name in [name for name in sys.modules if name == "awsglue" or name.startswith("awsglue.")]:
        monkeypatch.delitem(sys.modules, name)
    etl.ensure_local_workers_import_repo(spark)  # on Glue: --extra-py-files
    spark_bucket = tmp_path / BUCKET
    mount_s3_for_spark(spark, BUCKET, spark_bucket)
    argv = [
        "pos_csv_etl.py",
        "--JOB_NAME",
        JOB_NAME,
        "--lake_bucket",
        BUCKET,
        "--landing_prefix",
        "landing/pos/",
        "--pii_key_secret_arn",
        aws["secret_arn"],
        "--job-bookmark-option",
        "job-bookmark-enable",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    try:
        yield {**aws, "spark_bucket": spark_bucket}
    finally:
        unmount_s3_for_spark(spark, BUCKET)


def _run_script() -> None:
    runpy.run_path(str(Path(etl.__file__)), run_name="__main__")


def _metric(cloudwatch, name: str) -> list[tuple[float, float]]:
    points = cloudwatch.get_metric_statistics(
        Namespace="lakewatch",
        MetricName=name,
        Dimensions=[{"Name": "job", "Value": JOB_NAME}],
        StartTime=datetime.now(UTC) - timedelta(hours=1),
        EndTime=datetime.now(UTC) + timedelta(hours=1),
        Period=3600,
        Statistics=["Sum", "SampleCount"],
    )["Datapoints"]
    return [(point["Sum"], point["SampleCount"]) for point in points]


def test_the_glue_script_stores_new_landing_files_once(glue) -> None:
    from awsglue import context as glue_stand_in_context

    # When Glue runs the script twice (the second run finds no new file thanks to the bookmark)
    _run_script()
    _run_script()

    # Then the sales are in the lake table (Spark's s3:// writes), accents intact, the repeats both kept
    table_dir = glue["spark_bucket"] / tables.SALES.prefix
    rows = [row for path in sorted(table_dir.rglob("*.parquet")) for row in pq.read_table(path).to_pylist()]
    assert sorted((row["store"], row["event_time"].strftime("%H:%M")) for row in rows) == [
        ("Chesterfield", "08:00"),
        ("Chesterfield", "08:00"),
        ("Chesterfield", "08:00"),
        ("Leeds", "09:00"),
    ]
    assert sorted(path.parent.name for path in table_dir.rglob("*.parquet")) == ["dt=2022-06-10"]
    # And the bad row is one quarantine object in S3, naming its file and encoding, without the name
    s3 = glue["s3"]
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="quarantine/")["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("quarantine/pos_csv/dt=")
    (row,) = [json.loads(line) for line in s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read().splitlines()]
    assert (row["reason"], row["field"], row["sequence_number"]) == (
        "invalid_field",
        "total_price",
        "chesterfield_10-06-2022.csv",
    )
    assert (row["record"]["file_encoding"], row["record"]["line_number"]) == ("windows-1252", 4)
    assert "Arlen" not in json.dumps(row)
    # And each run published its counts, the second with nothing new
    assert _metric(glue["cloudwatch"], "PosRowsWritten") == [(4.0, 2.0)]
    assert _metric(glue["cloudwatch"], "PosRowsQuarantined") == [(1.0, 2.0)]
    # And each run logged its counts, with each file's encoding
    first, second = (
        json.loads(message.removeprefix("pos_csv_etl counts "))
        for logger in glue_stand_in_context.LOGGERS[-2:]
        for level, message in logger.messages
        if message.startswith("pos_csv_etl counts ")
    )
    assert first["file_encodings"] == {
        "chesterfield_10-06-2022.csv": "windows-1252",
        "leeds_10-06-2022.csv": "utf-8",
    }
    assert (first["sales_written"], second["lines_read"]) == (4, 0)
