"""The per-record contract of the stream: validate, normalise, mask PII and route one wire-contract event.

`transform_records` (one call per Kinesis batch; `transform_record` is its one-record form) is pure (no I/O)
and shared by the transform Lambda and the POS Glue job, so validation and reason codes exist once. It is
also the hot path of the pipeline and its throughput is a requirement (`python -m lakewatch bench`), which
shapes the code:

- a valid record is decoded and validated in one pass by msgspec into the `events.py` Structs; Python only
  checks what a type cannot express (case-insensitive enums, times, cross-field rules) and fills in derived
  columns; money is integer cents, never `Decimal` (`cents / 100` is exactly the 2-dp text Hive reads),
  rounded half up (`floor(x * 100 + 0.5)`: amounts are never negative, and it is twice as fast as `round`);
- times are parsed with `datetime.fromisoformat` (any ISO-8601 form with `Z` or an offset) and, in the
  common UTC form, the clean text is sliced from the input rather than formatted;
- everything about rejection (generic decode, PII scrubbing, mapping msgspec's messages to reason codes)
  happens on a slow path that valid records never touch; it also accepts `event_type` in any case.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec

from lakewatch.domain import events, pii, tables
from lakewatch.domain.reasons import Reason

#: Records over this size are quarantined before parsing (design.md: "a record over 256 KiB").
MAX_RECORD_BYTES = 256 * 1024
#: First bytes of a KPL-aggregated record. Powertools does not de-aggregate them, and neither do we: the
#: wire contract is one JSON object per Kinesis record, so they are quarantined with a clear field.
KPL_MAGIC = b"\xf3\x89\x9a\xc2"
KPL_FIELD = "kpl_aggregation"
#: A given `duration_seconds` must agree with the timestamps within this many seconds.
DURATION_TOLERANCE_S = 1.0


class Clean(msgspec.Struct, frozen=True, gc=False):
    """A valid record: `payload` is the clean JSON line for `table` (see DEVELOPERS.md, "Clean records")."""

    table: str
    event_id: str
    dt: str
    payload: bytes


class Rejected(msgspec.Struct, frozen=True):
    """An invalid record: one stable reason, the offending field path if any, and the input without PII."""

    reason: Reason
    field: str | None
    event_id: str | None
    record: Any


class _Invalid(Exception):
    """Internal control flow from the cleaning functions to `transform_records`; never escapes this module."""

    def __init__(self, reason: Reason, field: str | None) -> None:
        super().__init__(reason, field)
        self.reason = reason
        self.field = field


_DECODER = msgspec.json.Decoder(events.Event)
_GENERIC_DECODER = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()
_SALES = tables.SALES.name
_JOB_RUNS = tables.JOB_RUNS.name
_Sale = events.Sale
_CleanSale = events.CleanSale
_CleanJobRun = events.CleanJobRun
_CHANNELS = events.CHANNELS
_PAYMENT_METHODS = events.PAYMENT_METHODS
_JOB_STATUSES = events.JOB_STATUSES
_DEFAULT_CURRENCY = events.DEFAULT_CURRENCY
_MAX_INT = events.MAX_INT
_MAX_LINE_TOTAL_CENTS = round(events.MAX_LINE_TOTAL * 100)
#: cost_usd in its column's smallest unit (1e-4 USD); floor(x * units + 0.5) / units beats round(x, 4) severalfold.
_COST_UNITS = 10**events.COST_SCALE
_customer_keys = pii.customer_keys
#: What `CustomerKeys.memo.get` returns for a pair it has not seen (None is a valid customer_key).
_UNKNOWN = object()
_mask_text = pii.mask_text
_MAX_ERROR_MESSAGE_LENGTH = events.MAX_ERROR_MESSAGE_LENGTH
_encode = _ENCODER.encode
_UTC = UTC
#: What may follow exactly six fractional digits in a UTC time that `datetime.fromisoformat` accepted.
_ZONE_STARTS = ("Z", "+", "-")
#: `text[4:20:3]` of a time `fromisoformat` accepted: its characters 4, 7, 10, 13, 16 and 19. "--T::" means
#: the extended form with seconds, `YYYY-MM-DDTHH:MM:SS` (a week date has a digit at 7, a time without
#: seconds no colon at 16), so the date and time can be sliced from the text; the sixth character tells
#: whole seconds followed by the zone from a fraction. Any other shape takes the general path.
_WHOLE_SECOND_SHAPES = frozenset(f"--{separator}::{zone}" for separator in "T " for zone in _ZONE_STARTS)
_FRACTION_SHAPES = frozenset(f"--{separator}::." for separator in "T ")
_fromisoformat = datetime.fromisoformat
_floor = math.floor
# Length of "YYYY-MM-DD HH:MM:SS.ffffff", the CLEAN_TIMESTAMP_FORMAT text that isoformat(" ") starts with.
_CLEAN_TIMESTAMP_LENGTH = 26
_DATE_LENGTH = 10


def transform_records(
    records: Iterable[bytes], *, pii_key: bytes, ingested_at: datetime, source: str = "stream"
) -> list[Clean | Rejected]:
    """Turn a batch of Kinesis records' bytes into one verdict each, in order. Never raises on bad input.

    `pii_key` keys the customer hash; `ingested_at` (aware) becomes the `ingested_at` column of every row;
    `source` is the `sales.source` column ("stream" or "pos_csv"). This is the hot loop of the pipeline, so
    what is shared by the batch (the customer keys, the `ingested_at` text) is prepared once, outside it.
    """
    customer_keys = _customer_keys(pii_key)
    ingested = utc_text(ingested_at)
    decode = _DECODER.decode
    sale_type = _Sale
    clean_sale = _clean_sale
    verdicts: list[Clean | Rejected] = []
    append = verdicts.append
    for data in records:
        if len(data) > MAX_RECORD_BYTES:
            append(Rejected(Reason.TOO_LARGE, None, None, pii.fingerprint(data)))
            continue
        try:
            event = decode(data)
        except msgspec.ValidationError as error:
            append(_slow_path(data, error, customer_keys, ingested, source))
            continue
        except msgspec.DecodeError:  # a KPL aggregate is never valid JSON, so it is told apart only here
            field = KPL_FIELD if data.startswith(KPL_MAGIC) else None
            append(Rejected(Reason.INVALID_JSON, field, None, pii.fingerprint(data)))
            continue
        try:
            if type(event) is sale_type:
                append(clean_sale(event, customer_keys, ingested, source))
            else:
                append(_clean_job_run(event, ingested))
        except _Invalid as invalid:
            append(_rejected_after_decoding(data, invalid))
    return verdicts


def transform_record(data: bytes, *, pii_key: bytes, ingested_at: datetime, source: str = "stream") -> Clean | Rejected:
    """`transform_records` for one record (the POS Glue job's row-at-a-time path, and the unit tests)."""
    return transform_records((data,), pii_key=pii_key, ingested_at=ingested_at, source=source)[0]


def quarantine_row(
    rejected: Rejected, *, sequence_number: str | None, source: str, quarantined_at: datetime
) -> dict[str, Any]:
    """The quarantine row of DEVELOPERS.md ("Quarantine rows") for one rejected record."""
    return {
        "reason": str(rejected.reason),
        "field": rejected.field,
        "event_id": rejected.event_id,
        "sequence_number": sequence_number,
        "source": source,
        "quarantined_at": utc_text(quarantined_at),
        "record": rejected.record,
    }


def utc_text(moment: datetime) -> str:
    """An aware datetime as UTC text in `tables.CLEAN_TIMESTAMP_FORMAT` (always with microseconds)."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat(" ", "microseconds")[:_CLEAN_TIMESTAMP_LENGTH]


def _utc_time(text: str, field: str) -> tuple[datetime, str]:
    """Parse an ISO-8601 time with `Z` or an offset; return it with its clean UTC text.

    In the common extended UTC forms (`2024-05-01T12:34:56[.fff…](Z|+00:00)`, recognised by their shape) the
    clean text is sliced from the input, which is several times faster than formatting the datetime.
    """
    try:
        moment = _fromisoformat(text)
    except ValueError:
        raise _Invalid(Reason.INVALID_FIELD, field) from None
    tzinfo = moment.tzinfo
    if tzinfo is _UTC:
        shape = text[4:20:3]
        if shape in _WHOLE_SECOND_SHAPES:
            return moment, f"{text[:10]} {text[11:19]}.000000"
        if shape in _FRACTION_SHAPES:
            if text[26:27] in _ZONE_STARTS:  # exactly six digits: slicing them beats formatting
                return moment, f"{text[:10]} {text[11:26]}"
            return moment, f"{text[:10]} {text[11:19]}.{moment.microsecond:06d}"
    elif tzinfo is None:
        raise _Invalid(Reason.INVALID_FIELD, field)
    try:
        return moment, utc_text(moment)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 has no UTC twin
        raise _Invalid(Reason.INVALID_FIELD, field) from None


def _clean_sale(sale: events.Sale, customer_keys: pii.CustomerKeys, ingested: str, source: str) -> Clean:
    """A sale's clean row; `ingested` is the batch's `ingested_at` text."""
    channel = sale.channel
    if channel not in _CHANNELS:
        channel = channel.strip().lower()
        if channel not in _CHANNELS:
            raise _Invalid(Reason.INVALID_FIELD, "channel")
    payment_method = sale.payment_method
    if payment_method not in _PAYMENT_METHODS:
        payment_method = payment_method.strip().upper()
        if payment_method not in _PAYMENT_METHODS:
            raise _Invalid(Reason.INVALID_FIELD, "payment_method")
    store = sale.store
    if channel == "store":
        if not store or store.isspace():
            raise _Invalid(Reason.MISSING_FIELD, "store")
    else:
        store = None
    text = sale.event_time
    try:  # _utc_time's fast path, inlined: this is the hottest line of the pipeline
        moment = _fromisoformat(text)
    except ValueError:
        raise _Invalid(Reason.INVALID_FIELD, "event_time") from None
    shape = text[4:20:3]
    if moment.tzinfo is _UTC and shape in _WHOLE_SECOND_SHAPES:
        event_time = f"{text[:10]} {text[11:19]}.000000"
    else:
        event_time = _utc_time(text, "event_time")[1]

    # Money in integer cents from here on: exact sums, and cents / 100 is the shortest float of a 2-dp value.
    # Items are completed in place: the decoded SaleItem has exactly the lake item struct's fields.
    items = sale.items
    gross = 0
    item_count = 0
    for item in items:
        cents = _floor(item.unit_price * 100 + 0.5)
        quantity = item.quantity
        if quantity is None:  # an explicit null; an absent quantity already decodes as 1
            item.quantity = quantity = 1
        line = cents * quantity
        item.unit_price = cents / 100
        item.line_total = line / 100
        gross += line
        item_count += quantity
    if gross > _MAX_LINE_TOTAL_CENTS or item_count > _MAX_INT:
        _check_item_bounds(items, item_count)
    discount = sale.discount
    discount_cents = 0 if discount is None else _floor(discount * 100 + 0.5)
    total_cents = _floor(sale.total_price * 100 + 0.5)
    if not -1 <= gross - discount_cents - total_cents <= 1:
        raise _Invalid(Reason.TOTAL_MISMATCH, "total_price")

    customer_name = sale.customer_name
    customer_id = sale.customer_id
    if customer_name is None and customer_id is None:
        customer_key = None
    else:
        customer_key = customer_keys.memo.get((customer_id, customer_name), _UNKNOWN)
        if customer_key is _UNKNOWN:
            customer_key = customer_keys.remember(customer_id, customer_name)
    currency = sale.currency
    if currency is None:
        currency = _DEFAULT_CURRENCY
    elif not currency.isupper():
        currency = currency.upper()
    event_id = sale.event_id
    dt = event_time[:_DATE_LENGTH]
    # Positional, in CleanSale's field order (SALES.column_names + dt); the unit tests pin every column.
    row = _CleanSale(
        event_id,
        event_time,
        channel,
        store,
        sale.order_id,
        customer_key,
        payment_method,
        items,
        item_count,
        discount_cents / 100,
        total_cents / 100,
        currency,
        source,
        ingested,
        dt,
    )
    return Clean(_SALES, event_id, dt, _encode(row))


def _check_item_bounds(items: list[events.SaleItem], item_count: int) -> None:
    """Slow check, only when the fast one trips: which line or count does not fit its lake column."""
    for index, item in enumerate(items):
        if item.line_total > events.MAX_LINE_TOTAL:
            raise _Invalid(Reason.INVALID_FIELD, f"items[{index}].quantity")
    if item_count > _MAX_INT:
        raise _Invalid(Reason.INVALID_FIELD, "items")


def _clean_job_run(run: events.JobRun, ingested: str) -> Clean:
    status = run.status
    if status not in _JOB_STATUSES:
        status = status.strip().upper()
        if status not in _JOB_STATUSES:
            raise _Invalid(Reason.INVALID_FIELD, "status")
    try:
        if _fromisoformat(run.event_time).tzinfo is None:
            raise _Invalid(Reason.INVALID_FIELD, "event_time")
    except ValueError:
        raise _Invalid(Reason.INVALID_FIELD, "event_time") from None
    started, started_at = _utc_time(run.started_at, "started_at")
    ended, ended_at = _utc_time(run.ended_at, "ended_at")
    if ended < started:
        raise _Invalid(Reason.INVALID_FIELD, "ended_at")
    derived = (ended - started).total_seconds()
    duration = run.duration_seconds
    if duration is None:
        duration = derived
    elif not -DURATION_TOLERANCE_S <= duration - derived <= DURATION_TOLERANCE_S:
        raise _Invalid(Reason.INVALID_FIELD, "duration_seconds")
    error_message = run.error_message
    if error_message is not None:
        # Mask before truncating: a cut could otherwise leave a card-number fragment too short to match.
        error_message = _mask_text(error_message)[:_MAX_ERROR_MESSAGE_LENGTH]
    cost_usd = run.cost_usd
    if cost_usd is not None:
        cost_usd = _floor(cost_usd * _COST_UNITS + 0.5) / _COST_UNITS
    event_id = run.event_id
    dt = ended_at[:_DATE_LENGTH]
    # Positional, in CleanJobRun's field order (JOB_RUNS.column_names + dt); the unit tests pin every column.
    row = _CleanJobRun(
        event_id,
        run.run_id,
        run.client,
        run.job_name,
        status,
        started_at,
        ended_at,
        duration,
        run.data_processed_gb,
        cost_usd,
        run.instance_size,
        error_message,
        ingested,
        dt,
    )
    return Clean(_JOB_RUNS, event_id, dt, _encode(row))


# ---------------------------------------------------------------------------------------------- slow path

_ERROR_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]*)`")


def _slow_path(
    data: bytes, error: msgspec.ValidationError, customer_keys: pii.CustomerKeys, ingested: str, source: str
) -> Clean | Rejected:
    """Why a record failed typed decoding; or, if only `event_type`'s case was off, its clean row."""
    try:
        decoded = _GENERIC_DECODER.decode(data)
    except msgspec.DecodeError:
        return Rejected(Reason.INVALID_JSON, None, None, pii.fingerprint(data))
    if not isinstance(decoded, dict):
        return Rejected(Reason.NOT_AN_OBJECT, None, None, pii.fingerprint(data))
    normalised = _normalise_lenient(decoded)
    if normalised is not None:
        try:
            event = _DECODER.decode(_ENCODER.encode(normalised))
        except msgspec.ValidationError as retry_error:
            error = retry_error
        else:
            try:
                if type(event) is _Sale:
                    return _clean_sale(event, customer_keys, ingested, source)
                return _clean_job_run(event, ingested)
            except _Invalid as invalid:
                return _rejected(decoded, invalid.reason, invalid.field)
    reason, field = _reason_of(str(error))
    return _rejected(decoded, reason, field)


def _rejected_after_decoding(data: bytes, invalid: _Invalid) -> Rejected:
    """The verdict on a record that decoded but broke a rule a type cannot express."""
    try:
        decoded = _GENERIC_DECODER.decode(data)
    except msgspec.DecodeError:  # e.g. an ignored unknown field holding a number out of float range
        return Rejected(invalid.reason, invalid.field, None, pii.fingerprint(data))
    return _rejected(decoded, invalid.reason, invalid.field)


def _normalise_lenient(decoded: dict[str, Any]) -> dict[str, Any] | None:
    """A copy with `event_type` in canonical lower case, or None when it already is (or is not text)."""
    changes: dict[str, Any] = {}
    event_type = decoded.get(events.EVENT_TYPE_FIELD)
    if isinstance(event_type, str) and event_type != event_type.strip().lower():
        changes[events.EVENT_TYPE_FIELD] = event_type.strip().lower()
    return {**decoded, **changes} if changes else None


def _reason_of(message: str) -> tuple[Reason, str | None]:
    """Map a msgspec ValidationError message to a reason code and a field path like `items[0].unit_price`."""
    match = _ERROR_PATH.search(message)
    path = match["path"].lstrip(".") if match else ""
    missing = _MISSING.match(message)
    if missing:
        field = f"{path}.{missing['name']}" if path else missing["name"]
        return Reason.MISSING_FIELD, field
    if path == events.EVENT_TYPE_FIELD:
        if "got `null`" in message:
            return Reason.MISSING_FIELD, path
        return Reason.UNKNOWN_EVENT_TYPE, path
    if "got `null`" in message:
        return Reason.MISSING_FIELD, path or None
    return Reason.INVALID_FIELD, path or None


def _rejected(decoded: dict[str, Any], reason: Reason, field: str | None) -> Rejected:
    event_id = decoded.get("event_id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= events.MAX_EVENT_ID_LENGTH:
        event_id = None
    else:
        event_id = pii.mask_text(event_id)
    return Rejected(reason, field, event_id, pii.scrub(decoded))
