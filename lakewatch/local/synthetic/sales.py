"""Streamed `sale` events of the café chain: store and web sales, redeliveries and planted rejects.

Store sales follow the tills' opening hours (a morning rush, a lunch bump, later and flatter at weekends); web
orders peak in the evening. Card payments carry a card number and a name, which the pipeline must strip. On top
of the valid sales come redeliveries of the same bytes (to be counted once) and one or more records per
quarantine reason (see `docs/wire-contract.md`).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lakewatch.domain import pii
from lakewatch.domain.reasons import Reason
from lakewatch.local.synthetic.cafe import (
    DEFAULT_STORES,
    STORE_PROFILES,
    CustomerPool,
    SalesSummary,
    basket,
    daily_count,
    gross_pence,
    price_sale,
    store_sale,
    store_times,
    summarise_timed,
)
from lakewatch.local.synthetic.common import (
    KIND_DUPLICATE,
    KIND_EVENT,
    KIND_REJECT,
    NameBook,
    ReplayLine,
    dumps,
    event_uuid,
    pounds,
    uk_utc_offset,
    utc_text,
    weighted_hour,
)

#: The wire contract's size limit: a record over 256 KiB is quarantined as `too_large`.
RECORD_LIMIT_BYTES = 256 * 1024

# Web orders by UK local hour: quiet at night, a lunchtime bump and an evening peak.
_WEB_HOURS = {
    **{hour: 0.1 for hour in range(6)},
    6: 0.4,
    7: 0.6,
    8: 0.7,
    9: 0.8,
    10: 0.8,
    11: 0.9,
    12: 1.2,
    13: 1.1,
    14: 0.9,
    15: 0.9,
    16: 1.0,
    17: 1.1,
    18: 1.5,
    19: 2.2,
    20: 2.5,
    21: 2.0,
    22: 1.1,
    23: 0.5,
}
_WEB_DAILY_SALES = 60
_WEB_WEEKEND_FACTOR = 1.25


@dataclass(frozen=True, slots=True)
class PlantedReject:
    """A record planted to be quarantined: its expected reason, offending field and event id (None if none)."""

    reason: str
    field: str | None
    event_id: str | None
    description: str


@dataclass(frozen=True, slots=True)
class SalesManifest:
    start: str
    days: int
    seed: int
    stores: tuple[str, ...]
    #: Distinct valid sales: the rows `lake/sales` must end with.
    valid_sales: int
    #: Extra deliveries of valid sales (same bytes again); each must be counted once.
    duplicate_lines: int
    duplicated_event_ids: tuple[str, ...]
    quarantine_by_reason: dict[str, int]
    rejects: tuple[PlantedReject, ...]
    #: Non-empty lines `to_jsonl_lines` yields for this dataset: valid + duplicates + rejects.
    total_lines: int
    summary: SalesSummary
    pii_strings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SalesDataset:
    #: The distinct valid sale events (wire-contract dicts), in event-time order.
    events: list[dict[str, Any]]
    lines: list[ReplayLine]
    manifest: SalesManifest


#: A sale and its moment in UTC (the sort key of the replay).
_TimedSale = tuple[datetime, dict[str, Any]]


def generate_sales(*, start: date, days: int, seed: int, stores: Sequence[str] = DEFAULT_STORES) -> SalesDataset:
    """Sales of `len(stores)` stores and the web channel over `days` days from `start`, plus planted rejects."""
    if days < 1 or not stores:
        raise ValueError("generate_sales needs at least one day and one store")
    rng = random.Random(f"lakewatch-sales-{seed}")
    pii_strings: set[str] = set()
    events = _simulate_sales(rng, start, days, stores, pii_strings)
    lines, duplicated = _delivery_lines(rng, events)
    rejects = _plant_rejects(rng, lines, stores=stores, start=start, days=days, pii_strings=pii_strings)
    valid = [sale for _, sale in events]
    manifest = SalesManifest(
        start=start.isoformat(),
        days=days,
        seed=seed,
        stores=tuple(stores),
        valid_sales=len(valid),
        duplicate_lines=len(duplicated),
        duplicated_event_ids=tuple(duplicated),
        quarantine_by_reason=dict(sorted(Counter(reject.reason for reject in rejects).items())),
        rejects=tuple(rejects),
        total_lines=len(lines),
        summary=summarise_timed(events, first_dt=None, last_dt=None),
        pii_strings=tuple(sorted(pii_strings)),
    )
    return SalesDataset(events=valid, lines=lines, manifest=manifest)


def _simulate_sales(
    rng: random.Random, start: date, days: int, stores: Sequence[str], pii_strings: set[str]
) -> list[_TimedSale]:
    """Every valid sale of the period, stores then web day by day, sorted by event time (stable for ties)."""
    names = NameBook(rng)
    store_pools = {store: CustomerPool(rng, names, web=False, initial=60, returning_share=0.6) for store in stores}
    web_pool = CustomerPool(rng, names, web=True, initial=120, returning_share=0.55)
    events: list[_TimedSale] = []
    order_number = 1_000_000
    for day_index in range(days):
        day = start + timedelta(days=day_index)
        for store_index, store in enumerate(stores):
            base, weekend_factor = STORE_PROFILES[store_index % len(STORE_PROFILES)]
            count = daily_count(rng, base, day, day_index, weekend_factor)
            for local in store_times(rng, day, count):
                sale, planted = store_sale(rng, store_pools[store], store, local)
                events.append((local.astimezone(UTC), sale))
                pii_strings.update(planted)
        web_weekend = _WEB_WEEKEND_FACTOR if day.weekday() >= 5 else 1.0
        count = daily_count(rng, _WEB_DAILY_SALES, day, day_index, web_weekend)
        local_midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - uk_utc_offset(day)
        for _ in range(count):
            moment = local_midnight + timedelta(
                hours=weighted_hour(rng, _WEB_HOURS), minutes=rng.randrange(60), seconds=rng.randrange(60)
            )
            order_number += 1
            sale, planted = _web_sale(rng, web_pool, moment, order_number)
            events.append((moment, sale))
            pii_strings.update(planted)
    events.sort(key=lambda pair: pair[0])
    return events


def _delivery_lines(rng: random.Random, events: list[_TimedSale]) -> tuple[list[ReplayLine], list[str]]:
    """Each sale sent a moment after it happened, and ~1.5 % sent again later (at-least-once delivery)."""
    lines = [
        ReplayLine(moment + timedelta(milliseconds=rng.randrange(200, 3000)), dumps(sale), KIND_EVENT)
        for moment, sale in events
    ]
    duplicated: list[str] = []
    for line, (_, sale) in zip(list(lines), events, strict=True):
        if rng.random() < 0.015:
            delay = timedelta(seconds=min(3 * 3600, rng.expovariate(1 / 600)))
            lines.append(ReplayLine(line.arrival + delay, line.data, KIND_DUPLICATE))
            duplicated.append(sale["event_id"])
    return lines, duplicated


def _plant_rejects(
    rng: random.Random,
    lines: list[ReplayLine],
    *,
    stores: Sequence[str],
    start: date,
    days: int,
    pii_strings: set[str],
) -> list[PlantedReject]:
    """Append the planted rejects to `lines` at random moments of the period; return what each must become."""
    period_start = datetime(start.year, start.month, start.day, tzinfo=UTC)
    rejects: list[PlantedReject] = []
    for data, reject in _sales_rejects(rng, stores, start, days, pii_strings):
        arrival = period_start + timedelta(seconds=rng.randrange(days * 86400))
        lines.append(ReplayLine(arrival, data, KIND_REJECT))
        rejects.append(reject)
    return rejects


def _web_sale(rng: random.Random, pool: CustomerPool, moment: datetime, order_number: int) -> tuple[dict, list[str]]:
    items = basket(rng, web=True, month=moment.month, hour=moment.hour)
    customer = pool.pick()
    payment = "CARD" if rng.random() < 0.85 else "OTHER"
    sale: dict[str, Any] = {
        "event_type": "sale",
        "event_id": event_uuid(rng),
        "event_time": utc_text(moment),
        "schema_version": 1,
        "channel": "web",
        "order_id": f"WEB-{order_number:07d}",
        "customer_id": customer.customer_id,
        "customer_name": customer.name,
        "payment_method": payment,
    }
    planted = [customer.name, str(customer.customer_id)]
    if payment == "CARD":
        sale["card_number"] = customer.card
        planted.append(customer.card)
    sale["items"] = items
    price_sale(rng, sale, items, web=True)
    sale["currency"] = "GBP"
    return sale, planted


def _sales_rejects(
    rng: random.Random, stores: Sequence[str], start: date, days: int, pii_strings: set[str]
) -> list[tuple[bytes, PlantedReject]]:
    """One or more records per quarantine reason, each built from a realistic sale (PII included on purpose)."""
    source = _RejectSource(rng, stores, start, days, pii_strings)
    return [*_unreadable_records(source), *_contract_breaches(source)]


class _RejectSource:
    """Realistic store sales to break: each is paid by card and carries a name, so a reject that leaked its
    record into quarantine in clear would show up in the leak checks."""

    def __init__(
        self, rng: random.Random, stores: Sequence[str], start: date, days: int, pii_strings: set[str]
    ) -> None:
        self._rng = rng
        self._stores = list(stores)
        self._start = start
        self._days = days
        self._pii_strings = pii_strings
        self._pool = CustomerPool(rng, NameBook(rng), web=False, initial=5, returning_share=0.0)

    def sale(self) -> dict[str, Any]:
        rng = self._rng
        day = self._start + timedelta(days=rng.randrange(self._days))
        local = store_times(rng, day, 1)[0]
        sale, planted = store_sale(rng, self._pool, rng.choice(self._stores), local)
        customer = self._pool.members[-1]
        sale["customer_name"] = customer.name
        sale["payment_method"] = "CARD"
        sale["card_number"] = customer.card
        # A UUID can hold 13+ digits in dash-separated groups, which PII masking rightly treats as a card
        # number; planted rejects avoid that so their quarantine rows keep the event_id the manifest names.
        while pii.mask_text(sale["event_id"]) != sale["event_id"]:
            sale["event_id"] = event_uuid(rng)
        self._pii_strings.update([*planted, customer.name, customer.card])
        return sale


def _unreadable_records(source: _RejectSource) -> list[tuple[bytes, PlantedReject]]:
    """Bytes that are not a JSON object: kept in quarantine only as their length and hash."""

    def unreadable(reason: Reason, description: str) -> PlantedReject:
        return PlantedReject(str(reason), None, None, description)

    return [
        (dumps(source.sale())[:120], unreadable(Reason.INVALID_JSON, "truncated JSON with a name and card")),
        (repr(source.sale()).encode(), unreadable(Reason.INVALID_JSON, "a Python dict repr, not JSON")),
        (b"\t  ", unreadable(Reason.INVALID_JSON, "whitespace only")),
        (b"\xff\xfe{\x00}", unreadable(Reason.INVALID_JSON, "not UTF-8")),
        (dumps([source.sale()]), unreadable(Reason.NOT_AN_OBJECT, "a sale wrapped in a JSON array")),
        (b'"sale"', unreadable(Reason.NOT_AN_OBJECT, "a bare JSON string")),
    ]


def _contract_breaches(source: _RejectSource) -> list[tuple[bytes, PlantedReject]]:
    """JSON objects that break one rule of the wire contract each; their quarantine rows name the field."""
    out: list[tuple[bytes, PlantedReject]] = []

    def breach(record: dict[str, Any], reason: Reason, field: str | None, description: str) -> None:
        # A record too large to be parsed at all cannot have its event id read back into its quarantine row.
        event_id = None if reason is Reason.TOO_LARGE else record.get("event_id")
        out.append((dumps(record), PlantedReject(str(reason), field, event_id, description)))

    def without(sale: dict[str, Any], name: str) -> dict[str, Any]:
        return {key: value for key, value in sale.items() if key != name}

    for event_type in ("refund", "stock_adjustment"):
        breach({**source.sale(), "event_type": event_type}, Reason.UNKNOWN_EVENT_TYPE, "event_type", event_type)
    for name in ("items", "payment_method", "store", "event_type"):
        breach(without(source.sale(), name), Reason.MISSING_FIELD, name, f"sale without {name}")
    breach({**source.sale(), "payment_method": "IOU"}, Reason.INVALID_FIELD, "payment_method", "payment_method IOU")
    breach({**source.sale(), "channel": "kiosk"}, Reason.INVALID_FIELD, "channel", "channel kiosk")
    record = source.sale()
    record["event_time"] = record["event_time"][:19]
    breach(record, Reason.INVALID_FIELD, "event_time", "event_time without offset")
    record = source.sale()
    record["items"][0]["quantity"] = 0
    breach(record, Reason.INVALID_FIELD, "items[0].quantity", "quantity 0")
    record = source.sale()
    record["total_price"] = round(record["total_price"] + 1.0, 2)
    breach(record, Reason.TOTAL_MISMATCH, "total_price", "total one pound too high")
    record = without(source.sale(), "discount")
    record["total_price"] = pounds(gross_pence(record["items"]) - 50)
    breach(record, Reason.TOTAL_MISMATCH, "total_price", "discount applied, not sent")
    record = source.sale()
    record["receipt_image_base64"] = ("iVBORw0KGgoAAAANSUhEUgAA" * (RECORD_LIMIT_BYTES // 24 + 2048))[
        : RECORD_LIMIT_BYTES + 40_000
    ]
    breach(record, Reason.TOO_LARGE, None, "a receipt image inlined (> 256 KiB)")
    return out
