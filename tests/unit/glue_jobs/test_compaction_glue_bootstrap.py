"""The compaction Glue script run as Glue runs it (`__main__`, `awsglue` stand-in, moto S3), up to the Spark work.

Local Spark cannot read moto's S3, so the partition here needs no rewrite once recovered: the script's own
argument handling (yesterday by default), S3 store, recovery of a crashed run and logging are what runs.
"""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from glue_jobs import compact_partitions as cp
from lakewatch.domain import tables
from tests.unit.glue_jobs.glue_stand_in import STAND_IN_PATH

BUCKET = "lakewatch-test-lake"
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).strftime(tables.PARTITION_DATE_FORMAT)


@pytest.fixture
def crashed_run() -> Iterator[cp.S3Store]:
    """Yesterday's `job_runs` partition with a run that died after its manifest (nothing published yet)."""
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        store = cp.S3Store(s3, BUCKET)
        prefix = tables.JOB_RUNS.partition_prefix(YESTERDAY)
        run = cp.run_prefix(tables.JOB_RUNS, YESTERDAY, "r1")
        for name in ("small-1", "small-2"):
            store.write_text(prefix + name, "old")
        store.write_text(run + "data/part-0.parquet", "new")
        manifest = cp.Manifest(
            table="job_runs",
            dt=YESTERDAY,
            run_id="r1",
            sources=(prefix + "small-1", prefix + "small-2"),
            staged=(run + "data/part-0.parquet",),
            targets=cp.target_keys(tables.JOB_RUNS, YESTERDAY, "r1", 1),
            rows=2,
            checksum="x",
        )
        store.write_text(run + cp.MANIFEST_NAME, manifest.to_json())
        yield store


def test_the_glue_script_recovers_yesterdays_partition(spark, crashed_run, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given Glue's arguments for the daily trigger of one table (no --dt)
    monkeypatch.syspath_prepend(str(STAND_IN_PATH))
    for name in [name for name in sys.modules if name == "awsglue" or name.startswith("awsglue.")]:
        monkeypatch.delitem(sys.modules, name)
    argv = ["compact_partitions.py", "--JOB_NAME", "lakewatch-test-compaction", "--lake_bucket", BUCKET]
    monkeypatch.setattr(sys, "argv", [*argv, "--table", "job_runs", "--job-bookmark-option", "job-bookmark-disable"])
    # When the script runs
    runpy.run_path(str(Path(cp.__file__)), run_name="__main__")
    # Then yesterday's crashed run was rolled forward, and the partition (now one file) left alone
    prefix = tables.JOB_RUNS.partition_prefix(YESTERDAY)
    assert list(crashed_run.list(prefix)) == list(cp.target_keys(tables.JOB_RUNS, YESTERDAY, "r1", 1))
    assert crashed_run.list(cp.COMPACTION_ROOT + "/") == {}
    from awsglue import context as glue_stand_in_context

    (message,) = [text for _, text in glue_stand_in_context.LOGGERS[-1].messages]
    result = json.loads(message.removeprefix("compact_partitions "))
    assert (result["dt"], result["recovered"], result["status"]) == (YESTERDAY, ["r1"], "nothing_to_do")
