"""The lake tables: the one definition every other schema is derived from.

The Glue table columns (CDK), the Firehose Parquet conversion (via the Glue table), the Glue jobs' output
schema (Spark DDL), the local runner's Parquet writer (pyarrow) and the S3 partition layout that both
Firehose and Athena partition projection use are all produced from `SALES`, `JOB_RUNS` and `FORECASTS` below.
Nothing else in the repository may spell a column list or a lake path by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pyarrow is a local-runner dependency, not a Lambda one
    import pyarrow as pa

LAKE_ROOT = "lake"
QUARANTINE_ROOT = "quarantine"
PARTITION_KEY = "dt"
#: Java date pattern of `dt` for Athena partition projection; `PARTITION_DATE_FORMAT` is the Python twin.
PARTITION_PROJECTION_FORMAT = "yyyy-MM-dd"
PARTITION_DATE_FORMAT = "%Y-%m-%d"
#: The accepted range of event times (and of job-run start and end times), one definition for the transform,
#: the schedules of the local runner and Athena partition projection: a time outside it would land in a `dt`
#: partition no query can see, so it is quarantined as `invalid_field` instead.
EARLIEST_EVENT_TIME = datetime(2020, 1, 1, tzinfo=UTC)
#: How far ahead of its ingestion an event may be dated (producer clocks drift, time zones get mislabelled).
MAX_EVENT_LEAD = timedelta(days=1)
#: First day partition projection will look for: the UTC date of `EARLIEST_EVENT_TIME`.
PARTITION_PROJECTION_START = EARLIEST_EVENT_TIME.strftime("%Y-%m-%d")
#: Last day partition projection will look for, relative to Athena's clock: today plus `MAX_EVENT_LEAD`.
PARTITION_PROJECTION_END = f"NOW+{MAX_EVENT_LEAD.days}DAYS"
#: Text form of every timestamp column in clean JSON: what the Hive JSON SerDe in Firehose parses natively.
CLEAN_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
#: Length of a `CLEAN_TIMESTAMP_FORMAT` text: "YYYY-MM-DD HH:MM:SS.ffffff".
_CLEAN_TIMESTAMP_LENGTH = 26


def parse_clean_timestamp(text: str) -> datetime:
    """Read `CLEAN_TIMESTAMP_FORMAT` text back: a naive datetime, UTC by the clean contract.

    `fromisoformat` reads that layout about ten times faster than `strptime`, but it also accepts other ISO
    forms (a `T`, an offset); those are refused through `strptime`'s error, so only the clean layout passes.
    """
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None or text[10:11] != " ":
        return datetime.strptime(text, CLEAN_TIMESTAMP_FORMAT)  # raises ValueError: not the clean layout
    return parsed


def parse_clean_utc(text: str) -> datetime:
    """`parse_clean_timestamp`, as the aware UTC time it spells (for arithmetic with other aware times)."""
    return parse_clean_timestamp(text).replace(tzinfo=UTC)


def format_clean_timestamp(moment: datetime) -> str:
    """An aware datetime as UTC text in `CLEAN_TIMESTAMP_FORMAT`, always with microseconds: fixed width, so
    it sorts (in Python and in DynamoDB) as time does. `isoformat` is several times faster than `strftime`."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(" ", "microseconds")[:_CLEAN_TIMESTAMP_LENGTH]


def accepted_event_times(ingested_at: datetime) -> tuple[datetime, datetime]:
    """The inclusive range of event times accepted from a record ingested at `ingested_at` (aware)."""
    return EARLIEST_EVENT_TIME, ingested_at + MAX_EVENT_LEAD


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    #: Hive/Glue type string, e.g. "decimal(10,2)" or "array<struct<product:string>>".
    glue_type: str
    comment: str = ""


@dataclass(frozen=True, slots=True)
class LakeTable:
    name: str
    description: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def prefix(self) -> str:
        """S3 key prefix of the table, relative to the lake bucket, with a trailing slash."""
        return f"{LAKE_ROOT}/{self.name}/"

    def partition_prefix(self, dt: str) -> str:
        """S3 key prefix of one day's partition (dt as YYYY-MM-DD)."""
        return f"{self.prefix}{PARTITION_KEY}={dt}/"

    @property
    def firehose_prefix(self) -> str:
        """Firehose S3 prefix: dynamic partitioning on the `dt` field the transform adds to each record."""
        return self.partition_prefix(f"!{{partitionKeyFromQuery:{PARTITION_KEY}}}")

    @property
    def firehose_error_prefix(self) -> str:
        return f"errors/{self.name}/!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd}}/"

    def projection_location_template(self, bucket_name: str) -> str:
        """`storage.location.template` for partition projection; same layout as `partition_prefix`."""
        return f"s3://{bucket_name}/{self.partition_prefix('${' + PARTITION_KEY + '}')}"

    def projection_parameters(self, bucket_name: str) -> dict[str, str]:
        """Glue table parameters enabling partition projection on `dt` (no crawler, no MSCK REPAIR)."""
        return {
            "projection.enabled": "true",
            f"projection.{PARTITION_KEY}.type": "date",
            f"projection.{PARTITION_KEY}.format": PARTITION_PROJECTION_FORMAT,
            f"projection.{PARTITION_KEY}.range": f"{PARTITION_PROJECTION_START},{PARTITION_PROJECTION_END}",
            f"projection.{PARTITION_KEY}.interval": "1",
            f"projection.{PARTITION_KEY}.interval.unit": "DAYS",
            "storage.location.template": self.projection_location_template(bucket_name),
        }

    def spark_ddl(self) -> str:
        """Spark DDL of the data columns (without the partition column), for `StructType.fromDDL`."""
        return ", ".join(f"`{column.name}` {column.glue_type}" for column in self.columns)

    def arrow_schema(self) -> pa.Schema:
        """pyarrow schema of the data columns, for writing Parquet exactly as Firehose would."""
        import pyarrow as pa

        return pa.schema([pa.field(column.name, arrow_type(column.glue_type)) for column in self.columns])


SALE_ITEM_TYPE = (
    "struct<product:string,size:string,flavour:string,unit_price:decimal(10,2),quantity:int,line_total:decimal(12,2)>"
)

SALES = LakeTable(
    name="sales",
    description="One row per sale: web orders and store point-of-sale transactions. No PII.",
    columns=(
        Column("event_id", "string", "Idempotency key; a redelivered sale repeats it"),
        Column("event_time", "timestamp", "When the sale happened (UTC); decides dt"),
        Column("channel", "string", "web | store"),
        Column("store", "string", "Store name; null for the web channel"),
        Column("order_id", "string"),
        Column("customer_key", "string", "Keyed hash of the customer; never the id or name itself"),
        Column("payment_method", "string", "CARD | CASH | OTHER"),
        Column("items", f"array<{SALE_ITEM_TYPE}>"),
        Column("item_count", "int", "Sum of item quantities"),
        Column("discount", "decimal(10,2)"),
        Column("total_price", "decimal(12,2)"),
        Column("currency", "string", "ISO 4217 code"),
        Column("source", "string", "stream | pos_csv"),
        Column("ingested_at", "timestamp", "When lakewatch processed the record (UTC)"),
    ),
)

JOB_RUNS = LakeTable(
    name="job_runs",
    description="One row per batch/ETL job run per client: duration, status, data processed, cost.",
    columns=(
        Column("event_id", "string", "Idempotency key; a redelivered run repeats it"),
        Column("run_id", "string"),
        Column("client", "string"),
        Column("job_name", "string"),
        Column("status", "string", "SUCCEEDED | FAILED | TIMED_OUT"),
        Column("started_at", "timestamp"),
        Column("ended_at", "timestamp", "Decides dt"),
        Column("duration_seconds", "double"),
        Column("data_processed_gb", "double"),
        Column("cost_usd", "decimal(12,4)"),
        Column("instance_size", "string"),
        Column("error_message", "string", "At most 1,000 characters, PII-masked"),
        Column("ingested_at", "timestamp"),
    ),
)

FORECASTS = LakeTable(
    name="forecasts",
    description="One row per forecast: a series key's load over one of the six hours after an hourly origin.",
    columns=(
        Column("series", "string", "orders_by_store | orders_total (one file per series in series_sql/)"),
        Column("series_key", "string", "Store name, web, or all"),
        Column("origin_hour", "timestamp", "When it was forecast (UTC whole hour); only hours before it were seen"),
        Column("target_hour", "timestamp", "The hour forecast (UTC): origin_hour + horizon - 1 hours"),
        Column("horizon", "int", "1..6"),
        Column("yhat", "double", "The forecast"),
        Column("yhat_lo", "double", "Lower bound of the 80% interval"),
        Column("yhat_hi", "double", "Upper bound of the 80% interval"),
        Column("model_version", "string", "The training run whose model made it"),
        Column("generated_at", "timestamp", "When the forecasting run wrote it (UTC)"),
    ),
)

#: The ingested tables: what the transform routes and Firehose delivers from a clean stream, what compaction merges.
TABLES: dict[str, LakeTable] = {table.name: table for table in (SALES, JOB_RUNS)}
#: Every table of the Glue catalog, what Athena and the local runner's DuckDB query: the ingested tables plus
#: the `forecasts` the forecast Lambdas write (dt = the UTC date of origin_hour).
CATALOG_TABLES: dict[str, LakeTable] = {**TABLES, FORECASTS.name: FORECASTS}


def arrow_type(glue_type: str) -> Any:
    """Translate a Hive/Glue type string into a pyarrow type (the subset the lake tables use)."""
    import pyarrow as pa

    text = glue_type.strip()
    scalars = {
        "string": pa.string(),
        "int": pa.int32(),
        "bigint": pa.int64(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        # Athena reads Parquet timestamps at millisecond precision; Firehose writes them the same way.
        "timestamp": pa.timestamp("ms"),
    }
    if text in scalars:
        return scalars[text]
    if text.startswith("decimal(") and text.endswith(")"):
        precision, scale = (int(part) for part in text[len("decimal(") : -1].split(","))
        return pa.decimal128(precision, scale)
    if text.startswith("array<") and text.endswith(">"):
        return pa.list_(arrow_type(text[len("array<") : -1]))
    if text.startswith("struct<") and text.endswith(">"):
        return pa.struct(
            [pa.field(name, arrow_type(type_text)) for name, type_text in _struct_fields(text[len("struct<") : -1])]
        )
    raise ValueError(f"unsupported Glue type: {glue_type!r}")


def _struct_fields(body: str) -> list[tuple[str, str]]:
    """Split `a:int,b:decimal(10,2),c:array<string>` at top-level commas only."""
    fields, depth, start = [], 0, 0
    for index, char in enumerate(body + ","):
        if char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        elif char == "," and depth == 0:
            name, _, type_text = body[start:index].partition(":")
            fields.append((name.strip(), type_text.strip()))
            start = index + 1
    return fields
