"""Point-of-sale basket text (the till CSV's `basket_items` column) parsed into the wire contract's `items` list.

A till writes a basket as one free-text field: `"Regular Flavoured iced latte - Hazelnut - 2.75, Large Latte -
2.45"`. Each comma-separated entry is `[size] product [- flavour] - unit price`; a product bought twice is
written twice. Parsing is strict on purpose: an entry we cannot read is a `BasketError` (quarantined as
`invalid_field` on `items`), never a guess that would put a wrong product or price into the lake.

Rules, where the till output leaves room for doubt:
- size is a leading `Regular` or `Large` (any case, written back capitalised); absent means null;
- the price is the last ` - ` part, optionally prefixed by `£`, at most two decimals; a comma inside it is a
  decimal comma (`2,75`) or, before exactly three digits and a dot, a thousands separator (`1,000.00`);
- entries are separated by commas that are not inside a price, so `2,75` never splits an entry;
- spacing is free (`Latte -2.45`, `Latte  -  2.45`), but a hyphen inside a word (`Hot-chocolate`) is part of
  the product name, not a separator;
- identical entries (same size, product, flavour and price, compared ignoring case and spacing) collapse into
  one line item with a quantity, in order of first appearance.

Pure Python, no dependencies: it runs in the Lambda layer and in Glue executors unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

SIZES = ("Regular", "Large")
_SIZE_BY_KEY = {size.casefold(): size for size in SIZES}
_PRICE_SCALE = Decimal("0.01")

# A separator comma: one not followed (after optional spaces) by a digit, so "2,75" stays one price.
_ENTRY_SEPARATOR = re.compile(r",(?!\s*\d)")
# What follows an entry's last dash when it is a price: "<name> - <price>", the dash needing no spaces around it.
# Matched on that tail alone (`_name_and_price`): a pattern over the whole entry, with its runs of optional
# spaces on both sides of the dash, backtracks in cubic time on a long run of spaces (a 64 KB basket: minutes).
_PRICE_TAIL = re.compile(r"£?\s*[0-9][0-9.,]*")
# A dash separating product and flavour: spaces on at least one side, so "Hot-chocolate" is one word.
_PART_SEPARATOR = re.compile(r"\s+-\s*|\s*-\s+")
_PRICE = re.compile(
    r"^(?:(?P<thousands>\d{1,3}(?:,\d{3})+)\.(?P<cents>\d{1,2})|(?P<units>\d+)(?:[.,](?P<frac>\d{1,2}))?)$"
)


class BasketError(ValueError):
    """A basket (or a price) that cannot be read; `problem` names what is wrong, `entry` where."""

    def __init__(self, problem: str, entry: str | None = None) -> None:
        self.problem = problem
        self.entry = entry
        super().__init__(problem if entry is None else f"{problem}: {entry!r}")


@dataclass(frozen=True, slots=True)
class LineItem:
    product: str
    size: str | None
    flavour: str | None
    unit_price: Decimal
    quantity: int = 1

    def to_wire(self) -> dict[str, object]:
        """The item as the wire contract spells it (`unit_price` a JSON number)."""
        return {
            "product": self.product,
            "size": self.size,
            "flavour": self.flavour,
            "unit_price": float(self.unit_price),
            "quantity": self.quantity,
        }


def parse_price(text: str) -> Decimal:
    """A till price (`2.75`, `£2.75`, `2,75`, `1,000.50`) as a Decimal with two places; BasketError if not one."""
    cleaned = text.strip().removeprefix("£").strip()
    match = _PRICE.match(cleaned)
    if match is None:
        raise BasketError("unreadable price", text)
    if match["thousands"] is not None:
        number = f"{match['thousands'].replace(',', '')}.{match['cents']}"
    else:
        number = match["units"] if match["frac"] is None else f"{match['units']}.{match['frac']}"
    try:
        return Decimal(number).quantize(_PRICE_SCALE)
    except InvalidOperation as error:  # pragma: no cover - the regex admits only digits
        raise BasketError("unreadable price", text) from error


def parse_basket(text: str) -> tuple[LineItem, ...]:
    """Parse a basket field into line items (see the module docstring for the rules)."""
    entries = [entry.strip() for entry in _ENTRY_SEPARATOR.split(text)]
    if not any(entries):
        raise BasketError("empty basket")
    items: dict[tuple[str | None, str, str | None, Decimal], LineItem] = {}
    for entry in entries:
        if not entry:
            raise BasketError("empty entry between commas", text)
        item = _parse_entry(entry)
        key = (
            item.size,
            item.product.casefold(),
            None if item.flavour is None else item.flavour.casefold(),
            item.unit_price,
        )
        seen = items.get(key)
        items[key] = item if seen is None else _with_quantity(seen, seen.quantity + 1)
    return tuple(items.values())


def _name_and_price(entry: str) -> tuple[str, str]:
    """An entry split at its last dash into (name, price text); BasketError when no price follows it. A price
    holds no dash, so the last dash is the only one a price can follow."""
    dash = entry.rfind("-")
    price = entry[dash + 1 :].strip()
    if dash < 0 or _PRICE_TAIL.fullmatch(price) is None:
        raise BasketError("entry has no ' - price' at its end", entry)
    return entry[:dash], price


def _parse_entry(entry: str) -> LineItem:
    name_text, price_text = _name_and_price(entry)
    unit_price = parse_price(price_text)
    words = name_text.split()
    if not words:
        raise BasketError("entry has no product", entry)
    size = _SIZE_BY_KEY.get(words[0].casefold())
    name = " ".join(words[1:] if size is not None else words)
    parts = [" ".join(part.split()) for part in _PART_SEPARATOR.split(name)]
    if not all(parts):
        raise BasketError("entry has an empty product or flavour", entry)
    if len(parts) > 2:
        raise BasketError("entry has more than product, flavour and price", entry)
    return LineItem(product=parts[0], size=size, flavour=parts[1] if len(parts) == 2 else None, unit_price=unit_price)


def _with_quantity(item: LineItem, quantity: int) -> LineItem:
    return LineItem(item.product, item.size, item.flavour, item.unit_price, quantity)
