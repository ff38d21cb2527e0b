"""POS CSV job: files as real tills and spreadsheets write them. Excel's "Unicode text" (UTF-16), two tills'
files concatenated (mixed encodings, a byte-order mark mid-file), `;` and tab delimiters, cells holding line
breaks, header lines (reordered, extra or missing columns, repeated mid-file), files that are not text at all,
NUL bytes, over-long lines, empty files. Each line still ends as a sale, a quarantine row with a reason, or a
counted blank or header line.

Most tests run on `process_file` (what a line yields is what the job stores); one batch on local Spark checks
the summary's counts.
"""

from __future__ import annotations

import codecs
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from glue_jobs import pos_csv_etl as etl
from lakewatch.domain import pii
from tests.unit.glue_jobs import stream

PII_KEY = b"test-pii-key-0123456789"
INGESTED_AT = datetime(2022, 6, 12, 6, 0, tzinfo=UTC)
LONDON = ZoneInfo(etl.STORE_TIMEZONE)
CARD = "4111111111111111"
NAME = "Zoë Adams"
#: Two valid rows: a named card sale and an anonymous cash sale.
ROWS = (
    f"10/06/2022 09:00,Leeds,{NAME},Large Latte - 2.45,2.45,CARD,{CARD}",
    "10/06/2022 09:01,Leeds,,Regular Latte - 2.15,2.15,CASH,",
)
TEXT = "".join(f"{row}\r\n" for row in ROWS)
HEADER = ",".join(etl.CSV_COLUMNS)


def outcomes(data: bytes) -> list[tuple[etl.CsvLocation, etl.LineOutcome]]:
    return list(
        etl.process_file(
            data, "s3://b/landing/pos/leeds.csv", pii_key=PII_KEY, ingested_at=INGESTED_AT, store_timezone=LONDON
        )
    )


def kinds(data: bytes) -> list[str]:
    return [outcome.kind for _, outcome in outcomes(data)]


def sales(data: bytes) -> list[dict]:
    return [json.loads(outcome.payload or "") for _, outcome in outcomes(data) if outcome.kind == etl.KIND_SALE]


def quarantined(data: bytes) -> list[dict]:
    return [json.loads(outcome.payload or "") for _, outcome in outcomes(data) if outcome.kind == etl.KIND_QUARANTINE]


def the_two_sales(data: bytes) -> None:
    """`data` holds the two `ROWS` sales, read exactly as from the plain UTF-8 file."""
    expected = sales(TEXT.encode())
    assert [sale["event_id"] for sale in sales(data)] == [sale["event_id"] for sale in expected]
    assert sales(data) == expected


# ------------------------------------------------------------------------------------------ encodings


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), etl.ENCODING_UTF16_LE),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), etl.ENCODING_UTF16_BE),
        (TEXT.encode("utf-16-le"), etl.ENCODING_UTF16_LE),
        (TEXT.encode("utf-16-be"), etl.ENCODING_UTF16_BE),
    ],
    ids=["le-bom", "be-bom", "le", "be"],
)
def test_a_utf_16_file_is_read_as_utf_16(data: bytes, encoding: str) -> None:
    # Given Excel's "Unicode text" (UTF-16, with or without a byte-order mark)
    # Then its rows are the sales the UTF-8 file gives, and the file is named UTF-16
    the_two_sales(data)
    assert {location.encoding for location, _ in outcomes(data)} == {encoding}


def test_a_utf_16_file_cut_short_keeps_its_whole_rows() -> None:
    # Given a UTF-16 file whose last byte is missing (half a character), with no byte-order mark
    data = TEXT.encode("utf-16-le")[:-1]
    # Then its whole rows are sales, and only the broken end is quarantined
    assert kinds(data) == [etl.KIND_SALE, etl.KIND_SALE, etl.KIND_QUARANTINE]


def test_mixed_encodings_in_one_file_keep_each_line_s_spelling() -> None:
    # Given two tills' files concatenated: a UTF-8 line, then a Windows-1252 line, with the same customer
    line = f"10/06/2022 09:00,Café,{NAME},Large Latte - 2.45,2.45,CASH,\n"
    data = line.encode() + line.replace("09:00", "09:05").encode("cp1252")
    # Then both lines keep the store and the customer as written (no "CafÃ©", no second customer)
    rows = sales(data)
    assert [row["store"] for row in rows] == ["Café", "Café"]
    assert {row["customer_key"] for row in rows} == {
        stream.stream_customer_key(NAME, pii_key=PII_KEY, ingested_at=INGESTED_AT)
    }
    assert etl.decode_file(data)[0] == etl.ENCODING_MIXED


def test_a_byte_order_mark_beside_a_windows_1252_line_does_not_spoil_the_first_row() -> None:
    data = codecs.BOM_UTF8 + TEXT.encode() + "10/06/2022 09:02,Café,,Large Latte - 2.45,2.45,CASH,\n".encode("cp1252")
    assert kinds(data) == [etl.KIND_SALE] * 3


def test_a_byte_order_mark_mid_file_does_not_spoil_its_row() -> None:
    # Given two UTF-8-with-BOM files concatenated (`cat a.csv b.csv`)
    data = ("\ufeff" + ROWS[0] + "\n" + "\ufeff" + ROWS[1] + "\n").encode()
    the_two_sales(data)


# ------------------------------------------------------------------------------------------ delimiters, quoting


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_separated_files_are_read(delimiter: str) -> None:
    # Given the file as a spreadsheet in a decimal-comma locale saves it (`;`, prices with a decimal comma)
    data = TEXT.replace(",", delimiter).replace("2.45", "2,45").replace("2.15", "2,15").encode()
    # Then its rows are the same sales (their columns and prices read alike)
    rows = sales(data)
    assert [(row["store"], row["total_price"], row["payment_method"]) for row in rows] == [
        ("Leeds", 2.45, "CARD"),
        ("Leeds", 2.15, "CASH"),
    ]


def test_a_tab_separated_file_whose_baskets_hold_commas_is_read_by_its_tabs() -> None:
    # Given a tab-separated file whose baskets hold five commas (six columns, were the comma the delimiter)
    basket = ", ".join(["Latte - 2.00"] * 6)
    data = "".join(f"10/06/2022 09:0{minute}\tLeeds\t\t{basket}\t12.00\tCASH\t\n" for minute in range(3))
    # Then each row is a sale of six lattes
    assert [sale["items"][0]["quantity"] for sale in sales(data.encode())] == [6, 6, 6]


def test_a_bad_row_of_a_semicolon_file_says_its_delimiter() -> None:
    data = "10/06/2022 09:00;Leeds;;Large Latte - 2,45;two;CASH;\n10/06/2022 09:01;Leeds;;Latte - 2,45;2,45;CASH;\n"
    (row,) = quarantined(data.encode())
    assert (row["reason"], row["field"], row["record"]["delimiter"]) == ("invalid_field", "total_price", ";")


def test_a_quoted_cell_holding_line_breaks_is_one_sale() -> None:
    # Given a basket cell with a line break (Alt+Enter in a spreadsheet) between two valid rows
    data = ROWS[0] + '\n10/06/2022 09:02,Leeds,,"Large Latte - 2.45,\r\nRegular Latte - 2.15",4.60,CASH,\n' + ROWS[1]
    # Then it is one sale of two items, counted once at its first line; its neighbours are untouched
    located = outcomes(data.encode())
    assert [(location.line_number, outcome.kind) for location, outcome in located] == [
        (1, etl.KIND_SALE),
        (2, etl.KIND_SALE),
        (4, etl.KIND_SALE),
    ]
    assert [item["product"] for item in json.loads(located[1][1].payload or "")["items"]] == ["Latte", "Latte"]


def test_a_stray_quote_never_swallows_the_next_rows() -> None:
    # Given a row with an unclosed quote, then rows of which a later one holds a quote again
    data = (
        f'10/06/2022 09:00,Leeds,"{NAME},Large Latte - 2.45,2.45,CARD,{CARD}\n'
        + ROWS[1]
        + '\n10/06/2022 09:03,"Leeds",,Large Latte - 2.45,2.45,CASH,\n'
    )
    # Then the broken row alone is quarantined (as not CSV, with its fingerprint only)
    assert kinds(data.encode()) == [etl.KIND_QUARANTINE, etl.KIND_SALE, etl.KIND_SALE]
    record = quarantined(data.encode())[0]["record"]
    assert set(record) == {*pii.FINGERPRINT_FIELDS, "columns", "file_encoding", "line_number"}


def test_a_spreadsheet_s_empty_cells_are_neither_columns_nor_rows() -> None:
    # Given a file saved by a spreadsheet whose used range is wider and longer than the data: every row with
    # trailing empty columns, and rows of delimiters alone under the data
    data = "".join(f"{row},,, \r\n" for row in ROWS) + ",,,,,,,,,,\r\n,,\r\n"
    # Then the rows are the two sales, and the empty rows count as blank lines
    the_two_sales(data.encode())
    assert kinds(data.encode()) == [etl.KIND_SALE, etl.KIND_SALE, etl.KIND_BLANK, etl.KIND_BLANK]


def test_a_shifted_row_of_a_padded_file_is_still_shifted() -> None:
    # Given a padded file (three empty columns on every row) with a row whose unquoted basket takes two columns
    # and whose card column is empty: with the padding, its last four fields are empty
    shifted = "10/06/2022 09:02,Leeds,,Latte - 2.45,Tea - 1.00,3.45,CASH,"
    data = "".join(f"{row},,,\n" for row in (*ROWS, shifted))
    # Then that row alone is quarantined as shifted (never read as a total of "Tea - 1.00")
    assert kinds(data.encode()) == [etl.KIND_SALE, etl.KIND_SALE, etl.KIND_QUARANTINE]
    (rejected,) = quarantined(data.encode())
    assert (rejected["reason"], rejected["field"], rejected["record"]["columns"]) == ("invalid_field", None, 8)


# ------------------------------------------------------------------------------------------ headers


@pytest.mark.parametrize(
    "header",
    [HEADER, " Timestamp , STORE,Customer Name,Basket-Items,total_price,Cash_Or_Card,card_number", "\ufeff" + HEADER],
)
def test_a_header_line_is_skipped_and_counted(header: str) -> None:
    data = (header + "\n" + TEXT).encode()
    assert kinds(data) == [etl.KIND_HEADER, etl.KIND_SALE, etl.KIND_SALE]
    the_two_sales(data)


def test_a_header_repeated_mid_file_is_skipped() -> None:
    data = (HEADER + "\n" + ROWS[0] + "\n" + HEADER + "\n" + ROWS[1] + "\n").encode()
    assert kinds(data) == [etl.KIND_HEADER, etl.KIND_SALE, etl.KIND_HEADER, etl.KIND_SALE]
    the_two_sales(data)


def test_a_header_file_with_no_rows_is_only_a_header() -> None:
    assert kinds(f"{HEADER}\r\n".encode()) == [etl.KIND_HEADER]


def test_a_header_names_reordered_and_extra_columns() -> None:
    # Given an export with its columns reordered, wire-contract names, and a column the job does not know
    order = (6, 1, 0, 2, 5, 4, 3)
    header = "card_number,store,event_time,customer_name,payment_method,total_price,items,notes"
    lines = [",".join(row.split(",")[index] for index in order) + ",call back" for row in ROWS]
    data = "\n".join([header, *lines]).encode()
    # Then its rows are the same sales, with the same ids, and the unknown column is read into nothing
    the_two_sales(data)
    assert not any("call back" in (outcome.payload or "") for _, outcome in outcomes(data))


def test_a_broken_row_holding_column_names_is_not_a_header() -> None:
    # Given a row cut by a header pasted into it (three column names among the row's fields, its time spoilt)
    broken = f"10/06/2022 09\u00a0:00,Leeds,{NAME},Large Latte - 2.45,2.45,CARD,timestamp,store,customer_name"
    data = (broken + "\n" + ROWS[1] + "\n").encode()
    # Then it is a quarantined row, and the columns of the next row are still the till's
    assert kinds(data) == [etl.KIND_QUARANTINE, etl.KIND_SALE]
    assert not any(NAME in (outcome.payload or "") for _, outcome in outcomes(data))


def test_a_header_without_name_and_card_columns_is_an_anonymous_till() -> None:
    data = "timestamp,store,basket_items,total_price,cash_or_card\n10/06/2022 09:01,Leeds,Latte - 2.15,2.15,CASH\n"
    (sale,) = sales(data.encode())
    assert (sale["store"], sale["customer_key"]) == ("Leeds", None)


def test_a_header_without_a_needed_column_quarantines_each_row_on_it() -> None:
    data = "timestamp,customer_name,basket_items,total_price,cash_or_card\n10/06/2022 09:01,,Latte - 2.15,2.15,CASH\n"
    (row,) = quarantined(data.encode())
    assert (row["reason"], row["field"]) == ("missing_field", "store")


# ------------------------------------------------------------------------------------------ not text, NULs, size


def _zip(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # stored, not deflated: the CSV text is in the bytes as is
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "PNG image"),
        (_zip({"leeds.csv": TEXT * 3}), "zip archive"),
        (b"\x1f\x8b\x08\x00" + bytes(200), "gzip archive"),
        (bytes(range(32)) * 20 + TEXT.encode(), "binary data"),
    ],
    ids=["png", "zip-with-csv-inside", "gzip", "control-bytes"],
)
def test_a_file_that_is_not_text_is_one_quarantine_row(data: bytes, problem: str) -> None:
    # Given a file dropped by mistake (even a zip whose stored members hold valid till rows)
    ((location, outcome),) = outcomes(data)
    # Then the file is one quarantine row: its fingerprint and what it looks like, none of its bytes
    row = json.loads(outcome.payload or "")
    assert (outcome.kind, row["reason"], row["field"], location.encoding) == (
        etl.KIND_QUARANTINE,
        "invalid_field",
        None,
        etl.ENCODING_BINARY,
    )
    assert row["record"]["problem"].startswith(problem)
    assert set(row["record"]) == {*pii.FINGERPRINT_FIELDS, "problem", "file_encoding", "line_number"}


def test_a_nul_byte_spoils_its_line_only() -> None:
    # Given a NUL inside one row's card number in the store column (a card number no masking sees)
    spoilt = "10/06/2022 09:00," + "\x00".join(CARD) + ",,Large Latte - 2.45,2.45,CASH,"
    data = (ROWS[0] + "\n" + spoilt + "\n" + ROWS[1] + "\n").encode()
    # Then that row alone is quarantined, by its fingerprint
    assert kinds(data) == [etl.KIND_SALE, etl.KIND_QUARANTINE, etl.KIND_SALE]
    (row,) = quarantined(data)
    assert set(row["record"]) == {*pii.FINGERPRINT_FIELDS, "problem", "file_encoding", "line_number"}
    assert "4" not in json.dumps(row["record"]["problem"])


def test_an_over_long_line_is_too_large() -> None:
    huge = "10/06/2022 09:00," + "L" * (1024 * 1024) + ",,Large Latte - 2.45,2.45,CASH,"
    data = (ROWS[0] + "\n" + huge + "\n" + ROWS[1] + "\n").encode()
    assert kinds(data) == [etl.KIND_SALE, etl.KIND_QUARANTINE, etl.KIND_SALE]
    assert [(row["reason"], row["record"]["length"]) for row in quarantined(data)] == [("too_large", len(huge))]


@pytest.mark.parametrize("data", [b"", codecs.BOM_UTF8], ids=["0-bytes", "bom-only"])
def test_an_empty_file_is_named_not_counted(data: bytes) -> None:
    assert kinds(data) == [etl.KIND_EMPTY_FILE]


class _Bug(RuntimeError):
    """An unexpected failure in reading a file itself (not bad data)."""


@pytest.mark.parametrize("broken", ["detect_delimiter", "csv_records"])
def test_an_unexpected_error_reading_a_file_quarantines_the_rest_of_it(
    monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    # Given a step that reads the file as a whole and fails unexpectedly: before its first record, or after it
    real_records = etl.csv_records

    def no_delimiter(lines):
        raise _Bug("unexpected")

    def one_record(lines, *args):
        records = real_records(lines, *args)
        yield next(records)
        raise _Bug("unexpected")

    monkeypatch.setattr(etl, broken, no_delimiter if broken == "detect_delimiter" else one_record)
    # When a file is processed
    located = outcomes(TEXT.encode())
    # Then what was read stands, and the rest of the file is one transform_error row, with its fingerprint only
    *read, (rest, outcome) = located
    row = json.loads(outcome.payload or "")
    assert (len(read), rest.line_number, row["reason"]) == (
        0 if broken == "detect_delimiter" else 1,
        len(read) + 1,
        "transform_error",
    )
    assert set(row["record"]) == {*pii.FINGERPRINT_FIELDS, "error", "file_encoding", "line_number"}
    assert NAME not in (outcome.payload or "")


# ------------------------------------------------------------------------------------------ the summary, on Spark


def test_the_summary_counts_header_lines_and_names_empty_binary_files_and_ignored_columns(
    spark, tmp_path: Path
) -> None:
    # Given a drop with a headered UTF-16 export, an empty file and a picture
    drop = tmp_path / "drop"
    drop.mkdir()
    header = HEADER + ",Customer,notes"  # two columns the job does not know: named in the summary
    lines = [header, *(f"{row},,call back" for row in ROWS)]
    (drop / "leeds.txt").write_bytes(codecs.BOM_UTF16_LE + "\r\n".join(lines).encode("utf-16-le"))
    (drop / "empty.csv").write_bytes(b"")
    (drop / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    # When the job runs
    counts = etl.run_local(
        spark, drop, tmp_path / "lake", tmp_path / "quarantine", pii_key=PII_KEY, ingested_at=INGESTED_AT
    )
    # Then every line is accounted for, and the summary names each file's encoding and the empty one
    assert (counts["lines_read"], counts["header_lines"], counts["sales_written"], counts["quarantined_total"]) == (
        4,
        1,
        2,
        1,
    )
    assert counts["lines_read"] == (
        counts["blank_lines"]
        + counts["header_lines"]
        + counts["sales_written"]
        + counts["duplicates_dropped"]
        + counts["quarantined_total"]
    )
    assert counts["file_encodings"] == {
        "empty.csv": etl.ENCODING_UTF8,
        "leeds.txt": etl.ENCODING_UTF16_LE,
        "photo.png": etl.ENCODING_BINARY,
    }
    assert counts["empty_files"] == ["empty.csv"]
    assert counts["ignored_columns"] == {"leeds.txt": [8, 9]}


def test_a_file_over_the_size_limit_is_one_quarantine_row_and_the_others_go_on(
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a drop with a file over the size the job reads (a dump dropped by mistake), beside a till file
    monkeypatch.setattr(etl, "MAX_FILE_BYTES", 1000)
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "dump.csv").write_bytes((ROWS[1] + "\n").encode() * 100)
    (drop / "leeds.csv").write_bytes(TEXT.encode())
    # When the job runs
    counts = etl.run_local(
        spark, drop, tmp_path / "lake", tmp_path / "quarantine", pii_key=PII_KEY, ingested_at=INGESTED_AT
    )
    # Then the large file is one too_large quarantine row with its size, and the till file's sales are stored
    assert (counts["sales_written"], counts["quarantined"]) == (2, {"too_large": 1})
    (row,) = [json.loads(line) for path in (tmp_path / "quarantine").rglob("*.jsonl") for line in path.open()]
    assert (row["sequence_number"], row["record"]["length"], row["record"]["file_encoding"]) == (
        "dump.csv",
        len(ROWS[1]) * 100 + 100,
        etl.ENCODING_UNREAD,
    )
