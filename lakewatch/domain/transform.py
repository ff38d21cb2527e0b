"""The per-record contract of the stream: validate, normalise, protect PII and route one wire-contract event.

`transform_records` (one call per Kinesis batch; `transform_record` is its one-record form) is pure (no I/O)
and shared by the transform Lambda and the POS Glue job, so validation and reason codes exist once. Every
input, whatever its bytes, gets exactly one verdict: `Clean` (a lake row) or `Rejected` (a quarantine row with
a reason). Nothing raises: an unexpected error while processing one record rejects that record alone with
`transform_error`, and the rest of the batch carries on.

It is also the hot path of the pipeline (`python -m lakewatch bench` measures it), which shapes the code:

- a valid record is decoded and validated in one pass by msgspec into the `events.py` Structs, whose types
  bound every string and number; Python checks only what a type cannot say (vocabulary in any case, blank
  text, times, cross-field rules) and fills in derived columns, one function per rule;
- what a batch shares (the customer-key memo, the `ingested_at` text, the accepted time range) is prepared
  once per batch (`_Batch`);
- everything about rejection (generic decoding, mapping msgspec's messages to reason codes, scrubbing PII by
  allowlist) happens on a slow path that valid records never touch.

PII rules per field (ids tokenised when they hold a card-like number or an e-mail address, free text masked,
the customer only as `customer_key`) are `pii.py`'s; this module applies them to every string it stores. It
first asks `pii.may_hold_pii` about all of an event's stored strings at once, so the common event (no `@`, no 13
digits in a row, ASCII) skips the per-string checks; `card_number` is never decoded, so it is never looked at.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec

from lakewatch.domain import events, pii, tables
from lakewatch.domain.reasons import Reason

#: Records over this size are quarantined before parsing (the Kinesis record limit is 1 MiB; ours is smaller).
MAX_RECORD_BYTES = 256 * 1024
#: First bytes of a KPL-aggregated record. Powertools does not de-aggregate them, and neither do we: the
#: wire contract is one JSON object per Kinesis record, so they are quarantined with a clear field.
KPL_MAGIC = b"\xf3\x89\x9a\xc2"
KPL_FIELD = "kpl_aggregation"
#: `field` of an `invalid_json` record that is not UTF-8 (JSON text must be), e.g. a Latin-1 name byte.
ENCODING_FIELD = "encoding"
#: `field` of an `invalid_json` record nested deeper than the decoder follows (the contract is three deep).
NESTING_FIELD = "nesting"
#: A given `duration_seconds` must agree with the timestamps within this many seconds.
DURATION_TOLERANCE_S = 1.0
#: How JSON spells a NUL character inside a string (a raw NUL byte is not valid JSON at all).
_ESCAPED_NUL = b"\\u0000"
_BACKSLASH = b"\\"
_SALES_TABLE = tables.SALES.name
_JOB_RUNS_TABLE = tables.JOB_RUNS.name
_DATE_LENGTH = 10


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
    """Internal control flow from the rule functions to `_clean_event`; never escapes this module."""

    def __init__(self, reason: Reason, field: str | None) -> None:
        super().__init__(reason, field)
        self.reason = reason
        self.field = field


_EVENT_DECODER = msgspec.json.Decoder(events.Event)
_JSON_DECODER = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()
#: The slow path's decoder and encoder for valid JSON holding a number beyond float range (`1e400`), which the
#: typed decoder skips in an ignored field but `_JSON_DECODER` refuses: numbers with a fraction or an exponent
#: are read as `Decimal` and written back as the same JSON number, so a record round-trips exactly.
_EXACT_DECODER = msgspec.json.Decoder(float_hook=Decimal)
_EXACT_ENCODER = msgspec.json.Encoder(decimal_format="number")
#: What the decoders raise on bytes that are not (decodable) JSON. `ValidationError` is a `DecodeError` too,
#: so it is always caught before these.
_UNREADABLE = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def _vocabulary(terms: Iterable[str]) -> dict[str, str]:
    """Lookup from a term in its canonical spelling or case-folded to the canonical spelling."""
    return {spelling: term for term in terms for spelling in (term, term.casefold())}


_CHANNELS = _vocabulary(events.CHANNELS)
_PAYMENT_METHODS = _vocabulary(events.PAYMENT_METHODS)
_JOB_STATUSES = _vocabulary(events.JOB_STATUSES)
_CENTS = 10**events.PRICE_SCALE
_COST_UNITS = 10**events.COST_SCALE
_MAX_LINE_TOTAL_CENTS = round(events.MAX_LINE_TOTAL * _CENTS)


class _Batch:
    """What every record of one batch shares, prepared once: keys, `ingested_at` and the accepted time range.

    The time range is held as clean UTC text: that format sorts like the times it spells, so checking a time
    is two string comparisons on text the row needs anyway.
    """

    __slots__ = ("customer_keys", "earliest_time", "ingested_at", "latest_time", "pii_key", "source")

    def __init__(self, pii_key: bytes, ingested_at: datetime, source: str) -> None:
        earliest, latest = tables.accepted_event_times(ingested_at)
        self.pii_key = pii_key
        self.customer_keys = pii.customer_keys(pii_key)
        self.ingested_at = tables.format_clean_timestamp(ingested_at)
        self.earliest_time = tables.format_clean_timestamp(earliest)
        self.latest_time = tables.format_clean_timestamp(latest)
        self.source = source


def transform_records(
    records: Iterable[bytes], *, pii_key: bytes, ingested_at: datetime, source: str = "stream"
) -> list[Clean | Rejected]:
    """Turn a batch of Kinesis records' bytes into one verdict each, in order. Never raises on any input.

    `pii_key` keys the customer hash, id tokens and fingerprints; `ingested_at` (aware) becomes the `ingested_at`
    column of every row and anchors the accepted event-time range; `source` is the `sales.source` column ("stream"
    or "pos_csv").
    """
    batch = _Batch(pii_key, ingested_at, source)
    verdicts: list[Clean | Rejected] = []
    for data in records:
        try:
            verdicts.append(_transform(data, batch))
        except Exception:  # the last line of defence: a bug met by one record rejects that record alone
            verdicts.append(Rejected(Reason.TRANSFORM_ERROR, None, None, pii.fingerprint(data, pii_key)))
    return verdicts


def transform_record(data: bytes, *, pii_key: bytes, ingested_at: datetime, source: str = "stream") -> Clean | Rejected:
    """`transform_records` for one record (the POS Glue job's row-at-a-time path, and the unit tests)."""
    return transform_records((data,), pii_key=pii_key, ingested_at=ingested_at, source=source)[0]


def _transform(data: bytes, batch: _Batch) -> Clean | Rejected:
    if len(data) > MAX_RECORD_BYTES:
        return Rejected(Reason.TOO_LARGE, None, None, pii.fingerprint(data, batch.pii_key))
    try:
        event = _EVENT_DECODER.decode(data)
    except msgspec.ValidationError as error:
        return _slow_path(data, error, batch)
    except _UNREADABLE as error:
        return _unreadable(data, error, batch)
    return _clean_event(event, data, batch)


def _clean_event(event: events.Sale | events.JobRun, data: bytes, batch: _Batch) -> Clean | Rejected:
    """The clean row of a decoded event, or its rejection for a rule its type could not express.

    PII is looked for in the strings the row stores as sent, all at once (`pii.may_hold_pii`): most events
    have none, and only the rest pay for the PII field roles, string by string.
    """
    try:
        # A backslash is rare and cheaper to rule out; `find`, as in `pii.may_hold_pii`, is cheaper than `in`.
        if data.find(_BACKSLASH) >= 0 and _ESCAPED_NUL in data:
            _reject_nul_characters(data, batch.pii_key)
        if pii.may_hold_pii(_stored_texts(event)):
            _protect_strings(event, batch.pii_key)
        if type(event) is events.Sale:
            return _clean_sale(event, batch)
        return _clean_job_run(event, batch)
    except _Invalid as invalid:
        return _rejected_after_decoding(data, invalid, batch)


# ---------------------------------------------------------------------------------------------- sales


def _clean_sale(sale: events.Sale, batch: _Batch) -> Clean:
    channel = _CHANNELS.get(sale.channel) or _term(sale.channel, _CHANNELS, "channel")
    payment_method = _PAYMENT_METHODS.get(sale.payment_method) or _term(
        sale.payment_method, _PAYMENT_METHODS, "payment_method"
    )
    event_id = sale.event_id
    if event_id.isspace():
        raise _Invalid(Reason.INVALID_FIELD, "event_id")
    store = _store(sale.store) if channel == "store" else None  # a web sale never keeps a store
    event_time = _event_time(sale.event_time, "event_time", batch)[1]
    items = sale.items
    gross_cents, item_count = _complete_items(items)
    discount_cents = 0 if sale.discount is None else _to_units(sale.discount, _CENTS)
    total_cents = _to_units(sale.total_price, _CENTS)
    if not -1 <= gross_cents - discount_cents - total_cents <= 1:  # the items less the discount, to a cent
        raise _Invalid(Reason.TOTAL_MISMATCH, "total_price")
    customer_key = batch.customer_keys.key_for(sale.customer_id, sale.customer_name) or sale.customer_key
    currency = events.DEFAULT_CURRENCY if sale.currency is None else sale.currency.upper()
    dt = event_time[:_DATE_LENGTH]
    # Positional, in CleanSale's field order (SALES.column_names + dt); the unit tests pin every column.
    row = events.CleanSale(
        event_id,
        event_time,
        channel,
        store,
        sale.order_id,
        customer_key,
        payment_method,
        items,
        item_count,
        discount_cents / _CENTS,
        total_cents / _CENTS,
        currency,
        batch.source,
        batch.ingested_at,
        dt,
    )
    return Clean(_SALES_TABLE, event_id, dt, _ENCODER.encode(row))


def _store(store: str | None) -> str:
    """A store sale names its store."""
    if not store or store.isspace():
        raise _Invalid(Reason.MISSING_FIELD, "store")
    return store


def _complete_items(items: list[events.SaleItem]) -> tuple[int, int]:
    """Fill in every item's stored form in place (the decoded SaleItem has exactly the lake struct's fields).

    Returns the gross in cents and the item count. Money is integer cents from here on: sums are exact, and
    `cents / 100` is the shortest float of a 2-dp value, which is exactly the text Hive reads.
    """
    gross_cents = 0
    item_count = 0
    for item in items:
        if item.product.isspace():
            _require_text(item.product, _item_path(items, item, "product"))
        if item.quantity is None:  # an explicit null; an absent quantity already decodes as 1
            item.quantity = 1
        unit_cents = _to_units(item.unit_price, _CENTS)
        line_cents = unit_cents * item.quantity
        if line_cents > _MAX_LINE_TOTAL_CENTS:
            raise _Invalid(Reason.INVALID_FIELD, _item_path(items, item, "quantity"))
        item.unit_price = unit_cents / _CENTS
        item.line_total = line_cents / _CENTS
        gross_cents += line_cents
        item_count += item.quantity
    if item_count > events.MAX_INT:
        raise _Invalid(Reason.INVALID_FIELD, "items")
    return gross_cents, item_count


def _item_path(items: list[events.SaleItem], item: events.SaleItem, field: str) -> str:
    """`items[1].quantity`: the index is looked up on the way to a rejection instead of counted for every item.
    An equal item earlier in the list would have been rejected first, so the first equal one is this one."""
    return f"items[{items.index(item)}].{field}"


# ------------------------------------------------------------------------------------------- job runs


def _clean_job_run(run: events.JobRun, batch: _Batch) -> Clean:
    status = _term(run.status, _JOB_STATUSES, "status")
    event_id = run.event_id
    _require_text(event_id, "event_id")
    _require_text(run.run_id, "run_id")
    _require_text(run.client, "client")
    _require_text(run.job_name, "job_name")
    _event_time(run.event_time, "event_time", batch)
    started, started_at = _event_time(run.started_at, "started_at", batch)
    ended, ended_at = _event_time(run.ended_at, "ended_at", batch)
    if ended < started:
        raise _Invalid(Reason.INVALID_FIELD, "ended_at")
    duration = _duration(run.duration_seconds, (ended - started).total_seconds())
    cost_usd = None if run.cost_usd is None else _to_units(run.cost_usd, _COST_UNITS) / _COST_UNITS
    # Optional text is stored as null or as words: an empty string says as little as an absent field, and
    # job_monitor sets aside a clean run whose optional text is empty (it would never page for that failure).
    error_message = _error_message(run.error_message) if run.error_message else None
    dt = ended_at[:_DATE_LENGTH]
    # Positional, in CleanJobRun's field order (JOB_RUNS.column_names + dt); the unit tests pin every column.
    row = events.CleanJobRun(
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
        run.instance_size or None,
        error_message,
        batch.ingested_at,
        dt,
    )
    return Clean(_JOB_RUNS_TABLE, event_id, dt, _ENCODER.encode(row))


def _error_message(message: str) -> str:
    """Masked, then cut to its column's length: masking first, as a cut could leave a card fragment too short
    to match."""
    return pii.mask_text(message)[: events.MAX_ERROR_MESSAGE_LENGTH]


def _duration(given: float | None, derived: float) -> float:
    """`duration_seconds` as given, if it agrees with the timestamps; derived from them if absent."""
    if given is None:
        return derived
    if not -DURATION_TOLERANCE_S <= given - derived <= DURATION_TOLERANCE_S:
        raise _Invalid(Reason.INVALID_FIELD, "duration_seconds")
    return given


# ------------------------------------------------------------------------------------ shared field rules


def _protect_strings(event: events.Sale | events.JobRun, key: bytes) -> None:
    """Apply the PII field roles (`pii.py`) to every string a row stores, in place: ids become keyed tokens
    when they hold a card-like number or an e-mail address, free text is masked. Only events whose strings
    `pii.may_hold_pii` could not clear come here, so the common event never pays for it."""
    protect_id, mask_text = pii.protect_id, pii.mask_text
    event.event_id = protect_id(event.event_id, key)
    if type(event) is events.Sale:
        if event.store is not None:
            event.store = protect_id(event.store, key)
        if event.order_id is not None:
            event.order_id = protect_id(event.order_id, key)
        for item in event.items:
            item.product = mask_text(item.product)
            if item.size is not None:
                item.size = mask_text(item.size)
            if item.flavour is not None:
                item.flavour = mask_text(item.flavour)
    else:
        event.run_id = protect_id(event.run_id, key)
        event.client = protect_id(event.client, key)
        event.job_name = protect_id(event.job_name, key)
        if event.instance_size is not None:
            event.instance_size = mask_text(event.instance_size)
        if event.error_message is not None:
            event.error_message = mask_text(event.error_message)


def _stored_texts(event: events.Sale | events.JobRun) -> list[str]:
    """The strings `_protect_strings` protects, an absent one as "", for `pii.may_hold_pii`; not `error_message`,
    which the row always stores masked (`_error_message`)."""
    if type(event) is events.Sale:
        texts = [event.event_id, event.store or "", event.order_id or ""]
        for item in event.items:
            texts += (item.product, item.size or "", item.flavour or "")
        return texts
    return [event.event_id, event.run_id, event.client, event.job_name, event.instance_size or ""]


#: `_protect_strings` names every stored string field of the contract: keep it in step with the PII roles.
_PROTECTED_FIELDS = frozenset(
    {"event_id", "store", "order_id", "product", "size", "flavour", "run_id", "client", "job_name"}
    | {"instance_size", "error_message"}
)
if _PROTECTED_FIELDS != pii.ID_FIELDS | pii.FREE_TEXT_FIELDS:
    raise RuntimeError("transform._protect_strings must protect exactly pii.ID_FIELDS and pii.FREE_TEXT_FIELDS")


def _term(value: str, vocabulary: Mapping[str, str], field: str) -> str:
    """A vocabulary term (channel, payment method, status) in its canonical spelling, sent in any case."""
    canonical = vocabulary.get(value)
    if canonical is None:
        canonical = vocabulary.get(value.strip().casefold())
        if canonical is None:
            raise _Invalid(Reason.INVALID_FIELD, field)
    return canonical


def _require_text(value: str, field: str) -> None:
    """A required string must say something: whitespace alone is as good as absent (empty is a type error)."""
    if value.isspace():
        raise _Invalid(Reason.INVALID_FIELD, field)


def _reject_nul_characters(data: bytes, key: bytes) -> None:
    """No stored string may hold a NUL (Parquet readers and C tools cut text there). Only called when the
    bytes spell one (`\\u0000`), so valid records never pay for the generic decode."""
    path = _nul_path(_EXACT_DECODER.decode(data), "", key)
    if path is not None:
        raise _Invalid(Reason.INVALID_FIELD, path or None)


def _nul_path(value: Any, path: str, key: bytes) -> str | None:
    """The path (`items[0].product`) of the first string or key holding a NUL character, if any.

    A key outside the contract ends the path, named as the quarantined record names it
    (`pii.quarantine_name`): quarantine keeps no more of it, and its name may be anything, personal data too.
    """
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for name, item in value.items():
            if name in pii.CONTRACT_FIELDS:
                found = _nul_path(item, f"{path}.{name}" if path else name, key)
            elif "\x00" in name or _nul_path(item, "", key) is not None:
                found = _joined(path, pii.quarantine_name(name, key))
            else:
                found = None
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}[{index}]", key)
            if found is not None:
                return found
    return None


def _joined(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _to_units(amount: float, units: int) -> int:
    """`amount` in its column's smallest unit (`units` per whole: 100 for cents), rounded half up exactly.

    Half up applies to the decimal the producer wrote, not to the binary float it became: 1.005 is stored as
    1.00499999999999989… and `floor(x * 100 + 0.5)` would give 1.00. The float product is exact enough to
    decide every case whose fraction of a unit is clearly not a half (all amounts within the column's
    precision are within 1e-3 of a unit of their decimal); the rest are decided on the float's shortest
    decimal text, which is what the producer wrote.
    """
    scaled = amount * units
    whole = math.floor(scaled)
    fraction = scaled - whole
    if fraction < 0.49:
        return whole
    if fraction > 0.51:
        return whole + 1
    return int((Decimal(repr(amount)) * units).to_integral_value(ROUND_HALF_UP))


# --------------------------------------------------------------------------------------------------- times


_WHOLE_SECONDS = ".000000"


def _event_time(text: str, field: str, batch: _Batch) -> tuple[datetime, str]:
    """An ISO-8601 time with `Z` or an offset, inside the batch's accepted range: (the time, its clean text).

    A naive time is invalid (its UTC date, hence its partition, is unknowable), and so is one outside
    `tables.accepted_event_times`: partition projection would hide it from every query, and a far-future run
    end would silence the overdue check for its job.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        if text[-1:] == "z":  # RFC 3339 allows UTC as a lower-case `z`, which `fromisoformat` refuses
            return _event_time(text[:-1] + "Z", field, batch)
        raise _Invalid(Reason.INVALID_FIELD, field) from None
    if moment.tzinfo is UTC and text[4] == text[7] == "-" and text[13:14] == text[16:17] == ":":
        # The form nearly every producer sends: a UTC time in the extended layout `YYYY-MM-DDTHH:MM:SS…`
        # (a week or basic-format date, or a basic time, has a digit or `W` at one of those places). Its
        # clean text is cut from the input: several times cheaper than formatting the parsed datetime.
        fraction = _WHOLE_SECONDS if moment.microsecond == 0 else f".{moment.microsecond:06d}"
        clean = f"{text[:10]} {text[11:19]}{fraction}"
    elif moment.tzinfo is None:
        raise _Invalid(Reason.INVALID_FIELD, field)
    else:
        try:
            clean = tables.format_clean_timestamp(moment)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 has no UTC twin
            raise _Invalid(Reason.INVALID_FIELD, field) from None
    if not batch.earliest_time <= clean <= batch.latest_time:
        raise _Invalid(Reason.INVALID_FIELD, field)
    return moment, clean


# ------------------------------------------------------------------------------------------ quarantine


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
        "quarantined_at": tables.format_clean_timestamp(quarantined_at),
        "record": rejected.record,
    }


# ------------------------------------------------------------------------------------------- slow path

_ERROR_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]*)`")


def _slow_path(data: bytes, error: msgspec.ValidationError, batch: _Batch) -> Clean | Rejected:
    """Why a record failed typed decoding; or, if only `event_type`'s case was off, its clean row."""
    try:
        decoded = _JSON_DECODER.decode(data)
    except msgspec.ValidationError:  # a number beyond float range: the bytes are JSON all the same
        return _beyond_float_range(data, error, batch)
    except _UNREADABLE as unreadable:
        return _unreadable(data, unreadable, batch)
    if not isinstance(decoded, dict):
        return Rejected(Reason.NOT_AN_OBJECT, None, None, pii.fingerprint(data, batch.pii_key))
    verdict = _typed_verdict(decoded, _ENCODER, data, error, batch)
    if type(verdict) is tuple:
        return _rejected(decoded, *verdict, batch)
    return verdict


def _beyond_float_range(data: bytes, error: msgspec.ValidationError, batch: _Batch) -> Clean | Rejected:
    """The verdict on valid JSON holding a number no float can hold (`1e400`) that failed typed decoding.

    The typed error names the contract field at fault (the number itself, or another rule when the number sits
    in an ignored field). The record is kept as its length and hash only: a number that size may be a card
    number that lost its quotes, and the scrubbing rules work on floats.
    """
    try:
        decoded = _EXACT_DECODER.decode(data)
    except _UNREADABLE as unreadable:  # e.g. nested too deep after the number that stopped the first decoder
        return _unreadable(data, unreadable, batch)
    if not isinstance(decoded, dict):
        return Rejected(Reason.NOT_AN_OBJECT, None, None, pii.fingerprint(data, batch.pii_key))
    verdict = _typed_verdict(decoded, _EXACT_ENCODER, data, error, batch)
    if type(verdict) is tuple:
        return Rejected(*verdict, _protected_event_id(decoded, batch), pii.fingerprint(data, batch.pii_key))
    return verdict


def _typed_verdict(
    decoded: dict[str, Any], encoder: msgspec.json.Encoder, data: bytes, error: msgspec.ValidationError, batch: _Batch
) -> Clean | Rejected | tuple[Reason, str | None]:
    """The verdict of a record that decodes as a JSON object but failed typed decoding with `error`.

    `event_type` in another case (`SALE`) is retried in its canonical one (re-encoded by `encoder`, which must
    write back the numbers `decoded` holds), giving the record's own verdict; otherwise the reason and field
    path of the typed error.
    """
    event_type = decoded.get(events.EVENT_TYPE_FIELD)
    if isinstance(event_type, str) and event_type != event_type.strip().lower():
        canonical = {**decoded, events.EVENT_TYPE_FIELD: event_type.strip().lower()}
        try:
            return _clean_event(_EVENT_DECODER.decode(encoder.encode(canonical)), data, batch)
        except msgspec.ValidationError as retry_error:
            error = retry_error
    reason, field = _reason_of(str(error))
    if reason is Reason.UNKNOWN_EVENT_TYPE and _casefolded(event_type) in _EVENT_TYPES:
        # The type the record ends with is known, so it named another one too (a duplicated key: the typed
        # decoder goes by the first, the generic one keeps the last): invalid, not unknown.
        reason = Reason.INVALID_FIELD
    return reason, field


_EVENT_TYPES = frozenset({events.SALE, events.JOB_RUN})


def _casefolded(value: object) -> str:
    return value.strip().casefold() if isinstance(value, str) else ""


def _unreadable(data: bytes, error: Exception, batch: _Batch) -> Rejected:
    """The verdict on bytes that are not decodable JSON: only their length and hash are kept."""
    if isinstance(error, UnicodeDecodeError) or _has_lone_surrogate(data):
        field: str | None = ENCODING_FIELD
    elif isinstance(error, RecursionError):
        field = NESTING_FIELD
    else:  # a KPL aggregate is never valid JSON, so it is told apart only here
        field = KPL_FIELD if data.startswith(KPL_MAGIC) else None
    return Rejected(Reason.INVALID_JSON, field, None, pii.fingerprint(data, batch.pii_key))


#: A JSON escape: `\\uXXXX` (the code unit captured) or a backslash and the character it escapes.
_ESCAPE = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)
_HIGH_SURROGATES = range(0xD800, 0xDC00)
_LOW_SURROGATES = range(0xDC00, 0xE000)


def _has_lone_surrogate(data: bytes) -> bool:
    """Whether a string escape names half a UTF-16 surrogate pair (`"\\ud83d"`: text cut inside an emoji), which
    no UTF-8 can hold. Walks the escapes in order, so an escaped backslash before `ud800` is not an escape."""
    pair_end = -1  # where the low half must start, just after a high half
    for escape in _ESCAPE.finditer(data):
        unit = escape[1]
        code = -1 if unit is None else int(unit, 16)
        if pair_end >= 0:
            if escape.start() != pair_end or code not in _LOW_SURROGATES:
                return True
            pair_end = -1
        elif code in _HIGH_SURROGATES:
            pair_end = escape.end()
        elif code in _LOW_SURROGATES:
            return True
    return pair_end >= 0


def _rejected_after_decoding(data: bytes, invalid: _Invalid, batch: _Batch) -> Rejected:
    """The verdict on a record that decoded but broke a rule a type cannot express."""
    try:
        decoded = _JSON_DECODER.decode(data)
    except msgspec.ValidationError:  # an ignored unknown field holding a number beyond float range
        event_id = _protected_event_id(_EXACT_DECODER.decode(data), batch)
        return Rejected(invalid.reason, invalid.field, event_id, pii.fingerprint(data, batch.pii_key))
    except _UNREADABLE:
        return Rejected(invalid.reason, invalid.field, None, pii.fingerprint(data, batch.pii_key))
    return _rejected(decoded, invalid.reason, invalid.field, batch)


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


def _rejected(decoded: dict[str, Any], reason: Reason, field: str | None, batch: _Batch) -> Rejected:
    """A rejection keeping what is safe of the record (`pii.scrub_record`) and its protected event_id.

    `field` is safe to store as it is: a path holds contract names, indexes and, for a NUL under an unknown key,
    that key as quarantine names it (`_nul_path`); masking it would cut a token that happens to hold 13 digits.
    """
    event_id = _protected_event_id(decoded, batch)
    return Rejected(reason, field, event_id, pii.scrub_record(decoded, batch.pii_key))


def _protected_event_id(decoded: object, batch: _Batch) -> str | None:
    """A rejected record's `event_id` as a quarantine row keeps it: protected like a stored id, if it is one."""
    event_id = decoded.get("event_id") if isinstance(decoded, dict) else None
    if not isinstance(event_id, str) or not 0 < len(event_id) <= events.MAX_EVENT_ID_LENGTH:
        return None
    return pii.protect_id(event_id, batch.pii_key)
