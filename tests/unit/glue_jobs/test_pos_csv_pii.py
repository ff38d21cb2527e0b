"""POS CSV job: nothing leaked. Card numbers and e-mails planted in every CSV column never reach a lake row or a
quarantine row in clear, and a customer's key does not depend on how their name's characters are spelt.

What a line yields (`process_file`) is exactly what the job stores: a sale's clean JSON becomes its lake row
column by column, a quarantine row is written as is. So these property tests run on that pure function (no
Spark) and scan every string of every outcome.

Masking and identity normalisation themselves belong to `lakewatch.domain.pii` (called through the transform);
these tests state the contract the POS job must meet with it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glue_jobs import pos_csv_etl as etl
from tests.pii_samples import luhn_complete
from tests.unit.glue_jobs import stream

PII_KEY = b"test-pii-key-0123456789"
INGESTED_AT = datetime(2022, 6, 12, 6, 0, tzinfo=UTC)
LONDON = ZoneInfo(etl.STORE_TIMEZONE)

#: Separators a card number is written with between its digit groups ("mixed" draws one per gap).
SEPARATORS = (" ", "  ", "-", ".", "/", "_", "\u2013", "\t")
EMAILS = ("ann.lee@example.com", "user@localhost", "Bo_Chan+till@shop.co.uk")
#: A valid row by column; each test plants a secret into one column.
BASE_ROW = {
    "timestamp": "10/06/2022 09:00",
    "store": "Leeds",
    "customer_name": "Ann Lee",
    "basket_items": "Large Latte - 2.45",
    "total_price": "2.45",
    "cash_or_card": "CARD",
    "card_number": "",
}


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid 13-19 digit card number in groups of four, with one separator or a mix of them."""
    length = draw(st.integers(min_value=13, max_value=19))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    number = luhn_complete(draw(st.sampled_from("3456")) + body[1:])
    groups = [number[start : start + 4] for start in range(0, len(number), 4)]
    if draw(st.booleans()):
        separator = draw(st.sampled_from(SEPARATORS))
        return separator.join(groups)
    return groups[0] + "".join(draw(st.sampled_from(SEPARATORS)) + group for group in groups[1:])


def planted(column: str, secret: str) -> str:
    """A CSV line whose `column` carries `secret` (beside text, where the column is free text)."""
    row = dict(BASE_ROW)
    if column == "basket_items":
        row[column] = f"Large Latte {secret} - 2.45"
    elif column == "flavour":
        row["basket_items"] = f"Large Latte - {secret} - 2.45"
    elif column in ("store", "customer_name"):
        row[column] = f"{row[column]} {secret}"
    elif column != "notes":
        row[column] = secret
    extra = [f"call {secret}"] if column == "notes" else []  # an eighth, unexpected column: a till's note
    return csv_line(row, *extra)


def csv_line(row: dict[str, str], *extra: str) -> str:
    fields = [*(row[name] for name in etl.CSV_COLUMNS), *extra]
    return ",".join(f'"{field}"' if "," in field else field for field in fields)


COLUMNS = (*etl.CSV_COLUMNS, "flavour", "notes")


def outputs(line: str, *, encoding: str = "utf-8") -> list[str]:
    """Every string the job would store for `line`: each string value of its lake row or quarantine row."""
    outcomes = etl.process_file(
        f"{line}\n".encode(encoding),
        "s3://b/landing/pos/leeds.csv",
        pii_key=PII_KEY,
        ingested_at=INGESTED_AT,
        store_timezone=LONDON,
    )
    strings: list[str] = []
    for _, outcome in outcomes:
        if outcome.payload is not None:
            _collect_strings(json.loads(outcome.payload), strings)
    return strings


def _collect_strings(value: Any, into: list[str]) -> None:
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            into.append(str(key))
            _collect_strings(item, into)
    elif isinstance(value, list):
        for item in value:
            _collect_strings(item, into)


def assert_no_card(card: str, strings: list[str]) -> None:
    digits = re.sub(r"\D", "", card)
    for text in strings:
        assert card not in text, text
        assert digits not in re.sub(r"\D", "", text), text


@pytest.mark.parametrize("column", COLUMNS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(card=card_numbers())
def test_no_card_number_in_any_column_reaches_an_output(column: str, card: str) -> None:
    assert_no_card(card, outputs(planted(column, card)))


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("email", EMAILS)
def test_no_email_in_any_column_reaches_an_output(column: str, email: str) -> None:
    for text in outputs(planted(column, email)):
        assert email.casefold() not in text.casefold(), text


def test_a_card_number_in_a_windows_1252_file_is_found_too() -> None:
    # Given a Windows-1252 file (the en-dash is the single byte 0x96) with a card number in the store name
    line = planted("store", "4111\u20131111\u20131111\u20131111")
    assert etl.decode_file(line.encode("cp1252"))[0] == etl.ENCODING_WINDOWS_1252
    # Then it is masked like any other
    assert_no_card("4111\u20131111\u20131111\u20131111", outputs(line, encoding="cp1252"))


def test_luhn_helper_makes_valid_numbers() -> None:
    assert luhn_complete("411111111111111") == "4111111111111111"
    assert luhn_complete("510510510510510") == "5105105105105100"


# ------------------------------------------------------------------------------------------ customer identity

NAME = "Zoë Adams"
SPELLINGS = {
    "nfc": unicodedata.normalize("NFC", NAME),
    "nfd": unicodedata.normalize("NFD", NAME),
    "fullwidth": "\uff3a\uff4f\u00eb \uff21\uff44\uff41\uff4d\uff53",
    "zero-width": "Zo\u200b\u00eb Ad\u200dams\u2060",
    "case and spacing": "  zoË   ADAMS ",
}


def stream_customer_key(name: str) -> str:
    return stream.stream_customer_key(name, pii_key=PII_KEY, ingested_at=INGESTED_AT)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_till_spelling_of_a_name_gets_the_stream_customer_key(spelling: str) -> None:
    # Given the name as a till writes it (NFD, fullwidth, with zero-width characters...)
    line = csv_line({**BASE_ROW, "customer_name": SPELLINGS[spelling]})
    (_, outcome), *_ = etl.process_file(
        f"{line}\n".encode(), "leeds.csv", pii_key=PII_KEY, ingested_at=INGESTED_AT, store_timezone=LONDON
    )
    # Then the POS sale carries the key the stream gives the plain NFC spelling
    assert outcome.kind == etl.KIND_SALE
    assert json.loads(outcome.payload or "")["customer_key"] == stream_customer_key(SPELLINGS["nfc"])


# ------------------------------------------------------------------------------------------ shifted columns

SECRET_NAME = "Zoe Secretname"
#: One row's seven columns, the name and a card number among them: a till export shuffles or drops columns.
COLUMN_VALUES = ("10/06/2022 09:00", "Leeds", SECRET_NAME, "Large Latte - 2.45", "2.45", "CARD", "4111111111111111")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(range(len(COLUMN_VALUES))), dropped=st.none() | st.integers(0, 6))
def test_a_quarantine_row_keeps_no_name_or_card_from_a_shifted_column(order: list[int], dropped: int | None) -> None:
    # Given a row whose columns are reordered, one of them perhaps left out (a headerless spreadsheet export)
    values = [COLUMN_VALUES[index] for index in order if index != dropped]
    line = ",".join(values)
    outcomes = etl.process_file(
        f"{line}\n".encode(), "leeds.csv", pii_key=PII_KEY, ingested_at=INGESTED_AT, store_timezone=LONDON
    )
    for _, outcome in outcomes:
        strings = _collect_strings_of(outcome.payload)
        assert_no_card(COLUMN_VALUES[6], strings)
        # The one place a name can stand unrecognised is the store column of a row whose time and payment
        # method sit where they belong: a sale with that name as its store (undetectable in any source).
        if not (values[1] == SECRET_NAME and values[0] == COLUMN_VALUES[0] and values[5:6] == ["CARD"]):
            assert not any(SECRET_NAME.casefold() in text.casefold() for text in strings), (line, strings)


def _collect_strings_of(payload: str | None) -> list[str]:
    strings: list[str] = []
    if payload is not None:
        _collect_strings(json.loads(payload), strings)
    return strings


@pytest.mark.parametrize("space", ["\u00a0", "\u2009", "\u202f"], ids=["no-break", "thin", "narrow-no-break"])
def test_a_card_number_spaced_with_unusual_spaces_in_a_rejected_row_is_masked(space: str) -> None:
    # Given a row rejected for its total whose basket holds a card number spaced with a no-break or thin space
    card = space.join(["4111", "1111", "1111", "1111"])
    line = csv_line({**BASE_ROW, "basket_items": f"Large Latte {card} - 2.45", "total_price": "two"})
    # Then no output keeps its digits
    assert_no_card(card, outputs(line))
