"""Till CSV drops: one headerless file per store and day, the way the shops' tills export them.

Each row is `dd/mm/YYYY HH:MM, store, customer_name, basket_items, total_price, cash_or_card, card_number`, with
local (Europe/London) minute times and every unit of the basket written out. The drops carry what real ones do:
blank lines, a few bad rows (one or more per quarantine reason the POS job uses) and a file sent twice under
another name, which must not be stored twice.
"""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from lakewatch.domain.reasons import Reason
from lakewatch.local.synthetic.cafe import (
    DEFAULT_STORES,
    STORE_PROFILES,
    CustomerPool,
    SalesSummary,
    daily_count,
    gross_pence,
    store_sale,
    store_times,
    summarise_sales,
)
from lakewatch.local.synthetic.common import NameBook, pounds

#: A file's content before it is written: one entry per line, a row of seven fields or None for a blank line.
_Rows = list[list[str] | None]
#: (file name, index of the row among the file's rows as first generated, before blank lines were added).
_RowKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class PlantedCsvReject:
    file: str
    #: 1-based line number in the file (blank lines count).
    line_number: int
    reason: str
    field: str | None
    description: str


@dataclass(frozen=True, slots=True)
class PosCsvManifest:
    start: str
    days: int
    seed: int
    stores: tuple[str, ...]
    files: int
    #: Every line of every file (blank ones included) = blank_lines + valid_rows + duplicate_rows + rejects.
    lines: int
    blank_lines: int
    #: Distinct valid rows: the `sales` rows with source "pos_csv".
    valid_rows: int
    #: Rows of the re-dropped copies (all valid): counted as duplicates, never stored twice.
    duplicate_rows: int
    #: (original file, re-dropped copy) pairs.
    redropped: tuple[tuple[str, str], ...]
    quarantine_by_reason: dict[str, int]
    rejects: tuple[PlantedCsvReject, ...]
    summary: SalesSummary
    pii_strings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PosCsvDataset:
    #: File name (`<store>_<dd-mm-YYYY>_<HH-MM-SS>.csv`) → CSV text.
    files: dict[str, str]
    manifest: PosCsvManifest


def _store_slug(store: str) -> str:
    return "_".join(store.lower().split())


def _basket_text(items: list[dict[str, Any]]) -> str:
    """A till's basket: every unit written out, `[size] product[ - flavour] - price`, comma separated."""
    entries = []
    for item in items:
        name = item["product"] if item["size"] is None else f"{item['size']} {item['product']}"
        if item["flavour"] is not None:
            name = f"{name} - {item['flavour']}"
        entries.extend([f"{name} - {item['unit_price']:.2f}"] * item.get("quantity", 1))
    return ", ".join(entries)


def generate_pos_csv(*, start: date, days: int, stores: Sequence[str] = DEFAULT_STORES, seed: int) -> PosCsvDataset:
    """One till CSV per store and day with planted mess and a re-dropped file."""
    if days < 1 or not stores:
        raise ValueError("generate_pos_csv needs at least one day and one store")
    rng = random.Random(f"lakewatch-pos-csv-{seed}")
    pii_strings: set[str] = set()
    files, row_sales = _till_files(rng, start, days, stores, pii_strings)
    names_in_order = list(files)
    redrop_source = rng.choice(names_in_order)
    messy = [name for name in names_in_order if name != redrop_source] or names_in_order
    planted = _plant_bad_rows(rng, files, messy)
    _add_blank_lines(rng, files, messy)
    rendered = _render(files, planted, row_sales)
    texts = rendered.texts
    # Re-sent at the end of the day: same content, another name.
    store_part, day_part, _ = redrop_source.rsplit("_", 2)
    copy_name = f"{store_part}_{day_part}_18-05-00.csv"
    texts[copy_name] = texts[redrop_source]

    manifest = PosCsvManifest(
        start=start.isoformat(),
        days=days,
        seed=seed,
        stores=tuple(stores),
        files=len(texts),
        lines=sum(len(text.split("\n")) - 1 for text in texts.values()),
        blank_lines=rendered.blank_lines,
        valid_rows=len(rendered.valid_sales),
        duplicate_rows=sum(1 for row in files[redrop_source] if row is not None),
        redropped=((redrop_source, copy_name),),
        quarantine_by_reason=dict(sorted(Counter(r.reason for r in rendered.rejects).items())),
        rejects=tuple(rendered.rejects),
        summary=summarise_sales(rendered.valid_sales),
        pii_strings=tuple(sorted(pii_strings)),
    )
    return PosCsvDataset(files=dict(sorted(texts.items())), manifest=manifest)


def _till_files(
    rng: random.Random, start: date, days: int, stores: Sequence[str], pii_strings: set[str]
) -> tuple[dict[str, _Rows], dict[_RowKey, dict[str, Any]]]:
    """Every store's file for every day, and the wire-contract sale each row stands for."""
    names = NameBook(rng)
    pools = {store: CustomerPool(rng, names, web=False, initial=40, returning_share=0.6) for store in stores}
    files: dict[str, _Rows] = {}
    row_sales: dict[_RowKey, dict[str, Any]] = {}
    for day_index in range(days):
        day = start + timedelta(days=day_index)
        for store_index, store in enumerate(stores):
            base, weekend_factor = STORE_PROFILES[store_index % len(STORE_PROFILES)]
            count = daily_count(rng, base * 0.8, day, day_index, weekend_factor)
            times = store_times(rng, day, count)
            opening = times[0].replace(minute=0, second=0)
            file_name = f"{_store_slug(store)}_{day:%d-%m-%Y}_{opening:%H-%M-%S}.csv"
            rows: _Rows = []
            for moment in times:
                local = moment.replace(second=0)
                sale = _till_sale(rng, pools[store], store, local, pii_strings)
                rows.append(_till_row(sale, local))
                row_sales[(file_name, len(rows) - 1)] = sale
            files[file_name] = rows
    return files, row_sales


def _till_sale(
    rng: random.Random, pool: CustomerPool, store: str, local: datetime, pii_strings: set[str]
) -> dict[str, Any]:
    """A store sale as a till records it: to the minute (`local`), no discount column, and always a name."""
    sale, planted = store_sale(rng, pool, store, local)
    sale.pop("discount", None)  # tills export no discount column: the total is the basket's
    sale["total_price"] = pounds(gross_pence(sale["items"]))
    if "customer_name" not in sale:  # the CSV always has a name column; tills fill it
        sale["customer_name"] = pool.members[-1].name
        planted.append(sale["customer_name"])
    sale["event_time"] = local.isoformat()
    pii_strings.update(planted)
    return sale


def _till_row(sale: dict[str, Any], local: datetime) -> list[str]:
    return [
        f"{local:%d/%m/%Y %H:%M}",
        sale["store"],
        sale["customer_name"],
        _basket_text(sale["items"]),
        f"{sale['total_price']:.2f}",
        sale["payment_method"].upper(),
        sale.get("card_number", ""),
    ]


def _iso_timestamp(row: list[str]) -> None:
    day, clock = row[0].split(" ")
    dd, mm, yyyy = day.split("/")
    row[0] = f"{yyyy}-{mm}-{dd} {clock}"


def _impossible_date(row: list[str]) -> None:
    row[0] = "31/02/" + row[0][6:]


def _letter_in_total(row: list[str]) -> None:
    row[4] = row[4][:-1] + "O"


def _basket_price_in_words(row: list[str]) -> None:
    first, _, rest = row[3].partition(", ")
    row[3] = ", ".join(part for part in (first.rsplit(" - ", 1)[0] + " - two pounds", rest) if part)


def _total_one_pound_high(row: list[str]) -> None:
    row[4] = f"{float(row[4]) + 1:.2f}"


@dataclass(frozen=True, slots=True)
class _BadRow:
    """A way a till row goes wrong, the quarantine reason and field it must get, and how to break a row so."""

    reason: Reason
    field: str
    description: str
    mutate: Callable[[list[str]], None]


_BAD_ROWS = (
    _BadRow(Reason.INVALID_FIELD, "event_time", "ISO timestamp instead of dd/mm/YYYY", _iso_timestamp),
    _BadRow(Reason.INVALID_FIELD, "event_time", "31 February", _impossible_date),
    _BadRow(Reason.INVALID_FIELD, "total_price", "letter O in the total", _letter_in_total),
    _BadRow(Reason.INVALID_FIELD, "items", "basket price in words", _basket_price_in_words),
    _BadRow(Reason.TOTAL_MISMATCH, "total_price", "total one pound above the basket", _total_one_pound_high),
)


def _plant_bad_rows(rng: random.Random, files: dict[str, _Rows], messy: list[str]) -> dict[_RowKey, _BadRow]:
    """Break one row of a random file (never the re-dropped one) in each of the ways of `_BAD_ROWS`."""
    planted: dict[_RowKey, _BadRow] = {}
    for bad in _BAD_ROWS:
        file_name = rng.choice(messy)
        rows = files[file_name]
        candidates = [i for i, row in enumerate(rows) if row is not None and (file_name, i) not in planted]
        if not candidates:
            continue
        index = rng.choice(candidates)
        row = rows[index]
        assert row is not None
        bad.mutate(row)
        planted[(file_name, index)] = bad
    return planted


def _add_blank_lines(rng: random.Random, files: dict[str, _Rows], messy: list[str]) -> None:
    """Tills end some files with an empty line; one file has one in the middle."""
    blank_files = [name for name in messy if rng.random() < 0.15] or [messy[0]]
    for name in blank_files:
        files[name].append(None)
    middle = rng.choice(messy)
    files[middle].insert(len(files[middle]) // 2, None)


@dataclass(slots=True)
class _Rendered:
    #: File name -> CSV text, in generation order.
    texts: dict[str, str]
    rejects: list[PlantedCsvReject]
    valid_sales: list[dict[str, Any]]
    blank_lines: int


def _render(
    files: dict[str, _Rows], planted: dict[_RowKey, _BadRow], row_sales: dict[_RowKey, dict[str, Any]]
) -> _Rendered:
    """Write every file as CSV text, and number the planted rejects by their final line (blank lines count)."""
    rendered = _Rendered(texts={}, rejects=[], valid_sales=[], blank_lines=0)
    for name, rows in files.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        original_index = 0
        for line_number, row in enumerate(rows, start=1):
            if row is None:
                buffer.write("\n")
                rendered.blank_lines += 1
                continue
            writer.writerow(row)
            key = (name, original_index)
            bad = planted.get(key)
            if bad is not None:
                rendered.rejects.append(
                    PlantedCsvReject(name, line_number, str(bad.reason), bad.field, bad.description)
                )
            else:
                rendered.valid_sales.append(row_sales[key])
            original_index += 1
        rendered.texts[name] = buffer.getvalue()
    return rendered


def write_pos_files(directory: Path, files: dict[str, str]) -> Path:
    """Write the till CSV drops of `generate_pos_csv` into `directory` (the `--pos-csv` input)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8", newline="")
    return directory
