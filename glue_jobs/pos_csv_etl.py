"""Glue job: store point-of-sale CSV drops (seed 002) into the `sales` lake table, beside the streamed sales.

Layers (house style): per-line pure Python (`process_line`), pure DataFrame functions (`parse_pos_lines`,
`to_sales_rows`, `to_quarantine_rows`, `dedupe_sales`), one I/O function shared by Glue and the local runner
(`run_batch`), and the Glue bootstrap under `if __name__ == "__main__"` (nothing runs at import time and
`awsglue` is only imported there: it does not exist outside Glue).

One CSV line becomes exactly one of: a `sales` row, a quarantine row with a reason, a blank line (ignored and
counted, never quarantined: tills end files with empty lines), or a duplicate (counted). So
`lines_read == blank_lines + sales_written + duplicates_dropped + quarantined_total` for every batch.

The CSV is headerless: `timestamp, store, customer_name, basket_items, total_price, cash_or_card,
card_number`. Each row is turned into the wire-contract `sale` event and handed to
`lakewatch.domain.transform.transform_record(..., source="pos_csv")`, so validation, reason codes,
normalisation, the clean JSON and the keyed `customer_key` are the stream's, not a copy. Only what is
specific to the CSV text is checked here, with the wire contract's reason codes and field names:

- columns: fewer than 6 -> `missing_field` on the first missing column (`card_number` alone may be absent:
  tills omit the trailing empty column of cash sales); more than 7, or a line that is not CSV at all (a stray
  quote) -> `invalid_field` with no field (an unquoted basket shifted the columns, so no column can be
  trusted: only a fingerprint and the column count are kept);
- `timestamp` not `dd/mm/YYYY HH:MM` -> `invalid_field` `event_time`; the basket unreadable (`basket.py`)
  -> `invalid_field` `items`; `total_price` unreadable -> `invalid_field` `total_price`.

Times: the till writes the store's local wall-clock time (`Europe/London`, a job argument), converted to
UTC here; `dt` is the UTC date like every lake row. An ambiguous autumn-change time takes the first
(summer-time) instant; a non-existent spring-change time takes the pre-change offset (PEP 495 `fold=0`).

`event_id` is `pos-` + a keyed BLAKE2b (the PII key) of the row's seven stripped columns: deterministic, so a
re-dropped file and an identical repeated row collapse into one sale; keyed, because the row holds a name
and a card number. Duplicates are dropped within the batch and against the event ids already stored in the
partitions the batch touches, so a re-run without job bookmarks (or after a crash between the Parquet write
and the bookmark commit) never double counts. Card numbers are read only into that hash and never leave the
executor; customer names only reach the keyed hash inside `transform_record`. Quarantine rows are not
de-duplicated: a bad row re-dropped is quarantined again, each delivery being evidence of a till problem.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from lakewatch.domain import pii, tables
from lakewatch.domain.basket import BasketError, parse_basket, parse_price
from lakewatch.domain.reasons import Reason
from lakewatch.domain.transform import Clean, Rejected, quarantine_row, transform_record

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

SOURCE = "pos_csv"
CSV_COLUMNS = ("timestamp", "store", "customer_name", "basket_items", "total_price", "cash_or_card", "card_number")
#: The wire-contract field each CSV column feeds; `card_number` feeds nothing (it is dropped at the door).
WIRE_FIELDS = {
    "timestamp": "event_time",
    "store": "store",
    "customer_name": "customer_name",
    "basket_items": "items",
    "total_price": "total_price",
    "cash_or_card": "payment_method",
    "card_number": "card_number",
}
#: Columns kept (masked) in a quarantine row's `record`; the name and the card number never are.
_DIAGNOSTIC_COLUMNS = ("timestamp", "store", "basket_items", "total_price", "cash_or_card")
STORE_TIMEZONE = "Europe/London"
TILL_TIMESTAMP_FORMAT = "%d/%m/%Y %H:%M"
EVENT_ID_PREFIX = "pos-"
_EVENT_ID_BYTES = 16
_MIN_COLUMNS = len(CSV_COLUMNS) - 1

KIND_SALE = "sale"
KIND_QUARANTINE = "quarantine"
KIND_BLANK = "blank"
#: One row per input line after `parse_pos_lines`; `payload` is the clean JSON line or the quarantine row.
OUTCOME_DDL = "kind string, event_id string, dt string, reason string, payload string"
#: Parquet timestamps as INT96: what Athena reads for a zone-less Hive `timestamp` and what DuckDB and pyarrow
#: read as naive UTC, like the local lake writer's files. Spark's TIMESTAMP_MICROS is flagged UTC-adjusted and
#: would become TIMESTAMPTZ in DuckDB. Proleptic Gregorian calendar for old dates instead of failing the write.
PARQUET_WRITE_CONF = {
    "spark.sql.parquet.outputTimestampType": "INT96",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
}
#: Spark pattern of `tables.CLEAN_TIMESTAMP_FORMAT` (the clean JSON's timestamp text).
CLEAN_TIMESTAMP_PATTERN = "yyyy-MM-dd HH:mm:ss.SSSSSS"


@dataclass(frozen=True, slots=True)
class LineOutcome:
    kind: str
    event_id: str | None = None
    dt: str | None = None
    reason: str | None = None
    payload: str | None = None


# ------------------------------------------------------------------------------------------- per line


def process_line(
    line: str,
    source_file: str,
    *,
    pii_key: bytes,
    ingested_at: datetime,
    store_timezone: ZoneInfo,
) -> LineOutcome:
    """One CSV line -> a clean sale, a quarantine row or a blank. Pure; never raises on bad input."""
    text = line.rstrip("\r\n").removeprefix("\ufeff")  # a byte-order mark only ever starts a file
    if not text.strip():
        return LineOutcome(KIND_BLANK)
    location = PurePosixPath(unquote(source_file)).name  # Spark's input_file_name() is a URI
    try:
        fields = next(csv.reader([text], strict=True), [])
    except csv.Error:
        fields = [text] * (len(CSV_COLUMNS) + 1)  # unreadable as CSV at all: treated as a shifted row
    if len(fields) < _MIN_COLUMNS or len(fields) > len(CSV_COLUMNS):
        missing = len(fields) < _MIN_COLUMNS
        rejected = Rejected(
            Reason.MISSING_FIELD if missing else Reason.INVALID_FIELD,
            WIRE_FIELDS[CSV_COLUMNS[len(fields)]] if missing else None,
            None,
            {**pii.fingerprint(text.encode()), "columns": len(fields)},
        )
        return _quarantined(rejected, location, ingested_at)
    row = dict(zip(CSV_COLUMNS, (field.strip() for field in fields), strict=False))
    row.setdefault("card_number", "")
    event_id = row_event_id(row, pii_key)
    try:
        sale = to_wire_sale(row, event_id, store_timezone)
    except _CsvFieldError as error:
        diagnostic = pii.scrub({column: row[column] for column in _DIAGNOSTIC_COLUMNS})
        rejected = Rejected(Reason.INVALID_FIELD, error.field, event_id, {**diagnostic, "problem": error.problem})
        return _quarantined(rejected, location, ingested_at)
    result = transform_record(json.dumps(sale).encode(), pii_key=pii_key, ingested_at=ingested_at, source=SOURCE)
    if isinstance(result, Clean):
        return LineOutcome(KIND_SALE, result.event_id, result.dt, None, result.payload.decode())
    return _quarantined(result, location, ingested_at)


class _CsvFieldError(ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def row_event_id(row: dict[str, str], pii_key: bytes) -> str:
    """Deterministic, keyed idempotency key of a CSV row (see the module docstring)."""
    content = "\x1f".join(row[column] for column in CSV_COLUMNS).encode()
    return EVENT_ID_PREFIX + hashlib.blake2b(content, key=pii_key, digest_size=_EVENT_ID_BYTES).hexdigest()


def till_time_to_utc(text: str, store_timezone: ZoneInfo) -> datetime:
    """`dd/mm/YYYY HH:MM` store wall-clock time -> aware UTC datetime (ValueError if unreadable)."""
    local = datetime.strptime(text, TILL_TIMESTAMP_FORMAT).replace(tzinfo=store_timezone)
    return local.astimezone(UTC)


def to_wire_sale(row: dict[str, str], event_id: str, store_timezone: ZoneInfo) -> dict[str, Any]:
    """The wire-contract `sale` event of one CSV row; `_CsvFieldError` for what only the CSV text can get wrong."""
    try:
        event_time = till_time_to_utc(row["timestamp"], store_timezone)
    except ValueError:
        raise _CsvFieldError("event_time", "not dd/mm/YYYY HH:MM") from None
    try:
        items = parse_basket(row["basket_items"])
    except BasketError as error:
        raise _CsvFieldError("items", error.problem) from None
    try:
        total_price = parse_price(row["total_price"])
    except BasketError as error:
        raise _CsvFieldError("total_price", error.problem) from None
    sale: dict[str, Any] = {
        "event_type": "sale",
        "event_id": event_id,
        "event_time": event_time.isoformat().replace("+00:00", "Z"),
        "channel": "store",
        "store": row["store"] or None,
        "payment_method": row["cash_or_card"],
        "items": [item.to_wire() for item in items],
        "total_price": float(total_price),
    }
    if row["customer_name"]:
        sale["customer_name"] = row["customer_name"]
    return sale


def _quarantined(rejected: Rejected, location: str, ingested_at: datetime) -> LineOutcome:
    row = quarantine_row(rejected, sequence_number=location, source=SOURCE, quarantined_at=ingested_at)
    return LineOutcome(
        KIND_QUARANTINE,
        rejected.event_id,
        ingested_at.astimezone(UTC).strftime(tables.PARTITION_DATE_FORMAT),
        str(rejected.reason),
        json.dumps(row, separators=(",", ":")),
    )


def _process_partition(
    rows: Iterable[Any], *, pii_key: bytes, ingested_at: datetime, store_timezone: str
) -> Iterator[tuple[str | None, ...]]:
    zone = ZoneInfo(store_timezone)
    for row in rows:
        outcome = process_line(
            row["line"] or "", row["source_file"] or "", pii_key=pii_key, ingested_at=ingested_at, store_timezone=zone
        )
        yield (outcome.kind, outcome.event_id, outcome.dt, outcome.reason, outcome.payload)


# ------------------------------------------------------------------------------------- DataFrame functions


def sales_schema() -> StructType:
    """The `sales` table's data columns (from `tables.SALES`, never retyped) plus the `dt` partition column.

    `StructType.fromDDL` is Spark 4; on Glue 5.0's Spark 3.5 the same JVM DDL parser is reached through
    `_parse_datatype_string` (what `createDataFrame` uses for a DDL schema); it needs a running SparkContext.
    """
    from pyspark.sql.types import StringType, StructField, _parse_datatype_string

    data_columns = _parse_datatype_string(tables.SALES.spark_ddl())
    return data_columns.add(StructField(tables.PARTITION_KEY, StringType()))


def parse_pos_lines(
    lines: DataFrame, *, pii_key: bytes, ingested_at: datetime, store_timezone: str = STORE_TIMEZONE
) -> DataFrame:
    """`(source_file, line)` rows -> one `OUTCOME_DDL` row per line (see `process_line`)."""
    work = partial(_process_partition, pii_key=pii_key, ingested_at=ingested_at, store_timezone=store_timezone)
    outcomes = lines.select("source_file", "line").rdd.mapPartitions(work)
    return lines.sparkSession.createDataFrame(outcomes, OUTCOME_DDL)


def to_sales_rows(outcomes: DataFrame) -> DataFrame:
    """The clean sales of `parse_pos_lines`, typed exactly as the Glue `sales` table plus `dt`."""
    from pyspark.sql import functions as F

    schema = sales_schema()
    options = {"timestampFormat": CLEAN_TIMESTAMP_PATTERN, "timeZone": "UTC", "mode": "FAILFAST"}
    return (
        outcomes.where(F.col("kind") == KIND_SALE)
        .select(F.from_json("payload", schema, options).alias("row"))
        .select(*(F.col(f"row.{field.name}").alias(field.name) for field in schema.fields))
    )


def to_quarantine_rows(outcomes: DataFrame) -> DataFrame:
    """`(dt, reason, payload)` of the quarantined lines; `payload` is the DEVELOPERS.md quarantine row."""
    from pyspark.sql import functions as F

    return outcomes.where(F.col("kind") == KIND_QUARANTINE).select("dt", "reason", "payload")


def dedupe_sales(sales: DataFrame, stored_event_ids: DataFrame | None) -> DataFrame:
    """One row per `event_id`, minus the ids already stored in the target partitions."""
    unique = sales.dropDuplicates(["event_id"])
    if stored_event_ids is None:
        return unique
    return unique.join(stored_event_ids.select("event_id").distinct(), on="event_id", how="left_anti")


# ------------------------------------------------------------------------------------------------- I/O


def read_lines(spark: SparkSession, uri: str) -> DataFrame:
    """Every line of every file under `uri` as `(source_file, line)`; blank lines kept (they are counted)."""
    from pyspark.sql import functions as F

    return (
        spark.read.option("recursiveFileLookup", "true")
        .text(uri)
        .select(F.input_file_name().alias("source_file"), F.col("value").alias("line"))
    )


def run_batch(
    spark: SparkSession,
    lines: DataFrame,
    *,
    pii_key: bytes,
    ingested_at: datetime,
    table_uri: str,
    existing_partitions: Callable[[list[str]], list[str]],
    write_quarantine: Callable[[str, list[str]], None],
    store_timezone: str = STORE_TIMEZONE,
) -> dict[str, Any]:
    """Parse, validate, dedupe and store one batch of CSV lines; returns the batch's counts.

    `existing_partitions(dts)` returns the URIs of those `dt` partitions of the table that already hold
    files; `write_quarantine(dt, json_lines)` stores one quarantine object. Four Spark actions, plus the read of
    the stored event ids when a target partition already holds files.
    """
    for name, value in PARQUET_WRITE_CONF.items():
        spark.conf.set(name, value)
    outcomes = parse_pos_lines(lines, pii_key=pii_key, ingested_at=ingested_at, store_timezone=store_timezone)
    outcomes.persist()
    try:
        tally: Counter[tuple[str, str | None]] = Counter()
        sale_days: set[str] = set()
        for row in outcomes.groupBy("kind", "reason", tables.PARTITION_KEY).count().collect():
            tally[(row["kind"], row["reason"])] += row["count"]
            if row["kind"] == KIND_SALE:
                sale_days.add(row[tables.PARTITION_KEY])
        quarantined: Counter[str] = Counter()
        for (kind, reason), count in tally.items():
            if kind == KIND_QUARANTINE and reason is not None:
                quarantined[reason] += count
        by_day: dict[str, list[str]] = {}
        for row in to_quarantine_rows(outcomes).collect():
            by_day.setdefault(row["dt"], []).append(row["payload"])
        for dt, rows in sorted(by_day.items()):
            write_quarantine(dt, rows)

        sales = to_sales_rows(outcomes)
        dts = sorted(sale_days)
        stored_uris = existing_partitions(dts) if dts else []
        stored = spark.read.schema("event_id string").parquet(*stored_uris) if stored_uris else None
        fresh = dedupe_sales(sales, stored).persist()
        try:
            written = fresh.count()
            if written:
                # One file per day per batch: the table is read by Athena, which pays per file opened.
                fresh.repartition(tables.PARTITION_KEY).write.mode("append").partitionBy(tables.PARTITION_KEY).parquet(
                    table_uri
                )
        finally:
            fresh.unpersist()
    finally:
        outcomes.unpersist()
    sales_in = sum(count for (kind, _), count in tally.items() if kind == KIND_SALE)
    return {
        "lines_read": sum(tally.values()),
        "blank_lines": sum(count for (kind, _), count in tally.items() if kind == KIND_BLANK),
        "sales_written": written,
        "duplicates_dropped": sales_in - written,
        "quarantined": dict(sorted(quarantined.items())),
        "quarantined_total": sum(quarantined.values()),
        "partitions": dts,
    }


def quarantine_object_name(ingested_at: datetime) -> str:
    """A unique, sortable quarantine object name for one batch."""
    return f"{SOURCE}-{ingested_at.astimezone(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}.jsonl"


def ensure_local_workers_import_repo(spark: SparkSession) -> None:
    """Make local Spark's Python workers run this interpreter with the repository on their path.

    In Glue the job script is `__main__` (pickled by value) and `lakewatch` ships as `--extra-py-files`; on
    local Spark the executor functions are pickled by reference to `glue_jobs.*`, which workers can only
    import with the repository on their path and the venv's packages (msgspec) at hand. Spark starts workers
    with the SparkContext's interpreter and environment as they are when a function is shipped, so this works
    on an already running session.
    """
    context = spark.sparkContext
    context.pythonExec = sys.executable
    root = str(Path(__file__).resolve().parents[1])
    environment = context.environment
    paths = [path for path in environment.get("PYTHONPATH", "").split(os.pathsep) if path]
    if root not in paths:
        environment["PYTHONPATH"] = os.pathsep.join([root, *paths])


def run_local(
    spark: SparkSession,
    csv_dir: Path,
    lake_root: Path,
    quarantine_dir: Path,
    *,
    pii_key: bytes,
    ingested_at: datetime,
    store_timezone: str = STORE_TIMEZONE,
) -> dict[str, Any]:
    """The job on local Spark for `local-run --pos-csv` and tests: lake under `lake_root`, quarantine JSON lines
    under `quarantine_dir/dt=<date>/` (the layout of `quarantine/pos_csv/` in S3)."""
    table_dir = lake_root / PurePosixPath(tables.SALES.prefix).relative_to(tables.LAKE_ROOT)
    ensure_local_workers_import_repo(spark)

    def existing_partitions(dts: list[str]) -> list[str]:
        found = []
        for dt in dts:
            partition = lake_root / PurePosixPath(tables.SALES.partition_prefix(dt)).relative_to(tables.LAKE_ROOT)
            if any(path.is_file() and not path.name.startswith(("_", ".")) for path in partition.glob("*")):
                found.append(str(partition.resolve()))
        return found

    def write_quarantine(dt: str, rows: list[str]) -> None:
        target = quarantine_dir / f"{tables.PARTITION_KEY}={dt}" / quarantine_object_name(ingested_at)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(f"{row}\n" for row in rows), encoding="utf-8")

    table_dir.mkdir(parents=True, exist_ok=True)
    return run_batch(
        spark,
        read_lines(spark, str(csv_dir.resolve())),
        pii_key=pii_key,
        ingested_at=ingested_at,
        table_uri=str(table_dir.resolve()),
        existing_partitions=existing_partitions,
        write_quarantine=write_quarantine,
        store_timezone=store_timezone,
    )


def s3_existing_partitions(s3: Any, lake_bucket: str, dts: list[str]) -> list[str]:
    """URIs of the `sales` partitions among `dts` that hold at least one data object (what Athena would read)."""
    found = []
    for dt in dts:
        prefix = tables.SALES.partition_prefix(dt)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=lake_bucket, Prefix=prefix):
            names = (PurePosixPath(item["Key"]).name for item in page.get("Contents", []))
            if any(not name.startswith(("_", ".")) for name in names):
                found.append(f"s3://{lake_bucket}/{prefix}")
                break
    return found


def s3_quarantine_key(dt: str, ingested_at: datetime) -> str:
    """`quarantine/pos_csv/dt=<day>/<unique>.jsonl` (DEVELOPERS.md, "Quarantine rows")."""
    return f"{tables.QUARANTINE_ROOT}/{SOURCE}/{tables.PARTITION_KEY}={dt}/{quarantine_object_name(ingested_at)}"


def run_s3(
    spark: SparkSession,
    lines: DataFrame,
    *,
    s3: Any,
    lake_bucket: str,
    pii_key: bytes,
    ingested_at: datetime,
    store_timezone: str = STORE_TIMEZONE,
) -> dict[str, Any]:
    """The job against the lake bucket: Parquet to `lake/sales/dt=.../`, quarantine to `quarantine/pos_csv/`."""

    def write_quarantine(dt: str, rows: list[str]) -> None:
        body = "".join(f"{row}\n" for row in rows).encode()
        s3.put_object(
            Bucket=lake_bucket, Key=s3_quarantine_key(dt, ingested_at), Body=body, ContentType="application/x-ndjson"
        )

    return run_batch(
        spark,
        lines,
        pii_key=pii_key,
        ingested_at=ingested_at,
        table_uri=f"s3://{lake_bucket}/{tables.SALES.prefix}",
        existing_partitions=partial(s3_existing_partitions, s3, lake_bucket),
        write_quarantine=write_quarantine,
        store_timezone=store_timezone,
    )


def _glue_main() -> None:  # pragma: no cover - runs only inside AWS Glue
    """Glue bootstrap: arguments, bookmarked read of new landing files, the PII key, then `run_s3`."""
    import boto3
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext
    from pyspark.sql import functions as F

    args = getResolvedOptions(sys.argv, ["JOB_NAME", "lake_bucket", "landing_prefix", "pii_key_secret_arn"])
    store_timezone = STORE_TIMEZONE
    if "--store_timezone" in sys.argv:
        store_timezone = getResolvedOptions(sys.argv, ["store_timezone"])["store_timezone"]
    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    logger = glue_context.get_logger()
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=args["pii_key_secret_arn"])
    pii_key = secret["SecretString"].encode()
    # A DynamicFrame read is what job bookmarks track (each landing file is read once). A separator and a quote
    # character that never occur make every line one column, so column counting stays `process_line`'s job.
    landing = glue_context.create_dynamic_frame.from_options(
        connection_type="s3",
        connection_options={"paths": [f"s3://{args['lake_bucket']}/{args['landing_prefix']}"], "recurse": True},
        format="csv",
        format_options={"withHeader": False, "separator": "\u0001", "quoteChar": -1, "attachFilename": "source_file"},
        transformation_ctx="pos_csv_landing",
    ).toDF()
    if "col0" in landing.columns:
        source_file = F.col("source_file") if "source_file" in landing.columns else F.input_file_name()
        lines = landing.select(source_file.alias("source_file"), F.col("col0").alias("line"))
        counts = run_s3(
            glue_context.spark_session,
            lines,
            s3=boto3.client("s3"),
            lake_bucket=args["lake_bucket"],
            pii_key=pii_key,
            ingested_at=datetime.now(UTC),
            store_timezone=store_timezone,
        )
        logger.info("pos_csv_etl counts " + json.dumps(counts, sort_keys=True))
    else:
        logger.info("pos_csv_etl: no new landing files")
    job.commit()


if __name__ == "__main__":
    _glue_main()
