"""Planted PII never comes out in clear: Luhn-valid card numbers (13-19 digits, every separator) and e-mail
addresses in every string field of both event types and in unknown fields, valid records and rejected ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakewatch.domain import events, pii
from lakewatch.domain.transform import Clean, Rejected, transform_record
from tests.fixtures import encode, load_event
from tests.pii_samples import luhn_complete

KEY = b"pii-property-test-key"
INGESTED_AT = datetime(2024, 5, 2, 9, tzinfo=UTC)
PLANT = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEPARATORS = [" ", "  ", "-", ".", "/", "_", "\u2013", "\u2014", "\t", " -", "._"]


@st.composite
def cards(draw: st.DrawFn) -> tuple[str, str]:
    """(a Luhn-valid card number as written with separators, its bare digits)."""
    length = draw(st.integers(13, 19))
    digits = luhn_complete(draw(st.text("0123456789", min_size=length - 1, max_size=length - 1)))
    group = draw(st.sampled_from([1, 3, 4, 5]))
    pieces = [digits[start : start + group] for start in range(0, length, group)]
    written = pieces[0]
    for piece in pieces[1:]:
        written += draw(st.sampled_from(["", *SEPARATORS])) + piece
    return written, digits


emails = st.builds(
    "{}@{}{}".format,
    st.from_regex(r"[a-z][a-z0-9.+]{0,10}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
    st.sampled_from(["", ".com", ".co.uk", ".example"]),
)

SALE_FIELDS = ["event_id", "order_id", "customer_id", "customer_name", "channel", "payment_method", "currency"]
ITEM_FIELDS = ["product", "size", "flavour"]
RUN_FIELDS = ["event_id", "run_id", "client", "job_name", "status", "instance_size", "error_message", "started_at"]


def outputs(result: Clean | Rejected) -> str:
    """Everything a verdict lets out of the transform, as text."""
    if isinstance(result, Clean):
        return result.payload.decode() + result.event_id
    return json.dumps([result.record, result.event_id, result.field], ensure_ascii=False)


def assert_not_in_clear(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, secret


@st.composite
def planted_secret(draw: st.DrawFn) -> tuple[str, list[str]]:
    """(a field value carrying a card number or an e-mail address, the strings that must not come out)."""
    if draw(st.booleans()):
        written, digits = draw(cards())
        secrets = [written, digits]
    else:
        written = draw(emails)
        secrets = [written]
    around = draw(st.sampled_from(["{}", "ref {}", "{} x", "paid:{};"]))
    return around.format(written), secrets


@PLANT
@given(planted_secret(), st.sampled_from(SALE_FIELDS + ITEM_FIELDS + ["store"]), st.booleans())
def test_no_planted_secret_leaves_a_sale_in_clear(planted: tuple[str, list[str]], field: str, break_it: bool) -> None:
    value, secrets = planted
    event = load_event("sale_store" if field == "store" else "sale_web")
    if field in ITEM_FIELDS:
        event["items"][0][field] = value[: events.MAX_LABEL_LENGTH]
    else:
        event[field] = value[: events.MAX_EVENT_ID_LENGTH]
    if break_it:
        event["total_price"] = 1.0  # rejected records must be as clean as valid ones
    assert_not_in_clear(outputs(transform_record(encode(event), pii_key=KEY, ingested_at=INGESTED_AT)), secrets)


@PLANT
@given(planted_secret(), st.sampled_from(RUN_FIELDS), st.booleans())
def test_no_planted_secret_leaves_a_job_run_in_clear(
    planted: tuple[str, list[str]], field: str, break_it: bool
) -> None:
    value, secrets = planted
    event = load_event("job_run", **{field: value[: events.MAX_EVENT_ID_LENGTH]})
    if break_it:
        event["status"] = "CANCELLED"
    assert_not_in_clear(outputs(transform_record(encode(event), pii_key=KEY, ingested_at=INGESTED_AT)), secrets)


@PLANT
@given(
    planted_secret(),
    st.sampled_from(["note", "customerName", "CUSTOMER_NAME", "name", "cardNumber", "card", "e-mail"]),
    st.sampled_from(["top", "nested", "in_item", "as_key"]),
    st.sampled_from(["sale_web", "job_run"]),
)
def test_no_planted_secret_survives_in_unknown_fields_of_a_quarantined_record(
    planted: tuple[str, list[str]], name: str, where: str, kind: str
) -> None:
    value, secrets = planted
    event = load_event(kind, event_type="refund")  # quarantined whole
    if where == "top":
        event[name] = value
    elif where == "nested":
        event["customer"] = {name: value, "details": [value]}
    elif where == "in_item":
        event["items"] = [{"product": "Mocha", name: value}]
    else:
        event[value] = name
    result = transform_record(encode(event), pii_key=KEY, ingested_at=INGESTED_AT)
    assert isinstance(result, Rejected)
    assert_not_in_clear(outputs(result), [*secrets, "Jane Doe", "cust-42"])


@PLANT
@given(planted_secret(), st.sampled_from(["order_id", "run_id", "client", "store", "event_id"]))
def test_the_same_id_is_always_stored_as_the_same_value(planted: tuple[str, list[str]], field: str) -> None:
    value = planted[0][: events.MAX_EVENT_ID_LENGTH]
    name = {"order_id": "sale_web", "store": "sale_store", "event_id": "sale_web"}.get(field, "job_run")
    stored = []
    for other_fields in ({}, {"total_price": 73.98} if name == "sale_web" else {}):
        result = transform_record(
            encode(load_event(name, **{field: value}, **other_fields)), pii_key=KEY, ingested_at=INGESTED_AT
        )
        assert isinstance(result, Clean)
        stored.append(json.loads(result.payload)[field])
    assert stored[0] == stored[1] == pii.protect_id(value, KEY)


def test_the_planted_generators_produce_what_the_masks_must_catch() -> None:
    # A guard on the test itself: 4111... with an en dash is a Luhn-valid 16-digit card
    assert luhn_complete("411111111111111") == "4111111111111111"
    sample: list[Any] = [pii.mask_text(f"x {card} y") for card in ("4111\u20131111\u20131111\u20131111",)]
    assert sample == ["x [card] y"]
