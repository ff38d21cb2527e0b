"""Glue job: store point-of-sale CSV drops (one file per store and day) in the `sales` lake table, beside the
streamed sales.

Layers (house style): per-file and per-line pure Python (`process_file`, `process_line`), pure DataFrame
functions (`parse_pos_files`, `to_sales_rows`, `to_quarantine_rows`, `dedupe_sales`), one I/O function shared by
Glue and the local runner (`run_batch`), and the Glue bootstrap (`_glue_main`) under `if __name__ == "__main__"`
(nothing runs at import time and `awsglue` is only imported there: it does not exist outside Glue; the tests run
it over local Spark with a stand-in `awsglue`).

One CSV line becomes exactly one of: a `sales` row, a quarantine row with a reason, a blank line (ignored and
counted, never quarantined: tills end files with empty lines, spreadsheets with lines of delimiters alone), a
header line (skipped and counted), or a
duplicate of a stored row (counted). So `lines_read == blank_lines + header_lines + sales_written +
duplicates_dropped + quarantined_total` for every batch. A record whose quoted field holds line ends (a
spreadsheet cell with a line break) counts once, at its first line. A file that is not text at all (a picture,
an `.xlsx` workbook, which is a zip) is one quarantine row, `invalid_field` with its fingerprint and what it
looks like; a file over `MAX_FILE_BYTES` is never read and is one `too_large` row with its size; a file without a
line is listed in the summary's `empty_files`.

Encoding: tills write UTF-8 (with or without a byte-order mark) or Windows-1252 (`Café` as the single byte
0xE9); spreadsheets also save UTF-16 ("Unicode text", with a byte-order mark or not). A UTF-16 file is read as
such; any other is UTF-8 when all its bytes are valid UTF-8, else read line by line: a non-ASCII line that is
valid UTF-8 as UTF-8, any other as Windows-1252 (which decodes any byte: the five bytes it leaves undefined
become the C1 controls, as in browsers), so two tills' files concatenated keep both spellings (`utf-8+windows-1252`).
A name is thus hashed as written, never with replacement characters. The summary lists each file's encoding,
and every quarantine row of a file carries it (`record.file_encoding`, beside `record.line_number`).

Delimiter: a comma, or `;` / tab (spreadsheets in locales with a decimal comma, "Unicode text"), detected per
file (`detect_delimiter`); a quarantine row of a file that is not comma separated says which (`record.delimiter`).
Empty columns a spreadsheet saved after the till's seven on most rows of a file (`padding_columns`) are dropped
from every row.

The CSV is headerless: `timestamp, store, customer_name, basket_items, total_price, cash_or_card, card_number`. A
header line (at least three fields naming columns, by their CSV or wire-contract names, in any case and spacing) is
skipped and names the columns of the lines after it: reordered, extra (read into nothing, and listed by position in
the summary's `ignored_columns`) or left out (`customer_name` and `card_number` may be; any other is
`missing_field` on each row). A header repeated mid-file (exports concatenated) is skipped too. Each row is turned
into the wire-contract `sale` event and handed to `lakewatch.domain.transform.transform_record(...,
source="pos_csv")`, so validation, reason codes, normalisation, the clean JSON and the keyed `customer_key` are the
stream's, not a copy. Only what is specific to the CSV text is checked here, with the wire contract's reason codes
and field names:

- columns: fewer than 6 -> `missing_field` on the first missing column (`card_number` alone may be absent:
  tills omit the trailing empty column of cash sales); more than 7, or a line that is not CSV at all (a stray
  quote) -> `invalid_field` with no field (an unquoted basket shifted the columns, so no column can be
  trusted: only a fingerprint and the column count are kept);
- a line over `transform.MAX_RECORD_BYTES` -> `too_large`; a line holding a NUL -> `invalid_field` with no
  field (a card number with NULs between its digits escapes masking): both keep only a fingerprint;
- `timestamp` not `dd/mm/YYYY HH:MM` -> `invalid_field` `event_time`; the basket unreadable (`basket.py`)
  -> `invalid_field` `items`; `total_price` unreadable -> `invalid_field` `total_price`. Such a row's columns
  may be shifted, so its quarantine row keeps a column as written only where it looks like what the column
  holds, else as its shape (`Aaa Aaaaa`, `99/99`): a name or card number in the wrong column never is;
- anything else going wrong with one line (a bug, not bad data) -> `transform_error` for that line alone, with
  only a fingerprint of the line and the exception's type kept; the rest of the file carries on.

Times: the till writes the store's local wall-clock time (`Europe/London`, a job argument), converted to
UTC here; `dt` is the UTC date like every lake row. An ambiguous autumn-change time takes the first
(summer-time) instant; a non-existent spring-change time takes the pre-change offset (PEP 495 `fold=0`).

`event_id` is `pos-` + a keyed BLAKE2b (the PII key) of the row's seven stripped columns and of the row's
occurrence number among identical rows of its file (0 for the first, which then hashes exactly as the
columns alone). The till prints minutes, so two anonymous cash sales of the same coffee in the same minute
are identical rows, and both are real sales: the occurrence number keeps them apart, while a re-dropped file
gives every row the id it had the first time. Keyed, because the row holds a name and a card number.
Duplicates are dropped against the event ids already stored in the partitions the batch touches (and within
the batch: the same file dropped twice under two names), so a re-run without job bookmarks (or after a crash
between the Parquet write and the bookmark commit) never double counts. Card numbers are read only into that
hash and never leave the executor; customer names only reach the keyed hash inside `transform_record`.
Quarantine rows are not de-duplicated: a bad row re-dropped is quarantined again, each delivery being
evidence of a till problem.

Reading: the Glue bootstrap reads the landing prefix as a DynamicFrame, which is what job bookmarks track, only
to learn which files are new; their bytes are then fetched whole on the driver (`read_s3_files`), because Glue's
CSV reader decodes everything as UTF-8 and would destroy a Windows-1252 file before the job could see it. Till
files are a few MB each and an hourly run sees a few of them.

Metrics: each Glue run publishes `PosRowsWritten` and `PosRowsQuarantined` (namespace `lakewatch`, dimension
`job`) so an alarm can watch the POS quarantine like the stream's.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import re
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from lakewatch.domain import events, pii, tables
from lakewatch.domain.basket import BasketError, parse_basket, parse_price
from lakewatch.domain.glue_support import put_job_metrics, use_parquet_write_conf
from lakewatch.domain.reasons import Reason
from lakewatch.domain.transform import MAX_RECORD_BYTES, Clean, Rejected, quarantine_row, transform_record

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

SOURCE = "pos_csv"
CSV_COLUMNS = ("timestamp", "store", "customer_name", "basket_items", "total_price", "cash_or_card", "card_number")
#: The wire-contract field each CSV column feeds; `card_number` feeds nothing (it is dropped at the door).
WIRE_FIELDS = {
    "timestamp": "event_time",
    "store": "store",
    "customer_name": "customer_name",
    "basket_items": "items",
    "total_price": "total_price",
    "cash_or_card": "payment_method",
    "card_number": "card_number",
}
#: Columns kept (masked) in a quarantine row's `record`; the name and the card number never are.
_DIAGNOSTIC_COLUMNS = ("timestamp", "store", "basket_items", "total_price", "cash_or_card")
STORE_TIMEZONE = "Europe/London"
TILL_TIMESTAMP_FORMAT = "%d/%m/%Y %H:%M"
EVENT_ID_PREFIX = "pos-"
_EVENT_ID_BYTES = 16
_MIN_COLUMNS = len(CSV_COLUMNS) - 1

#: The encodings a till file is read in (see the module docstring), as the summary and quarantine rows name them.
ENCODING_UTF8 = "utf-8"
ENCODING_UTF8_BOM = "utf-8-bom"
ENCODING_WINDOWS_1252 = "windows-1252"
#: A file that is not valid UTF-8 but has UTF-8 lines beside Windows-1252 ones (two tills' files concatenated).
ENCODING_MIXED = "utf-8+windows-1252"
ENCODING_UTF16_LE = "utf-16-le"
ENCODING_UTF16_BE = "utf-16-be"
#: Not text at all (`binary_kind`): the file is one quarantine row.
ENCODING_BINARY = "binary"
#: Never read (over `MAX_FILE_BYTES`): the file is one quarantine row.
ENCODING_UNREAD = "unread"
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
#: How much of a file's start tells its encoding or that it is binary.
_SNIFF_BYTES = 4096
#: Bytes no text file holds (C0 controls but tab, line feed, carriage return), and the share of them in a file's
#: start (one in `_BINARY_CONTROL_SHARE`) above which it is taken as binary.
_CONTROL_BYTES = bytes(code for code in range(0x20) if code not in b"\t\n\r")
_BINARY_CONTROL_SHARE = 10
#: Files that are not text, by their first bytes (a spreadsheet saved as .xlsx is a zip archive).
_BINARY_SIGNATURES = {
    b"\x89PNG": "PNG image",
    b"\xff\xd8\xff": "JPEG image",
    b"GIF8": "GIF image",
    b"%PDF": "PDF document",
    b"PK\x03\x04": "zip archive (an .xlsx workbook is one)",
    b"PK\x05\x06": "zip archive (empty)",
    b"\x1f\x8b": "gzip archive",
    b"\xd0\xcf\x11\xe0": "OLE document (an .xls workbook)",
}
#: Windows-1252 as a total decoder: Latin-1 (one code point per byte), then 0x80-0x9F remapped to the
#: characters Windows-1252 gives them where it gives any (the other five stay C1 controls).
_WINDOWS_1252_C1 = str.maketrans(
    {
        chr(code): bytes([code]).decode("cp1252")
        for code in range(0x80, 0xA0)
        if bytes([code]).decode("cp1252", errors="ignore")
    }
)
#: Line ends as Spark's text reader splits them (`\n`, `\r\n`, `\r`), and nothing else (`str.splitlines`
#: would also split on form feeds and Unicode separators inside a field).
_LINE_END = re.compile(r"\r\n|\r|\n")
#: The same line ends in bytes, captured so that a split keeps them (`decode_file` decodes line by line).
_LINE_END_BYTES = re.compile(rb"(\r\n|\r|\n)")
#: Column delimiters, the comma first: spreadsheets in locales with a decimal comma save "CSV" with `;`, and
#: "Unicode text" is tab separated.
DELIMITERS = (",", ";", "\t")
#: The first lines `detect_delimiter` looks at.
_SNIFF_LINES = 50
#: Most physical lines one record may span (quoted fields holding line ends).
MAX_RECORD_LINES = 16
#: Header names -> column: each CSV column by its own name and by the wire-contract field it feeds.
_HEADER_NAMES = {name: column for column, wire in WIRE_FIELDS.items() for name in (column, wire)}
#: Fewest column names that make a line a header line (a sale's fields never name three columns).
_MIN_HEADER_NAMES = 3
#: Columns a header may leave out: an anonymous till writes no names and no card numbers.
_OPTIONAL_COLUMNS = frozenset({"customer_name", "card_number"})
#: Text kept as written in a quarantine row only if shaped like a time or a price, and too short in digits to be
#: a card number (13 digits at the fewest, as `docs/privacy.md` defines them).
_TIME_LIKE = re.compile(r"[0-9/:. -]{0,32}")
_PRICE_LIKE = re.compile(r"[£€$]?[0-9., -]{0,32}")
_CARD_DIGITS_MIN = 13

KIND_SALE = "sale"
KIND_QUARANTINE = "quarantine"
KIND_BLANK = "blank"
#: A header line (skipped and counted: it names the columns of the lines after it).
KIND_HEADER = "header"
#: A file with no line at all: not a line, only so that the summary names the file.
KIND_EMPTY_FILE = "empty_file"
#: One file per row: what `parse_pos_files` reads (`source_file` a path or URI, `content` its raw bytes, `size`
#: their count). A file over `MAX_FILE_BYTES` is never read: its `content` is null (see `oversized_file`).
FILES_DDL = "source_file string, content binary, size long"
#: The largest file read. Till files are a few MB; the job holds each file whole on the driver and in one Spark
#: row (at most 2 GB), so a file far larger (an export of months, a dump dropped by mistake) would fail every
#: run until removed, blocking every other till's files: it is quarantined as one row instead.
MAX_FILE_BYTES = 128 * 1024 * 1024
#: One row per input line after `parse_pos_files`; `payload` is the clean JSON line or the quarantine row.
OUTCOME_DDL = "kind string, event_id string, dt string, reason string, payload string, file string, encoding string"
#: Spark pattern of `tables.CLEAN_TIMESTAMP_FORMAT` (the clean JSON's timestamp text).
CLEAN_TIMESTAMP_PATTERN = "yyyy-MM-dd HH:mm:ss.SSSSSS"
#: The CloudWatch metric each Glue run publishes, and the count of `run_batch` it publishes.
METRIC_COUNTS = {"PosRowsWritten": "sales_written", "PosRowsQuarantined": "quarantined_total"}


@dataclass(frozen=True, slots=True)
class LineOutcome:
    kind: str
    event_id: str | None = None
    dt: str | None = None
    reason: str | None = None
    payload: str | None = None


@dataclass(frozen=True, slots=True)
class CsvLocation:
    """Where a line comes from: its file's name (a quarantine row's `sequence_number`), encoding and line number."""

    file: str
    encoding: str = ENCODING_UTF8
    line_number: int | None = None
    delimiter: str = ","
    #: Empty columns a spreadsheet saved after the till's on every row (`padding_columns`), dropped from each.
    padding: int = 0

    def diagnostic(self) -> dict[str, Any]:
        where: dict[str, Any] = {"file_encoding": self.encoding, "line_number": self.line_number}
        if self.delimiter != ",":
            where["delimiter"] = self.delimiter
        return where


# ------------------------------------------------------------------------------------------ per file, per line


def binary_kind(data: bytes) -> str | None:
    """What a file that is not text at all is (`PNG image`, `zip archive`...), or None for text.

    Known signatures first; then a start that is mostly not text (one byte in ten a control character other
    than tab and line ends), in a file that is not UTF-16 (`decode_file` reads those). A few NUL bytes in a text
    file only spoil their lines (`process_line` quarantines them), never the file.
    """
    for signature, kind in _BINARY_SIGNATURES.items():
        if data.startswith(signature):
            return kind
    head = data[:_SNIFF_BYTES]
    if head.startswith(_UTF16_BOMS) or _utf16_without_bom(head) is not None:
        return None
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if controls * _BINARY_CONTROL_SHARE > len(head):
        return "binary data (control bytes)"
    return None


def _utf16_without_bom(head: bytes) -> str | None:
    """`utf-16-le` / `utf-16-be` when every other byte of `head` is NUL (ASCII text in UTF-16), else None."""
    head = head[: len(head) - len(head) % 2]  # a file cut short may end in half a character
    if not head:
        return None
    evens, odds = head[0::2], head[1::2]
    if not odds.strip(b"\x00") and b"\x00" not in evens:
        return ENCODING_UTF16_LE
    if not evens.strip(b"\x00") and b"\x00" not in odds:
        return ENCODING_UTF16_BE
    return None


def decode_file(data: bytes) -> tuple[str, str]:
    """A till file's bytes -> (encoding, text). Total: never raises.

    UTF-16 (a byte-order mark, or ASCII text with every other byte NUL: Excel's "Unicode text"); UTF-8 (a
    leading byte-order mark dropped) when all its bytes are valid UTF-8; else line by line: a line that is valid
    UTF-8 and not plain ASCII is UTF-8, any other Windows-1252 (`ENCODING_MIXED` when both kinds occur, as in
    files concatenated from two tills).
    """
    for bom, encoding in ((codecs.BOM_UTF16_LE, ENCODING_UTF16_LE), (codecs.BOM_UTF16_BE, ENCODING_UTF16_BE)):
        if data.startswith(bom):
            return encoding, data[len(bom) :].decode(encoding, errors="replace")
    utf16 = _utf16_without_bom(data[:_SNIFF_BYTES])
    if utf16 is not None:  # a truncated last byte becomes a replacement character
        return utf16, data.decode(utf16, errors="replace")
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8) :] if bom else data
    try:
        return (ENCODING_UTF8_BOM if bom else ENCODING_UTF8), body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    utf8_lines = False
    parts = []
    for part in _LINE_END_BYTES.split(body):  # the line ends are kept, as separate parts
        if not part.isascii():
            try:
                parts.append(part.decode("utf-8"))
                utf8_lines = True
                continue
            except UnicodeDecodeError:
                pass
        parts.append(part.decode("latin-1").translate(_WINDOWS_1252_C1))
    return (ENCODING_MIXED if utf8_lines else ENCODING_WINDOWS_1252), "".join(parts)


def split_lines(text: str) -> list[str]:
    """The lines of a file's text; a final line end ends the last line rather than starting an empty one."""
    lines = _LINE_END.split(text)
    if lines[-1] == "":
        lines.pop()
    return lines


def detect_delimiter(lines: list[str]) -> str:
    """The file's column delimiter: `,`, or `;` / tab as spreadsheets in many locales save "CSV".

    A header line names it (the delimiter under which it reads as one); else the delimiter under which most of
    the first lines have the six or seven columns of a sale starting with a till time (a tab-separated basket
    may hold enough commas to look like six columns), then with any first column. Ties keep the comma.
    """
    sample = [line for line in lines[:_SNIFF_LINES] if line.strip()]
    for line in sample[:1]:
        for delimiter in DELIMITERS:
            if header_layout(line, delimiter) is not None:
                return delimiter

    def sale_shaped(delimiter: str) -> tuple[int, int]:
        """(lines that are sale-shaped and start with a till time, lines that are sale-shaped)."""
        timed = shaped = 0
        for line in sample:
            fields = _split(line, delimiter) or []
            if _MIN_COLUMNS <= len(fields) <= len(CSV_COLUMNS):
                shaped += 1
                timed += _till_time(fields[0].strip())
        return timed, shaped

    scores = {delimiter: sale_shaped(delimiter) for delimiter in DELIMITERS}
    return max(DELIMITERS, key=lambda delimiter: (*scores[delimiter], delimiter == ","))


def _split(text: str, delimiter: str) -> list[str] | None:
    """The fields of one CSV record, or None when it is not CSV (a quote left open, a stray line end)."""
    try:
        return next(csv.reader([text], delimiter=delimiter, strict=True), [])
    except csv.Error:
        return None


def _header_name(field: str) -> str:
    return re.sub(r"[\s_-]+", "_", field.strip().lstrip("\ufeff").strip().casefold())


def header_layout(line: str, delimiter: str) -> tuple[str | None, ...] | None:
    """The column of each position if `line` is a header line, else None: at least three fields name a column
    (by its CSV or its wire-contract name, in any case and spacing), each column once, they are most of the
    line's fields, and no field is a till time. Unknown header fields map to None: their values are read into
    nothing."""
    fields = _split(line.lstrip("\ufeff"), delimiter)
    if not fields:
        return None
    layout = tuple(_HEADER_NAMES.get(_header_name(field)) for field in fields)
    named = [column for column in layout if column is not None]
    if len(named) < _MIN_HEADER_NAMES or len(set(named)) != len(named) or any(map(_till_time, fields)):
        return None
    if len(named) * 2 <= sum(1 for field in fields if field.strip()):  # mostly not column names: a broken row
        return None
    return layout


def ignored_columns(line: str, delimiter: str, layout: tuple[str | None, ...]) -> str | None:
    """The positions (from 1) of a header line's named columns the job reads into nothing, as a JSON list, or
    None: the summary lists them, so that a column the job does not know (`Customer` for `customer_name`) is
    seen, not silently dropped. Positions, not names: a line taken for a header may hold a customer's name."""
    fields = _split(line.lstrip("\ufeff"), delimiter) or []
    positions = [
        number
        for number, (field, column) in enumerate(zip(fields, layout, strict=False), start=1)
        if column is None and field.strip()
    ]
    return json.dumps(positions) if positions else None


def csv_records(lines: list[str], delimiter: str, max_fields: Callable[[], int]) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each CSV record: one line, or several when a quoted field holds line ends.

    A line with an odd number of quotes may open such a field. It is joined with the next lines (at most
    `MAX_RECORD_LINES` in all) only if that closes the quote into one record of at most `max_fields()` fields;
    otherwise it stands alone (and is quarantined as not CSV), so a stray quote never swallows its neighbours.
    """
    index = 0
    while index < len(lines):
        text, span = lines[index], 1
        if text.count('"') % 2:
            joined = text
            for extra in range(1, min(MAX_RECORD_LINES, len(lines) - index)):
                joined += "\n" + lines[index + extra]
                if joined.count('"') % 2:
                    continue
                fields = _split(joined, delimiter)
                if fields is not None and len(fields) <= max_fields():
                    text, span = joined, extra + 1
                break
        yield index + 1, text
        index += span


def oversized_file(source_file: str, size: int, ingested_at: datetime) -> tuple[CsvLocation, LineOutcome]:
    """The one quarantine row of a file over `MAX_FILE_BYTES`, which is never read: `too_large`, its size."""
    location = CsvLocation(PurePosixPath(unquote(source_file)).name, ENCODING_UNREAD)
    problem = f"file over {MAX_FILE_BYTES} bytes: split it and drop the parts"
    rejected = Rejected(Reason.TOO_LARGE, None, None, {"length": size, "problem": problem})
    return location, _quarantined(rejected, location, ingested_at)


def process_file(
    data: bytes, source_file: str, *, pii_key: bytes, ingested_at: datetime, store_timezone: ZoneInfo
) -> Iterator[tuple[CsvLocation, LineOutcome]]:
    """One till file's bytes -> one outcome per line (per record, for one spanning lines), in order. Pure; never
    raises, whatever a line holds.

    A file that is not text (a picture, a spreadsheet's zip) is one quarantine row with its fingerprint; a file
    without any line is one `KIND_EMPTY_FILE` outcome, so the summary names it. Header lines are skipped and
    counted, and name the columns of the lines after them (reordered, extra or absent columns).
    An unexpected exception on one line (a bug, not bad data: those have their reasons) quarantines that line
    as `transform_error`, keeping only its fingerprint and the exception's type, never its text; one in reading
    the file itself (its encoding, delimiter, records) quarantines the rest of the file as one such row, from
    the line after the last outcome, and the batch's other files carry on.
    """
    name = PurePosixPath(unquote(source_file)).name  # Spark's and Glue's file names are URIs
    last = CsvLocation(name, line_number=0)
    try:
        for location, outcome in _file_outcomes(data, name, pii_key, ingested_at, store_timezone):
            last = location
            yield location, outcome
    except Exception as error:  # the last line of defence for the file: never the whole batch
        rest = replace(last, line_number=(last.line_number or 0) + 1)
        yield rest, _quarantined(_transform_error(data, error, pii_key), rest, ingested_at)


def _file_outcomes(
    data: bytes, name: str, pii_key: bytes, ingested_at: datetime, store_timezone: ZoneInfo
) -> Iterator[tuple[CsvLocation, LineOutcome]]:
    binary = binary_kind(data)
    if binary is not None:
        location = CsvLocation(name, ENCODING_BINARY)
        rejected = Rejected(Reason.INVALID_FIELD, None, None, {**pii.fingerprint(data, pii_key), "problem": binary})
        yield location, _quarantined(rejected, location, ingested_at)
        return
    encoding, text = decode_file(data)
    lines = split_lines(text)
    if not lines:
        yield CsvLocation(name, encoding), LineOutcome(KIND_EMPTY_FILE)
        return
    delimiter = detect_delimiter(lines)
    padding = padding_columns(lines, delimiter)
    layout: tuple[str | None, ...] = CSV_COLUMNS
    repeats: Counter[str] = Counter()
    # The widest record allowed is read as each is assembled: a header line changes it for the lines after it.
    widest = lambda: max(len(CSV_COLUMNS), len(layout))  # noqa: E731 - the layout in force, read late
    for number, record in csv_records(lines, delimiter, widest):
        location = CsvLocation(name, encoding, number, delimiter, padding)
        try:
            header = header_layout(record, delimiter)
            if header is not None:
                layout = header
                outcome = LineOutcome(KIND_HEADER, payload=ignored_columns(record, delimiter, header))
            else:
                outcome = process_line(
                    record,
                    location,
                    pii_key=pii_key,
                    ingested_at=ingested_at,
                    store_timezone=store_timezone,
                    repeats=repeats,
                    layout=layout,
                )
        except Exception as error:  # the last line of defence: one line goes to quarantine, never the file
            outcome = _quarantined(
                _transform_error(record.encode("utf-8", "surrogatepass"), error, pii_key), location, ingested_at
            )
        yield location, outcome


def _transform_error(data: bytes, error: Exception, pii_key: bytes) -> Rejected:
    """`transform_error` for what raised unexpectedly: the fingerprint of its bytes and the exception's type."""
    record = {**pii.fingerprint(data, pii_key), "error": type(error).__name__}
    return Rejected(Reason.TRANSFORM_ERROR, None, None, record)


def process_line(
    line: str,
    location: CsvLocation,
    *,
    pii_key: bytes,
    ingested_at: datetime,
    store_timezone: ZoneInfo,
    repeats: Counter[str] | None = None,
    layout: tuple[str | None, ...] = CSV_COLUMNS,
) -> LineOutcome:
    """One CSV line -> a clean sale, a quarantine row or a blank. Pure; never raises on bad input.

    `repeats` counts the rows already seen in the same file by content (updated here): the occurrence number
    that keeps identical rows apart in `row_event_id`. Without it the line is taken as the first of its kind.
    `layout` is the column of each position (a header line's, else `CSV_COLUMNS`).
    """
    text = line.rstrip("\r\n").removeprefix("\ufeff")  # files concatenated with their byte-order marks
    if not text.strip():
        return LineOutcome(KIND_BLANK)
    fields = _fields(text, location, layout, pii_key)
    if fields is None:
        return LineOutcome(KIND_BLANK)
    if isinstance(fields, Rejected):
        return _quarantined(fields, location, ingested_at)
    row = dict.fromkeys(CSV_COLUMNS, "")
    row.update((column, field.strip()) for column, field in zip(layout, fields, strict=False) if column is not None)
    content = row_content(row)
    occurrence = 0
    if repeats is not None:
        occurrence = repeats[content]
        repeats[content] += 1
    event_id = row_event_id(content, occurrence, pii_key)
    try:
        sale = to_wire_sale(row, event_id, store_timezone)
    except _CsvFieldError as error:
        rejected = Rejected(Reason.INVALID_FIELD, error.field, event_id, {**diagnostic(row), "problem": error.problem})
        return _quarantined(rejected, location, ingested_at)
    result = transform_record(json.dumps(sale).encode(), pii_key=pii_key, ingested_at=ingested_at, source=SOURCE)
    if isinstance(result, Clean):
        return LineOutcome(KIND_SALE, result.event_id, result.dt, None, result.payload.decode())
    return _quarantined(_untrusted_columns_shaped(result), location, ingested_at)


def _fields(
    text: str, location: CsvLocation, layout: tuple[str | None, ...], pii_key: bytes
) -> list[str] | Rejected | None:
    """A line's fields, or why they cannot be read (`Rejected`), or None for a line of empty fields alone (a
    spreadsheet saves the empty rows of its used range as delimiters alone: `,,,,,,`)."""
    unsafe = _unsafe_line(text, pii_key)
    if unsafe is not None:
        return unsafe
    fields = _split(text, location.delimiter)
    if fields is None:  # unreadable as CSV at all: treated as a shifted row
        fields = [text] * (len(layout) + 1)
    padding = location.padding
    if padding and len(fields) >= len(layout) + padding and not any(field.strip() for field in fields[-padding:]):
        del fields[-padding:]
    if not any(field.strip() for field in fields):
        return None
    missing = _missing_column(layout, len(fields))
    if len(fields) > len(layout) or missing is not None:
        return Rejected(
            Reason.MISSING_FIELD if missing is not None else Reason.INVALID_FIELD,
            WIRE_FIELDS[missing] if missing is not None else None,
            None,
            {**pii.fingerprint(text.encode(), pii_key), "columns": len(fields)},
        )
    return fields


def padding_columns(lines: list[str], delimiter: str) -> int:
    """How many empty columns a spreadsheet added after the till's seven (the empty cells of its used range,
    saved on every row): the extra width of most of the first lines, when those extra fields are all empty.

    Decided for the file, not per line: a row with one empty field too many is otherwise a row whose unquoted
    basket shifted the columns and whose card column is empty, which must not be read as aligned.
    """
    widths: Counter[int] = Counter()
    rows = 0
    for line in lines[:_SNIFF_LINES]:
        fields = _split(line, delimiter) or []
        if any(field.strip() for field in fields):
            rows += 1
            if len(fields) > len(CSV_COLUMNS) and not any(field.strip() for field in fields[len(CSV_COLUMNS) :]):
                widths[len(fields)] += 1
    if not widths:
        return 0
    width, count = widths.most_common(1)[0]
    return width - len(CSV_COLUMNS) if count * 2 > rows else 0


def _unsafe_line(text: str, pii_key: bytes) -> Rejected | None:
    """A line whose text may not be kept in any form: too large for a record, or holding a NUL (a card number
    written with NULs between its digits is invisible to masking). Only its fingerprint is kept."""
    problem = None
    if len(text) > MAX_RECORD_BYTES // 4 and len(text.encode("utf-8", "surrogatepass")) > MAX_RECORD_BYTES:
        return Rejected(Reason.TOO_LARGE, None, None, pii.fingerprint(text.encode("utf-8", "surrogatepass"), pii_key))
    if "\x00" in text:
        problem = "NUL character"
    if problem is None:
        return None
    return Rejected(Reason.INVALID_FIELD, None, None, {**pii.fingerprint(text.encode(), pii_key), "problem": problem})


def _missing_column(layout: tuple[str | None, ...], count: int) -> str | None:
    """The first column a row of `count` fields lacks, if any: a position of the layout left empty (only
    `card_number` may be: tills omit the trailing empty column of cash sales), or a column a header left out
    whose value a sale needs (a header without `customer_name` or `card_number` is an anonymous till)."""
    for column in layout[count:]:
        if column is not None and column != "card_number":
            return column
    for column in CSV_COLUMNS:
        if column not in layout and column not in _OPTIONAL_COLUMNS:
            return column
    return None


def shape(text: str) -> str:
    """What a value that may be somebody's name or card number is kept as: its shape, never its content.
    Capitals become `A`, other letters `a`, digits `9`, whitespace a space; ASCII punctuation stays (it is what
    tells a price or a time apart), and any other character becomes `?` (a NUL, a non-breaking space)."""
    return "".join(_shape_of(char) for char in text)


def _shape_of(char: str) -> str:
    if char.isalpha():
        return "A" if char.isupper() else "a"
    if char.isdigit():
        return "9"
    if char.isspace():
        return " "
    return char if char.isascii() and char.isprintable() else "?"


def _payment_term(text: str) -> bool:
    return text.strip().upper() in events.PAYMENT_METHODS


def diagnostic(row: Mapping[str, str]) -> dict[str, Any]:
    """The columns kept in a quarantine row of a line rejected here (`_DIAGNOSTIC_COLUMNS`, masked).

    A row rejected on its text may have its columns shifted (one left out, or a reordered export), so any column
    may hold the customer's name or card number. A column is kept as written only when it looks like what the
    column holds (a time, a price, a payment method, a basket that parses), `store` only when the row's time and
    payment method are readable where they belong; anything else is kept as its `shape`.
    """
    payment_term = _payment_term(row["cash_or_card"])
    looks_right = {
        "timestamp": _kept_as_written(row["timestamp"], _TIME_LIKE),
        "store": payment_term and _till_time(row["timestamp"]),
        "basket_items": _parses_as_basket(row["basket_items"]),
        "total_price": _kept_as_written(row["total_price"], _PRICE_LIKE),
        "cash_or_card": payment_term,
    }
    # Whitespace as one space: a card number spaced with no-break or thin spaces is then masked like any other.
    return pii.scrub(
        {
            column: " ".join(row[column].split()) if looks_right[column] else shape(row[column])
            for column in _DIAGNOSTIC_COLUMNS
        }
    )


def _till_time(text: str) -> bool:
    try:
        datetime.strptime(text, TILL_TIMESTAMP_FORMAT)
    except ValueError:
        return False
    return True


def _kept_as_written(text: str, pattern: re.Pattern[str]) -> bool:
    return pattern.fullmatch(text) is not None and sum(char.isdigit() for char in text) < _CARD_DIGITS_MIN


def _parses_as_basket(text: str) -> bool:
    try:
        parse_basket(text)
    except BasketError:
        return False
    return True


def _untrusted_columns_shaped(rejected: Rejected) -> Rejected:
    """A transform rejection of a CSV row, its `payment_method` and `store` shaped unless the payment method is
    one: only then are the row's columns known to sit where they belong (see `diagnostic`)."""
    record = rejected.record
    if not isinstance(record, dict) or _payment_term(str(record.get("payment_method", ""))):
        return rejected
    shaped = {
        name: shape(value) if name in ("payment_method", "store") and isinstance(value, str) else value
        for name, value in record.items()
    }
    return Rejected(rejected.reason, rejected.field, rejected.event_id, shaped)


class _CsvFieldError(ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def row_content(row: Mapping[str, str]) -> str:
    """The seven stripped columns of a CSV row as one text: what makes two rows identical."""
    return "\x1f".join(row[column] for column in CSV_COLUMNS)


def row_event_id(content: str, occurrence: int, pii_key: bytes) -> str:
    """Deterministic, keyed idempotency key of the `occurrence`-th row (from 0) with this content in its file.

    The first occurrence hashes the content alone, so rows stored before occurrence numbers existed keep
    their ids and a file re-dropped across that change is still recognised.
    """
    text = content if occurrence == 0 else f"{content}\x1e{occurrence}"
    return EVENT_ID_PREFIX + hashlib.blake2b(text.encode(), key=pii_key, digest_size=_EVENT_ID_BYTES).hexdigest()


def till_time_to_utc(text: str, store_timezone: ZoneInfo) -> datetime:
    """`dd/mm/YYYY HH:MM` store wall-clock time -> aware UTC datetime (ValueError if unreadable)."""
    local = datetime.strptime(text, TILL_TIMESTAMP_FORMAT).replace(tzinfo=store_timezone)
    return local.astimezone(UTC)


def to_wire_sale(row: dict[str, str], event_id: str, store_timezone: ZoneInfo) -> dict[str, Any]:
    """The wire-contract `sale` event of one CSV row; `_CsvFieldError` for what only the CSV text can get wrong."""
    try:
        event_time = till_time_to_utc(row["timestamp"], store_timezone)
    except ValueError:
        raise _CsvFieldError("event_time", "not dd/mm/YYYY HH:MM") from None
    try:
        items = parse_basket(row["basket_items"])
    except BasketError as error:
        raise _CsvFieldError("items", error.problem) from None
    try:
        total_price = parse_price(row["total_price"])
    except BasketError as error:
        raise _CsvFieldError("total_price", error.problem) from None
    sale: dict[str, Any] = {
        "event_type": "sale",
        "event_id": event_id,
        "event_time": event_time.isoformat().replace("+00:00", "Z"),
        "channel": "store",
        "store": row["store"] or None,
        "payment_method": row["cash_or_card"],
        "items": [item.to_wire() for item in items],
        "total_price": float(total_price),
    }
    if row["customer_name"]:
        sale["customer_name"] = row["customer_name"]
    return sale


def _quarantined(rejected: Rejected, location: CsvLocation, ingested_at: datetime) -> LineOutcome:
    record = rejected.record if isinstance(rejected.record, dict) else {"value": rejected.record}
    row = quarantine_row(
        Rejected(rejected.reason, rejected.field, rejected.event_id, {**location.diagnostic(), **record}),
        sequence_number=location.file,
        source=SOURCE,
        quarantined_at=ingested_at,
    )
    return LineOutcome(
        KIND_QUARANTINE,
        rejected.event_id,
        ingested_at.astimezone(UTC).strftime(tables.PARTITION_DATE_FORMAT),
        str(rejected.reason),
        json.dumps(row, separators=(",", ":")),
    )


def _process_partition(
    files: Iterable[Any], *, pii_key: bytes, ingested_at: datetime, store_timezone: str
) -> Iterator[tuple[str | None, ...]]:
    zone = ZoneInfo(store_timezone)
    for file in files:
        source_file = file["source_file"] or ""
        if file["content"] is None and file["size"]:
            outcomes: Iterable[tuple[CsvLocation, LineOutcome]] = [
                oversized_file(source_file, file["size"], ingested_at)
            ]
        else:
            outcomes = process_file(
                bytes(file["content"] or b""),
                source_file,
                pii_key=pii_key,
                ingested_at=ingested_at,
                store_timezone=zone,
            )
        for location, outcome in outcomes:
            yield (
                outcome.kind,
                outcome.event_id,
                outcome.dt,
                outcome.reason,
                outcome.payload,
                location.file,
                location.encoding,
            )


# ------------------------------------------------------------------------------------- DataFrame functions


def sales_schema() -> StructType:
    """The `sales` table's data columns (from `tables.SALES`, never retyped) plus the `dt` partition column.

    `StructType.fromDDL` is Spark 4; on Glue 5.0's Spark 3.5 the same JVM DDL parser is reached through
    `_parse_datatype_string` (what `createDataFrame` uses for a DDL schema); it needs a running SparkContext.
    """
    from pyspark.sql.types import StringType, StructField, _parse_datatype_string

    data_columns = _parse_datatype_string(tables.SALES.spark_ddl())
    return data_columns.add(StructField(tables.PARTITION_KEY, StringType()))


def parse_pos_files(
    files: DataFrame, *, pii_key: bytes, ingested_at: datetime, store_timezone: str = STORE_TIMEZONE
) -> DataFrame:
    """`FILES_DDL` rows -> one `OUTCOME_DDL` row per line of every file (see `process_file`)."""
    work = partial(_process_partition, pii_key=pii_key, ingested_at=ingested_at, store_timezone=store_timezone)
    outcomes = files.select("source_file", "content", "size").rdd.mapPartitions(work)
    return files.sparkSession.createDataFrame(outcomes, OUTCOME_DDL)


def to_sales_rows(outcomes: DataFrame) -> DataFrame:
    """The clean sales of `parse_pos_files`, typed exactly as the Glue `sales` table plus `dt`."""
    from pyspark.sql import functions as F

    schema = sales_schema()
    options = {"timestampFormat": CLEAN_TIMESTAMP_PATTERN, "timeZone": "UTC", "mode": "FAILFAST"}
    return (
        outcomes.where(F.col("kind") == KIND_SALE)
        .select(F.from_json("payload", schema, options).alias("row"))
        .select(*(F.col(f"row.{field.name}").alias(field.name) for field in schema.fields))
    )


def to_quarantine_rows(outcomes: DataFrame) -> DataFrame:
    """`(dt, reason, payload)` of the quarantined lines; `payload` is the DEVELOPERS.md quarantine row."""
    from pyspark.sql import functions as F

    return outcomes.where(F.col("kind") == KIND_QUARANTINE).select("dt", "reason", "payload")


def ignored_header_columns(outcomes: DataFrame) -> dict[str, list[int]]:
    """File -> the header columns it read into nothing (`ignored_columns`), for the files that have any."""
    ignored: dict[str, set[int]] = {}
    for row in outcomes.where(outcomes["kind"] == KIND_HEADER).select("file", "payload").collect():
        ignored.setdefault(row["file"], set()).update(json.loads(row["payload"] or "[]"))
    return {file: sorted(names) for file, names in sorted(ignored.items()) if names}


def dedupe_sales(sales: DataFrame, stored_event_ids: DataFrame | None) -> DataFrame:
    """One row per `event_id`, minus the ids already stored in the target partitions."""
    unique = sales.dropDuplicates(["event_id"])
    if stored_event_ids is None:
        return unique
    return unique.join(stored_event_ids.select("event_id").distinct(), on="event_id", how="left_anti")


# ------------------------------------------------------------------------------------------------- I/O


def read_local_files(spark: SparkSession, folder: Path) -> DataFrame:
    """Every file under `folder` (recursively) as `FILES_DDL` rows; names starting with `_` or `.` are skipped,
    as Spark's file sources skip them."""
    paths = sorted(
        path
        for path in folder.resolve().rglob("*")
        if path.is_file() and not any(part.startswith(("_", ".")) for part in path.relative_to(folder.resolve()).parts)
    )
    files = []
    for path in paths:
        size = path.stat().st_size
        files.append((path.as_uri(), path.read_bytes() if size <= MAX_FILE_BYTES else None, size))
    return spark.createDataFrame(files, FILES_DDL)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` (or `s3a://`, `s3n://`) -> (bucket, key)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("s3", "s3a", "s3n") or not parts.netloc or not parts.path.strip("/"):
        raise ValueError(f"not an S3 object URI: {uri!r}")
    return parts.netloc, parts.path.removeprefix("/")


def read_s3_files(spark: SparkSession, s3: Any, uris: Iterable[str]) -> DataFrame:
    """The raw bytes of each S3 object in `uris` as `FILES_DDL` rows, fetched on the driver (see the module
    docstring: the bytes must reach the job undecoded)."""
    files = []
    for uri in sorted(set(uris)):
        bucket, key = split_s3_uri(uri)
        try:
            response = s3.get_object(Bucket=bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            if unquote(key) == key:
                raise
            # A file name may come URI-encoded (`a%20b.csv`), as Spark's input_file_name() gives it.
            response = s3.get_object(Bucket=bucket, Key=unquote(key))
        size = response["ContentLength"]
        if size > MAX_FILE_BYTES:
            response["Body"].close()  # never read: see MAX_FILE_BYTES
            files.append((uri, None, size))
        else:
            files.append((uri, response["Body"].read(), size))
    return spark.createDataFrame(files, FILES_DDL)


def run_batch(
    spark: SparkSession,
    files: DataFrame,
    *,
    pii_key: bytes,
    ingested_at: datetime,
    table_uri: str,
    existing_partitions: Callable[[list[str]], list[str]],
    write_quarantine: Callable[[str, list[str]], None],
    store_timezone: str = STORE_TIMEZONE,
) -> dict[str, Any]:
    """Parse, validate, dedupe and store one batch of CSV files (`FILES_DDL`); returns the batch's counts.

    `existing_partitions(dts)` returns the URIs of those `dt` partitions of the table that already hold
    files; `write_quarantine(dt, json_lines)` stores one quarantine object. Five Spark actions, plus the read of
    the stored event ids when a target partition already holds files.
    """
    use_parquet_write_conf(spark)
    outcomes = parse_pos_files(files, pii_key=pii_key, ingested_at=ingested_at, store_timezone=store_timezone)
    outcomes.persist()
    try:
        tally: Counter[tuple[str, str | None]] = Counter()
        sale_days: set[str] = set()
        file_encodings: dict[str, str] = {}
        empty_files: set[str] = set()
        for row in outcomes.groupBy("kind", "reason", tables.PARTITION_KEY, "file", "encoding").count().collect():
            tally[(row["kind"], row["reason"])] += row["count"]
            file_encodings[row["file"]] = row["encoding"]
            if row["kind"] == KIND_EMPTY_FILE:
                empty_files.add(row["file"])
            if row["kind"] == KIND_SALE:
                sale_days.add(row[tables.PARTITION_KEY])
        quarantined: Counter[str] = Counter()
        for (kind, reason), count in tally.items():
            if kind == KIND_QUARANTINE and reason is not None:
                quarantined[reason] += count
        ignored = ignored_header_columns(outcomes)
        by_day: dict[str, list[str]] = {}
        for row in to_quarantine_rows(outcomes).collect():
            by_day.setdefault(row["dt"], []).append(row["payload"])
        for dt, rows in sorted(by_day.items()):
            write_quarantine(dt, rows)

        sales = to_sales_rows(outcomes)
        dts = sorted(sale_days)
        stored_uris = existing_partitions(dts) if dts else []
        stored = spark.read.schema("event_id string").parquet(*stored_uris) if stored_uris else None
        fresh = dedupe_sales(sales, stored).persist()
        try:
            written = fresh.count()
            if written:
                # One file per day per batch: the table is read by Athena, which pays per file opened.
                fresh.repartition(tables.PARTITION_KEY).write.mode("append").partitionBy(tables.PARTITION_KEY).parquet(
                    table_uri
                )
        finally:
            fresh.unpersist()
    finally:
        outcomes.unpersist()

    def lines_of(kind: str) -> int:
        return sum(count for (counted, _), count in tally.items() if counted == kind)

    sales_in = lines_of(KIND_SALE)
    return {
        "lines_read": sum(tally.values()) - lines_of(KIND_EMPTY_FILE),
        "blank_lines": lines_of(KIND_BLANK),
        "header_lines": lines_of(KIND_HEADER),
        "sales_written": written,
        "duplicates_dropped": sales_in - written,
        "quarantined": dict(sorted(quarantined.items())),
        "quarantined_total": sum(quarantined.values()),
        "partitions": dts,
        "file_encodings": dict(sorted(file_encodings.items())),
        "empty_files": sorted(empty_files),
        "ignored_columns": ignored,
    }


def metric_counts(counts: Mapping[str, Any]) -> dict[str, int]:
    """The CloudWatch metrics of one run (`METRIC_COUNTS`) from `run_batch`'s counts."""
    return {metric: int(counts[count]) for metric, count in METRIC_COUNTS.items()}


def quarantine_object_name(ingested_at: datetime) -> str:
    """A unique, sortable quarantine object name for one batch."""
    return f"{SOURCE}-{ingested_at.astimezone(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}.jsonl"


def ensure_local_workers_import_repo(spark: SparkSession) -> None:
    """Make local Spark's Python workers run this interpreter with the repository on their path.

    In Glue the job script is `__main__` (pickled by value) and `lakewatch` ships as `--extra-py-files`; on
    local Spark the executor functions are pickled by reference to `glue_jobs.*`, which workers can only
    import with the repository on their path and the venv's packages (msgspec) at hand. Spark starts workers
    with the SparkContext's interpreter and environment as they are when a function is shipped, so this works
    on an already running session.
    """
    context = spark.sparkContext
    context.pythonExec = sys.executable
    root = str(Path(__file__).resolve().parents[1])
    environment = context.environment
    paths = [path for path in environment.get("PYTHONPATH", "").split(os.pathsep) if path]
    if root not in paths:
        environment["PYTHONPATH"] = os.pathsep.join([root, *paths])


def run_local(
    spark: SparkSession,
    csv_dir: Path,
    lake_root: Path,
    quarantine_dir: Path,
    *,
    pii_key: bytes,
    ingested_at: datetime,
    store_timezone: str = STORE_TIMEZONE,
) -> dict[str, Any]:
    """The job on local Spark for `local-run --pos-csv` and tests: lake under `lake_root`, quarantine JSON lines
    under `quarantine_dir/dt=<date>/` (the layout of `quarantine/pos_csv/` in S3)."""
    table_dir = lake_root / PurePosixPath(tables.SALES.prefix).relative_to(tables.LAKE_ROOT)
    ensure_local_workers_import_repo(spark)

    def existing_partitions(dts: list[str]) -> list[str]:
        found = []
        for dt in dts:
            partition = lake_root / PurePosixPath(tables.SALES.partition_prefix(dt)).relative_to(tables.LAKE_ROOT)
            if any(path.is_file() and not path.name.startswith(("_", ".")) for path in partition.glob("*")):
                found.append(str(partition.resolve()))
        return found

    def write_quarantine(dt: str, rows: list[str]) -> None:
        target = quarantine_dir / f"{tables.PARTITION_KEY}={dt}" / quarantine_object_name(ingested_at)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(f"{row}\n" for row in rows), encoding="utf-8")

    table_dir.mkdir(parents=True, exist_ok=True)
    return run_batch(
        spark,
        read_local_files(spark, csv_dir),
        pii_key=pii_key,
        ingested_at=ingested_at,
        table_uri=str(table_dir.resolve()),
        existing_partitions=existing_partitions,
        write_quarantine=write_quarantine,
        store_timezone=store_timezone,
    )


def s3_existing_partitions(s3: Any, lake_bucket: str, dts: list[str]) -> list[str]:
    """URIs of the `sales` partitions among `dts` that hold at least one data object (what Athena would read)."""
    found = []
    for dt in dts:
        prefix = tables.SALES.partition_prefix(dt)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=lake_bucket, Prefix=prefix):
            names = (PurePosixPath(item["Key"]).name for item in page.get("Contents", []))
            if any(not name.startswith(("_", ".")) for name in names):
                found.append(f"s3://{lake_bucket}/{prefix}")
                break
    return found


def s3_quarantine_key(dt: str, ingested_at: datetime) -> str:
    """`quarantine/pos_csv/dt=<day>/<unique>.jsonl` (DEVELOPERS.md, "Quarantine rows")."""
    return f"{tables.QUARANTINE_ROOT}/{SOURCE}/{tables.PARTITION_KEY}={dt}/{quarantine_object_name(ingested_at)}"


def run_s3(
    spark: SparkSession,
    files: DataFrame,
    *,
    s3: Any,
    lake_bucket: str,
    pii_key: bytes,
    ingested_at: datetime,
    store_timezone: str = STORE_TIMEZONE,
) -> dict[str, Any]:
    """The job against the lake bucket: Parquet to `lake/sales/dt=.../`, quarantine to `quarantine/pos_csv/`."""

    def write_quarantine(dt: str, rows: list[str]) -> None:
        body = "".join(f"{row}\n" for row in rows).encode()
        s3.put_object(
            Bucket=lake_bucket, Key=s3_quarantine_key(dt, ingested_at), Body=body, ContentType="application/x-ndjson"
        )

    return run_batch(
        spark,
        files,
        pii_key=pii_key,
        ingested_at=ingested_at,
        table_uri=f"s3://{lake_bucket}/{tables.SALES.prefix}",
        existing_partitions=partial(s3_existing_partitions, s3, lake_bucket),
        write_quarantine=write_quarantine,
        store_timezone=store_timezone,
    )


def new_landing_files(landing: DataFrame) -> list[str]:
    """The URIs of the files in a bookmarked landing read (`attachFilename` column `source_file`), sorted.

    A read that found no new file has no columns at all.
    """
    if "source_file" not in landing.columns:
        return []
    return sorted(row["source_file"] for row in landing.select("source_file").distinct().collect())


def _glue_main() -> None:
    """Glue bootstrap: arguments, bookmarked listing of new landing files, the PII key, `run_s3`, bookmark
    commit, metrics."""
    import boto3
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext

    args = getResolvedOptions(sys.argv, ["JOB_NAME", "lake_bucket", "landing_prefix", "pii_key_secret_arn"])
    store_timezone = STORE_TIMEZONE
    if "--store_timezone" in sys.argv:
        store_timezone = getResolvedOptions(sys.argv, ["store_timezone"])["store_timezone"]
    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    logger = glue_context.get_logger()
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=args["pii_key_secret_arn"])
    pii_key = secret["SecretString"].encode()
    # A DynamicFrame read is what job bookmarks track (each landing file is read once); here it only tells which
    # files are new. A separator and a quote character that never occur keep Glue's CSV parser out of the way.
    landing = glue_context.create_dynamic_frame.from_options(
        connection_type="s3",
        connection_options={"paths": [f"s3://{args['lake_bucket']}/{args['landing_prefix']}"], "recurse": True},
        format="csv",
        format_options={"withHeader": False, "separator": "\u0001", "quoteChar": -1, "attachFilename": "source_file"},
        transformation_ctx="pos_csv_landing",
    ).toDF()
    s3 = boto3.client("s3")
    spark = glue_context.spark_session
    counts = run_s3(
        spark,
        read_s3_files(spark, s3, new_landing_files(landing)),
        s3=s3,
        lake_bucket=args["lake_bucket"],
        pii_key=pii_key,
        ingested_at=datetime.now(UTC),
        store_timezone=store_timezone,
    )
    logger.info("pos_csv_etl counts " + json.dumps(counts, sort_keys=True))
    job.commit()
    # After the bookmark commit: if publishing fails, the run fails (and alerts) without its files being
    # processed again by the next run.
    put_job_metrics(boto3.client("cloudwatch"), args["JOB_NAME"], metric_counts(counts))


if __name__ == "__main__":
    _glue_main()
