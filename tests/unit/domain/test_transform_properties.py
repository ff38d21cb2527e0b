"""Property tests of transform_record: total on any input, PII-free rejects, valid sales always clean."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakewatch.domain.tables import PARTITION_KEY, SALES
from lakewatch.domain.transform import Clean, Rejected, transform_record

KEY = b"property-test-key"
NOW = datetime(2024, 5, 2, tzinfo=UTC)
CARD = "4929 1234 5678 9012"
NAME = "Zebedee Quux"
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@FAST
@given(st.binary(max_size=2048))
def test_any_bytes_give_a_verdict_and_never_raise(data: bytes) -> None:
    assert isinstance(transform_record(data, pii_key=KEY, ingested_at=NOW), Clean | Rejected)


@FAST
@given(
    st.dictionaries(
        st.sampled_from(["event_type", "event_id", "event_time", "channel", "items", "total_price", "status", "x"]),
        json_values,
    )
)
def test_any_json_object_gives_a_verdict_and_never_raises(event: dict[str, Any]) -> None:
    data = json.dumps(event).encode()
    assert isinstance(transform_record(data, pii_key=KEY, ingested_at=NOW), Clean | Rejected)


def required_text(max_size: int) -> st.SearchStrategy[str]:
    """Text a required contract string accepts: not blank, no NUL character, within its length."""
    return st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=max_size
    ).filter(lambda text: not text.isspace())


def cents(value: int) -> float:
    return value / 100


@st.composite
def sales(draw: st.DrawFn) -> dict[str, Any]:
    """Valid wire-contract sales: any channel, 1-4 items, times with any offset, optional fields."""
    items = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "product": required_text(20),
                    "unit_price": st.integers(0, 50_000).map(lambda c: c / 100),
                },
                optional={"quantity": st.integers(1, 20), "size": st.none() | required_text(8)},
            ),
            min_size=1,
            max_size=4,
        )
    )
    gross = sum(round(item["unit_price"] * 100) * item.get("quantity", 1) for item in items)
    discount = draw(st.integers(0, gross))
    moment = draw(st.datetimes(datetime(2020, 1, 2), datetime(2024, 5, 1)))  # inside the accepted range
    offset = timedelta(minutes=draw(st.integers(-12 * 60, 14 * 60)))
    channel = draw(st.sampled_from(["web", "store", "Store", "WEB"]))
    event = {
        "event_type": "sale",
        "event_id": draw(required_text(64)),
        "event_time": moment.replace(tzinfo=UTC).astimezone(timezone(offset)).isoformat(),
        "channel": channel,
        "payment_method": draw(st.sampled_from(["CARD", "cash", "Other"])),
        "items": items,
        "discount": discount / 100,
        "total_price": (gross - discount) / 100,
        "customer_name": NAME,
        "card_number": CARD,
    }
    if channel.lower() == "store":
        event["store"] = draw(required_text(20))
    return event


@FAST
@given(sales())
def test_valid_sales_are_always_clean_rows_with_exactly_the_table_columns(event: dict[str, Any]) -> None:
    result = transform_record(json.dumps(event).encode(), pii_key=KEY, ingested_at=NOW)
    assert isinstance(result, Clean), result
    row = json.loads(result.payload)
    assert tuple(row) == (*SALES.column_names, PARTITION_KEY)
    assert row[PARTITION_KEY] == row["event_time"][:10] == result.dt
    assert abs(sum(item["line_total"] for item in row["items"]) - row["discount"] - row["total_price"]) < 0.011
    assert CARD not in result.payload.decode() and NAME not in result.payload.decode()


@FAST
@given(sales(), st.sampled_from(["total_price", "items", "event_time", "channel", "event_id"]), json_values)
def test_rejected_records_never_carry_the_planted_card_number_or_name(
    event: dict[str, Any], field: str, value: Any
) -> None:
    # Given a sale with a card number and a name planted in PII fields (also nested) and one field broken
    event[field] = value
    event["notes"] = {"customer_name": NAME, "nested": [{"card_number": CARD.replace(" ", "")}]}

    # When it is transformed
    result = transform_record(json.dumps(event).encode(), pii_key=KEY, ingested_at=NOW)

    # Then, clean or rejected, neither the card number (in any spacing) nor the name survives
    text = json.dumps(result.record) if isinstance(result, Rejected) else result.payload.decode()
    assert CARD not in text and CARD.replace(" ", "") not in text
    assert NAME not in text


@FAST
@given(sales(), json_values)
def test_a_card_number_in_an_id_of_a_rejected_record_is_tokenised(event: dict[str, Any], value: Any) -> None:
    # Given an invalid sale (its event_type unknown) with a card number inside free text
    event["event_type"] = "refund"
    event["order_id"] = f"paid with {CARD}"
    event["extra"] = value

    # When it is transformed
    result = transform_record(json.dumps(event).encode(), pii_key=KEY, ingested_at=NOW)

    # Then the quarantined record keeps the order id joinable as a keyed token, the card gone
    assert isinstance(result, Rejected)
    assert result.record["order_id"].startswith("tok_")
    assert CARD not in json.dumps(result.record)


@st.composite
def iso_times(draw: st.DrawFn) -> tuple[str, str]:
    """(an ISO-8601 spelling of an aware time, its expected clean UTC text), computed independently."""
    moment = draw(st.datetimes(datetime(2020, 1, 2), datetime(2024, 5, 1)))  # inside the accepted range
    precision = draw(st.sampled_from(["minutes", "seconds", "milliseconds", "microseconds"]))
    offset_minutes = draw(st.sampled_from([0, 0, 60, -330, 14 * 60]))
    zone = (
        draw(st.sampled_from(["Z", "+00:00", "-00:00", "+0000"]))
        if offset_minutes == 0
        else datetime.now(timezone(timedelta(minutes=offset_minutes))).strftime("%z")
    )
    local = moment.isoformat(draw(st.sampled_from(["T", " "])), precision)
    kept = datetime.fromisoformat(local)  # what survives the chosen precision
    expected = (kept - timedelta(minutes=offset_minutes)).strftime("%Y-%m-%d %H:%M:%S.%f")
    return local + zone, expected


@FAST
@given(sales(), iso_times())
def test_any_iso_8601_event_time_becomes_its_clean_utc_text(event: dict[str, Any], spelled: tuple[str, str]) -> None:
    text, expected = spelled
    event["event_time"] = text
    result = transform_record(json.dumps(event).encode(), pii_key=KEY, ingested_at=NOW)
    assert isinstance(result, Clean), result
    assert json.loads(result.payload)["event_time"] == expected
    assert result.dt == expected[:10]


@FAST
@given(iso_times())
def test_any_iso_8601_job_run_time_becomes_its_clean_utc_text(spelled: tuple[str, str]) -> None:
    text, expected = spelled
    run = {
        "event_type": "job_run",
        "event_id": "run-1",
        "event_time": text,
        "run_id": "r-1",
        "client": "acme",
        "job_name": "nightly",
        "status": "SUCCEEDED",
        "started_at": text,
        "ended_at": text,
    }
    result = transform_record(json.dumps(run).encode(), pii_key=KEY, ingested_at=NOW)
    assert isinstance(result, Clean), result
    row = json.loads(result.payload)
    assert (row["started_at"], row["ended_at"], row["duration_seconds"]) == (expected, expected, 0.0)
