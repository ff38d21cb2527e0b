"""The local lake: clean records written as Parquet exactly where, and how, Firehose would write them.

moto's Firehose neither converts to Parquet nor evaluates `!{partitionKeyFromQuery:dt}`, so the local
runner writes the lake itself. Everything here derives from `tables.py`: the Parquet schema is
`table.arrow_schema()` (the Glue table's columns) and the path is `table.partition_prefix(dt)`, the same
definition Firehose's prefix and Athena's partition projection template are built from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakewatch.domain import tables
from lakewatch.domain.tables import LAKE_ROOT, PARTITION_KEY, LakeTable

if TYPE_CHECKING:
    import pyarrow as pa

PARQUET_SUFFIX = ".parquet"
#: Firehose's Parquet conversion compresses with Snappy unless told otherwise.
PARQUET_COMPRESSION = "snappy"


def table_dir(table: LakeTable, lake_root: Path) -> Path:
    """Directory of a table under a local lake root: the root mirrors the bucket, so it must be named `lake`."""
    return _bucket_dir(lake_root) / table.prefix


def partition_dir(table: LakeTable, lake_root: Path, dt: str) -> Path:
    """Directory of one day's partition under a local lake root."""
    return _bucket_dir(lake_root) / table.partition_prefix(dt)


def _bucket_dir(lake_root: Path) -> Path:
    if lake_root.name != LAKE_ROOT:
        raise ValueError(f"the lake root must be a directory named {LAKE_ROOT!r} (S3 layout), got {lake_root}")
    return lake_root.parent


def write_rows(
    table: LakeTable, rows: Iterable[Mapping[str, Any]], lake_root: Path, *, file_name: str
) -> dict[str, int]:
    """Write clean records as Parquet, one file `<file_name>.parquet` per `dt`; return rows written per dt.

    `rows` are clean records as the transform emits them (DEVELOPERS.md): exactly the table's columns plus
    `dt`, timestamps as `CLEAN_TIMESTAMP_FORMAT` text, decimals as JSON numbers. Decimals go through their
    text form into `Decimal` so that 0.1 + 0.2 style float noise never reaches a decimal column. A file of
    the same name in the same partition is replaced, as a Firehose object with the same key would be.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = table.arrow_schema()
    converters = [(field.name, value_converter(field.type)) for field in schema]
    expected_keys = {*table.column_names, PARTITION_KEY}
    by_dt: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.keys() != expected_keys:
            missing, extra = sorted(expected_keys - row.keys()), sorted(row.keys() - expected_keys)
            raise ValueError(f"{table.name} row keys differ from the clean contract: missing {missing}, extra {extra}")
        by_dt[row[PARTITION_KEY]].append({name: convert(row[name]) for name, convert in converters})
    written: dict[str, int] = {}
    for dt, partition_rows in sorted(by_dt.items()):
        target = partition_dir(table, lake_root, dt) / f"{file_name}{PARQUET_SUFFIX}"
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(partition_rows, schema=schema), target, compression=PARQUET_COMPRESSION)
        written[dt] = len(partition_rows)
    return written


def value_converter(arrow_type: pa.DataType) -> Callable[[Any], Any]:
    """A function turning one clean-JSON value into the Python value pyarrow stores exactly as `arrow_type`.

    Built once per column, not decided per value: the local runner writes tens of thousands of rows.
    """
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type):
        return _optional(parse_clean_timestamp)
    if pa.types.is_decimal(arrow_type):
        quantum = Decimal(1).scaleb(-arrow_type.scale)
        return _optional(lambda value: Decimal(str(value)).quantize(quantum))
    if pa.types.is_list(arrow_type):
        convert_item = value_converter(arrow_type.value_type)
        return _optional(lambda values: [convert_item(item) for item in values])
    if pa.types.is_struct(arrow_type):
        fields = [(field.name, value_converter(field.type)) for field in arrow_type]
        return _optional(lambda value: {name: convert(value.get(name)) for name, convert in fields})
    return _identity


def parse_clean_timestamp(value: str | datetime) -> datetime:
    """A clean timestamp column value as a naive UTC datetime (`tables.parse_clean_timestamp`; datetimes pass)."""
    return value if isinstance(value, datetime) else tables.parse_clean_timestamp(value)


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _identity(value: Any) -> Any:
    return value


def read_table(table: LakeTable, lake_root: Path) -> pa.Table:
    """Every row of a local lake table, with `dt` as a string column, as Athena would show it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = table.arrow_schema().append(pa.field(PARTITION_KEY, pa.string()))
    parts = []
    for path in sorted(table_dir(table, lake_root).glob(f"{PARTITION_KEY}=*/*{PARQUET_SUFFIX}")):
        data = pq.read_table(path, schema=table.arrow_schema())
        dt = path.parent.name.removeprefix(f"{PARTITION_KEY}=")
        parts.append(data.append_column(PARTITION_KEY, pa.array([dt] * data.num_rows, pa.string())))
    return pa.concat_tables(parts) if parts else schema.empty_table()
