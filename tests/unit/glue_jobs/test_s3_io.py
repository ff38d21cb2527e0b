"""The S3 side of both Glue jobs, on moto (no Spark): what the jobs list, write, copy and delete in the lake bucket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from glue_jobs import compact_partitions as cp
from glue_jobs import pos_csv_etl as etl
from lakewatch.domain import tables

BUCKET = "lake-bucket"
DT = "2024-05-01"


@pytest.fixture
def s3() -> Iterator:
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


def test_only_partitions_with_data_objects_count_as_stored(s3) -> None:
    # Given one partition with a data file, one with only a marker, and one empty
    s3.put_object(Bucket=BUCKET, Key=tables.SALES.partition_prefix("2024-05-01") + "part-0.parquet", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key=tables.SALES.partition_prefix("2024-05-02") + "_SUCCESS", Body=b"")
    # When the POS job asks which target partitions already hold rows
    found = etl.s3_existing_partitions(s3, BUCKET, ["2024-05-01", "2024-05-02", "2024-05-03"])
    # Then only the first is read for stored event ids
    assert found == [f"s3://{BUCKET}/{tables.SALES.partition_prefix('2024-05-01')}"]


def test_quarantine_keys_follow_the_contract() -> None:
    key = etl.s3_quarantine_key("2024-05-02", datetime(2024, 5, 2, 6, tzinfo=UTC))
    assert key.startswith(f"{tables.QUARANTINE_ROOT}/pos_csv/dt=2024-05-02/pos_csv-20240502T060000-")
    assert key.endswith(".jsonl")


def test_s3_store_operations(s3) -> None:
    store = cp.S3Store(s3, BUCKET)
    prefix = tables.SALES.partition_prefix(DT)
    # Given two objects
    store.write_text(prefix + "a", "A")
    store.copy(prefix + "a", prefix + "b")
    # Then they list with sizes, read back, and delete idempotently (missing keys are fine)
    assert store.list(prefix) == {prefix + "a": 1, prefix + "b": 1}
    assert store.read_text(prefix + "b") == "A"
    store.delete([prefix + "a", prefix + "missing"])
    assert store.list(prefix) == {prefix + "b": 1}
    assert store.uri(prefix + "b") == f"s3://{BUCKET}/{prefix}b"


def test_recovery_on_s3_finishes_a_committed_run(s3) -> None:
    # Given a run that died after its manifest: two small sources, one staged file, nothing published yet
    store = cp.S3Store(s3, BUCKET)
    prefix = tables.SALES.partition_prefix(DT)
    run = cp.run_prefix(tables.SALES, DT, "r1")
    for name in ("small-1", "small-2"):
        store.write_text(prefix + name, "old")
    store.write_text(run + "data/part-0.parquet", "new")
    store.write_text(run + "data/_SUCCESS", "")
    manifest = cp.Manifest(
        table="sales",
        dt=DT,
        run_id="r1",
        sources=(prefix + "small-1", prefix + "small-2"),
        staged=(run + "data/part-0.parquet",),
        targets=cp.target_keys(tables.SALES, DT, "r1", 1),
        rows=2,
        checksum="x",
    )
    store.write_text(run + cp.MANIFEST_NAME, manifest.to_json())
    # When the next run recovers the partition
    recovered = cp.recover_partition(store, tables.SALES, DT)
    # Then the swap is completed and the run folder is gone
    assert recovered == ["r1"]
    assert list(store.list(prefix)) == list(manifest.targets)
    assert store.read_text(manifest.targets[0]) == "new"
    assert store.list(cp.COMPACTION_ROOT + "/") == {}


def test_recovery_on_s3_rolls_back_an_uncommitted_run(s3) -> None:
    store = cp.S3Store(s3, BUCKET)
    prefix = tables.SALES.partition_prefix(DT)
    store.write_text(prefix + "small-1", "old")
    store.write_text(cp.run_prefix(tables.SALES, DT, "r0") + "data/part-0.parquet", "half-written")
    assert cp.recover_partition(store, tables.SALES, DT) == ["r0"]
    assert list(store.list(prefix)) == [prefix + "small-1"]
    assert store.list(cp.COMPACTION_ROOT + "/") == {}


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://b/landing/pos/x.csv", ("b", "landing/pos/x.csv")),
        ("s3a://b/landing/pos/a b.csv", ("b", "landing/pos/a b.csv")),
    ],
)
def test_s3_uris_split_into_bucket_and_key(uri: str, expected: tuple[str, str]) -> None:
    assert etl.split_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["/tmp/x.csv", "s3://bucket-only", "file:///b/x.csv", "s3:///x.csv"])
def test_anything_but_an_s3_object_uri_is_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="not an S3 object URI"):
        etl.split_s3_uri(uri)


def test_landing_files_are_read_as_raw_bytes(spark, s3) -> None:
    # Given a Windows-1252 landing file (Glue's CSV reader would decode it as UTF-8 and lose its accents)
    body = "10/06/2022 09:00,Leeds,Café Royal,Large Latte - 2.45,2.45,CASH,\r\n".encode("cp1252")
    s3.put_object(Bucket=BUCKET, Key="landing/pos/x.csv", Body=body)
    # When the job fetches the new files (the same URI listed twice by the DynamicFrame's rows)
    uri = f"s3://{BUCKET}/landing/pos/x.csv"
    files = etl.read_s3_files(spark, s3, [uri, uri]).collect()
    # Then each file is one row holding its bytes unchanged
    assert [(row["source_file"], bytes(row["content"])) for row in files] == [(uri, body)]
    # And a file name given URI-encoded is found too; a missing file is an error, never an empty file
    s3.put_object(Bucket=BUCKET, Key="landing/pos/leeds (resent).csv", Body=b"x")
    encoded = f"s3://{BUCKET}/landing/pos/leeds%20(resent).csv"
    assert [bytes(row["content"]) for row in etl.read_s3_files(spark, s3, [encoded]).collect()] == [b"x"]
    with pytest.raises(s3.exceptions.NoSuchKey):
        etl.read_s3_files(spark, s3, [f"s3://{BUCKET}/landing/pos/gone.csv"])


def test_a_landing_file_over_the_size_limit_is_never_read(spark, s3, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a file larger than the job reads (a dump dropped by mistake), beside a till file
    monkeypatch.setattr(etl, "MAX_FILE_BYTES", 100)
    s3.put_object(Bucket=BUCKET, Key="landing/pos/dump.csv", Body=b"x" * 101)
    s3.put_object(Bucket=BUCKET, Key="landing/pos/leeds.csv", Body=b"x" * 100)
    # When the job fetches the new files
    uris = [f"s3://{BUCKET}/landing/pos/dump.csv", f"s3://{BUCKET}/landing/pos/leeds.csv"]
    files = etl.read_s3_files(spark, s3, uris).collect()
    # Then the large one is listed with its size and no content; the other is read as usual
    assert [(row["content"], row["size"]) for row in files] == [(None, 101), (bytearray(b"x" * 100), 100)]
