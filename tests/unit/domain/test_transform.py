"""transform_record: every wire-contract rule and every reason code of the wire contract."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from lakewatch.domain import events, pii, tables, transform
from lakewatch.domain.reasons import Reason
from lakewatch.domain.tables import JOB_RUNS, PARTITION_KEY, SALES
from lakewatch.domain.transform import (
    KPL_MAGIC,
    MAX_RECORD_BYTES,
    Clean,
    Rejected,
    quarantine_row,
    transform_record,
    transform_records,
)
from tests.fixtures import encode, load_event

KEY = b"unit-test-pii-key"
INGESTED_AT = datetime(2024, 5, 2, 9, 0, 0, 123456, tzinfo=UTC)


def run(event: dict[str, Any] | bytes, **kwargs: Any) -> Clean | Rejected:
    return transform_record(encode(event), pii_key=KEY, ingested_at=INGESTED_AT, **kwargs)


def clean_row(event: dict[str, Any] | bytes, **kwargs: Any) -> dict[str, Any]:
    result = run(event, **kwargs)
    assert isinstance(result, Clean), result
    return json.loads(result.payload)


def rejected(event: dict[str, Any] | bytes) -> Rejected:
    result = run(event)
    assert isinstance(result, Rejected), result
    return result


# ------------------------------------------------------------------------------------------------ sales


def test_a_valid_web_sale_becomes_a_sales_row_with_exactly_the_table_columns() -> None:
    # Given a web sale carrying a customer id, name and card number
    event = load_event("sale_web")

    # When it is transformed
    result = run(event)

    # Then it is routed to sales with every column normalised, dt from the event time and no PII
    assert isinstance(result, Clean)
    assert (result.table, result.event_id, result.dt) == ("sales", "sale-web-0001", "2024-05-01")
    row = json.loads(result.payload)
    assert tuple(row) == (*SALES.column_names, PARTITION_KEY)
    assert row["event_time"] == "2024-05-01 12:34:56.789000"
    assert row["ingested_at"] == "2024-05-02 09:00:00.123456"
    assert row["channel"] == "web" and row["store"] is None
    assert row["payment_method"] == "CARD"
    assert row["items"] == [
        {
            "product": "Wireless earbuds",
            "size": None,
            "flavour": None,
            "unit_price": 59.99,
            "quantity": 1,
            "line_total": 59.99,
        },
        {
            "product": "USB-C cable",
            "size": None,
            "flavour": None,
            "unit_price": 9.49,
            "quantity": 2,
            "line_total": 18.98,
        },
    ]
    assert (row["item_count"], row["discount"], row["total_price"], row["currency"]) == (3, 5.0, 73.97, "GBP")
    assert row["source"] == "stream"
    expected_key = pii.customer_key(pii.normalise_customer_identity("cust-42", "Jane Doe"), KEY)
    assert row["customer_key"] == expected_key
    text = result.payload.decode()
    for secret in ("4111", "Jane", "cust-42"):
        assert secret not in text


def test_a_store_sale_gets_defaults_upper_case_enums_and_its_utc_date() -> None:
    # Given a store sale with an offset, lower-case payment method, no quantity, discount or currency
    event = load_event("sale_store")

    # When it is transformed
    row = clean_row(event)

    # Then defaults apply and the time is normalised to UTC
    assert row["store"] == "Chesterfield" and row["channel"] == "store"
    assert row["payment_method"] == "CASH"
    assert row["event_time"] == "2024-05-01 07:15:00.000000"
    assert row["items"][0]["quantity"] == 1
    assert row["item_count"] == 3
    assert (row["discount"], row["currency"]) == (0.0, "GBP")


def test_the_same_customer_gets_the_same_key_online_and_in_store() -> None:
    # Given the same person by name, spelled with different case and spacing, in two channels
    web = load_event("sale_web", customer_name="  jane   DOE ")
    store = load_event("sale_store", customer_name="Jane Doe")

    # When both are transformed
    keys = {clean_row(web)["customer_key"], clean_row(store)["customer_key"]}

    # Then they share one customer_key
    assert len(keys) == 1 and None not in keys


def test_an_anonymous_sale_has_no_customer_key() -> None:
    row = clean_row(load_event("sale_store", customer_name=...))
    assert row["customer_key"] is None


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("channel", "WEB", "web"),
        ("payment_method", "other", "OTHER"),
        ("currency", "eur", "EUR"),
        ("event_type", "SALE", None),
    ],
)
def test_enum_like_inputs_are_case_insensitive(field: str, value: str, expected: str | None) -> None:
    row = clean_row(load_event("sale_web", **{field: value}))
    if expected is not None:
        assert row[field] == expected


def test_a_web_sale_never_keeps_a_store() -> None:
    assert clean_row(load_event("sale_web", store="Leeds"))["store"] is None


def test_a_late_event_is_partitioned_by_its_event_date_not_arrival() -> None:
    # Given a sale from three weeks before ingestion, late in the evening at UTC-5
    event = load_event("sale_web", event_time="2024-04-10T21:30:00-05:00")

    # When it is transformed
    result = run(event)

    # Then its dt is the UTC date of the event
    assert isinstance(result, Clean)
    assert result.dt == "2024-04-11"
    assert json.loads(result.payload)["event_time"] == "2024-04-11 02:30:00.000000"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T23:59:59Z", "2024-05-01 23:59:59.000000"),
        ("2024-05-01T23:59:59.5+00:00", "2024-05-01 23:59:59.500000"),
        ("2024-05-01 23:59:59.123456Z", "2024-05-01 23:59:59.123456"),
        ("2024-05-02T01:00:00+0200", "2024-05-01 23:00:00.000000"),
        ("20240501T235959Z", "2024-05-01 23:59:59.000000"),
        ("2024-05-01T23:59:59.123456-00:00", "2024-05-01 23:59:59.123456"),
        ("2024-05-01T23:59:59.1+00:00", "2024-05-01 23:59:59.100000"),
        ("2024-05-01T23:59:59.1234567Z", "2024-05-01 23:59:59.123456"),
        ("2024-05-01T23:59:59.123+00:00:00", "2024-05-01 23:59:59.123000"),
        ("2024-05-01T23:59+00:00", "2024-05-01 23:59:00.000000"),
        ("2024-05-01T23:59:00+00:00", "2024-05-01 23:59:00.000000"),
        ("2024-05-01T23:59:59,123456Z", "2024-05-01 23:59:59.123456"),
        ("2024-05-01x23:59:59Z", "2024-05-01 23:59:59.000000"),
        ("2024-W18-3T23:59:59Z", "2024-05-01 23:59:59.000000"),
        ("2024-05-01T235959Z", "2024-05-01 23:59:59.000000"),
        ("2024-05-01T235959.5Z", "2024-05-01 23:59:59.500000"),
        ("2024-05-01t23:59:59z", "2024-05-01 23:59:59.000000"),  # RFC 3339 allows both in lower case
        ("2024-05-01T23:59:59.5z", "2024-05-01 23:59:59.500000"),
    ],
)
def test_iso_8601_variants_normalise_to_clean_utc_text(text: str, expected: str) -> None:
    assert clean_row(load_event("sale_web", event_time=text))["event_time"] == expected


@pytest.mark.parametrize("text", ["2024-05-01T24:00:00Z", "2024-05-01T24:00Z", "2024-05-01T24:00:00.000+00:00"])
def test_midnight_spelt_24_00_is_never_stored_as_hour_24(text: str) -> None:
    """A guard for a newer Python: up to 3.13 `fromisoformat` refuses `24:00`, CPython's main branch reads it as the
    next day's 00:00 (ISO 8601's end of day). Either way no row may hold hour 24 or the previous day's partition
    (the fast path cuts the clean text from the input, so it would copy `24:00:00` if the parser let it through)."""
    result = run(load_event("sale_web", event_time=text))
    if isinstance(result, Rejected):
        assert (result.reason, result.field) == (Reason.INVALID_FIELD, "event_time")
    else:
        assert (json.loads(result.payload)["event_time"], result.dt) == ("2024-05-02 00:00:00.000000", "2024-05-02")


@pytest.mark.parametrize(
    "text",
    ["2024-05-01T12:00:00", "2024-05-01", "yesterday", "2024-13-01T00:00:00Z", "z", "2024-05-01T12:00:00+01:00z"],
)
def test_a_naive_or_invalid_time_is_an_invalid_field(text: str) -> None:
    result = rejected(load_event("sale_web", event_time=text))
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, "event_time")


def test_prices_are_rounded_to_the_column_scale_and_lines_derived() -> None:
    # Given an item price with more decimals than the column keeps
    items = [{"product": "Mocha", "unit_price": 2.954, "quantity": 3}]
    event = load_event("sale_store", items=items, total_price=8.85)

    # When it is transformed
    row = clean_row(event)

    # Then the price is rounded to cents and the line total follows the stored price
    assert row["items"][0]["unit_price"] == 2.95
    assert row["items"][0]["line_total"] == 8.85
    assert row["total_price"] == 8.85


def test_half_cents_round_up() -> None:
    items = [{"product": "Biscuit", "unit_price": 0.125, "quantity": 2}]
    row = clean_row(load_event("sale_store", items=items, total_price=0.26))
    assert (row["items"][0]["unit_price"], row["items"][0]["line_total"]) == (0.13, 0.26)


@pytest.mark.parametrize("total", [73.96, 73.98])
def test_a_total_within_one_cent_is_accepted(total: float) -> None:
    assert clean_row(load_event("sale_web", total_price=total))["total_price"] == total


def test_a_total_that_does_not_add_up_is_a_total_mismatch() -> None:
    # Given a sale whose total ignores its discount
    event = load_event("sale_web", total_price=78.97)

    # When it is transformed
    result = rejected(event)

    # Then it is rejected with total_mismatch, keeping its event_id and no PII
    assert (result.reason, result.field, result.event_id) == (Reason.TOTAL_MISMATCH, "total_price", "sale-web-0001")
    assert not {"card_number", "customer_name", "customer_id"} & set(result.record)
    assert result.record["total_price"] == 78.97


def test_a_store_sale_without_a_store_is_a_missing_field() -> None:
    result = rejected(load_event("sale_store", store=...))
    assert (result.reason, result.field) == (Reason.MISSING_FIELD, "store")


@pytest.mark.parametrize(
    ("overrides", "reason", "field"),
    [
        ({"event_id": ...}, Reason.MISSING_FIELD, "event_id"),
        ({"items": ...}, Reason.MISSING_FIELD, "items"),
        ({"payment_method": None}, Reason.MISSING_FIELD, "payment_method"),
        ({"event_id": ""}, Reason.INVALID_FIELD, "event_id"),
        ({"event_id": "x" * 65}, Reason.INVALID_FIELD, "event_id"),
        ({"channel": "phone"}, Reason.INVALID_FIELD, "channel"),
        ({"payment_method": "BITCOIN"}, Reason.INVALID_FIELD, "payment_method"),
        ({"items": []}, Reason.INVALID_FIELD, "items"),
        ({"items": [{"unit_price": 1}]}, Reason.MISSING_FIELD, "items[0].product"),
        ({"items": [{"product": "x", "unit_price": -1}]}, Reason.INVALID_FIELD, "items[0].unit_price"),
        ({"items": [{"product": "x", "unit_price": 1, "quantity": 0}]}, Reason.INVALID_FIELD, "items[0].quantity"),
        ({"items": [{"product": "x", "unit_price": "1"}]}, Reason.INVALID_FIELD, "items[0].unit_price"),
        ({"discount": -1}, Reason.INVALID_FIELD, "discount"),
        ({"total_price": 1e15}, Reason.INVALID_FIELD, "total_price"),
        ({"currency": "POUND"}, Reason.INVALID_FIELD, "currency"),
        ({"schema_version": 0}, Reason.INVALID_FIELD, "schema_version"),
        ({"event_type": "refund"}, Reason.UNKNOWN_EVENT_TYPE, "event_type"),
        ({"event_type": 7}, Reason.UNKNOWN_EVENT_TYPE, "event_type"),
        ({"event_type": ...}, Reason.MISSING_FIELD, "event_type"),
    ],
)
def test_each_contract_violation_has_one_stable_reason_and_field(
    overrides: dict[str, Any], reason: Reason, field: str
) -> None:
    result = rejected(load_event("sale_web", **overrides))
    assert (result.reason, result.field) == (reason, field)
    assert "4111" not in json.dumps(result.record)


def test_rejected_records_keep_their_shape_with_pii_removed_and_free_text_masked() -> None:
    # Given an invalid sale whose order id holds an e-mail address
    event = load_event("sale_web", channel="phone", order_id="for jane@example.com")

    # When it is rejected
    record = rejected(event).record

    # Then PII fields are gone and the id carrying an e-mail is a keyed token; the rest is kept for diagnosis
    assert record["order_id"] == pii.protect_id("for jane@example.com", KEY) != "for jane@example.com"
    assert record["channel"] == "phone"
    assert not {"card_number", "customer_name", "customer_id"} & set(record)


# --------------------------------------------------------------------------------------------- job runs


def test_a_valid_job_run_becomes_a_job_runs_row() -> None:
    # Given a failed run whose error message carries an e-mail and a card number
    result = run(load_event("job_run"))

    # Then it is routed to job_runs, partitioned by ended_at, with the message masked and cost at scale 4
    assert isinstance(result, Clean)
    assert (result.table, result.dt) == ("job_runs", "2024-05-01")
    row = json.loads(result.payload)
    assert tuple(row) == (*JOB_RUNS.column_names, PARTITION_KEY)
    assert row == {
        "event_id": "run-evt-0001",
        "run_id": "run-0001",
        "client": "acme-retail",
        "job_name": "nightly_sales",
        "status": "FAILED",
        "started_at": "2024-05-01 02:30:00.000000",
        "ended_at": "2024-05-01 03:30:00.000000",
        "duration_seconds": 3600.0,
        "data_processed_gb": 12.5,
        "cost_usd": 1.2346,
        "instance_size": "m5.xlarge",
        "error_message": "Stage 3 failed for [email]: card [card] rejected",
        "ingested_at": "2024-05-02 09:00:00.123456",
        "dt": "2024-05-01",
    }


def test_job_run_dt_is_the_utc_date_of_ended_at() -> None:
    event = load_event(
        "job_run", started_at="2024-05-01T22:00:00-03:00", ended_at="2024-05-01T23:00:00-03:00", duration_seconds=...
    )
    result = run(event)
    assert isinstance(result, Clean) and result.dt == "2024-05-02"


def test_job_run_times_without_seconds_normalise_to_clean_utc_text() -> None:
    event = load_event("job_run", started_at="2024-05-01T02:30+00:00", ended_at="2024-05-01T03:30Z")
    row = clean_row(event)
    assert (row["started_at"], row["ended_at"]) == ("2024-05-01 02:30:00.000000", "2024-05-01 03:30:00.000000")


def test_a_missing_duration_is_derived_from_the_timestamps() -> None:
    event = load_event("job_run", duration_seconds=..., ended_at="2024-05-01T03:30:00.250+00:00")
    assert clean_row(event)["duration_seconds"] == 3600.25


@pytest.mark.parametrize("duration", [3599.0, 3601.0])
def test_a_given_duration_within_one_second_is_kept(duration: float) -> None:
    assert clean_row(load_event("job_run", duration_seconds=duration))["duration_seconds"] == duration


def test_a_duration_that_disagrees_with_the_timestamps_is_invalid() -> None:
    result = rejected(load_event("job_run", duration_seconds=3602))
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, "duration_seconds")


def test_a_run_that_ends_before_it_starts_is_invalid() -> None:
    result = rejected(load_event("job_run", ended_at="2024-05-01T02:00:00Z", duration_seconds=...))
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, "ended_at")


def test_status_is_case_insensitive_and_must_be_known() -> None:
    assert clean_row(load_event("job_run", status="timed_out"))["status"] == "TIMED_OUT"
    result = rejected(load_event("job_run", status="CANCELLED"))
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, "status")


@pytest.mark.parametrize("field", ["cost_usd", "data_processed_gb", "duration_seconds"])
def test_negative_figures_are_invalid(field: str) -> None:
    result = rejected(load_event("job_run", **{field: -0.5}))
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, field)


def test_a_long_error_message_is_masked_then_cut_to_1000_characters() -> None:
    # Given an error message of 2,000 characters whose card number straddles the 1,000th
    message = "x" * 990 + " 4111 1111 1111 1111 " + "y" * 989
    row = clean_row(load_event("job_run", error_message=message))

    # Then it is kept at 1,000 characters with no digits of the card left
    assert len(row["error_message"]) == 1000
    assert "4111" not in row["error_message"] and "[card]" in row["error_message"]


def test_optional_job_run_fields_may_be_absent_or_null() -> None:
    event = load_event(
        "job_run", data_processed_gb=None, cost_usd=..., instance_size=..., error_message=None, schema_version=None
    )
    row = clean_row(event)
    assert (row["data_processed_gb"], row["cost_usd"], row["instance_size"], row["error_message"]) == (None,) * 4


@pytest.mark.parametrize("field", ["instance_size", "error_message"])
def test_an_empty_optional_job_run_text_is_stored_as_absent(field: str) -> None:
    # Given a failed run whose producer sends an empty string where it has nothing to say
    event = load_event("job_run", status="FAILED", **{field: ""})

    # Then the row says "absent", as job_monitor reads its optional text (null or words)
    assert clean_row(event)[field] is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"error_message": ""},
        {"instance_size": ""},
        {"error_message": " ", "instance_size": "\u2028"},
        {"error_message": "\U0001f600" * 1200, "instance_size": "\u202e"},
        {"cost_usd": 0, "data_processed_gb": -0.0, "duration_seconds": 3600.4},
    ],
    ids=["empty error", "empty instance", "blank text", "long astral text", "zero figures"],
)
def test_job_monitor_accepts_every_clean_job_run_the_transform_writes(overrides: dict[str, Any]) -> None:
    # Given a valid failed run with odd but valid optional values, as the transform writes it to job-runs-clean
    from job_monitor.records import parse_job_run

    result = run(load_event("job_run", **overrides))
    assert isinstance(result, Clean), result

    # Then job_monitor can process it (a run it quarantined would never page for its failure)
    parsed = parse_job_run(result.payload)
    assert parsed.failed


# ------------------------------------------------------------------------------- bytes that are not events


@pytest.mark.parametrize(
    ("data", "reason", "field"),
    [
        (b"not json", Reason.INVALID_JSON, None),
        (b"", Reason.INVALID_JSON, None),
        (b'{"event_type": "sale", "card_number": "4111111111111111"', Reason.INVALID_JSON, None),
        (b"\xff\xfe", Reason.INVALID_JSON, None),
        (KPL_MAGIC + b"\x1a\x04abcd", Reason.INVALID_JSON, "kpl_aggregation"),
        (b"[1, 2, 3]", Reason.NOT_AN_OBJECT, None),
        (b'"4111 1111 1111 1111"', Reason.NOT_AN_OBJECT, None),
        (b"42", Reason.NOT_AN_OBJECT, None),
    ],
)
def test_unparseable_records_are_kept_only_as_length_and_hash(data: bytes, reason: Reason, field: str | None) -> None:
    result = rejected(data)
    assert (result.reason, result.field, result.event_id) == (reason, field, None)
    assert result.record == pii.fingerprint(data, KEY)


def test_the_largest_clean_row_still_fits_one_kinesis_record() -> None:
    # Given the record that grows most into its clean row: 256 KiB of the smallest items the contract accepts
    # (each gains size, flavour, quantity and line_total: about 2.9 times its bytes)
    sale = load_event(
        "sale_web", items=[], total_price=0, discount=..., order_id=..., customer_id=..., customer_name=...
    )
    sale.pop("card_number")
    room = MAX_RECORD_BYTES - len(json.dumps(sale, separators=(",", ":")))
    sale["items"] = [{"product": "a", "unit_price": 0}] * (room // len('{"product":"a","unit_price":0},'))
    data = json.dumps(sale, separators=(",", ":")).encode()
    assert MAX_RECORD_BYTES - 64 < len(data) <= MAX_RECORD_BYTES

    # Then its clean row fits the 1 MiB of a Kinesis record (and Firehose's 1,000 KiB), with room for a column
    result = run(data)
    assert isinstance(result, Clean)
    assert len(result.payload) < 900 * 1024


def test_a_record_over_256_kib_is_too_large_before_any_parsing() -> None:
    # Given a well-formed sale padded beyond 256 KiB
    event = load_event("sale_web", padding="x" * MAX_RECORD_BYTES)

    # When it is transformed
    result = rejected(event)

    # Then it is too_large and only its fingerprint survives
    assert (result.reason, result.field, result.event_id) == (Reason.TOO_LARGE, None, None)
    assert result.record == pii.fingerprint(encode(event), KEY)


def test_the_source_argument_fills_the_source_column() -> None:
    assert clean_row(load_event("sale_store"), source="pos_csv")["source"] == "pos_csv"


def test_a_quarantine_row_has_the_documented_keys() -> None:
    result = rejected(b"nope")
    row = quarantine_row(result, sequence_number="42", source="stream", quarantined_at=INGESTED_AT)
    assert row == {
        "reason": "invalid_json",
        "field": None,
        "event_id": None,
        "sequence_number": "42",
        "source": "stream",
        "quarantined_at": "2024-05-02 09:00:00.123456",
        "record": pii.fingerprint(b"nope", KEY),
    }


@pytest.mark.parametrize(
    ("first", "last"), [("sale", "job_run"), ("job_run", "sale"), ("SALE", "job_run"), ("sale", "refund")]
)
def test_a_record_naming_two_event_types_is_an_invalid_event_type_not_an_unknown_one(first: str, last: str) -> None:
    # Given a producer bug: `event_type` twice in one object, with different values
    data = b'{"event_type": "' + first.encode() + b'", ' + encode(load_event("sale_web", event_type=...))[1:]
    data = data[:-1] + b', "event_type": "' + last.encode() + b'"}'

    # Then the record is quarantined for its event_type; "unknown" only when the type it ends with is unknown
    result = rejected(data)
    expected = Reason.UNKNOWN_EVENT_TYPE if last == "refund" else Reason.INVALID_FIELD
    assert (result.reason, result.field) == (expected, "event_type")


# ------------------------------------------------------------------- poison records: one verdict, never a raise


@pytest.mark.parametrize(
    "data",
    [
        b'{"event_type":"sale","items":[{"product":"Latte \\ud83d\\ude00"}]',  # a whole pair, then cut short
        b'{"event_type":"sale","order_id":"C:\\\\ud800",}',  # the text `\\ud800`, then a stray comma
    ],
)
def test_broken_json_beside_whole_surrogate_pairs_is_invalid_json_without_a_hint(data: bytes) -> None:
    result = rejected(data)
    assert (result.reason, result.field) == (Reason.INVALID_JSON, None)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b'{"a":"\xff"}', "encoding"),
        (b'{"event_type":"sale","customer_name":"Caf\xe9 Royal"}', "encoding"),
        (b"[" * 1000 + b"]" * 1000, "nesting"),
        (b'{"event_type":"sale","extra":' + b"[" * 5000 + b"]" * 5000 + b"}", "nesting"),
        (b'{"event_type":"refund","extra":' + b"[" * 5000 + b"]" * 5000 + b"}", "nesting"),
        # Text cut in the middle of a UTF-16 surrogate pair (an emoji split by a producer's truncation)
        (b'{"event_type":"sale","items":[{"product":"Latte \\ud83d"}]}', "encoding"),
        (b'{"event_type":"sale","items":[{"product":"Latte \\uD83D, decaf"}]}', "encoding"),
        (b'{"event_type":"sale","order_id":"\\ude00 A-1"}', "encoding"),
        (b'{"event_type":"sale","order_id":"\\udc00\\ud800"}', "encoding"),
        (b'{"\\ud800":1}', "encoding"),
    ],
)
def test_undecodable_bytes_are_invalid_json_with_a_hint_and_never_raise(data: bytes, field: str) -> None:
    result = rejected(data)
    assert (result.reason, result.field, result.event_id) == (Reason.INVALID_JSON, field, None)
    assert result.record == pii.fingerprint(data, KEY)


def test_a_poison_record_never_takes_its_neighbours_down() -> None:
    batch = [encode(load_event("sale_web")), b'{"a":"\xff"}', b"[" * 1000 + b"]" * 1000, encode(load_event("job_run"))]
    verdicts = transform_records(batch, pii_key=KEY, ingested_at=INGESTED_AT)
    assert [type(verdict) for verdict in verdicts] == [Clean, Rejected, Rejected, Clean]


def test_an_unexpected_error_rejects_only_that_record_as_transform_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a bug that job runs meet
    def broken(*_: Any) -> Clean:
        raise KeyError("a bug")

    monkeypatch.setattr(transform, "_clean_job_run", broken)

    # When a batch with a sale and a job run is transformed
    verdicts = transform_records(
        [encode(load_event("sale_web")), encode(load_event("job_run"))], pii_key=KEY, ingested_at=INGESTED_AT
    )

    # Then the sale is clean and the run rejected alone, kept as a fingerprint
    assert isinstance(verdicts[0], Clean)
    fingerprint = pii.fingerprint(encode(load_event("job_run")), KEY)
    assert verdicts[1] == Rejected(Reason.TRANSFORM_ERROR, None, None, fingerprint)


# ------------------------------------------------------------------------------------- every string bounded


@pytest.mark.parametrize(
    ("event", "field", "longest"),
    [
        ("job_run", "run_id", events.MAX_ID_LENGTH),
        ("job_run", "client", events.MAX_ID_LENGTH),
        ("job_run", "job_name", events.MAX_ID_LENGTH),
        ("job_run", "instance_size", events.MAX_LABEL_LENGTH),
        ("job_run", "status", events.MAX_LABEL_LENGTH),
        ("sale_store", "store", events.MAX_ID_LENGTH),
        ("sale_web", "order_id", events.MAX_ID_LENGTH),
        ("sale_web", "customer_id", events.MAX_ID_LENGTH),
        ("sale_web", "customer_name", events.MAX_NAME_LENGTH),
        ("sale_web", "channel", events.MAX_LABEL_LENGTH),
        ("sale_web", "event_time", events.MAX_TIME_LENGTH),
    ],
)
def test_every_string_of_the_contract_is_bounded(event: str, field: str, longest: int) -> None:
    # Given a value one character over the field's bound (DynamoDB keys hold client + job_name and run_id)
    result = rejected(load_event(event, **{field: "x" * (longest + 1)}))

    # Then the record is rejected on that field
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, field)


@pytest.mark.parametrize(("field", "longest"), [("product", events.MAX_NAME_LENGTH), ("size", events.MAX_LABEL_LENGTH)])
def test_item_strings_are_bounded(field: str, longest: int) -> None:
    items = [{"product": "Mocha", "unit_price": 2.95, field: "x" * (longest + 1)}]
    result = rejected(load_event("sale_store", items=items, total_price=2.95))
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, f"items[0].{field}")


def test_an_id_at_its_bound_fits_a_dynamodb_key_in_any_script() -> None:
    # Given the longest client and job name, in 4-byte UTF-8 characters
    row = clean_row(load_event("job_run", client="\U0001f600" * events.MAX_ID_LENGTH, job_name="\U0001f600" * 128))

    # Then together they stay within a 2,048-byte partition key, and a run id within a 1,024-byte sort key
    assert len(row["client"].encode()) + len(row["job_name"].encode()) + 1 <= 2048
    assert 4 * events.MAX_ID_LENGTH <= 1024


# ---------------------------------------------------------------------------------------- blank text and NUL


@pytest.mark.parametrize(
    ("event", "overrides", "field"),
    [
        ("sale_web", {"event_id": "   "}, "event_id"),
        ("sale_web", {"items": [{"product": " \t ", "unit_price": 1.0}], "total_price": 1.0, "discount": 0}, None),
        ("job_run", {"client": "  "}, "client"),
        ("job_run", {"job_name": "\u3000"}, "job_name"),
        ("job_run", {"run_id": " \n"}, "run_id"),
        ("job_run", {"event_id": " "}, "event_id"),
    ],
)
def test_whitespace_only_required_text_is_an_invalid_field(
    event: str, overrides: dict[str, Any], field: str | None
) -> None:
    result = rejected(load_event(event, **overrides))
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, field or "items[0].product")


def test_a_whitespace_only_store_is_a_missing_store() -> None:
    result = rejected(load_event("sale_store", store="   "))
    assert (result.reason, result.field) == (Reason.MISSING_FIELD, "store")


@pytest.mark.parametrize(
    ("event", "overrides", "field"),
    [
        ("sale_web", {"order_id": "ord\x00-1"}, "order_id"),
        ("sale_web", {"customer_name": "Jane\x00"}, "customer_name"),
        ("sale_web", {"event_id": "sale\x00"}, "event_id"),
        ("sale_web", {"items": [{"product": "Mocha\x00", "unit_price": 78.97}]}, "items[0].product"),
        ("job_run", {"error_message": "boom\x00"}, "error_message"),
        ("job_run", {"instance_size": "\x00"}, "instance_size"),
    ],
)
def test_a_nul_character_in_any_string_is_an_invalid_field(event: str, overrides: dict[str, Any], field: str) -> None:
    result = rejected(load_event(event, **overrides))
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, field)


@pytest.mark.parametrize("number", [b"1e400", b"-1e999", b"[1, 2e308]"])
def test_a_nul_beside_an_ignored_number_beyond_float_range_is_an_invalid_field(number: bytes) -> None:
    # Given a NUL in a product, and an unknown field holding a number no float can hold (valid JSON)
    event = load_event("sale_web", items=[{"product": "Mocha\x00", "unit_price": 78.97}])
    data = encode(event)[:-1] + b', "producer_extra": ' + number + b"}"

    # Then it is rejected for its NUL, as without the number: not as an unexpected error
    result = rejected(data)
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, "items[0].product")


@pytest.mark.parametrize(
    ("event", "field", "number"),
    [
        ("sale_web", "total_price", b"1e400"),
        ("sale_web", "discount", b"-1e400"),
        ("job_run", "cost_usd", b"1E999"),
        ("job_run", "duration_seconds", b"9e308"),
    ],
)
def test_a_contract_number_beyond_float_range_is_an_invalid_field_not_invalid_json(
    event: str, field: str, number: bytes
) -> None:
    # Given an event whose number field holds valid JSON that no float can hold
    data = encode(load_event(event, **{field: 0}))
    data = data.replace(f'"{field}": 0'.encode(), f'"{field}": '.encode() + number)

    # Then the producer is told which field is out of range (the bytes are JSON), and only a hash is kept
    result = rejected(data)
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, field)
    assert set(result.record) == pii.FINGERPRINT_FIELDS


def test_an_ignored_number_beyond_float_range_does_not_depend_on_the_case_of_event_type() -> None:
    # Given the same valid sale with an unknown field holding 1e400, its event_type spelt in two cases
    data = encode(load_event("sale_web"))[:-1] + b', "producer_extra": 1e400}'

    # Then both are the same clean row: the unknown field is ignored either way
    assert isinstance(run(data), Clean)
    assert run(data.replace(b'"event_type": "sale"', b'"event_type": "SALE"')) == run(data)


@pytest.mark.parametrize("name", ["Jane Doe", "ops@example.com", "x" * 5000, "Jane Doe\x00", "4111 1111 1111 1111"])
def test_the_path_of_a_nul_under_an_unknown_key_names_it_as_the_quarantined_record_does(name: str) -> None:
    # Given a NUL under (or in) an unknown key whose name is personal data, or very long
    event = load_event("sale_web")
    event[name] = "free text\x00"

    # Then the field path shows that key as the scrubbed record does (a keyed token), never as sent
    result = rejected(event)
    (token,) = set(result.record) - set(event) - {"customer_key"}
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, token)
    assert token.startswith(pii.TOKEN_PREFIX)


def test_the_path_of_a_nul_ends_at_the_unknown_key_whose_value_quarantine_redacts() -> None:
    # Given a NUL deep inside an unknown field, under a key that is personal data
    event = load_event("sale_web", items=[{"product": "Latte", "unit_price": 73.97, "extra": {"Jane Doe": "\x00"}}])

    # Then the path ends at the unknown key the quarantined record keeps (its value is redacted there)
    result = rejected(event)
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, "items[0].extra")
    assert result.record["items"][0]["extra"] == pii.REDACTED


def test_an_escaped_backslash_before_u0000_is_not_a_nul() -> None:
    row = clean_row(load_event("sale_web", order_id="C:\\u0000"))
    assert row["order_id"] == "C:\\u0000"


# ---------------------------------------------------------------------------------------------- time bounds


@pytest.mark.parametrize(
    "text",
    [
        "1900-01-01T00:00:00Z",
        "2019-12-31T23:59:59.999999Z",
        "9999-12-31T23:59:59Z",
        "2024-05-03T09:00:01Z",  # a day and a second after ingestion
        "2024-05-03T10:00:01+01:00",
        "0001-01-01T00:00:00+01:00",
    ],
)
def test_a_sale_outside_the_accepted_time_range_is_an_invalid_event_time(text: str) -> None:
    result = rejected(load_event("sale_web", event_time=text))
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, "event_time")


@pytest.mark.parametrize(
    "text", ["2020-01-01T00:00:00Z", "2020-01-01T01:00:00+01:00", "2024-05-03T09:00:00.123456Z", "2024-05-03T09:00:00Z"]
)
def test_the_accepted_range_includes_its_ends(text: str) -> None:
    earliest, latest = tables.accepted_event_times(INGESTED_AT)
    moment = datetime.fromisoformat(text)
    assert earliest <= moment <= latest
    assert isinstance(run(load_event("sale_web", event_time=text)), Clean)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ended_at": "2030-01-01T00:00:00Z", "duration_seconds": ...}, "ended_at"),
        ({"started_at": "1900-01-01T00:00:00Z", "duration_seconds": ...}, "started_at"),
        ({"event_time": "9999-12-31T23:59:59Z"}, "event_time"),
    ],
)
def test_a_job_run_outside_the_accepted_time_range_is_an_invalid_field(overrides: dict[str, Any], field: str) -> None:
    result = rejected(load_event("job_run", **overrides))
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, field)


# ---------------------------------------------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("price", "cents"), [(0.285, 0.29), (1.005, 1.01), (2.675, 2.68), (0.125, 0.13), (2.6749, 2.67)]
)
def test_prices_round_half_up_as_written(price: float, cents: float) -> None:
    items = [{"product": "Biscuit", "unit_price": price}]
    row = clean_row(load_event("sale_store", items=items, total_price=cents))
    assert (row["items"][0]["unit_price"], row["total_price"]) == (cents, cents)


@pytest.mark.parametrize(("total", "stored"), [(1.005, 1.01), (12345678.905, 12345678.91)])
def test_totals_and_discounts_round_half_up_as_written(total: float, stored: float) -> None:
    items = [{"product": "Basket", "unit_price": stored + 1}]
    row = clean_row(load_event("sale_store", items=items, discount=1.005, total_price=total))
    assert (row["discount"], row["total_price"]) == (1.01, stored)


@pytest.mark.parametrize(
    ("cost", "stored"), [(1.00005, 1.0001), (0.00015, 0.0002), (2.67495, 2.675), (1.23454, 1.2345)]
)
def test_cost_usd_rounds_half_up_at_its_scale(cost: float, stored: float) -> None:
    assert clean_row(load_event("job_run", cost_usd=cost))["cost_usd"] == stored


# --------------------------------------------------------------------------------------- PII in every field


@pytest.mark.parametrize("field", ["event_id", "order_id", "store"])
def test_a_sale_id_holding_a_card_number_is_stored_as_a_stable_keyed_token(field: str) -> None:
    # Given the same id, carrying a card number, in two sales
    value = "ord 4111.1111.1111.1111"
    event = load_event("sale_store" if field == "store" else "sale_web", **{field: value})

    # When both are transformed
    first, second = clean_row(event), clean_row(copy.deepcopy(event))

    # Then the id is a keyed token, the same both times, with no card digits left
    assert first[field] == second[field] == pii.protect_id(value, KEY)
    assert first[field].startswith("tok_") and "4111" not in json.dumps(first)


@pytest.mark.parametrize("field", ["run_id", "client", "job_name", "event_id"])
def test_a_job_run_id_holding_a_card_or_email_is_stored_as_a_keyed_token(field: str) -> None:
    for value in ("acme 4111_1111_1111_1111", "ops@localhost"):
        row = clean_row(load_event("job_run", **{field: value}))
        assert row[field] == pii.protect_id(value, KEY) != value


def test_free_text_of_items_and_runs_is_masked() -> None:
    items = [{"product": "gift for jo@example.com", "size": "4111/1111/1111/1111", "flavour": "x@y", "unit_price": 1}]
    row = clean_row(load_event("sale_store", items=items, total_price=1))
    assert row["items"][0] | {"unit_price": 0} == {
        "product": "gift for [email]",
        "size": "[card]",
        "flavour": "[email]",
        "unit_price": 0,
        "quantity": 1,
        "line_total": 1.0,
    }
    run_row = clean_row(load_event("job_run", instance_size="4111\u20131111\u20131111\u20131111"))
    assert run_row["instance_size"] == "[card]"


def test_a_rejected_records_event_id_is_protected_like_a_clean_one() -> None:
    result = rejected(load_event("sale_web", event_id="4111 1111 1111 1111", channel="phone"))
    assert result.event_id == pii.protect_id("4111 1111 1111 1111", KEY)
    assert result.record["event_id"] == result.event_id


def test_quarantine_keeps_the_customer_key_of_a_rejected_sale() -> None:
    # Given an invalid sale by a known customer
    result = rejected(load_event("sale_web", channel="phone"))

    # Then the quarantined record keeps the customer's key (a re-drive keeps the identity), never the customer
    assert result.record["customer_key"] == clean_row(load_event("sale_web"))["customer_key"]
    assert not {"customer_id", "customer_name", "card_number"} & set(result.record)


def test_a_quarantined_sale_fixed_and_re_driven_keeps_its_customer() -> None:
    # Given the quarantined (scrubbed) form of a sale whose channel was wrong, with the channel then fixed
    quarantined = rejected(load_event("sale_web", channel="phone")).record
    fixed = {**quarantined, "channel": "web"}

    # When it is re-driven through the transform
    row = clean_row(fixed)

    # Then it is stored under the same customer as the original sale would have been, with no PII needed
    assert row["customer_key"] == clean_row(load_event("sale_web"))["customer_key"]


@pytest.mark.parametrize("currency", ["GBP\n", "gbp\n", "EUR\r\n", " GBP"])
def test_a_currency_with_a_line_break_or_space_is_an_invalid_field(currency: str) -> None:
    # A trailing newline once passed the three-letter rule (a regex `$` matches before it) and reached the lake
    result = rejected(load_event("sale_web", currency=currency))
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, "currency")


def test_a_customer_key_on_input_never_overrides_the_customer_fields() -> None:
    forged = "0" * 32
    assert clean_row(load_event("sale_web", customer_key=forged))["customer_key"] != forged
    anonymous = {k: v for k, v in load_event("sale_web").items() if k not in {"customer_id", "customer_name"}}
    assert clean_row({**anonymous, "customer_key": forged})["customer_key"] == forged


@pytest.mark.parametrize("malformed", ["Jane Doe", "ABCDEF" * 6, "0" * 31, 42, "0" * 32 + "\n"])
def test_a_customer_key_that_is_not_a_key_is_an_invalid_field_and_not_kept(malformed: object) -> None:
    anonymous = {k: v for k, v in load_event("sale_web").items() if k not in {"customer_id", "customer_name"}}
    result = rejected({**anonymous, "customer_key": malformed})
    assert (result.reason, result.field) == (Reason.INVALID_FIELD, "customer_key")
    assert result.record["customer_key"] == pii.REDACTED
