"""Compaction: fewer files, the same multiset of rows, whatever step a run dies at (local Spark, tiny data)."""

from __future__ import annotations

import inspect
import json
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from glue_jobs import compact_partitions as cp
from lakewatch.domain import tables

DT = "2024-05-01"
SMALL_FILES = 5
ROWS_PER_FILE = 2


def _sale(index: int) -> dict:
    at = datetime(2024, 5, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=index)
    price = Decimal("2.45") + index
    return {
        "event_id": f"e-{index}",
        "event_time": at,
        "channel": "web" if index % 2 else "store",
        "store": None if index % 2 else "Leeds",
        "order_id": f"o-{index}",
        "customer_key": f"k-{index % 3}",
        "payment_method": "CARD",
        "items": [
            {
                "product": "Latte",
                "size": "Large",
                "flavour": None,
                "unit_price": price,
                "quantity": 1,
                "line_total": price,
            }
        ],
        "item_count": 1,
        "discount": Decimal("0.00"),
        "total_price": price,
        "currency": "GBP",
        "source": "stream",
        "ingested_at": at + timedelta(seconds=5),
    }


class Crash(RuntimeError):
    """The job dying right after a protocol step (raised from the `checkpoint` callback the job offers)."""


def crash_after(step: str):
    """A `checkpoint` that kills the run right after `step`."""
    assert step in cp.STEPS

    def checkpoint(current: str) -> None:
        if current == step:
            raise Crash(current)

    return checkpoint


def _make_partition(root: Path) -> Path:
    """SMALL_FILES Firehose-like Parquet files (pyarrow, the table's arrow schema, no extension)."""
    partition = root / tables.SALES.partition_prefix(DT)
    partition.mkdir(parents=True)
    schema = tables.SALES.arrow_schema()
    for number in range(SMALL_FILES):
        rows = [_sale(number * ROWS_PER_FILE + offset) for offset in range(ROWS_PER_FILE)]
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), partition / f"lakewatch-sales-1-2024-05-01-{number}")
    return partition


def _visible_files(partition: Path) -> list[Path]:
    return sorted(path for path in partition.iterdir() if path.is_file() and not path.name.startswith(("_", ".")))


def _row_key(row: dict) -> str:
    def plain(value):
        return value.replace(tzinfo=None) if isinstance(value, datetime) else value

    return json.dumps({name: plain(value) for name, value in row.items()}, default=str, sort_keys=True)


def _rows(partition: Path) -> Counter:
    """The multiset of rows a reader of the partition sees (pyarrow: no Spark action)."""
    rows: Counter = Counter()
    for path in _visible_files(partition):
        rows.update(_row_key(row) for row in pq.read_table(path).to_pylist())
    return rows


@pytest.fixture
def partition(tmp_path: Path) -> Path:
    return _make_partition(tmp_path)


def test_many_small_files_become_one_with_the_same_rows(spark, partition: Path) -> None:
    # Given a partition of small files
    before = _rows(partition)
    # When it is compacted
    result = cp.compact_local(spark, partition, target_files=1)
    # Then one file holds exactly the same multiset of rows, and no staging is left behind
    assert result["status"] == "compacted"
    assert len(_visible_files(partition)) == 1
    assert _rows(partition) == before
    assert sum(before.values()) == SMALL_FILES * ROWS_PER_FILE
    assert cp.LocalStore(partition.parents[2]).list(cp.COMPACTION_ROOT + "/") == {}


@pytest.fixture(scope="module")
def committed_run(spark, tmp_path_factory) -> Path:
    """A lake root whose partition was staged, verified and committed (manifest written) into 2 files, then
    the job died: the one Spark-staged state every crash test below starts from (copied, never changed)."""
    root = tmp_path_factory.mktemp("committed")
    with pytest.raises(Crash):
        cp.compact_local(spark, _make_partition(root), target_files=2, checkpoint=crash_after("manifest"))
    return root


def _crash_state(committed_run: Path, tmp_path: Path, step: str) -> Path:
    """The lake as a run that died right after `step` leaves it.

    Before the manifest (staged, verified) the disk holds the sources and the staged files: the committed state
    minus its manifest. After it, `finish` (the code every run executes after writing its manifest) is run
    from the committed state and stopped at `step`.
    """
    root = tmp_path / "lake-bucket"
    shutil.copytree(committed_run, root)
    store = cp.LocalStore(root)
    runs = cp.partition_runs_prefix(tables.SALES, DT)
    (manifest_key,) = [key for key in store.list(runs) if key.endswith(cp.MANIFEST_NAME)]
    if cp.STEPS.index(step) < cp.STEPS.index("manifest"):
        store.delete([manifest_key])
    elif step != "manifest":
        with pytest.raises(Crash):
            cp.finish(store, cp.Manifest.from_json(store.read_text(manifest_key)), checkpoint=crash_after(step))
    return root / tables.SALES.partition_prefix(DT)


@pytest.mark.parametrize("step", cp.STEPS)
def test_a_run_interrupted_at_any_step_is_finished_or_rolled_back_by_the_next(
    spark, committed_run: Path, tmp_path: Path, step: str
) -> None:
    # Given a partition whose compaction died right after `step`
    before = _rows(committed_run / tables.SALES.partition_prefix(DT))
    partition = _crash_state(committed_run, tmp_path, step)
    # Then at that instant a reader still sees every row at least once (never a lost row)
    assert set(_rows(partition)) == set(before)
    # When the job runs again
    result = cp.compact_local(spark, partition, target_files=2)
    # Then the partition holds exactly the same multiset of rows, compacted, and no run folder is left
    assert len(result["recovered"]) == 1
    assert _rows(partition) == before
    assert len(_visible_files(partition)) == 2
    assert cp.LocalStore(partition.parents[2]).list(cp.COMPACTION_ROOT + "/") == {}


def test_a_job_dying_inside_its_own_swap_is_finished_by_the_next(spark, partition: Path) -> None:
    # Given a real run that dies after deleting its first source
    before = _rows(partition)
    with pytest.raises(Crash):
        cp.compact_local(spark, partition, target_files=1, checkpoint=crash_after("deleted_one"))
    # When the job runs again (recovery only: no Spark work is left)
    cp.compact_local(spark, partition, target_files=1)
    # Then nothing is lost or doubled
    assert _rows(partition) == before
    assert len(_visible_files(partition)) == 1


def test_a_compacted_partition_is_left_alone(tmp_path: Path) -> None:
    # Given a partition that already has no more files than the target (no Spark needed to decide)
    partition = tmp_path / tables.SALES.partition_prefix(DT)
    partition.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([_sale(0)], schema=tables.SALES.arrow_schema()), partition / "one.parquet")
    # When compaction runs
    result = cp.compact_partition(None, cp.LocalStore(tmp_path), tables.SALES, DT, target_files=1)  # type: ignore[arg-type]
    # Then nothing is rewritten
    assert result["status"] == "nothing_to_do"
    assert _visible_files(partition) == [partition / "one.parquet"]


def test_a_manifest_whose_files_are_all_gone_is_an_error_not_a_guess(tmp_path: Path) -> None:
    # Given a committed run whose staged file and target both vanished
    store = cp.LocalStore(tmp_path)
    manifest = cp.Manifest(
        table="sales",
        dt=DT,
        run_id="r1",
        sources=(),
        staged=("_compaction/sales/dt=2024-05-01/r1/data/p.parquet",),
        targets=cp.target_keys(tables.SALES, DT, "r1", 1),
        rows=1,
        checksum="1:1",
    )
    store.write_text(cp.run_prefix(tables.SALES, DT, "r1") + cp.MANIFEST_NAME, manifest.to_json())
    # When recovery runs / Then it refuses to go on
    with pytest.raises(cp.CompactionError, match="staged copy is gone"):
        cp.recover_partition(store, tables.SALES, DT)


def test_the_checksum_sees_a_duplicated_or_a_missing_row(spark) -> None:
    # Given three rows, the same rows reordered, one duplicated in place of another, and one missing
    schema = cp.table_schema(tables.JOB_RUNS)
    base = [
        (f"e{i}", f"r{i}", "c", "j", "FAILED", None, None, float(i), None, None, None, None, None) for i in range(3)
    ]
    frames = [base, list(reversed(base)), [base[0], base[0], base[2]], base[:2]]
    # When their stats are computed
    stats = [cp.partition_stats(spark.createDataFrame(rows, schema)) for rows in frames]
    # Then order does not matter but the multiset does
    assert stats[0] == stats[1]
    assert stats[2].rows == stats[0].rows and stats[2].checksum != stats[0].checksum
    assert stats[3] != stats[0]


def test_the_stats_observed_while_writing_are_those_of_a_pass_of_their_own(spark, partition: Path) -> None:
    # Given a partition's small files read with the table's schema
    schema = cp.table_schema(tables.SALES)
    sources = spark.read.schema(schema).parquet(*(str(path) for path in _visible_files(partition)))
    # When they are written with their stats observed on the way
    staged = partition.parents[2] / "staged"
    observed = cp.write_with_stats(sources, str(staged), 1)
    # Then those stats are the ones a separate pass over the sources, or over the written files, computes
    assert observed == cp.partition_stats(sources)
    assert observed == cp.partition_stats(spark.read.schema(schema).parquet(str(staged)))
    assert observed.rows == SMALL_FILES * ROWS_PER_FILE


def test_no_test_hook_ships_in_the_production_module() -> None:
    # The crash simulation lives in the tests (a `checkpoint` callback); the module only offers the callback
    assert not hasattr(cp, "SimulatedCrash")
    assert "fail_after" not in inspect.signature(cp.compact_local).parameters


def test_pure_planning_helpers() -> None:
    # Given listings with hidden files, nested keys and run folders / Then only what readers see counts
    prefix = tables.SALES.partition_prefix(DT)
    listing = {f"{prefix}a": 1, f"{prefix}_SUCCESS": 0, f"{prefix}.a.crc": 1, f"{prefix}sub/b": 1, "other/x": 1}
    assert cp.partition_data_files(listing, prefix) == {f"{prefix}a": 1}
    runs = cp.partition_runs_prefix(tables.SALES, DT)
    assert cp.runs_in([f"{runs}r2/data/p", f"{runs}r1/manifest.json", f"{runs}r1/data/p"], runs) == {
        "r1": True,
        "r2": False,
    }
    assert cp.target_file_count(0) == 1
    assert cp.target_file_count(cp.TARGET_FILE_BYTES + 1) == 2
    assert all(key.startswith(prefix) and cp.is_data_key(key) for key in cp.target_keys(tables.SALES, DT, "r", 2))
