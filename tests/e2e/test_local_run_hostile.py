"""Acceptance: JSON that parses but is odd, values at the edges of the contract and AWS's own sample records, replayed
by `local-run`, each end exactly once in the lake or in quarantine, and the lake reads back what the transform wrote.

The records are the ones real producers send when they are merely messy: lone surrogate escapes (text cut inside an
emoji), U+2028, bidi overrides, control characters, non-characters, BOMs, UTF-16, duplicate keys, NaN and
Infinity, numbers beyond float range, -0 and subnormals, huge integers, times at the accepted offsets and
fractions, money and quantities at their bounds, a record of exactly 256 KiB, thousands of items, an empty error
message on a failed run. They are replayed as base64 lines, so every byte reaches the transform as written.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from lakewatch.domain import tables, transform
from lakewatch.domain.transform import Clean, transform_records
from lakewatch.local import lake
from lakewatch.local.aws import LOCAL_PII_KEY
from lakewatch.local.runner import LocalRunOptions, RunReport, local_run

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
#: A string field's value replaced by this JSON literal, byte for byte.
ODD_STRINGS = {
    "lone high surrogate": b'"Latte \\ud83d"',
    "lone low surrogate": b'"\\udfff"',
    "reversed pair": b'"\\udc00\\ud800"',
    "whole pair": b'"\\ud83d\\ude00"',
    "line separators": '"a\u2028b\u2029c"'.encode(),
    "bidi override": '"abc\u202edcba\u200f"'.encode(),
    "control escapes": b'"a\\u0001\\u001f\\u007fb"',
    "raw DEL": b'"a\x7fb"',
    "BOM inside": '"\ufeffLatte"'.encode(),
    "non-characters": '"\uffff\ufffe"'.encode(),
    "astral": '"\U0001f600\U0010fffd"'.encode(),
    "quotes and backslashes": b'"a\\"b\\\\c\\/d"',
    "tab newline return": b'"a\\tb\\nc\\rd"',
    "64 emoji": ('"' + "\U0001f600" * 64 + '"').encode(),
    "NUL": b'"a\\u0000b"',
    "Latin-1 byte": b'"caf\xe9"',
}
SALE_STRING_FIELDS = ("event_id", "order_id", "customer_id", "customer_name")
ITEM_STRING_FIELDS = ("product", "size", "flavour")
RUN_STRING_FIELDS = ("event_id", "run_id", "client", "job_name", "instance_size", "error_message")
ODD_NUMBERS = (b"NaN", b"Infinity", b"1e400", b"-0.0", b"1e-320", b"123456789012345678901234567890", b"0.285")
TIMES = (
    "2024-06-09T10:15:00+14:00",
    "2024-06-09T10:15:00-12:00",
    "2024-06-09T23:59:60Z",
    "2024-06-09T24:00:00Z",
    "2024-06-09t10:15:00z",
    *(f"2024-06-09T10:15:00.{'123456789'[:digits]}Z" for digits in range(1, 10)),
    "2024-06-09T10:15:00+05:30:15.5",
    "20240609T101500Z",
)
_MARK = "@@value@@"
_serial = iter(range(1_000_000))


def _sale(**overrides: Any) -> dict[str, Any]:
    number = next(_serial)
    sale = {
        "event_type": "sale",
        "event_id": f"h-sale-{number}",
        "event_time": "2024-06-09T10:15:00Z",
        "channel": "web",
        "order_id": f"ord-{number}",
        "customer_id": "cust-42",
        "customer_name": "Jane Doe",
        "payment_method": "card",
        "card_number": "4111 1111 1111 1111",
        "items": [{"product": "Latte", "size": "Large", "flavour": None, "unit_price": 2.45, "quantity": 2}],
        "total_price": 4.90,
    }
    return sale | overrides


def _run(**overrides: Any) -> dict[str, Any]:
    number = next(_serial)
    run = {
        "event_type": "job_run",
        "event_id": f"h-run-{number}",
        "event_time": "2024-06-09T02:40:00Z",
        "run_id": f"r-{number}",
        "client": "acme-retail",
        "job_name": "nightly_sales",
        "status": "SUCCEEDED",
        "started_at": "2024-06-09T02:00:00Z",
        "ended_at": "2024-06-09T02:40:00Z",
        "cost_usd": 1.25,
        "data_processed_gb": 12.5,
        "instance_size": "m5.xlarge",
    }
    return run | overrides


def _with_literal(event: dict[str, Any], field: str, literal: bytes, *, item: bool = False) -> bytes:
    """`event` as JSON with one field's value (or its first item's) replaced by a raw JSON literal."""
    target = event["items"][0] if item else event
    target[field] = _MARK
    return json.dumps(event, ensure_ascii=False).encode().replace(json.dumps(_MARK).encode(), literal)


def hostile_records() -> list[bytes]:
    records = []
    for literal in ODD_STRINGS.values():
        records += [_with_literal(_sale(), field, literal) for field in SALE_STRING_FIELDS]
        records += [_with_literal(_sale(), field, literal, item=True) for field in ITEM_STRING_FIELDS]
        records += [_with_literal(_run(), field, literal) for field in RUN_STRING_FIELDS]
        records.append(json.dumps(_sale()).encode()[:-1] + b", " + literal + b": 1}")  # as an unknown key
    for number in ODD_NUMBERS:
        records += [_with_literal(_sale(), "unit_price", number, item=True), _with_literal(_sale(), "discount", number)]
        records += [_with_literal(_run(), field, number) for field in ("cost_usd", "data_processed_gb", "producer_x")]
    for text in TIMES:
        records += [json.dumps(_sale(event_time=text)).encode(), json.dumps(_run(ended_at=text)).encode()]
    sale = json.dumps(_sale()).encode()
    records += [
        b"\xef\xbb\xbf" + sale,
        json.dumps(_sale()).encode("utf-16"),
        b" \t\r " + json.dumps(_sale()).encode() + b" \r\t ",
        b"[" + json.dumps(_sale()).encode() + b"]",
        json.dumps(_sale()).encode()[:-1] + b', "event_type": "job_run"}',  # a duplicate key: the last one wins
        json.dumps(_sale(event_type="SALE")).encode()[:-1] + b', "producer_x": 1e400}',
        b"Hello, this is a test.",  # the Kinesis sample event's record data in the Lambda documentation
        b'{"message": "test message", "username": "test"}',  # Powertools' one-record Kinesis sample event
        json.dumps(_run(status="FAILED", error_message="", instance_size="")).encode(),
        json.dumps(_sale(items=[{"product": "a", "unit_price": 0}] * 5000, total_price=0)).encode(),
        json.dumps(_sale(items=[], total_price=0)).encode(),
        json.dumps(
            _sale(items=[{"product": "a", "unit_price": 99999999.99, "quantity": 100}], total_price=9999999999.0)
        ).encode(),
        json.dumps(
            _sale(items=[{"product": "a", "unit_price": 0, "quantity": 2147483647}] * 2, total_price=0)
        ).encode(),
        *(
            json.dumps(_sale(items=[{"product": "a", "unit_price": 1, "quantity": q}], total_price=1)).encode()
            for q in (0, -1)
        ),
    ]
    padded = _sale(pad="")
    padded["pad"] = "x" * (transform.MAX_RECORD_BYTES - len(json.dumps(padded).encode()))
    exactly_the_limit = json.dumps(padded).encode()
    assert len(exactly_the_limit) == transform.MAX_RECORD_BYTES
    return [*records, exactly_the_limit, exactly_the_limit[:-1] + b" }"]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[bytes], RunReport, Path]:
    records = hostile_records()
    work = tmp_path_factory.mktemp("hostile")
    events = work / "events.b64"
    events.write_bytes(b"".join(base64.b64encode(record) + b"\n" for record in records))
    out = work / "out"
    report = local_run(LocalRunOptions(events=events, out=out, now=NOW, events_format="base64"))
    return records, report, out


def test_every_hostile_record_ends_once_in_the_lake_or_quarantine_and_none_fails(replayed) -> None:
    records, report, _ = replayed
    accounting = report.accounting
    assert accounting.input_lines == len(records)
    assert accounting.balanced
    assert accounting.on_failure_records == {}
    assert "transform_error" not in report.quarantined
    # job_monitor processes every clean run, including the failed one whose producer sent empty text
    assert accounting.quarantine_rows.get("job_monitor", 0) == 0


def test_the_lake_reads_back_what_the_transform_wrote(replayed) -> None:
    records, _, out = replayed
    verdicts = transform_records(records, pii_key=LOCAL_PII_KEY.encode(), ingested_at=datetime.now(UTC))
    for table in tables.TABLES.values():
        written = [orjson.loads(v.payload) for v in verdicts if type(v) is Clean and v.table == table.name]
        assert Counter(map(_comparable, lake.read_table(table, out / "lake").to_pylist())) == Counter(
            _comparable(_as_parquet(table, row)) for row in written
        )


def test_each_reject_has_its_quarantine_row_with_its_reason(replayed) -> None:
    records, _, out = replayed
    verdicts = transform_records(records, pii_key=LOCAL_PII_KEY.encode(), ingested_at=datetime.now(UTC))
    quarantined = [
        orjson.loads(line)
        for path in sorted((out / "quarantine" / "stream").rglob("*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]
    assert Counter((row["reason"], row["field"]) for row in quarantined) == Counter(
        (str(v.reason), v.field) for v in verdicts if type(v) is not Clean
    )


def test_the_failed_run_with_an_empty_error_message_pages(replayed) -> None:
    _, _, out = replayed
    alerts = [orjson.loads(line) for line in (out / "alerts.jsonl").read_bytes().splitlines()]
    assert Counter(alert["attributes"].get("alert_type") for alert in alerts)["job_failed"] == 1


def _as_parquet(table: tables.LakeTable, row: dict[str, Any]) -> dict[str, Any]:
    """A clean row as the lake's Parquet holds it (decimals, timestamps at the table's millisecond precision)."""
    converters = {field.name: lake.value_converter(field.type) for field in table.arrow_schema()}
    stored = {name: converters[name](value) if name in converters else value for name, value in row.items()}
    for field in table.arrow_schema():
        if stored[field.name] is not None and field.type == tables.arrow_type("timestamp"):
            moment = stored[field.name]
            stored[field.name] = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return stored


def _comparable(row: dict[str, Any]) -> str:
    """A row as text without `ingested_at` (the handler's clock, not the test's)."""
    return json.dumps(
        {name: value for name, value in row.items() if name != "ingested_at"}, default=str, sort_keys=True
    )
