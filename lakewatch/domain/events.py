"""The wire contract of `events-raw` as msgspec types, plus the clean-record types.

Input types decode and validate in one pass in C (`msgspec.json.Decoder`): structure, types, required fields,
lengths (every string is bounded) and numeric ranges are checked here, so the transform's Python code only does
what a type cannot say (case-insensitive enums, blank text, times, cross-field rules, derived columns). Unknown
fields are ignored on purpose: producers may add fields, and `card_number` is dropped by never being declared.

Numeric upper bounds come from the lake columns' decimal precision (`tables.py`), so a value that Parquet could
not hold is rejected at the door instead of becoming a null (or a failed Firehose conversion) later. The clean
types are generated from `SALES.column_names` / `JOB_RUNS.column_names` and the item struct of the `items`
column, so the clean JSON can never drift from the Glue tables.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from lakewatch.domain import tables

EVENT_TYPE_FIELD = "event_type"
SALE = "sale"
JOB_RUN = "job_run"

CHANNELS = frozenset({"web", "store"})
PAYMENT_METHODS = frozenset({"CARD", "CASH", "OTHER"})
JOB_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT"})
#: The statuses of a run that did not deliver: each one pages (`job_failed`) and never enters a duration baseline.
FAILED_JOB_STATUSES = frozenset({"FAILED", "TIMED_OUT"})
DEFAULT_CURRENCY = "GBP"
MAX_EVENT_ID_LENGTH = 64
#: Longest other identifier (run_id, client, job_name, store, order_id, customer_id). 128 characters are at
#: most 512 bytes of UTF-8, so job_monitor's DynamoDB keys (client and job_name together in a partition key of
#: at most 2,048 bytes, run_id in a sort key of at most 1,024) always fit, with room for their encoding.
MAX_ID_LENGTH = 128
#: Longest name (product, customer_name).
MAX_NAME_LENGTH = 256
#: Longest label (size, flavour, instance_size) and vocabulary word (channel, payment_method, status).
MAX_LABEL_LENGTH = 64
#: Longest time text: the longest ISO-8601 form `fromisoformat` reads is well under this.
MAX_TIME_LENGTH = 64
MAX_ERROR_MESSAGE_LENGTH = 1000
#: Largest value of a Hive `int` column (quantity, item_count).
MAX_INT = 2**31 - 1


def decimal_bounds(glue_type: str) -> tuple[float, int]:
    """(largest value, scale) of a Glue `decimal(p,s)` type string."""
    precision, scale = (int(part) for part in glue_type[len("decimal(") : -1].split(","))
    return float(10 ** (precision - scale)) - 10.0**-scale, scale


def _column_type(table: tables.LakeTable, name: str) -> str:
    return next(column.glue_type for column in table.columns if column.name == name)


#: The item struct of `sales.items`, as (field name, Glue type) pairs.
ITEM_FIELDS: tuple[tuple[str, str], ...] = tuple(tables._struct_fields(tables.SALE_ITEM_TYPE[len("struct<") : -1]))
_ITEM_TYPES = dict(ITEM_FIELDS)

MAX_UNIT_PRICE, PRICE_SCALE = decimal_bounds(_ITEM_TYPES["unit_price"])
MAX_LINE_TOTAL, LINE_TOTAL_SCALE = decimal_bounds(_ITEM_TYPES["line_total"])
MAX_DISCOUNT, DISCOUNT_SCALE = decimal_bounds(_column_type(tables.SALES, "discount"))
MAX_TOTAL_PRICE, TOTAL_PRICE_SCALE = decimal_bounds(_column_type(tables.SALES, "total_price"))
MAX_COST_USD, COST_SCALE = decimal_bounds(_column_type(tables.JOB_RUNS, "cost_usd"))

EventId = Annotated[str, Meta(min_length=1, max_length=MAX_EVENT_ID_LENGTH)]
Identifier = Annotated[str, Meta(min_length=1, max_length=MAX_ID_LENGTH)]
OptionalIdentifier = Annotated[str, Meta(max_length=MAX_ID_LENGTH)]
Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_LENGTH)]
OptionalName = Annotated[str, Meta(max_length=MAX_NAME_LENGTH)]
Label = Annotated[str, Meta(max_length=MAX_LABEL_LENGTH)]
#: ISO-8601 with `Z` or an offset, parsed by the transform (`datetime.fromisoformat` accepts more ISO-8601
#: forms than RFC 3339, and slicing the common UTC form is faster than formatting a datetime); a naive time
#: is rejected there (its UTC date, hence its partition, is unknowable).
IsoTime = Annotated[str, Meta(min_length=1, max_length=MAX_TIME_LENGTH)]
SchemaVersion = Annotated[int, Meta(ge=1)]
#: A `customer_key` as `pii.customer_key` writes it: 16 bytes of keyed hash, in lower-case hex. Patterns end in
#: `\Z`, not `$`: msgspec matches them with Python's `re`, where `$` also matches before a trailing newline.
CUSTOMER_KEY_PATTERN = r"^[0-9a-f]{32}\Z"
#: A currency code: three letters (stored upper case).
CURRENCY_PATTERN = r"^[A-Za-z]{3}\Z"
CustomerKey = Annotated[str, Meta(pattern=CUSTOMER_KEY_PATTERN)]
NonNegative = Annotated[float, Meta(ge=0)]


class SaleItem(Struct, kw_only=True, gc=False):
    """One item of a sale, as it arrives and, once the transform has filled it in, as it is stored.

    Its fields are exactly the `sales.items` struct's (checked at import), so the transform completes the
    decoded item in place instead of building a second object per item on the hot path. `line_total` is
    not part of the wire contract: whatever a producer sends there is overwritten. An absent `quantity`
    decodes as its default 1; an explicit null is turned into 1 by the transform.
    """

    product: Name
    size: Label | None = None
    flavour: Label | None = None
    unit_price: Annotated[float, Meta(ge=0, le=MAX_UNIT_PRICE)]
    quantity: Annotated[int, Meta(ge=1, le=MAX_INT)] | None = 1
    line_total: Any = None


if SaleItem.__struct_fields__ != tuple(name for name, _ in ITEM_FIELDS):
    raise RuntimeError("events.SaleItem fields must match tables.SALE_ITEM_TYPE")


class Sale(Struct, tag_field=EVENT_TYPE_FIELD, tag=SALE, kw_only=True, gc=False):
    """A `sale` event as it arrives. Optional fields accept an explicit null as "absent"."""

    event_id: EventId
    event_time: IsoTime
    schema_version: SchemaVersion | None = None
    channel: Label
    store: OptionalIdentifier | None = None
    order_id: OptionalIdentifier | None = None
    customer_id: OptionalIdentifier | None = None
    customer_name: OptionalName | None = None
    #: Only on a record re-driven from quarantine, which kept the customer as this key and nothing else: the
    #: key is used when the record names no customer itself, so the re-driven sale keeps its customer.
    customer_key: CustomerKey | None = None
    payment_method: Label
    items: Annotated[list[SaleItem], Meta(min_length=1)]
    discount: Annotated[float, Meta(ge=0, le=MAX_DISCOUNT)] | None = None
    total_price: Annotated[float, Meta(ge=0, le=MAX_TOTAL_PRICE)]
    currency: Annotated[str, Meta(pattern=CURRENCY_PATTERN)] | None = None


class JobRun(Struct, tag_field=EVENT_TYPE_FIELD, tag=JOB_RUN, kw_only=True, gc=False):
    """A `job_run` event as it arrives."""

    event_id: EventId
    event_time: IsoTime
    schema_version: SchemaVersion | None = None
    run_id: Identifier
    client: Identifier
    job_name: Identifier
    status: Label
    started_at: IsoTime
    ended_at: IsoTime
    duration_seconds: NonNegative | None = None
    data_processed_gb: NonNegative | None = None
    cost_usd: Annotated[float, Meta(ge=0, le=MAX_COST_USD)] | None = None
    instance_size: Label | None = None
    #: Masked, then cut to MAX_ERROR_MESSAGE_LENGTH by the transform (a long stack trace is still a valid run).
    error_message: str | None = None


Event = Sale | JobRun


def _clean_struct(name: str, field_names: tuple[str, ...]) -> type[Struct]:
    """A positional Struct (cheaper to build than by keyword on the hot path) that encodes as a JSON object."""
    fields: list[tuple[str, Any]] = [(field_name, Any) for field_name in field_names]
    return msgspec.defstruct(name, fields, gc=False)


#: A clean `sales` row: `SALES.column_names` + `dt`, in that order.
CleanSale = _clean_struct("CleanSale", (*tables.SALES.column_names, tables.PARTITION_KEY))
#: A clean `job_runs` row: `JOB_RUNS.column_names` + `dt`, in that order.
CleanJobRun = _clean_struct("CleanJobRun", (*tables.JOB_RUNS.column_names, tables.PARTITION_KEY))
