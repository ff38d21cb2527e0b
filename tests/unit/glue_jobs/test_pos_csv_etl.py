"""POS CSV Glue job on local Spark: a messy drop, a re-dropped file, the exact lake and quarantine it yields.

Two batches run once per module (the Spark work of the whole file): batch 1 is a messy day at two stores,
batch 2 re-drops one of its files beside one new file.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest

from glue_jobs import pos_csv_etl as etl
from lakewatch.domain import pii, tables
from lakewatch.domain.transform import Clean, transform_record

PII_KEY = b"test-pii-key-0123456789"
INGESTED_AT = datetime(2022, 6, 12, 6, 0, tzinfo=UTC)
CARD_NUMBERS = ("5105105105105100", "4111111111111111", "4111 1111 1111 1111", "4000056655665556")
NAMES = (
    "Allen Ford",
    "Nicole Miles",
    "Arlen Calvert",
    "Delaine Crosby",
    "Daniel Pettrey",
    "Mary Starnes",
    "June Paulson",
    "Late Owl",
    "Ghost Buyer",
    "Pat Doe",
    "Sam Newday",
)

CHESTERFIELD = (
    "\n".join(
        [
            "10/06/2022 09:00,Chesterfield,Allen Ford,"
            '"Regular Flavoured iced latte - Hazelnut - 2.75, Large Latte - 2.45",5.20,CASH,',
            "10/06/2022 09:02,Chesterfield,Nicole Miles,"
            '"Large Latte - 2.45, Large Latte - 2.45",4.90,CARD,5105105105105100',
            "",
            "10/06/2022 09:02,Chesterfield,Nicole Miles,"
            '"Large Latte - 2.45, Large Latte - 2.45",4.90,CARD,5105105105105100',
            "31/02/2022 09:04,Chesterfield,Arlen Calvert,Regular Latte - 2.15,2.15,CARD,4111111111111111",
            "10/06/2022 09:06,Chesterfield,Delaine Crosby,Regular Latte - two pounds,2.00,CASH,",
            "10/06/2022 09:08,Chesterfield,Daniel Pettrey,Large Flat white - 2.45,2.4x5,CASH,",
            "10/06/2022 09:10,Chesterfield,Mary Starnes,Large Flat white - 2.45,3.45,CARD,4000056655665556",
            "10/06/2022 09:12,Chesterfield,June Paulson",
            "   ",
            "11/06/2022 00:30,Chesterfield,Late Owl,Large Latte - 2.45,2.45,cash",
            "10/06/2022 09:14,,Ghost Buyer,Large Latte - 2.45,2.45,CASH,",
            "10/06/2022 09:16,Chesterfield,Pat Doe,Large Latte - 2.45,2.45,BITCOIN,",
        ]
    )
    + "\n"
)
LEEDS = "10/06/2022 10:00,Leeds,Allen Ford,Regular Latte - 2.15,2.15,CARD,4111 1111 1111 1111\r\n\r\n"
NEW_DAY = "11/06/2022 10:00,Leeds,Sam Newday,Large Latte - 2.45,2.45,CASH,\n"


def _drop(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_bytes(text.encode())
    return folder


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory) -> dict:
    """Batch 1 (messy day at two stores), then batch 2 (one file re-dropped + one new file), same lake."""
    root = tmp_path_factory.mktemp("pos")
    out = root / "out"
    first = _drop(root / "drop1", {"chesterfield_10-06-2022.csv": CHESTERFIELD, "leeds_10-06-2022.csv": LEEDS})
    second = _drop(
        root / "drop2", {"chesterfield_10-06-2022 (resent).csv": CHESTERFIELD, "leeds_11-06-2022.csv": NEW_DAY}
    )
    counts = [
        etl.run_local(
            spark, drop, out / "lake", out / "quarantine" / "pos_csv", pii_key=PII_KEY, ingested_at=INGESTED_AT
        )
        for drop in (first, second)
    ]
    return {"out": out, "counts": counts, "spark": spark}


def _lake_rows(out: Path) -> list[dict]:
    table_dir = out / tables.SALES.prefix
    return [
        {**row, "dt": path.parent.name.split("=", 1)[1]}
        for path in sorted(table_dir.glob("dt=*/*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]


def _quarantine_rows(out: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted((out / "quarantine").rglob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_a_messy_drop_gives_exact_counts(lake) -> None:
    # Given batch 1 / Then every line is accounted for exactly once
    first = lake["counts"][0]
    assert first["lines_read"] == 15
    assert first["blank_lines"] == 3
    assert first["sales_written"] == 5  # the repeated identical row is a second sale, not a duplicate
    assert first["duplicates_dropped"] == 0
    assert first["quarantined"] == {"invalid_field": 4, "missing_field": 2, "total_mismatch": 1}
    assert first["quarantined_total"] == 7
    assert first["lines_read"] == first["blank_lines"] + first["sales_written"] + first["duplicates_dropped"] + 7


def test_a_re_dropped_file_is_not_counted_twice(lake) -> None:
    # Given batch 2 re-dropping the Chesterfield file beside one new file
    second = lake["counts"][1]
    # Then only the new sale is written; the re-dropped sales are duplicates of stored rows
    assert second["sales_written"] == 1
    assert second["duplicates_dropped"] == 4
    rows = _lake_rows(lake["out"])
    assert len(rows) == 6
    assert len({row["event_id"] for row in rows}) == 6


def test_quarantine_rows_carry_reason_field_and_source(lake) -> None:
    # Given both batches (the re-dropped file's bad rows are quarantined again: each delivery is evidence)
    rows = _quarantine_rows(lake["out"])
    # Then each row has the DEVELOPERS.md shape and the reasons name the offending field
    assert all(
        set(row) == {"reason", "field", "event_id", "sequence_number", "source", "quarantined_at", "record"}
        for row in rows
    )
    assert {row["source"] for row in rows} == {"pos_csv"}
    per_batch = Counter(
        {
            ("invalid_field", "event_time"): 1,
            ("invalid_field", "items"): 1,
            ("invalid_field", "total_price"): 1,
            ("total_mismatch", "total_price"): 1,
            ("missing_field", "items"): 1,
            ("missing_field", "store"): 1,
            ("invalid_field", "payment_method"): 1,
        }
    )
    assert Counter((row["reason"], row["field"]) for row in rows) == per_batch + per_batch
    assert {row["sequence_number"] for row in rows} == {
        "chesterfield_10-06-2022.csv",
        "chesterfield_10-06-2022 (resent).csv",
    }
    assert all(
        path.parent.name == f"dt={INGESTED_AT:%Y-%m-%d}" for path in (lake["out"] / "quarantine").rglob("*.jsonl")
    )


def test_no_card_number_or_customer_name_anywhere_under_the_output(lake) -> None:
    # Given every byte written (Parquet raw and decoded, quarantine JSON)
    out: Path = lake["out"]
    blobs = [path.read_bytes() for path in out.rglob("*") if path.is_file()]
    blobs += [json.dumps(_lake_rows(out), default=str).encode()]
    # Then no card number (in any spelling) and no customer name appears
    for needle in (*CARD_NUMBERS, *NAMES):
        assert not any(needle.encode() in blob for blob in blobs), needle
        assert not any(needle.casefold().encode() in blob.lower() for blob in blobs), needle


def test_rows_are_store_sales_in_utc_with_parsed_baskets(lake) -> None:
    rows = {(row["store"], row["event_time"]): row for row in _lake_rows(lake["out"])}
    # Then a 09:00 BST sale is stored at 08:00 UTC, with its basket as line items
    first = rows[("Chesterfield", datetime(2022, 6, 10, 8, 0))]
    assert first["items"] == [
        {
            "product": "Flavoured iced latte",
            "size": "Regular",
            "flavour": "Hazelnut",
            "unit_price": Decimal("2.75"),
            "quantity": 1,
            "line_total": Decimal("2.75"),
        },
        {
            "product": "Latte",
            "size": "Large",
            "flavour": None,
            "unit_price": Decimal("2.45"),
            "quantity": 1,
            "line_total": Decimal("2.45"),
        },
    ]
    assert (first["channel"], first["source"], first["payment_method"], first["total_price"]) == (
        "store",
        "pos_csv",
        "CASH",
        Decimal("5.20"),
    )
    # And repeated items collapse into a quantity
    repeated = [row for row in _lake_rows(lake["out"]) if row["event_time"] == datetime(2022, 6, 10, 8, 2)]
    assert [(item["quantity"], item["line_total"]) for item in repeated[0]["items"]] == [(2, Decimal("4.90"))]
    # And the same sale rung up twice in the same minute is two rows with two event ids
    assert len(repeated) == 2 and repeated[0]["event_id"] != repeated[1]["event_id"]
    # And 00:30 local on 11 June is 23:30 UTC on 10 June, so it lands in dt=2022-06-10
    late = rows[("Chesterfield", datetime(2022, 6, 10, 23, 30))]
    assert late["dt"] == "2022-06-10"


def test_output_schema_is_the_glue_tables(lake) -> None:
    # Given a Parquet file the job wrote, read back by Spark
    spark = lake["spark"]
    path = next((lake["out"] / tables.SALES.prefix).glob("dt=*/*.parquet"))
    written = spark.read.parquet(str(path)).schema
    # Then its columns and Glue type strings are exactly the sales table's, in order
    assert [(field.name, field.dataType.simpleString()) for field in written.fields] == [
        (column.name, column.glue_type) for column in tables.SALES.columns
    ]
    assert [field.name for field in etl.sales_schema().fields] == [*tables.SALES.column_names, tables.PARTITION_KEY]


def test_partition_layout_is_the_tables(lake) -> None:
    table_dir = lake["out"] / tables.SALES.prefix
    assert sorted(path.relative_to(lake["out"]).as_posix() + "/" for path in table_dir.glob("dt=*")) == [
        tables.SALES.partition_prefix("2022-06-10"),
        tables.SALES.partition_prefix("2022-06-11"),
    ]


def test_a_customer_seen_in_a_store_and_online_has_one_key(lake) -> None:
    # Given a web sale by the same person, spelt differently
    web = {
        "event_type": "sale",
        "event_id": "web-1",
        "event_time": "2022-06-10T12:00:00Z",
        "channel": "web",
        "customer_name": "  allen   FORD ",
        "payment_method": "card",
        "items": [{"product": "Latte", "unit_price": 2.45}],
        "total_price": 2.45,
    }
    result = transform_record(json.dumps(web).encode(), pii_key=PII_KEY, ingested_at=INGESTED_AT)
    assert isinstance(result, Clean)
    web_key = json.loads(result.payload)["customer_key"]
    # Then the store sales of Allen Ford (two stores) carry the same key
    keys = {row["store"]: row["customer_key"] for row in _lake_rows(lake["out"]) if row["customer_key"] == web_key}
    assert set(keys) == {"Chesterfield", "Leeds"}


# ------------------------------------------------------------------------------------------ no Spark below

LONDON = ZoneInfo(etl.STORE_TIMEZONE)


def _process(line: str) -> etl.LineOutcome:
    return etl.process_line(
        line, etl.CsvLocation("x.csv"), pii_key=PII_KEY, ingested_at=INGESTED_AT, store_timezone=LONDON
    )


def _process_file(data: bytes, name: str = "x.csv") -> list[etl.LineOutcome]:
    return [
        outcome
        for _, outcome in etl.process_file(
            data, f"s3://b/landing/pos/{name}", pii_key=PII_KEY, ingested_at=INGESTED_AT, store_timezone=LONDON
        )
    ]


def test_a_row_event_id_is_its_content_and_its_occurrence_in_the_file() -> None:
    line = "10/06/2022 09:00,Leeds,A B,Large Latte - 2.45,2.45,CASH,"
    # Given identical rows in one file, and the same file again under another name
    first = _process_file(f"{line}\n{line}\r\n{line.replace('09:00', '09:01')}\n".encode())
    again = _process_file(f"{line}\n{line}\n{line.replace('09:00', '09:01')}\n".encode(), "x (resent).csv")
    # Then every row has its own id, and a re-drop gives each row the id it had
    assert len({outcome.event_id for outcome in first}) == 3
    assert [outcome.event_id for outcome in again] == [outcome.event_id for outcome in first]
    # And the first occurrence hashes as the row alone (ids stored before occurrence numbers stay valid)
    assert first[0].event_id == _process(line).event_id
    assert all(outcome.event_id.startswith(etl.EVENT_ID_PREFIX) for outcome in first)


@pytest.mark.parametrize(
    ("line", "reason", "field"),
    [
        ("a,b", "missing_field", "customer_name"),
        ("10/06/2022 09:00,Leeds,A B,Latte - 2.45,Tea - 1.00,3.45,CASH,", "invalid_field", None),
        ("2022-06-10T09:00:00Z,Leeds,A B,Latte - 2.45,2.45,CASH,", "invalid_field", "event_time"),
        ("10/06/2022 09:00,Leeds,A B,,0,CASH,", "invalid_field", "items"),
        ("10/06/2022 09:00,Leeds,A B,Latte - 2.45,,CASH,", "invalid_field", "total_price"),
    ],
)
def test_csv_level_problems_are_quarantined_with_the_wire_reason(line: str, reason: str, field: str | None) -> None:
    outcome = _process(line)
    assert (outcome.kind, outcome.reason) == (etl.KIND_QUARANTINE, reason)
    row = json.loads(outcome.payload or "")
    assert row["field"] == field
    assert "A B" not in outcome.payload


def test_a_byte_order_mark_does_not_spoil_the_first_row() -> None:
    data = "\ufeff10/06/2022 09:00,Leeds,A B,Large Latte - 2.45,2.45,CASH,\n".encode()
    assert [outcome.kind for outcome in _process_file(data)] == [etl.KIND_SALE]
    assert etl.decode_file(data)[0] == etl.ENCODING_UTF8_BOM


def test_broken_csv_quoting_is_quarantined_not_raised() -> None:
    outcome = _process('10/06/2022 09:00,Leeds,"A B,Large Latte - 2.45,2.45,CASH,4111111111111111')
    assert (outcome.kind, outcome.reason) == (etl.KIND_QUARANTINE, "invalid_field")
    assert "4111" not in (outcome.payload or "")


def test_a_shifted_row_keeps_only_a_fingerprint() -> None:
    outcome = _process("10/06/2022 09:00,Leeds,Allen Ford,Latte - 2.45,Tea - 1.00,3.45,CARD,4111111111111111")
    record = json.loads(outcome.payload or "")["record"]
    assert set(record) == {*pii.FINGERPRINT_FIELDS, "columns", "file_encoding", "line_number"}


def test_autumn_and_spring_clock_changes_are_deterministic() -> None:
    # 01:30 happens twice on 30 Oct 2022: the first (BST) instant is taken
    assert etl.till_time_to_utc("30/10/2022 01:30", LONDON) == datetime(2022, 10, 30, 0, 30, tzinfo=UTC)
    # 01:30 never happens on 27 Mar 2022: the pre-change (GMT) offset is used
    assert etl.till_time_to_utc("27/03/2022 01:30", LONDON) == datetime(2022, 3, 27, 1, 30, tzinfo=UTC)
    assert etl.till_time_to_utc("15/01/2022 09:00", LONDON) == datetime(2022, 1, 15, 9, 0, tzinfo=UTC)
