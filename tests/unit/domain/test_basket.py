"""Basket parsing (the till text of the café chain's CSV drops) into wire-contract line items."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakewatch.domain.basket import SIZES, BasketError, LineItem, parse_basket, parse_price


def test_the_seed_basket_parses_into_sized_flavoured_items() -> None:
    # Given a till's basket text / When parsed
    items = parse_basket("Regular Flavoured iced latte - Hazelnut - 2.75, Large Latte - 2.45")
    # Then size, product, optional flavour and price are separated
    assert items == (
        LineItem("Flavoured iced latte", "Regular", "Hazelnut", Decimal("2.75")),
        LineItem("Latte", "Large", None, Decimal("2.45")),
    )


def test_repeated_items_collapse_into_a_quantity_in_first_seen_order() -> None:
    items = parse_basket("Large Latte - 2.45, Regular Tea - 1.20, large  latte -2.45, Large Latte - 2.45")
    assert [(item.product, item.size, item.quantity) for item in items] == [
        ("Latte", "Large", 3),
        ("Tea", "Regular", 1),
    ]


def test_same_product_at_another_price_or_size_is_another_line() -> None:
    items = parse_basket("Large Latte - 2.45, Large Latte - 2.55, Regular Latte - 2.45")
    assert [item.quantity for item in items] == [1, 1, 1]


def test_an_item_without_a_size_has_a_null_size() -> None:
    assert parse_basket("Hot-chocolate - 1.40") == (LineItem("Hot-chocolate", None, None, Decimal("1.40")),)


@pytest.mark.parametrize(
    ("text", "price"),
    [
        ("Latte - 2,45", "2.45"),  # decimal comma does not split the entry
        ("Latte - £2.45", "2.45"),
        ("Latte-2.45", "2.45"),
        ("  Latte   -   2  ", "2.00"),
        ("Latte - 1,000.50", "1000.50"),
    ],
)
def test_odd_price_spellings_and_spacing(text: str, price: str) -> None:
    (item,) = parse_basket(text)
    assert (item.product, item.unit_price) == ("Latte", Decimal(price))


def test_a_decimal_comma_price_inside_a_multi_item_basket() -> None:
    items = parse_basket("Large Latte - 2,45, Regular Tea - 1,20")
    assert [(item.product, item.unit_price) for item in items] == [("Latte", Decimal("2.45")), ("Tea", Decimal("1.20"))]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty basket"),
        ("  ,  ", "empty basket"),
        ("Latte", "no ' - price'"),
        ("Latte - two pounds", "no ' - price'"),
        ("Latte - 2.755", "unreadable price"),
        ("Large - 2.45", "empty product"),
        ("Latte - Vanilla - Extra - 2.45", "more than product"),
        ("Latte - 2.45,, Tea - 1.00", "empty entry"),
        ("Latte -  - 2.45", "empty product or flavour"),
    ],
)
def test_unreadable_baskets_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(BasketError, match=problem):
        parse_basket(text)


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "-2.45", "2,7500", "1,00.00"])
def test_unreadable_prices(text: str) -> None:
    with pytest.raises(BasketError):
        parse_price(text)


_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
_name = st.lists(_word, min_size=1, max_size=3).map(" ".join).filter(lambda name: name.split()[0].title() not in SIZES)
_item = st.tuples(
    st.sampled_from([None, *SIZES]),
    _name,
    st.one_of(st.none(), _name),
    st.decimals(min_value=0, max_value=999, places=2),
)


@given(st.lists(_item, min_size=1, max_size=6))
def test_rendered_baskets_parse_back_to_their_items(entries: list) -> None:
    # Given any basket a till could write (repeats allowed)
    text = ", ".join(
        " - ".join(part for part in (f"{size} {product}" if size else product, flavour, str(price)) if part is not None)
        for size, product, flavour, price in entries
    )
    # When parsed
    items = parse_basket(text)
    # Then every entry is there once, with repeats as quantities, nothing invented
    assert Counter({(i.size, i.product, i.flavour, i.unit_price): i.quantity for i in items}) == Counter(entries)
    assert sum(item.quantity for item in items) == len(entries)


#: The entry grammar as a single pattern (how it read before): the oracle for small entries only, since on a
#: long run of spaces it backtracks in cubic time.
_ENTRY_AS_ONE_PATTERN = re.compile(r"^(?P<name>.*?)\s*-\s*(?P<price>£?\s*[0-9][0-9.,]*)\s*$", re.DOTALL)


@given(entry=st.text(alphabet=" -£0123456789.aLx\t", max_size=24))  # no comma: it splits entries
def test_an_entry_splits_at_its_last_dash_as_the_entry_grammar_says(entry: str) -> None:
    expected = _ENTRY_AS_ONE_PATTERN.match(entry)
    try:
        items = parse_basket(entry)
    except BasketError as error:
        if expected is not None and error.problem == "entry has no ' - price' at its end":
            pytest.fail(f"{entry!r} has a price: {expected['price']!r}")
        return
    (item,) = items
    assert expected is not None
    assert item.unit_price == parse_price(expected["price"])
    assert " ".join(entry[: expected.end("name")].split()).endswith(item.flavour or item.product)


@pytest.mark.parametrize(
    "basket",
    ["x -" + " " * 50_000 + "1 x", "a" + " " * 50_000 + "- 1x", " -" * 50_000, "Latte - 2.45," + " " * 50_000],
    ids=["spaces-after-dash", "spaces-before-dash", "dashes", "trailing-spaces"],
)
def test_a_long_run_of_spaces_is_read_in_one_pass(basket: str) -> None:
    # Given a padded spreadsheet cell or a hostile basket (the single pattern took about 30 s for 16,000 spaces,
    # minutes for 64,000: a stalled Glue executor)
    # Then it is read, or refused with a reason, at once
    try:
        parse_basket(basket)
    except BasketError as error:
        assert error.problem
