"""The local lake writer: clean records to Parquet, where and as Firehose would write them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakewatch.domain import tables
from lakewatch.domain.tables import JOB_RUNS, SALES
from lakewatch.local.lake import parse_clean_timestamp, read_table, write_rows
from tests.unit.athena.factories import job_run, sale


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """Three sales over two days, written in one call; returns (lake root, rows per dt)."""
    lake_root = tmp_path_factory.mktemp("out") / "lake"
    rows = [
        # 0.1 + 0.2 is 0.30000000000000004 as a float: the decimal column must still hold exactly 0.30.
        sale("s1", datetime(2024, 6, 10, 9, 15, 0, 123456), store="Camden", items=[("tea", 0.1, 1), ("tea", 0.2, 1)]),
        sale("s2", datetime(2024, 6, 10, 23, 59, 59), customer_key="k", items=[("latte", 3.0, 2)], discount=0.5),
        sale("s3", datetime(2024, 6, 11, 0, 0), items=[("croissant", 2.5, 1)]),
    ]
    rows[0]["total_price"] = 0.1 + 0.2
    return lake_root, write_rows(SALES, rows, lake_root, file_name="part-00000")


def test_one_file_per_dt_under_the_partition_prefix(lake):
    lake_root, written = lake
    assert written == {"2024-06-10": 2, "2024-06-11": 1}
    # The path is the S3 key layout (`lake/sales/dt=…/`) that Firehose and partition projection share.
    assert sorted(lake_root.parent.rglob("*.parquet")) == [
        lake_root.parent / SALES.partition_prefix("2024-06-10") / "part-00000.parquet",
        lake_root.parent / SALES.partition_prefix("2024-06-11") / "part-00000.parquet",
    ]
    assert (lake_root / "sales" / "dt=2024-06-10" / "part-00000.parquet").is_file()


def test_parquet_schema_is_the_glue_table_schema(lake):
    lake_root, _ = lake
    schema = pq.read_schema(lake_root.parent / SALES.partition_prefix("2024-06-10") / "part-00000.parquet")
    assert schema.remove_metadata() == SALES.arrow_schema()


def test_values_are_exact_decimals_and_millisecond_timestamps(lake):
    lake_root, _ = lake
    rows = {row["event_id"]: row for row in read_table(SALES, lake_root).to_pylist()}
    assert rows["s1"]["total_price"] == Decimal("0.30")
    assert [item["unit_price"] for item in rows["s1"]["items"]] == [Decimal("0.10"), Decimal("0.20")]
    assert rows["s2"]["discount"] == Decimal("0.50")
    assert rows["s2"]["items"][0]["line_total"] == Decimal("6.00")
    # Athena reads Parquet timestamps at millisecond precision, as Firehose writes them.
    assert rows["s1"]["event_time"] == datetime(2024, 6, 10, 9, 15, 0, 123000)
    assert (rows["s2"]["channel"], rows["s2"]["store"], rows["s2"]["customer_key"]) == ("web", None, "k")
    assert rows["s3"]["dt"] == "2024-06-11"


def test_read_table_adds_dt_as_text(lake):
    lake_root, _ = lake
    table = read_table(SALES, lake_root)
    assert table.num_rows == 3
    assert table.schema.field("dt").type == pa.string()
    assert table.column_names == [*SALES.column_names, "dt"]


def test_a_second_call_adds_a_file_beside_the_first(tmp_path: Path):
    # Given a job run written, then the same record redelivered in another Firehose object
    lake_root = tmp_path / "lake"
    run = job_run("acme", "nightly", datetime(2024, 6, 10, 1, 0), 3600, cost_usd=1.23456)
    write_rows(JOB_RUNS, [run], lake_root, file_name="part-00000")
    write_rows(JOB_RUNS, [run], lake_root, file_name="part-00001")
    # Then both copies are on disk (de-duplication is the queries' job, as in S3)
    table = read_table(JOB_RUNS, lake_root)
    assert table.column("run_id").to_pylist() == [run["run_id"]] * 2
    assert table.column("cost_usd").to_pylist() == [Decimal("1.2346")] * 2
    assert table.column("duration_seconds").to_pylist() == [3600.0] * 2


def test_rows_that_break_the_clean_contract_are_refused(tmp_path: Path):
    row = sale("s1", datetime(2024, 6, 10, 9), items=[("tea", 2.0, 1)])
    card = {**row, "card_number": "4111111111111111"}
    with pytest.raises(ValueError, match=r"extra \['card_number'\]"):
        write_rows(SALES, [card], tmp_path / "lake", file_name="p")
    without_dt = {key: value for key, value in row.items() if key != "dt"}
    with pytest.raises(ValueError, match=r"missing \['dt'\]"):
        write_rows(SALES, [without_dt], tmp_path / "lake", file_name="p")
    assert not (tmp_path / "lake").exists()


def test_the_lake_root_must_be_named_lake(tmp_path: Path):
    with pytest.raises(ValueError, match="named 'lake'"):
        write_rows(SALES, [sale("s1", datetime(2024, 6, 10), items=[("tea", 2.0, 1)])], tmp_path, file_name="p")


def test_no_rows_write_nothing_and_an_empty_table_reads_empty(tmp_path: Path):
    assert write_rows(JOB_RUNS, [], tmp_path / "lake", file_name="p") == {}
    table = read_table(JOB_RUNS, tmp_path / "lake")
    assert table.num_rows == 0
    assert table.column_names == [*JOB_RUNS.column_names, "dt"]


@pytest.mark.parametrize("text", ["2024-06-10T09:15:00.000000", "2024-06-10 09:15:00.000000+02:00", "10/06/2024 09:15"])
def test_timestamps_not_in_the_clean_layout_are_refused(tmp_path: Path, text: str):
    row = {**sale("s1", datetime(2024, 6, 10, 9, 15), items=[("tea", 2.0, 1)]), "event_time": text}
    with pytest.raises(ValueError):
        write_rows(SALES, [row], tmp_path / "lake", file_name="p")


@pytest.mark.parametrize(
    "text",
    ["2024-06-09T10:00:00.000000", "2024-06-09 10:00:00.000000+00:00", "2024-06-09", "09/06/2024 10:00"],
)
def test_only_the_clean_timestamp_layout_is_read(text: str) -> None:
    with pytest.raises(ValueError):
        tables.parse_clean_timestamp(text)


def test_the_clean_timestamp_layout_reads_as_naive_utc() -> None:
    assert tables.parse_clean_timestamp("2024-06-09 10:00:00.123456") == datetime(2024, 6, 9, 10, 0, 0, 123456)
    assert parse_clean_timestamp("2024-06-09 10:00:00.000000") == datetime(2024, 6, 9, 10)
