"""POS CSV job: nothing lost. Till files in any encoding a till writes, genuine repeats, a bug on one line, metrics.

The Spark part runs two batches once per module on local Spark: a 50,000-row day at one store full of exact
repeats (anonymous cash sales of the same coffee in the same minute) beside small files in each encoding, then
the big file re-dropped under another name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import boto3
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from glue_jobs import pos_csv_etl as etl
from lakewatch.domain import glue_support, pii
from tests.unit.glue_jobs import stream

PII_KEY = b"test-pii-key-0123456789"
INGESTED_AT = datetime(2022, 6, 12, 6, 0, tzinfo=UTC)
LONDON = ZoneInfo(etl.STORE_TIMEZONE)

BIG_ROWS = 50_000
#: 600 minutes x 3 baskets = 1,800 distinct rows: each is repeated ~28 times, as a busy till does.
BASKETS = (("Large Latte - 2.45", "2.45"), ("Regular Latte - 2.15", "2.15"), ("Large Flat white - 2.45", "2.45"))
#: Every BAD_EVERY-th row has an unreadable price: quarantined, never lost.
BAD_EVERY = 500
BLANK_EVERY = 1_000
NAME = "Café Royal"


def big_day_csv() -> tuple[bytes, int]:
    """A 50,000-row day at one store (UTF-8) and its number of data (non-blank) rows."""
    start = datetime(2022, 6, 10, 8, 0)
    lines = []
    for index in range(BIG_ROWS):
        basket, price = BASKETS[(index // 600) % len(BASKETS)]
        at = start + timedelta(minutes=index % 600)
        price = "two pounds" if index % BAD_EVERY == BAD_EVERY - 1 else price
        lines.append(f"{at:%d/%m/%Y %H:%M},Leeds,,{basket},{price},CASH,")
        if index % BLANK_EVERY == 0:
            lines.append("")
    return ("\r\n".join(lines) + "\r\n").encode(), BIG_ROWS


def named_sale(timestamp: str, name: str = NAME, price: str = "2.45") -> str:
    return f"{timestamp},Chesterfield,{name},Large Latte - 2.45,{price},CARD,4111111111111111\n"


#: The same customer in the three encodings a till writes, each file with one bad row (an unreadable price).
ENCODED_FILES = {
    "chesterfield_windows-1252.csv": (
        named_sale("10/06/2022 09:00") + named_sale("10/06/2022 09:01", price="x")
    ).encode("cp1252"),
    "chesterfield_utf-8.csv": (named_sale("10/06/2022 10:00") + named_sale("10/06/2022 10:01", price="x")).encode(),
    "chesterfield_utf-8-bom.csv": (
        "\ufeff" + named_sale("10/06/2022 11:00") + named_sale("10/06/2022 11:01", price="x")
    ).encode(),
}
EXPECTED_ENCODINGS = {
    "chesterfield_windows-1252.csv": etl.ENCODING_WINDOWS_1252,
    "chesterfield_utf-8.csv": etl.ENCODING_UTF8,
    "chesterfield_utf-8-bom.csv": etl.ENCODING_UTF8_BOM,
}


def stream_customer_key(name: str) -> str:
    return stream.stream_customer_key(name, pii_key=PII_KEY, ingested_at=INGESTED_AT)


def _drop(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def batches(spark, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("pos-robustness")
    out = root / "out"
    big, data_rows = big_day_csv()
    first = _drop(root / "drop1", {"leeds_10-06-2022.csv": big, **ENCODED_FILES})
    second = _drop(root / "drop2", {"leeds_10-06-2022 (resent).csv": big})
    counts = [
        etl.run_local(
            spark, drop, out / "lake", out / "quarantine" / "pos_csv", pii_key=PII_KEY, ingested_at=INGESTED_AT
        )
        for drop in (first, second)
    ]
    return {"out": out, "counts": counts, "data_rows": data_rows}


def _lake_rows(out: Path) -> list[dict]:
    return [row for path in sorted(out.rglob("*.parquet")) for row in pq.read_table(path).to_pylist()]


def _quarantine_rows(out: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted((out / "quarantine").rglob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def test_identical_sales_in_the_same_minute_are_all_kept(batches) -> None:
    # Given a 50,000-row file where each row is repeated ~28 times, plus 3 small files of 2 rows
    first = batches["counts"][0]
    data_rows = batches["data_rows"] + 2 * len(ENCODED_FILES)
    # Then every data row is a lake row or a quarantine row: none merged into another
    assert first["sales_written"] + first["quarantined_total"] == data_rows
    assert first["duplicates_dropped"] == 0
    assert first["quarantined_total"] == BIG_ROWS // BAD_EVERY + len(ENCODED_FILES)
    lake = _lake_rows(batches["out"])
    leeds = [row for row in lake if row["store"] == "Leeds"]
    assert len(leeds) == BIG_ROWS - BIG_ROWS // BAD_EVERY
    assert len({row["event_id"] for row in lake}) == len(lake)


def test_a_re_dropped_big_file_adds_nothing(batches) -> None:
    # Given the 50,000-row file dropped again under another name
    second = batches["counts"][1]
    # Then each of its sales is recognised as stored (its bad rows are quarantined again, as evidence)
    assert second["sales_written"] == 0
    assert second["duplicates_dropped"] == BIG_ROWS - BIG_ROWS // BAD_EVERY
    assert second["quarantined_total"] == BIG_ROWS // BAD_EVERY
    assert len(_lake_rows(batches["out"])) == batches["counts"][0]["sales_written"]


def test_each_file_is_decoded_in_its_own_encoding_and_the_summary_says_which(batches) -> None:
    first = batches["counts"][0]
    assert first["file_encodings"] == {**EXPECTED_ENCODINGS, "leeds_10-06-2022.csv": etl.ENCODING_UTF8}


def test_a_windows_1252_name_gets_the_stream_customer_key(batches) -> None:
    # Given the same customer's sales from a Windows-1252, a UTF-8 and a UTF-8-with-BOM file
    keys = {row["customer_key"] for row in _lake_rows(batches["out"]) if row["store"] == "Chesterfield"}
    # Then all carry the key the stream computes for "Café Royal" (never the key of "Caf\ufffd Royal")
    assert keys == {stream_customer_key(NAME)}


def test_quarantine_rows_name_their_file_encoding_and_line(batches) -> None:
    rows = [row for row in _quarantine_rows(batches["out"]) if row["sequence_number"] in ENCODED_FILES]
    assert {(row["sequence_number"], row["record"]["file_encoding"], row["record"]["line_number"]) for row in rows} == {
        (name, encoding, 2) for name, encoding in EXPECTED_ENCODINGS.items()
    }


# ------------------------------------------------------------------------------------------ no Spark below


def _outcomes(data: bytes) -> list[etl.LineOutcome]:
    return [
        outcome
        for _, outcome in etl.process_file(
            data, "s3://b/landing/pos/x.csv", pii_key=PII_KEY, ingested_at=INGESTED_AT, store_timezone=LONDON
        )
    ]


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Café Royal", etl.ENCODING_WINDOWS_1252),
        ("Zoë “Smart” Ñúñez \u2013 5€", etl.ENCODING_WINDOWS_1252),
        ("Zoë Ñúñez 日本", etl.ENCODING_UTF8),
        ("\ufeffCafé", etl.ENCODING_UTF8_BOM),
        ("", etl.ENCODING_UTF8),
    ],
)
def test_a_file_is_utf_8_if_it_can_be_else_windows_1252(text: str, encoding: str) -> None:
    data = text.encode("cp1252") if encoding == etl.ENCODING_WINDOWS_1252 else text.encode("utf-8")
    assert etl.decode_file(data) == (encoding, text.removeprefix("\ufeff"))


def test_windows_1252_decodes_every_byte() -> None:
    # The five bytes Windows-1252 leaves undefined decode to C1 controls (as browsers do), never an error
    encoding, text = etl.decode_file(bytes(range(256)))
    assert encoding == etl.ENCODING_WINDOWS_1252
    assert len(text) == 256 and text[0x80] == "€" and text[0x81] == "\x81" and text[0xE9] == "é"


class _Bug(RuntimeError):
    """An unexpected failure inside the job's own code (not bad data)."""


@pytest.mark.parametrize("broken", ["transform_record", "parse_basket"])
def test_an_unexpected_error_quarantines_that_line_alone(monkeypatch: pytest.MonkeyPatch, broken: str) -> None:
    # Given a step of the job that fails unexpectedly on the row of one customer (and their card number)
    real = getattr(etl, broken)

    def failing(data, *args, **kwargs):
        text = data if isinstance(data, str) else data.decode()
        if "Boom" in text:
            raise _Bug("unexpected")
        return real(data, *args, **kwargs)

    monkeypatch.setattr(etl, broken, failing)
    data = (
        named_sale("10/06/2022 09:00", "Ann Lee")
        + "10/06/2022 09:01,Leeds,Mr Boom,Large Boom Latte - 2.45,2.45,CARD,4000056655665556\n"
        + named_sale("10/06/2022 09:02", "Bo Chan")
    ).encode()
    # When the file is processed
    outcomes = _outcomes(data)
    # Then that row alone is quarantined as transform_error, with a fingerprint, never its text
    assert [outcome.kind for outcome in outcomes] == [etl.KIND_SALE, etl.KIND_QUARANTINE, etl.KIND_SALE]
    row = json.loads(outcomes[1].payload or "")
    assert (row["reason"], row["field"], row["sequence_number"]) == ("transform_error", None, "x.csv")
    assert set(row["record"]) == {*pii.FINGERPRINT_FIELDS, "error", "file_encoding", "line_number"}
    assert (row["record"]["error"], row["record"]["line_number"]) == ("_Bug", 2)
    assert "Boom" not in outcomes[1].payload and "4000" not in outcomes[1].payload


def test_each_line_of_a_file_counts_its_repeats_separately() -> None:
    line = "10/06/2022 09:00,Leeds,,Large Latte - 2.45,2.45,CASH,"
    outcomes = _outcomes(f"{line}\n\n{line}\n{line}\n".encode())
    ids = [outcome.event_id for outcome in outcomes if outcome.kind == etl.KIND_SALE]
    assert len(ids) == 3 and len(set(ids)) == 3


@pytest.fixture
def cloudwatch() -> Iterator:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="eu-west-1")


def test_a_run_publishes_rows_written_and_quarantined(cloudwatch) -> None:
    # Given the counts of one run
    counts = {"sales_written": 12, "quarantined_total": 3, "duplicates_dropped": 4}
    # When the job publishes them
    glue_support.put_job_metrics(cloudwatch, "lakewatch-dev-pos-csv-etl", etl.metric_counts(counts))
    # Then CloudWatch holds one datum per metric, in the lakewatch namespace, per job
    sums = {}
    for name in ("PosRowsWritten", "PosRowsQuarantined"):
        stats = cloudwatch.get_metric_statistics(
            Namespace="lakewatch",
            MetricName=name,
            Dimensions=[{"Name": "job", "Value": "lakewatch-dev-pos-csv-etl"}],
            StartTime=datetime.now(UTC) - timedelta(hours=1),
            EndTime=datetime.now(UTC) + timedelta(hours=1),
            Period=3600,
            Statistics=["Sum", "SampleCount"],
        )["Datapoints"]
        sums[name] = [(point["Sum"], point["SampleCount"], point["Unit"]) for point in stats]
    assert sums == {"PosRowsWritten": [(12.0, 1.0, "Count")], "PosRowsQuarantined": [(3.0, 1.0, "Count")]}
