"""Deterministic synthetic data for `python -m lakewatch demo` and the end-to-end tests.

Three generators, each returning plain data plus a *manifest* of what was planted, so a test can assert exact
outcomes (how many lake rows, which quarantine reasons, which alerts) instead of "something happened":

- `generate_sales`: wire-contract `sale` events of a café chain (seed 002's menu, sizes, flavours and prices)
  from a few stores and a web channel, with opening hours, a morning rush, a web evening peak, weekends,
  regulars who come back, card payments carrying a card number and a name (which the pipeline must strip),
  and the adversarial records the transform must quarantine (one or more per reason code) or de-duplicate;
- `generate_job_runs`: seed 000's daily batches of ~100 clients (instance size, data volume, durations
  growing slowly as history accumulates, day-to-day noise, seed 001's cost per run) with failures, duration
  spikes, clients that stop running, late and redelivered events;
- `generate_pos_csv`: seed 002's headerless till CSV drops with blank lines, bad rows and a re-dropped file.

Everything is pure stdlib and driven by `random.Random` seeded from the caller's seed (per-series generators
are seeded from text, which Python hashes with SHA-512, so results do not depend on PYTHONHASHSEED): the same
arguments give the same bytes on every machine. `to_jsonl_lines` orders the records of one or more datasets
as a Kinesis producer would have sent them (by arrival time), ready for `write_events_file`.

Manifests count what the pipeline is expected to produce, not what the generator happened to do on the way,
and hold every planted PII string (names, card numbers, customer ids, e-mail addresses) for leak checks.
"""

from __future__ import annotations

import bisect
import csv
import functools
import io
import itertools
import json
import math
import random
import statistics
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from lakewatch.domain import pii
from lakewatch.domain.reasons import Reason

#: design.md, "Wire contract": a record over 256 KiB is quarantined as `too_large`.
RECORD_LIMIT_BYTES = 256 * 1024
#: The overdue check's defaults (stage config): runs are generated so that a healthy series never leaves a
#: gap this long between two run ends, so only the planted stopped clients can be overdue.
HEALTHY_MAX_GAP = timedelta(hours=24 + 2)

KIND_EVENT = "event"
KIND_DUPLICATE = "duplicate"
KIND_REJECT = "reject"
KIND_LATE = "late"

DEFAULT_STORES = ("Chesterfield", "Leeds", "Uppingham", "London Camden")
MAIN_JOB = "nightly_sales_analysis"
SECOND_JOBS = ("daily_inventory_refresh", "customer_segmentation", "marketing_attribution")


# ------------------------------------------------------------------------------------------------ reference data


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST_NAMES = _words("""
Allen Nicole Arlen Delaine Daniel Traci Dante Hector Mary June Aisha Ben Chloe Dev Ella Finn Grace Harvey Isla
Jack Kiran Leah Mohammed Nadia Oliver Priya Quentin Rosa Sam Tara Usman Vera Will Yasmin Zoe Adele Bilal Carys
Declan Esme Farah Gareth Hannah Idris Jasmine Kwame Lola Marcus Niamh Owen Poppy Rhys Saoirse Tobias Uma Vikram
Wendy Xavier Yusuf Zara Alfie Bethan Callum Darcy Ethan Freya George Heidi Imran Jodie Kai Lucy Mason Nina Omar
Phoebe Reuben Sienna Theo Ursula Victor Willow Amir Beatrice Conor Dina Elliot Fatima Gemma Hamish Ivy Joel Keira
""")
_LAST_NAMES = _words("""
Ford Miles Calvert Crosby Pettrey Abeles Jackson Rosel Stanner Paulson Ahmed Baker Clarke Dhillon Evans Fletcher
Gill Hughes Iqbal Jones Khan Lewis Morgan Nowak Owusu Patel Quinn Roberts Singh Taylor Umar Vaughan Walsh Young
Ali Brennan Chowdhury Davies Edwards Fraser Green Hall Ingram Jenkins Kelly Lloyd Murphy Nash Osei Price Reid
Shah Thomas Turner Underwood Vance Ward Wright Yates Adeyemi Bowen Carter Doyle Ellis Foster Grant Harris Irwin
Jarvis Kaur Lawson Mensah Newman Oakley Palmer Rahman Sutton Townsend Varga Webb Whitaker Archer Begum Cole Dunn
Ewing Finch Goodwin Hart Iles Joyce Knight Lamb Marsh Noble Okafor Pope Rowe Sharp Tran Upton Vickers Wilde
""")
_COMPANY_PREFIXES = _words("""
northwind contoso fabrikam tailspin adventure wingtip litware proseware lucerne margie alpine blue-yonder coho
fourth-coffee graphic humongous trey woodgrove wide-world southridge relecloud datum proseco bellows kestrel
harbour meridian summit pinnacle cobalt granite ember lantern orchard quarry riverstone saffron tamarind vertex
""")
_COMPANY_SECTORS = _words("""
retail foods apparel pharmacy hardware motors logistics grocers outdoors electronics books toys homeware beauty
sports
""")

# Seed 002's menu: (product, (regular price, large price), flavours, store weight, web weight, temperature).
# Temperature makes cold drinks sell in summer and hot chocolate in winter.
_MENU: tuple[tuple[str, tuple[float, ...], tuple[str, ...], float, float, str], ...] = (
    ("Latte", (2.15, 2.45), (), 14, 10, "hot"),
    ("Flat white", (2.15, 2.45), (), 10, 7, "hot"),
    ("Cappuccino", (2.15, 2.45), (), 9, 6, "hot"),
    ("Americano", (1.95, 2.25), (), 8, 4, "hot"),
    ("Mocha", (2.30, 2.70), (), 5, 4, "hot"),
    ("Chai latte", (2.30, 2.60), (), 5, 4, "hot"),
    ("Hot chocolate", (1.40, 1.70), (), 5, 3, "winter"),
    ("Flavoured latte", (2.55, 2.85), ("Hazelnut", "Caramel", "Vanilla", "Gingerbread"), 8, 6, "hot"),
    ("Flavoured iced latte", (2.75, 3.25), ("Hazelnut", "Caramel", "Vanilla"), 7, 5, "cold"),
    ("Speciality Tea", (1.30, 1.60), ("Peppermint", "Darjeeling", "English breakfast", "Green", "Fruit"), 6, 3, "hot"),
    ("Frappes", (2.75, 3.25), ("Chocolate Cookie", "Coffee", "Strawberries & Cream"), 4, 3, "cold"),
    ("Smoothies", (2.00, 2.50), ("Carrot Kick", "Glowing Greens", "Berry Beautiful"), 4, 3, "cold"),
    ("Iced americano", (2.15, 2.50), (), 3, 2, "cold"),
    ("Espresso", (1.50, 1.80), (), 3, 1, "hot"),
    ("Red Label tea", (1.20, 1.80), (), 3, 1, "hot"),
    # Sold online only, one size (`size` null): what a café's web shop adds to its drinks.
    ("Coffee beans 250g", (6.50,), ("House blend", "Decaf", "Colombian"), 0, 6, "any"),
    ("Reusable cup", (8.00,), (), 0, 2, "any"),
)
_SIZES = ("Regular", "Large")
_BASKET_SIZES = (1, 2, 3, 4, 5)
_BASKET_SIZE_CUMULATIVE = (50, 78, 91, 97, 100)

# Per store: (weekday sales at opening of the period, weekend factor). Indexed by position in `stores`.
_STORE_PROFILES = ((80, 0.75), (95, 1.2), (45, 1.35), (110, 1.4), (60, 1.0), (70, 0.9))
_WEEKDAY_FACTORS = (0.95, 0.9, 1.0, 1.0, 1.1, 1.0, 0.85)  # Mon..Sun; Sat/Sun also get the store's factor
# Local-hour weights: a morning rush and a lunch bump on weekdays, a later, flatter day at weekends.
_STORE_WEEKDAY_HOURS = {7: 1.3, 8: 3.0, 9: 2.2, 10: 1.2, 11: 1.0, 12: 1.8, 13: 1.6, 14: 0.9, 15: 0.8, 16: 0.9, 17: 0.6}
_STORE_WEEKEND_HOURS = {8: 0.6, 9: 1.5, 10: 2.0, 11: 2.0, 12: 1.8, 13: 1.6, 14: 1.4, 15: 1.2, 16: 0.8}
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

# Seed 001's cost model: on-demand hourly price (USD) and relative throughput of each instance size.
INSTANCE_TYPES: dict[str, tuple[float, float]] = {
    "m5.large": (0.096, 1.0),
    "m5.xlarge": (0.192, 1.9),
    "m5.2xlarge": (0.384, 3.6),
    "m5.4xlarge": (0.768, 6.5),
    "r5.xlarge": (0.252, 2.1),
    "r5.2xlarge": (0.504, 4.0),
    "r5.4xlarge": (1.008, 7.2),
    "c5.2xlarge": (0.34, 4.2),
    "c5.4xlarge": (0.68, 7.6),
}
_TIERS = (
    ("m5.large", "m5.xlarge", "r5.xlarge"),
    ("m5.xlarge", "m5.2xlarge", "r5.xlarge", "c5.2xlarge"),
    ("m5.2xlarge", "r5.2xlarge", "c5.2xlarge", "m5.4xlarge"),
    ("m5.4xlarge", "r5.4xlarge", "c5.4xlarge"),
)
_MIN_DURATION_S = 4 * 60
_MAX_INITIAL_DURATION_S = 60 * 60
_START_JITTER_S = 8 * 60
_NOISE = 0.12
_SPIKE_MIN_HISTORY_DAYS = 14
_SPIKE_WINDOW = 20
_SPIKE_MIN_FACTOR = 3.2
_SPIKE_MAX_FACTOR = 6.0
#: A spike never runs more than this much longer than the baseline, so it never also makes its series overdue.
_SPIKE_MAX_EXTRA_S = 3600
_TIMEOUT_FACTOR = 1.5

_FAILURE_MESSAGES = (
    "Stage 'aggregate_daily_sales' failed: java.lang.OutOfMemoryError: GC overhead limit exceeded",
    "Input file s3://{client}-landing/sales/{day}/sales.csv not found",
    "S3 AccessDenied (403) reading s3://{client}-landing/sales/{day}/",
    "Schema mismatch in sales feed: column 'transaction_amount' expected DECIMAL, got STRING",
    "Upstream extract returned 0 rows; refusing to publish an empty report",
    "Connection reset by peer after 3 retries (reporting-db:5432)",
)
_PII_FAILURE_MESSAGES = (
    "Report delivery failed: mailbox {email} unavailable (550 5.1.1)",
    "Row 18342 rejected: unmasked card number {card} in column 'notes'",
    "Customer contact {email} failed validation; payment ref {card_spaced}",
)
_TIMEOUT_MESSAGE = "Run exceeded its {timeout} timeout and was stopped by the scheduler"


# ------------------------------------------------------------------------------------------------ shared types


@dataclass(frozen=True, slots=True)
class ReplayLine:
    """One Kinesis record payload and when the producer sent it (`kind`: event, duplicate, reject or late)."""

    arrival: datetime
    data: bytes
    kind: str


@dataclass(frozen=True, slots=True)
class SalesSummary:
    """What the sales named queries should show for a set of valid sales (each counted once).

    Revenue is Σ total_price (after discount); product revenue is Σ line_total (unit_price * quantity), as the
    `top_products` query defines it. Hours and dates are UTC. A customer is returning when bought on ≥ 2 days.
    """

    orders: int
    revenue: float
    orders_by_store: dict[str, int]
    revenue_by_store: dict[str, float]
    units_by_product: dict[str, int]
    revenue_by_product: dict[str, float]
    orders_by_hour: dict[int, int]
    orders_by_dt: dict[str, int]
    customers: int
    returning_customers: int


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


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """One client/job's daily series; `max_gap_seconds` is the longest time between two consecutive run ends."""

    client: str
    job_name: str
    instance_size: str
    runs: int
    first_started_at: str
    last_ended_at: str
    stopped: bool
    max_gap_seconds: float


@dataclass(frozen=True, slots=True)
class SpikeInfo:
    """A successful run planted at `ratio` times the median of the series' last (≤ 20) healthy successful runs."""

    run_id: str
    client: str
    job_name: str
    ended_at: str
    duration_seconds: int
    baseline_median_seconds: float
    ratio: float


@dataclass(frozen=True, slots=True)
class StoppedInfo:
    client: str
    job_name: str
    last_ended_at: str


@dataclass(frozen=True, slots=True)
class LateInfo:
    run_id: str
    ended_at: str
    arrives_at: str


@dataclass(frozen=True, slots=True)
class JobRunsManifest:
    start: str
    days: int
    clients: int
    seed: int
    client_names: tuple[str, ...]
    series: tuple[SeriesInfo, ...]
    #: Distinct runs: the rows `lake/job_runs` must end with (none is invalid).
    runs: int
    succeeded_runs: int
    #: FAILED and TIMED_OUT runs: one `job_failed` alert each.
    failed_run_ids: tuple[str, ...]
    timed_out_run_ids: tuple[str, ...]
    failed_cost_usd: float
    total_cost_usd: float
    #: One `duration_outlier` alert each.
    spikes: tuple[SpikeInfo, ...]
    spike_run_ids: tuple[str, ...]
    #: The only series expected to become overdue (`run_overdue`) once "now" is past last_ended_at + 26 h.
    stopped: tuple[StoppedInfo, ...]
    #: Clients whose series only succeed, never spike and never stop: slow growth and noise only, no alert.
    healthy_clients: tuple[str, ...]
    late: tuple[LateInfo, ...]
    late_run_ids: tuple[str, ...]
    duplicate_lines: int
    duplicated_run_ids: tuple[str, ...]
    #: Longest gap between consecutive run ends of any series that is not stopped (< 26 h by construction).
    max_run_gap_seconds: float
    total_lines: int
    pii_strings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class JobRunsDataset:
    #: The distinct job_run events (wire-contract dicts), in ended_at order.
    runs: list[dict[str, Any]]
    lines: list[ReplayLine]
    manifest: JobRunsManifest


@dataclass(frozen=True, slots=True)
class PlantedCsvReject:
    file: str
    #: 1-based line number in the file (blank lines count).
    line_number: int
    reason: str
    field: str | None
    description: str


@dataclass(frozen=True, slots=True)
class PosCsvManifest:
    start: str
    days: int
    seed: int
    stores: tuple[str, ...]
    files: int
    #: Every line of every file (blank ones included) = blank_lines + valid_rows + duplicate_rows + rejects.
    lines: int
    blank_lines: int
    #: Distinct valid rows: the `sales` rows with source "pos_csv".
    valid_rows: int
    #: Rows of the re-dropped copies (all valid): counted as duplicates, never stored twice.
    duplicate_rows: int
    #: (original file, re-dropped copy) pairs.
    redropped: tuple[tuple[str, str], ...]
    quarantine_by_reason: dict[str, int]
    rejects: tuple[PlantedCsvReject, ...]
    summary: SalesSummary
    pii_strings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PosCsvDataset:
    #: File name (`<store>_<dd-mm-YYYY>_<HH-MM-SS>.csv`) → CSV text.
    files: dict[str, str]
    manifest: PosCsvManifest


# ------------------------------------------------------------------------------------------------ helpers


def uk_utc_offset(day: date) -> timedelta:
    """Europe/London's UTC offset during opening hours of `day` (BST from the last Sunday of March to October)."""

    def last_sunday(month: int) -> date:
        last = date(day.year, month, 31)
        return last - timedelta(days=(last.weekday() - 6) % 7)

    return timedelta(hours=1) if last_sunday(3) <= day < last_sunday(10) else timedelta(0)


def _utc_text(moment: datetime) -> str:
    """`2024-06-09T02:40:00Z` (whole seconds; isoformat is several times faster than strftime)."""
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def _event_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _luhn_card(rng: random.Random) -> str:
    """A 16-digit card-like number with a valid Luhn check digit (fake issuer prefixes)."""
    body = (rng.choice(("4", "51", "52", "53", "54", "55")) + f"{rng.randrange(10**14):014d}")[:15]
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return body + str((10 - total % 10) % 10)


@functools.cache
def _cumulative(weights: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(itertools.accumulate(weights))


def _weighted_hour(rng: random.Random, weights: dict[int, float]) -> int:
    hours = tuple(weights)
    cumulative = _cumulative(tuple(weights.values()))
    return hours[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


def _dumps(record: Any) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def _cents(pounds: float) -> int:
    """Money as integer pence: sums of prices stay exact (and are much faster than Decimal)."""
    return round(pounds * 100)


def _pounds(cents: int) -> float:
    return cents / 100


class _NameBook:
    """Customer names, fresh ones unique while the combinations last (then repeats, as real tills have)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def fresh(self) -> str:
        name = ""
        for _ in range(8):
            name = f"{self._rng.choice(_FIRST_NAMES)} {self._rng.choice(_LAST_NAMES)}"
            if name not in self._used:
                break
        self._used.add(name)
        return name


@dataclass(slots=True)
class _Customer:
    name: str
    card: str
    customer_id: str | None = None


class _CustomerPool:
    """Regulars and newcomers: new people join the pool; picks favour early (loyal) members."""

    def __init__(self, rng: random.Random, names: _NameBook, *, web: bool, initial: int, returning_share: float):
        self._rng = rng
        self._names = names
        self._web = web
        self._returning_share = returning_share
        self.members: list[_Customer] = []
        for _ in range(initial):
            self._new()

    def _new(self) -> _Customer:
        customer_id = None
        if self._web:
            customer_id = "cust-" + "".join(self._rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(10))
        customer = _Customer(self._names.fresh(), _luhn_card(self._rng), customer_id)
        self.members.append(customer)
        return customer

    def pick(self) -> _Customer:
        if self._rng.random() < self._returning_share:
            return self.members[int(len(self.members) * self._rng.random() ** 2)]
        return self._new()


@functools.cache
def _menu_cumulative(web: bool, month: int, hour: int) -> tuple[float, ...]:
    return tuple(itertools.accumulate(_menu_weight(entry, web=web, month=month, hour=hour) for entry in _MENU))


def _menu_weight(entry: tuple[Any, ...], *, web: bool, month: int, hour: int) -> float:
    weight = entry[4] if web else entry[3]
    temperature = entry[5]
    summer = month in (6, 7, 8)
    winter = month in (12, 1, 2)
    if temperature == "cold":
        weight *= (1.8 if summer else 0.5 if winter else 1.0) * (1.3 if 12 <= hour <= 17 else 1.0)
    elif temperature == "winter":
        weight *= 1.8 if winter else 0.6 if summer else 1.0
    return weight


def _basket(rng: random.Random, *, web: bool, month: int, hour: int) -> list[dict[str, Any]]:
    """1-5 line items; a repeated drink becomes quantity 2 (a till writes it twice, the wire contract once)."""
    cumulative = _menu_cumulative(web, month, hour)
    total = cumulative[-1]
    random_ = rng.random
    size_count = _BASKET_SIZES[bisect.bisect(_BASKET_SIZE_CUMULATIVE, random_() * 100)]
    items: list[dict[str, Any]] = []
    for _ in range(size_count):
        product, prices, flavours, *_ = _MENU[bisect.bisect(cumulative, random_() * total)]
        if len(prices) == 2:
            size_index = 0 if random_() < 0.6 else 1
            size: str | None = _SIZES[size_index]
            price = prices[size_index]
        else:
            size, price = None, prices[0]
        flavour = flavours[int(random_() * len(flavours))] if flavours else None
        for item in items:
            if (item["product"], item["size"], item["flavour"]) == (product, size, flavour):
                item["quantity"] += 1
                break
        else:
            items.append({"product": product, "size": size, "flavour": flavour, "unit_price": price, "quantity": 1})
    return items


def _gross(items: Iterable[dict[str, Any]]) -> int:
    """Σ unit_price * quantity of wire-contract items, in pence."""
    return sum(_cents(item["unit_price"]) * item.get("quantity", 1) for item in items)


def summarise_sales(
    events: Iterable[dict[str, Any]], *, first_dt: date | None = None, last_dt: date | None = None
) -> SalesSummary:
    """Expected query figures for valid wire-contract sales whose UTC event date is in [first_dt, last_dt]."""
    timed = ((datetime.fromisoformat(event["event_time"]).astimezone(UTC), event) for event in events)
    return _summarise(timed, first_dt=first_dt, last_dt=last_dt)


def _summarise(
    timed_events: Iterable[tuple[datetime, dict[str, Any]]], *, first_dt: date | None, last_dt: date | None
) -> SalesSummary:
    orders_by_store: Counter[str] = Counter()
    revenue_by_store: Counter[str] = Counter()
    units: Counter[str] = Counter()
    product_revenue: Counter[str] = Counter()
    by_hour: Counter[int] = Counter()
    by_dt: Counter[str] = Counter()
    customer_days: dict[str, set[str]] = {}
    revenue = 0
    for moment, event in timed_events:
        day = moment.date()
        if (first_dt is not None and day < first_dt) or (last_dt is not None and day > last_dt):
            continue
        store = event["store"] if event["channel"] == "store" else "web"
        total = _cents(event["total_price"])
        revenue += total
        orders_by_store[store] += 1
        revenue_by_store[store] += total
        by_hour[moment.hour] += 1
        by_dt[day.isoformat()] += 1
        for item in event["items"]:
            quantity = item.get("quantity", 1)
            units[item["product"]] += quantity
            product_revenue[item["product"]] += _cents(item["unit_price"]) * quantity
        identity = pii.normalise_customer_identity(event.get("customer_id"), event.get("customer_name"))
        if identity is not None:
            customer_days.setdefault(identity, set()).add(day.isoformat())
    return SalesSummary(
        orders=sum(orders_by_store.values()),
        revenue=_pounds(revenue),
        orders_by_store=dict(sorted(orders_by_store.items())),
        revenue_by_store={store: _pounds(value) for store, value in sorted(revenue_by_store.items())},
        units_by_product=dict(sorted(units.items())),
        revenue_by_product={product: _pounds(value) for product, value in sorted(product_revenue.items())},
        orders_by_hour=dict(sorted(by_hour.items())),
        orders_by_dt=dict(sorted(by_dt.items())),
        customers=len(customer_days),
        returning_customers=sum(1 for days in customer_days.values() if len(days) >= 2),
    )


# ------------------------------------------------------------------------------------------------ sales


def _daily_count(rng: random.Random, base: float, day: date, day_index: int, weekend_factor: float) -> int:
    factor = _WEEKDAY_FACTORS[day.weekday()] * (weekend_factor if day.weekday() >= 5 else 1.0)
    growth = 1.0 + 0.001 * day_index
    return max(1, round(base * factor * growth * rng.gauss(1.0, 0.08)))


def _store_times(rng: random.Random, day: date, count: int) -> list[datetime]:
    """Distinct local minutes (a till logs one sale at a time), in order, with seconds for the stream events."""
    weekend = day.weekday() >= 5
    weights = _STORE_WEEKEND_HOURS if weekend else _STORE_WEEKDAY_HOURS
    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone(uk_utc_offset(day)))
    minutes = sorted(_weighted_hour(rng, weights) * 60 + int(rng.random() * 60) for _ in range(count))
    for index in range(1, len(minutes)):
        minutes[index] = max(minutes[index], minutes[index - 1] + 1)
    return [midnight + timedelta(seconds=minute * 60 + int(rng.random() * 60)) for minute in minutes]


def _store_sale(
    rng: random.Random, pool: _CustomerPool, store: str, local: datetime
) -> tuple[dict[str, Any], list[str]]:
    """A store `sale` event and the PII strings it carries."""
    items = _basket(rng, web=False, month=local.month, hour=local.hour)
    customer = pool.pick()
    payment = "CARD" if rng.random() < 0.65 else "CASH"
    sale: dict[str, Any] = {
        "event_type": "sale",
        "event_id": _event_uuid(rng),
        "event_time": local.isoformat(),
        "channel": "store",
        "store": store,
    }
    planted = []
    if payment == "CARD" or rng.random() > 0.12:  # some cash buyers give no name at the till
        sale["customer_name"] = customer.name
        planted.append(customer.name)
    sale["payment_method"] = payment if rng.random() > 0.05 else payment.lower()
    if payment == "CARD":
        sale["card_number"] = customer.card
        planted.append(customer.card)
    sale["items"] = items
    _price(rng, sale, items, web=False)
    return sale, planted


def _web_sale(rng: random.Random, pool: _CustomerPool, moment: datetime, order_number: int) -> tuple[dict, list[str]]:
    items = _basket(rng, web=True, month=moment.month, hour=moment.hour)
    customer = pool.pick()
    payment = "CARD" if rng.random() < 0.85 else "OTHER"
    sale: dict[str, Any] = {
        "event_type": "sale",
        "event_id": _event_uuid(rng),
        "event_time": _utc_text(moment),
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
    _price(rng, sale, items, web=True)
    sale["currency"] = "GBP"
    return sale, planted


def _price(rng: random.Random, sale: dict[str, Any], items: list[dict[str, Any]], *, web: bool) -> None:
    """Set discount (sometimes: a loyalty stamp or a web promo) and total_price = Σ lines - discount."""
    gross = _gross(items)
    discount = 0
    roll = rng.random()
    if roll < 0.07 and gross >= 200:
        discount = 50 if not web or roll < 0.035 else round(gross / 10)
        sale["discount"] = _pounds(discount)
    elif roll < 0.09:
        sale["discount"] = 0
    for item in items:
        if item["quantity"] == 1 and rng.random() < 0.3:
            del item["quantity"]  # optional on the wire, default 1
    sale["total_price"] = _pounds(gross - discount)


def generate_sales(*, start: date, days: int, seed: int, stores: Sequence[str] = DEFAULT_STORES) -> SalesDataset:
    """Sales of `len(stores)` stores and the web channel over `days` days from `start`, plus planted rejects."""
    if days < 1 or not stores:
        raise ValueError("generate_sales needs at least one day and one store")
    rng = random.Random(f"lakewatch-sales-{seed}")
    names = _NameBook(rng)
    store_pools = {store: _CustomerPool(rng, names, web=False, initial=60, returning_share=0.6) for store in stores}
    web_pool = _CustomerPool(rng, names, web=True, initial=120, returning_share=0.55)
    events: list[tuple[datetime, dict[str, Any]]] = []
    pii_strings: set[str] = set()
    order_number = 1_000_000
    for day_index in range(days):
        day = start + timedelta(days=day_index)
        for store_index, store in enumerate(stores):
            base, weekend_factor = _STORE_PROFILES[store_index % len(_STORE_PROFILES)]
            count = _daily_count(rng, base, day, day_index, weekend_factor)
            for local in _store_times(rng, day, count):
                sale, planted = _store_sale(rng, store_pools[store], store, local)
                events.append((local.astimezone(UTC), sale))
                pii_strings.update(planted)
        web_weekend = _WEB_WEEKEND_FACTOR if day.weekday() >= 5 else 1.0
        count = _daily_count(rng, _WEB_DAILY_SALES, day, day_index, web_weekend)
        local_midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - uk_utc_offset(day)
        for _ in range(count):
            moment = local_midnight + timedelta(
                hours=_weighted_hour(rng, _WEB_HOURS), minutes=rng.randrange(60), seconds=rng.randrange(60)
            )
            order_number += 1
            sale, planted = _web_sale(rng, web_pool, moment, order_number)
            events.append((moment, sale))
            pii_strings.update(planted)
    events.sort(key=lambda pair: pair[0])

    lines: list[ReplayLine] = []
    for moment, sale in events:
        lines.append(ReplayLine(moment + timedelta(milliseconds=rng.randrange(200, 3000)), _dumps(sale), KIND_EVENT))
    duplicated: list[str] = []
    for line, (_, sale) in zip(list(lines), events, strict=True):
        if rng.random() < 0.015:
            delay = timedelta(seconds=min(3 * 3600, rng.expovariate(1 / 600)))
            lines.append(ReplayLine(line.arrival + delay, line.data, KIND_DUPLICATE))
            duplicated.append(sale["event_id"])

    period_start = datetime(start.year, start.month, start.day, tzinfo=UTC)
    rejects: list[PlantedReject] = []
    for data, reject in _sales_rejects(rng, stores, start, days, pii_strings):
        arrival = period_start + timedelta(seconds=rng.randrange(days * 86400))
        lines.append(ReplayLine(arrival, data, KIND_REJECT))
        rejects.append(reject)

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
        summary=_summarise(events, first_dt=None, last_dt=None),
        pii_strings=tuple(sorted(pii_strings)),
    )
    return SalesDataset(events=valid, lines=lines, manifest=manifest)


def _sales_rejects(
    rng: random.Random, stores: Sequence[str], start: date, days: int, pii_strings: set[str]
) -> list[tuple[bytes, PlantedReject]]:
    """One or more records per quarantine reason, each built from a realistic sale (PII included on purpose)."""
    names = _NameBook(rng)
    pool = _CustomerPool(rng, names, web=False, initial=5, returning_share=0.0)

    def base() -> dict[str, Any]:
        day = start + timedelta(days=rng.randrange(days))
        local = _store_times(rng, day, 1)[0]
        sale, planted = _store_sale(rng, pool, rng.choice(list(stores)), local)
        sale["customer_name"] = pool.members[-1].name
        sale["payment_method"] = "CARD"
        sale["card_number"] = pool.members[-1].card
        # A UUID can hold 13+ digits in dash-separated groups, which PII masking rightly treats as a card
        # number; planted rejects avoid that so their quarantine rows keep the event_id the manifest names.
        while pii.mask_text(sale["event_id"]) != sale["event_id"]:
            sale["event_id"] = _event_uuid(rng)
        pii_strings.update([*planted, pool.members[-1].name, pool.members[-1].card])
        return sale

    def without(sale: dict[str, Any], name: str) -> dict[str, Any]:
        return {key: value for key, value in sale.items() if key != name}

    def reject(reason: Reason, field: str | None, record: dict[str, Any] | None, text: str) -> PlantedReject:
        event_id = record.get("event_id") if record is not None else None
        return PlantedReject(str(reason), field, event_id, text)

    out: list[tuple[bytes, PlantedReject]] = []
    sale = base()
    out.append((_dumps(sale)[:120], reject(Reason.INVALID_JSON, None, None, "truncated JSON with a name and card")))
    sale = base()
    out.append((repr(sale).encode(), reject(Reason.INVALID_JSON, None, None, "a Python dict repr, not JSON")))
    out.append((b"\t  ", reject(Reason.INVALID_JSON, None, None, "whitespace only")))
    out.append((b"\xff\xfe{\x00}", reject(Reason.INVALID_JSON, None, None, "not UTF-8")))
    sale = base()
    out.append((_dumps([sale]), reject(Reason.NOT_AN_OBJECT, None, None, "a sale wrapped in a JSON array")))
    out.append((b'"sale"', reject(Reason.NOT_AN_OBJECT, None, None, "a bare JSON string")))
    for event_type in ("refund", "stock_adjustment"):
        record = {**base(), "event_type": event_type}
        out.append((_dumps(record), reject(Reason.UNKNOWN_EVENT_TYPE, "event_type", record, event_type)))
    for name in ("items", "payment_method", "store", "event_type"):
        record = without(base(), name)
        out.append((_dumps(record), reject(Reason.MISSING_FIELD, name, record, f"sale without {name}")))
    record = {**base(), "payment_method": "IOU"}
    out.append((_dumps(record), reject(Reason.INVALID_FIELD, "payment_method", record, "payment_method IOU")))
    record = {**base(), "channel": "kiosk"}
    out.append((_dumps(record), reject(Reason.INVALID_FIELD, "channel", record, "channel kiosk")))
    record = base()
    record["event_time"] = record["event_time"][:19]
    out.append((_dumps(record), reject(Reason.INVALID_FIELD, "event_time", record, "event_time without offset")))
    record = base()
    record["items"][0]["quantity"] = 0
    out.append((_dumps(record), reject(Reason.INVALID_FIELD, "items[0].quantity", record, "quantity 0")))
    record = base()
    record["total_price"] = round(record["total_price"] + 1.0, 2)
    out.append((_dumps(record), reject(Reason.TOTAL_MISMATCH, "total_price", record, "total one pound too high")))
    record = without(base(), "discount")
    record["total_price"] = _pounds(_gross(record["items"]) - 50)
    out.append((_dumps(record), reject(Reason.TOTAL_MISMATCH, "total_price", record, "discount applied, not sent")))
    record = base()
    record["receipt_image_base64"] = ("iVBORw0KGgoAAAANSUhEUgAA" * (RECORD_LIMIT_BYTES // 24 + 2048))[
        : RECORD_LIMIT_BYTES + 40_000
    ]
    out.append((_dumps(record), reject(Reason.TOO_LARGE, None, None, "a receipt image inlined (> 256 KiB)")))
    return out


# ------------------------------------------------------------------------------------------------ job runs


@dataclass(slots=True)
class _Series:
    client: str
    job_name: str
    instance_size: str
    daily_gb: float
    initial_duration_s: float
    growth: tuple[str, float]
    start_hour: float
    first_day: int
    last_day: int
    failure_rate: float
    spike_days: tuple[int, ...] = ()
    #: Days (index in the period) whose run is planted to fail whatever the dice say, with this status.
    forced: dict[int, str] = field(default_factory=dict)


#: Growth curves (seed 000's "increasing functions") and their rate ranges: about +0.2-0.4 % a day at first,
#: +25-60 % after 120 days, so day-to-day change always stays far inside the noise.
_GROWTH_RATES = {"linear": (0.002, 0.004), "compound": (0.002, 0.004), "sqrt": (0.02, 0.04), "log": (0.06, 0.12)}


def _growth(kind: str, rate: float, days_since_start: int) -> float:
    """History makes every batch slower (seed 000): a gentle, client-specific increasing curve."""
    if kind == "linear":
        return 1.0 + rate * days_since_start
    if kind == "compound":
        return (1.0 + rate) ** days_since_start
    if kind == "sqrt":
        return 1.0 + rate * math.sqrt(days_since_start)
    return 1.0 + rate * math.log1p(days_since_start)


def _client_names(rng: random.Random, count: int) -> list[str]:
    combos = [f"{prefix}-{sector}" for prefix in _COMPANY_PREFIXES for sector in _COMPANY_SECTORS]
    if count <= len(combos):
        return rng.sample(combos, count)
    return [f"{name}-{index // len(combos) + 1}" for index, name in enumerate(combos * (count // len(combos) + 1))][
        :count
    ]


def _plan_series(rng: random.Random, names: list[str], days: int) -> tuple[list[_Series], dict[str, set[str]]]:
    """Profiles of every client's series and which clients carry which planted behaviour."""
    count = len(names)
    order = list(range(count))
    rng.shuffle(order)
    n_stopped = max(1, round(count * 0.03)) if count >= 3 else 0
    n_healthy = max(1, round(count * 0.3))
    n_prone = round(count * 0.1)
    stopped = {names[i] for i in order[:n_stopped]}
    healthy = {names[i] for i in order[n_stopped : n_stopped + n_healthy]}
    prone = {names[i] for i in order[n_stopped + n_healthy : n_stopped + n_healthy + n_prone]}

    series: list[_Series] = []
    for name in names:
        daily_gb = min(120.0, max(1.5, math.exp(rng.gauss(math.log(12), 0.8))))
        tier = 0 if daily_gb < 6 else 1 if daily_gb < 20 else 2 if daily_gb < 50 else 3
        instance = rng.choice(_TIERS[tier])
        speed = INSTANCE_TYPES[instance][1]
        initial = min(_MAX_INITIAL_DURATION_S, max(_MIN_DURATION_S, 180 + daily_gb * 360 / speed))
        late_starter = name not in stopped and name not in healthy and rng.random() < 0.2 and days >= 10
        first_day = rng.randrange(int(days * 0.4)) if late_starter else 0
        last_day = days - 1
        if name in stopped:
            last_day = max(first_day + 1, days - 1 - rng.randint(3, 10)) if days > 12 else max(0, days - 3)
        failure_rate = 0.0 if name in healthy else 0.05 if name in prone else 0.006
        evening = rng.random() < 0.15
        start_hour = rng.uniform(19.0, 22.5) if evening else rng.uniform(0.0, 6.0)
        curve = rng.choice(tuple(_GROWTH_RATES))
        growth = (curve, rng.uniform(*_GROWTH_RATES[curve]))
        jobs = [MAIN_JOB]
        if rng.random() < 0.3:
            jobs.append(rng.choice(SECOND_JOBS))
        for job_index, job in enumerate(jobs):
            scale = 1.0 if job_index == 0 else rng.uniform(0.3, 0.6)
            series.append(
                _Series(
                    client=name,
                    job_name=job,
                    instance_size=instance,
                    daily_gb=round(daily_gb * scale, 3),
                    initial_duration_s=max(_MIN_DURATION_S, initial * scale),
                    growth=growth,
                    start_hour=(start_hour + 2.5 * job_index) % 24,
                    first_day=first_day,
                    last_day=last_day,
                    failure_rate=failure_rate,
                )
            )
    # Spikes go to main-job series with enough history whose baseline is short enough that even a 6x run does
    # not also make the series overdue; one spike per ~50 days of history.
    candidates = [
        s
        for s in series
        if s.job_name == MAIN_JOB
        and s.client not in healthy
        and s.client not in stopped
        and s.last_day - s.first_day >= _SPIKE_MIN_HISTORY_DAYS + 4
    ]
    candidates.sort(key=lambda s: (s.initial_duration_s > 20 * 60, rng.random()))
    spike_clients: set[str] = set()
    for s in candidates[: max(1, round(count * 0.08))] if candidates else []:
        first = s.first_day + _SPIKE_MIN_HISTORY_DAYS + rng.randrange(5)
        spike_days = [first]
        while spike_days[-1] + 50 <= s.last_day - 2:
            spike_days.append(spike_days[-1] + rng.randint(40, 50))
        s.spike_days = tuple(day for day in spike_days if day <= s.last_day - 2)
        spike_clients.add(s.client)
    # However few clients and days, one of each failure kind is planted (the first two carry PII).
    failing = [
        s for s in series if s.client not in healthy and s.client not in stopped and s.last_day - s.first_day >= 8
    ]
    if failing:
        target = rng.choice(failing)
        target.forced = {
            target.first_day + 3: "FAILED",
            target.first_day + 5: "TIMED_OUT",
            target.first_day + 6: "FAILED",
        }
    return series, {"stopped": stopped, "healthy": healthy, "prone": prone, "spike": spike_clients}


def _format_timeout(seconds: float) -> str:
    minutes = math.ceil(seconds / 300) * 5
    return f"{minutes // 60}h{minutes % 60:02d}m"


def generate_job_runs(*, start: date, days: int, clients: int, seed: int) -> JobRunsDataset:
    """Daily batch runs of `clients` clients over `days` days from `start` (seed 000/001), planted anomalies."""
    if days < 1 or clients < 1:
        raise ValueError("generate_job_runs needs at least one day and one client")
    rng = random.Random(f"lakewatch-job-runs-{seed}")
    names = _client_names(rng, clients)
    plan, roles = _plan_series(rng, names, days)
    period_start = datetime(start.year, start.month, start.day, tzinfo=UTC)

    runs: list[dict[str, Any]] = []
    meta: list[dict[str, Any]] = []  # parallel to runs: datetimes and planted flags
    series_info: list[SeriesInfo] = []
    spikes: list[SpikeInfo] = []
    stopped: list[StoppedInfo] = []
    pii_strings: set[str] = set()
    pii_messages_left = ["email", "card"]
    max_gap = 0.0
    for series in plan:
        srng = random.Random(f"{seed}-{series.client}-{series.job_name}")
        history: list[float] = []
        previous_end: datetime | None = None
        series_gap = 0.0
        protected = {day + delta for day in series.spike_days for delta in (-1, 0, 1)}
        series_runs: list[dict[str, Any]] = []
        for day_index in range(series.first_day, series.last_day + 1):
            age = day_index - series.first_day
            expected = series.initial_duration_s * _growth(*series.growth, age)
            started = period_start + timedelta(
                days=day_index,
                hours=series.start_hour,
                seconds=srng.uniform(-_START_JITTER_S, _START_JITTER_S),
            )
            started = started.replace(microsecond=0)
            status = "SUCCEEDED"
            is_last = day_index == series.last_day
            if day_index in series.forced:
                status = series.forced[day_index]
            elif day_index not in protected and not is_last and srng.random() < series.failure_rate:
                status = "TIMED_OUT" if srng.random() < 0.25 else "FAILED"
            gb = series.daily_gb * _growth(*series.growth, age) ** 0.8 * srng.uniform(0.95, 1.05)
            error = None
            is_spike = day_index in series.spike_days
            if is_spike:
                median = statistics.median(history[-_SPIKE_WINDOW:])
                cap = min(_SPIKE_MAX_FACTOR, 1 + _SPIKE_MAX_EXTRA_S / median)
                factor = srng.uniform(_SPIKE_MIN_FACTOR, max(_SPIKE_MIN_FACTOR, cap))
                duration = round(median * factor)
                gb *= srng.uniform(1.0, 1.3)
            elif status == "SUCCEEDED":
                duration = round(expected * srng.uniform(1 - _NOISE, 1 + _NOISE))
            elif status == "TIMED_OUT":
                duration = math.ceil(expected * _TIMEOUT_FACTOR / 300) * 300
                gb *= duration / expected * 0.4
                error = _TIMEOUT_MESSAGE.format(timeout=_format_timeout(duration))
            else:
                fraction = srng.uniform(0.3, 1.0)
                duration = round(expected * fraction)
                gb *= fraction
                error = _failure_message(srng, series.client, started.date(), pii_messages_left, pii_strings)
            duration = max(duration, 30)
            ended = started + timedelta(seconds=duration)
            if previous_end is not None:
                series_gap = max(series_gap, (ended - previous_end).total_seconds())
            previous_end = ended
            price = INSTANCE_TYPES[series.instance_size][0]
            run_id = f"{series.client}:{series.job_name}:{started:%Y-%m-%d}"
            record: dict[str, Any] = {
                "event_type": "job_run",
                "event_id": _event_uuid(srng),
                "event_time": _utc_text(ended),
                "run_id": run_id,
                "client": series.client,
                "job_name": series.job_name,
                "status": status if srng.random() > 0.03 else status.lower(),
                "started_at": _utc_text(started),
                "ended_at": _utc_text(ended) if srng.random() > 0.05 else ended.isoformat(),
            }
            if srng.random() > 0.2:
                record["duration_seconds"] = duration
            record["data_processed_gb"] = round(gb, 3)
            record["cost_usd"] = round(duration / 3600 * price, 4)
            record["instance_size"] = series.instance_size
            if error is not None:
                record["error_message"] = error
            if is_spike:
                spikes.append(
                    SpikeInfo(
                        run_id, series.client, series.job_name, _utc_text(ended), duration, median, duration / median
                    )
                )
            elif status == "SUCCEEDED":
                history.append(duration)
            series_runs.append(record)
            meta.append({"ended": ended, "status": status, "spike": is_spike, "gap_before": None})
            if len(series_runs) >= 2:
                meta[-1]["gap_before"] = (ended - meta[-2]["ended"]).total_seconds()
        runs.extend(series_runs)
        is_stopped = series.client in roles["stopped"]
        if is_stopped:
            stopped.append(StoppedInfo(series.client, series.job_name, series_runs[-1]["event_time"]))
        else:
            max_gap = max(max_gap, series_gap)
        series_info.append(
            SeriesInfo(
                client=series.client,
                job_name=series.job_name,
                instance_size=series.instance_size,
                runs=len(series_runs),
                first_started_at=series_runs[0]["started_at"],
                last_ended_at=series_runs[-1]["event_time"],
                stopped=is_stopped,
                max_gap_seconds=series_gap,
            )
        )

    order = sorted(range(len(runs)), key=lambda index: (meta[index]["ended"], runs[index]["run_id"]))
    runs = [runs[index] for index in order]
    meta = [meta[index] for index in order]
    lines, late, duplicated = _job_run_lines(rng, runs, meta)

    failed = [run for run, info in zip(runs, meta, strict=True) if info["status"] != "SUCCEEDED"]
    manifest = JobRunsManifest(
        start=start.isoformat(),
        days=days,
        clients=clients,
        seed=seed,
        client_names=tuple(names),
        series=tuple(series_info),
        runs=len(runs),
        succeeded_runs=len(runs) - len(failed),
        failed_run_ids=tuple(run["run_id"] for run in failed),
        timed_out_run_ids=tuple(run["run_id"] for run in failed if run["status"].upper() == "TIMED_OUT"),
        failed_cost_usd=_total_cost(failed),
        total_cost_usd=_total_cost(runs),
        spikes=tuple(spikes),
        spike_run_ids=tuple(spike.run_id for spike in spikes),
        stopped=tuple(stopped),
        healthy_clients=tuple(sorted(roles["healthy"] - roles["stopped"] - roles["spike"])),
        late=tuple(late),
        late_run_ids=tuple(info.run_id for info in late),
        duplicate_lines=len(duplicated),
        duplicated_run_ids=tuple(duplicated),
        max_run_gap_seconds=max_gap,
        total_lines=len(lines),
        pii_strings=tuple(sorted(pii_strings)),
    )
    return JobRunsDataset(runs=runs, lines=lines, manifest=manifest)


def _total_cost(runs: Iterable[dict[str, Any]]) -> float:
    """Σ cost_usd at the column's scale (4 decimals), summed exactly in ten-thousandths."""
    return sum(round(run["cost_usd"] * 10_000) for run in runs) / 10_000


def _failure_message(rng: random.Random, client: str, day: date, pii_left: list[str], pii_strings: set[str]) -> str:
    """An error message; about one in five (and the first two) carries an e-mail or a card number."""
    if pii_left or rng.random() < 0.2:
        wanted = pii_left.pop(0) if pii_left else rng.choice(("email", "card"))
        template = _PII_FAILURE_MESSAGES[0 if wanted == "email" else rng.choice((1, 2))]
        email = f"{rng.choice(_FIRST_NAMES)}.{rng.choice(_LAST_NAMES)}@{client}.example.com".lower()
        card = _luhn_card(rng)
        card_spaced = " ".join(card[index : index + 4] for index in range(0, 16, 4))
        message = template.format(email=email, card=card, card_spaced=card_spaced)
        for value in (email, card, card_spaced):
            if value in message:
                pii_strings.add(value)
        return message
    return rng.choice(_FAILURE_MESSAGES).format(client=client, day=day.isoformat())


def _job_run_lines(
    rng: random.Random, runs: list[dict[str, Any]], meta: list[dict[str, Any]]
) -> tuple[list[ReplayLine], list[LateInfo], list[str]]:
    """Arrival times: just after the run ends, except a few late runs; plus redeliveries of some runs."""
    # A late run arrives 20-75 min after it ended, after at least one run that ended later (so it really is out
    # of order), but never so late that its series would look overdue first. Runs ending shortly before
    # midnight are preferred, so that the late arrival crosses into the next day.
    windows: dict[int, tuple[float, float]] = {}
    for index, info in enumerate(meta):
        if info["status"] != "SUCCEEDED" or info["spike"] or info["gap_before"] is None or index + 1 == len(meta):
            continue
        overtaken = (meta[index + 1]["ended"] - info["ended"]).total_seconds() + 60
        earliest = max(20 * 60, overtaken)
        latest = min(75 * 60, HEALTHY_MAX_GAP.total_seconds() - 600 - info["gap_before"])
        if earliest <= latest:
            windows[index] = (earliest, latest)
    eligible = list(windows)
    before_midnight = [index for index in eligible if meta[index]["ended"].hour == 23]
    n_late = max(2, len(runs) // 250)
    late_pick = set(rng.sample(before_midnight, min(len(before_midnight), n_late // 2)))
    rest = [index for index in eligible if index not in late_pick]
    late_pick |= set(rng.sample(rest, min(len(rest), n_late - len(late_pick))))

    lines: list[ReplayLine] = []
    late: list[LateInfo] = []
    for index, (run, info) in enumerate(zip(runs, meta, strict=True)):
        data = _dumps(run)
        if index in late_pick:
            arrival = info["ended"] + timedelta(seconds=rng.uniform(*windows[index]))
            late.append(LateInfo(run["run_id"], _utc_text(info["ended"]), _utc_text(arrival)))
            lines.append(ReplayLine(arrival, data, KIND_LATE))
        else:
            lines.append(ReplayLine(info["ended"] + timedelta(seconds=rng.uniform(1, 30)), data, KIND_EVENT))

    duplicated: list[str] = []
    forced = {
        next((i for i, info in enumerate(meta) if info["status"] != "SUCCEEDED"), None),
        next((i for i, info in enumerate(meta) if info["spike"]), None),
    } - {None}
    for index, run in enumerate(runs):
        if index in forced or rng.random() < 0.005:
            delay = timedelta(seconds=rng.uniform(120, 4 * 3600))
            lines.append(ReplayLine(lines[index].arrival + delay, lines[index].data, KIND_DUPLICATE))
            duplicated.append(run["run_id"])
    return lines, late, duplicated


# ------------------------------------------------------------------------------------------------ POS CSV


def _store_slug(store: str) -> str:
    return "_".join(store.lower().split())


def _basket_text(items: list[dict[str, Any]]) -> str:
    """Seed 002's basket: every unit written out, `[size] product[ - flavour] - price`, comma separated."""
    entries = []
    for item in items:
        name = item["product"] if item["size"] is None else f"{item['size']} {item['product']}"
        if item["flavour"] is not None:
            name = f"{name} - {item['flavour']}"
        entries.extend([f"{name} - {item['unit_price']:.2f}"] * item.get("quantity", 1))
    return ", ".join(entries)


def generate_pos_csv(*, start: date, days: int, stores: Sequence[str] = DEFAULT_STORES, seed: int) -> PosCsvDataset:
    """One till CSV per store and day (seed 002's headerless format) with planted mess and a re-dropped file."""
    if days < 1 or not stores:
        raise ValueError("generate_pos_csv needs at least one day and one store")
    rng = random.Random(f"lakewatch-pos-csv-{seed}")
    names = _NameBook(rng)
    pools = {store: _CustomerPool(rng, names, web=False, initial=40, returning_share=0.6) for store in stores}
    # file name -> list of rows (None = blank line); rows are lists of 7 strings
    files: dict[str, list[list[str] | None]] = {}
    row_sales: dict[tuple[str, int], dict[str, Any]] = {}
    pii_strings: set[str] = set()
    for day_index in range(days):
        day = start + timedelta(days=day_index)
        for store_index, store in enumerate(stores):
            base, weekend_factor = _STORE_PROFILES[store_index % len(_STORE_PROFILES)]
            count = _daily_count(rng, base * 0.8, day, day_index, weekend_factor)
            times = _store_times(rng, day, count)
            opening = times[0].replace(minute=0, second=0)
            file_name = f"{_store_slug(store)}_{day:%d-%m-%Y}_{opening:%H-%M-%S}.csv"
            rows: list[list[str] | None] = []
            for moment in times:
                local = moment.replace(second=0)
                sale, planted = _store_sale(rng, pools[store], store, local)
                sale.pop("discount", None)  # tills export no discount column: the total is the basket's
                sale["total_price"] = _pounds(_gross(sale["items"]))
                if "customer_name" not in sale:  # the CSV always has a name column; tills fill it
                    sale["customer_name"] = pools[store].members[-1].name
                    planted.append(sale["customer_name"])
                sale["event_time"] = local.isoformat()
                pii_strings.update(planted)
                payment = sale["payment_method"].upper()
                rows.append(
                    [
                        f"{local:%d/%m/%Y %H:%M}",
                        store,
                        sale["customer_name"],
                        _basket_text(sale["items"]),
                        f"{sale['total_price']:.2f}",
                        payment,
                        sale.get("card_number", ""),
                    ]
                )
                row_sales[(file_name, len(rows) - 1)] = sale
            files[file_name] = rows

    names_in_order = list(files)
    rejects: list[PlantedCsvReject] = []
    rejected_rows: set[tuple[str, int]] = set()
    redrop_source = rng.choice(names_in_order)
    messy = [name for name in names_in_order if name != redrop_source] or names_in_order

    def plant(reason: Reason, field: str, description: str, mutate: Any) -> None:
        file_name = rng.choice(messy)
        rows = files[file_name]
        candidates = [i for i, row in enumerate(rows) if row is not None and (file_name, i) not in rejected_rows]
        if not candidates:
            return
        index = rng.choice(candidates)
        row = rows[index]
        assert row is not None
        mutate(row)
        rejected_rows.add((file_name, index))
        rejects.append(PlantedCsvReject(file_name, index, str(reason), field, description))

    def iso_timestamp(row: list[str]) -> None:
        day, clock = row[0].split(" ")
        dd, mm, yyyy = day.split("/")
        row[0] = f"{yyyy}-{mm}-{dd} {clock}"

    def impossible_date(row: list[str]) -> None:
        row[0] = "31/02/" + row[0][6:]

    def bad_total(row: list[str]) -> None:
        row[4] = row[4][:-1] + "O"

    def bad_basket_price(row: list[str]) -> None:
        first, _, rest = row[3].partition(", ")
        row[3] = ", ".join(part for part in (first.rsplit(" - ", 1)[0] + " - two pounds", rest) if part)

    def wrong_total(row: list[str]) -> None:
        row[4] = f"{float(row[4]) + 1:.2f}"

    plant(Reason.INVALID_FIELD, "event_time", "ISO timestamp instead of dd/mm/YYYY", iso_timestamp)
    plant(Reason.INVALID_FIELD, "event_time", "31 February", impossible_date)
    plant(Reason.INVALID_FIELD, "total_price", "letter O in the total", bad_total)
    plant(Reason.INVALID_FIELD, "items", "basket price in words", bad_basket_price)
    plant(Reason.TOTAL_MISMATCH, "total_price", "total one pound above the basket", wrong_total)

    # Blank lines: tills end some files with an empty line, one file has one in the middle.
    blank_files = [name for name in messy if rng.random() < 0.15] or [messy[0]]
    for name in blank_files:
        files[name].append(None)
    middle = rng.choice(messy)
    files[middle].insert(len(files[middle]) // 2, None)

    texts: dict[str, str] = {}
    final_rejects: list[PlantedCsvReject] = []
    valid_sales: list[dict[str, Any]] = []
    blank_lines = 0
    for name in names_in_order:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        original_index = 0
        for line_number, row in enumerate(files[name], start=1):
            if row is None:
                buffer.write("\n")
                blank_lines += 1
                continue
            writer.writerow(row)
            key = (name, original_index)
            planted = next((r for r in rejects if (r.file, r.line_number) == key), None)
            if planted is not None:
                final_rejects.append(
                    PlantedCsvReject(name, line_number, planted.reason, planted.field, planted.description)
                )
            else:
                valid_sales.append(row_sales[key])
            original_index += 1
        texts[name] = buffer.getvalue()
    # Re-sent at the end of the day: same content, another name.
    store_part, day_part, _ = redrop_source.rsplit("_", 2)
    copy_name = f"{store_part}_{day_part}_18-05-00.csv"
    texts[copy_name] = texts[redrop_source]
    duplicate_rows = sum(1 for row in files[redrop_source] if row is not None)

    data_lines = sum(len(text.split("\n")) - 1 for text in texts.values())
    manifest = PosCsvManifest(
        start=start.isoformat(),
        days=days,
        seed=seed,
        stores=tuple(stores),
        files=len(texts),
        lines=data_lines,
        blank_lines=blank_lines,
        valid_rows=len(valid_sales),
        duplicate_rows=duplicate_rows,
        redropped=((redrop_source, copy_name),),
        quarantine_by_reason=dict(sorted(Counter(r.reason for r in final_rejects).items())),
        rejects=tuple(final_rejects),
        summary=summarise_sales(valid_sales),
        pii_strings=tuple(sorted(pii_strings)),
    )
    return PosCsvDataset(files=dict(sorted(texts.items())), manifest=manifest)


# ------------------------------------------------------------------------------------------------ output


def to_jsonl_lines(*datasets: SalesDataset | JobRunsDataset) -> list[bytes]:
    """Every record of the datasets in the order a producer sent them: by arrival time (stable for ties).

    Duplicates arrive after their original, late runs after later-ending runs, rejects sprinkled in time.
    """
    merged = [
        (line.arrival, dataset_index, line_index, line.data)
        for dataset_index, dataset in enumerate(datasets)
        for line_index, line in enumerate(dataset.lines)
    ]
    merged.sort(key=lambda entry: entry[:3])
    return [entry[3] for entry in merged]


def write_events_file(path: Path, lines: Iterable[bytes]) -> Path:
    """Write the payloads as EVENTS.jsonl for `local-run` (one per line; payloads never contain a newline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for line in lines:
            if b"\n" in line:
                raise ValueError("a Kinesis payload line must not contain a newline")
            handle.write(line + b"\n")
    return path


def write_pos_files(directory: Path, files: dict[str, str]) -> Path:
    """Write the till CSV drops of `generate_pos_csv` into `directory` (the `--pos-csv` input)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8", newline="")
    return directory
