"""The café chain both sales datasets describe: its menu, stores, customers, baskets and prices.

Streamed store and web sales (`sales.py`) and till CSV drops (`pos_csv.py`) draw from the same model, so a
regular seen at a till and on the web looks alike, and both end in the same `SalesSummary` the sales queries
are checked against.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, NamedTuple

from lakewatch.domain import pii
from lakewatch.local.synthetic.common import (
    NameBook,
    cents,
    event_uuid,
    luhn_card,
    pounds,
    uk_utc_offset,
    weighted_hour,
)

DEFAULT_STORES = ("Chesterfield", "Leeds", "Uppingham", "London Camden")


class MenuItem(NamedTuple):
    """One drink or product: its prices (regular and large, or one price when it has no size) and how it sells.

    `temperature` makes cold drinks sell in summer and hot chocolate in winter ("hot" and "any" are steady).
    """

    product: str
    prices: tuple[float, ...]
    flavours: tuple[str, ...]
    store_weight: float
    web_weight: float
    temperature: str


# The café's menu, sizes, flavours and prices, as the tills print them.
_MENU: tuple[MenuItem, ...] = tuple(
    MenuItem(*row)
    for row in (
        ("Latte", (2.15, 2.45), (), 14, 10, "hot"),
        ("Flat white", (2.15, 2.45), (), 10, 7, "hot"),
        ("Cappuccino", (2.15, 2.45), (), 9, 6, "hot"),
        ("Americano", (1.95, 2.25), (), 8, 4, "hot"),
        ("Mocha", (2.30, 2.70), (), 5, 4, "hot"),
        ("Chai latte", (2.30, 2.60), (), 5, 4, "hot"),
        ("Hot chocolate", (1.40, 1.70), (), 5, 3, "winter"),
        ("Flavoured latte", (2.55, 2.85), ("Hazelnut", "Caramel", "Vanilla", "Gingerbread"), 8, 6, "hot"),
        ("Flavoured iced latte", (2.75, 3.25), ("Hazelnut", "Caramel", "Vanilla"), 7, 5, "cold"),
        (
            "Speciality Tea",
            (1.30, 1.60),
            ("Peppermint", "Darjeeling", "English breakfast", "Green", "Fruit"),
            6,
            3,
            "hot",
        ),
        ("Frappes", (2.75, 3.25), ("Chocolate Cookie", "Coffee", "Strawberries & Cream"), 4, 3, "cold"),
        ("Smoothies", (2.00, 2.50), ("Carrot Kick", "Glowing Greens", "Berry Beautiful"), 4, 3, "cold"),
        ("Iced americano", (2.15, 2.50), (), 3, 2, "cold"),
        ("Espresso", (1.50, 1.80), (), 3, 1, "hot"),
        ("Red Label tea", (1.20, 1.80), (), 3, 1, "hot"),
        # Sold online only, one size (`size` null): what a café's web shop adds to its drinks.
        ("Coffee beans 250g", (6.50,), ("House blend", "Decaf", "Colombian"), 0, 6, "any"),
        ("Reusable cup", (8.00,), (), 0, 2, "any"),
    )
)
_SIZES = ("Regular", "Large")
_BASKET_SIZES = (1, 2, 3, 4, 5)
_BASKET_SIZE_CUMULATIVE = (50, 78, 91, 97, 100)

# Per store: (weekday sales at opening of the period, weekend factor). Indexed by position in `stores`.
STORE_PROFILES = ((80, 0.75), (95, 1.2), (45, 1.35), (110, 1.4), (60, 1.0), (70, 0.9))
_WEEKDAY_FACTORS = (0.95, 0.9, 1.0, 1.0, 1.1, 1.0, 0.85)  # Mon..Sun; Sat/Sun also get the store's factor
# Local-hour weights: a morning rush and a lunch bump on weekdays, a later, flatter day at weekends.
_STORE_WEEKDAY_HOURS = {7: 1.3, 8: 3.0, 9: 2.2, 10: 1.2, 11: 1.0, 12: 1.8, 13: 1.6, 14: 0.9, 15: 0.8, 16: 0.9, 17: 0.6}
_STORE_WEEKEND_HOURS = {8: 0.6, 9: 1.5, 10: 2.0, 11: 2.0, 12: 1.8, 13: 1.6, 14: 1.4, 15: 1.2, 16: 0.8}


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


@dataclass(slots=True)
class Customer:
    name: str
    card: str
    customer_id: str | None = None


class CustomerPool:
    """Regulars and newcomers: new people join the pool; picks favour early (loyal) members."""

    def __init__(self, rng: random.Random, names: NameBook, *, web: bool, initial: int, returning_share: float):
        self._rng = rng
        self._names = names
        self._web = web
        self._returning_share = returning_share
        self.members: list[Customer] = []
        for _ in range(initial):
            self._new()

    def _new(self) -> Customer:
        customer_id = None
        if self._web:
            customer_id = "cust-" + "".join(self._rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(10))
        customer = Customer(self._names.fresh(), luhn_card(self._rng), customer_id)
        self.members.append(customer)
        return customer

    def pick(self) -> Customer:
        if self._rng.random() < self._returning_share:
            return self.members[int(len(self.members) * self._rng.random() ** 2)]
        return self._new()


@functools.cache
def _menu_cumulative(web: bool, month: int, hour: int) -> tuple[float, ...]:
    return tuple(itertools.accumulate(_menu_weight(entry, web=web, month=month, hour=hour) for entry in _MENU))


def _menu_weight(entry: MenuItem, *, web: bool, month: int, hour: int) -> float:
    weight = entry.web_weight if web else entry.store_weight
    temperature = entry.temperature
    summer = month in (6, 7, 8)
    winter = month in (12, 1, 2)
    if temperature == "cold":
        weight *= (1.8 if summer else 0.5 if winter else 1.0) * (1.3 if 12 <= hour <= 17 else 1.0)
    elif temperature == "winter":
        weight *= 1.8 if winter else 0.6 if summer else 1.0
    return weight


def basket(rng: random.Random, *, web: bool, month: int, hour: int) -> list[dict[str, Any]]:
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


def gross_pence(items: Iterable[dict[str, Any]]) -> int:
    """Σ unit_price * quantity of wire-contract items, in pence."""
    return sum(cents(item["unit_price"]) * item.get("quantity", 1) for item in items)


def summarise_sales(
    events: Iterable[dict[str, Any]], *, first_dt: date | None = None, last_dt: date | None = None
) -> SalesSummary:
    """Expected query figures for valid wire-contract sales whose UTC event date is in [first_dt, last_dt]."""
    timed = ((datetime.fromisoformat(event["event_time"]).astimezone(UTC), event) for event in events)
    return summarise_timed(timed, first_dt=first_dt, last_dt=last_dt)


def summarise_timed(
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
        total = cents(event["total_price"])
        revenue += total
        orders_by_store[store] += 1
        revenue_by_store[store] += total
        by_hour[moment.hour] += 1
        by_dt[day.isoformat()] += 1
        for item in event["items"]:
            quantity = item.get("quantity", 1)
            units[item["product"]] += quantity
            product_revenue[item["product"]] += cents(item["unit_price"]) * quantity
        identity = pii.normalise_customer_identity(event.get("customer_id"), event.get("customer_name"))
        if identity is not None:
            customer_days.setdefault(identity, set()).add(day.isoformat())
    return SalesSummary(
        orders=sum(orders_by_store.values()),
        revenue=pounds(revenue),
        orders_by_store=dict(sorted(orders_by_store.items())),
        revenue_by_store={store: pounds(value) for store, value in sorted(revenue_by_store.items())},
        units_by_product=dict(sorted(units.items())),
        revenue_by_product={product: pounds(value) for product, value in sorted(product_revenue.items())},
        orders_by_hour=dict(sorted(by_hour.items())),
        orders_by_dt=dict(sorted(by_dt.items())),
        customers=len(customer_days),
        returning_customers=sum(1 for days in customer_days.values() if len(days) >= 2),
    )


def daily_count(rng: random.Random, base: float, day: date, day_index: int, weekend_factor: float) -> int:
    factor = _WEEKDAY_FACTORS[day.weekday()] * (weekend_factor if day.weekday() >= 5 else 1.0)
    growth = 1.0 + 0.001 * day_index
    return max(1, round(base * factor * growth * rng.gauss(1.0, 0.08)))


def store_times(rng: random.Random, day: date, count: int) -> list[datetime]:
    """Distinct local minutes (a till logs one sale at a time), in order, with seconds for the stream events."""
    weekend = day.weekday() >= 5
    weights = _STORE_WEEKEND_HOURS if weekend else _STORE_WEEKDAY_HOURS
    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone(uk_utc_offset(day)))
    minutes = sorted(weighted_hour(rng, weights) * 60 + int(rng.random() * 60) for _ in range(count))
    for index in range(1, len(minutes)):
        minutes[index] = max(minutes[index], minutes[index - 1] + 1)
    return [midnight + timedelta(seconds=minute * 60 + int(rng.random() * 60)) for minute in minutes]


def store_sale(rng: random.Random, pool: CustomerPool, store: str, local: datetime) -> tuple[dict[str, Any], list[str]]:
    """A store `sale` event and the PII strings it carries."""
    items = basket(rng, web=False, month=local.month, hour=local.hour)
    customer = pool.pick()
    payment = "CARD" if rng.random() < 0.65 else "CASH"
    sale: dict[str, Any] = {
        "event_type": "sale",
        "event_id": event_uuid(rng),
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
    price_sale(rng, sale, items, web=False)
    return sale, planted


def price_sale(rng: random.Random, sale: dict[str, Any], items: list[dict[str, Any]], *, web: bool) -> None:
    """Set discount (sometimes: a loyalty stamp or a web promo) and total_price = Σ lines - discount."""
    gross = gross_pence(items)
    discount = 0
    roll = rng.random()
    if roll < 0.07 and gross >= 200:
        discount = 50 if not web or roll < 0.035 else round(gross / 10)
        sale["discount"] = pounds(discount)
    elif roll < 0.09:
        sale["discount"] = 0
    for item in items:
        if item["quantity"] == 1 and rng.random() < 0.3:
            del item["quantity"]  # optional on the wire, default 1
    sale["total_price"] = pounds(gross - discount)
