"""A leak hunt through `local-run` with card numbers and e-mail addresses written the ways the world writes them
(no-break and thin spaces, non-breaking hyphens, line breaks, zero-width characters, superscript and fullwidth
digits; quoted, address-literal, URL-encoded, fullwidth and spelt-out addresses), planted in every string field of
both event types, under unknown keys of rejected records, and in every column of a Windows-1252 till file. No
output (report.html included) may show one to a reader: every output is searched as a person reads it (Unicode
compatibility form, separators and invisible characters dropped), not only for the bytes that were planted."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from lakewatch.local.runner import LocalRunOptions, RunReport, local_run
from lakewatch.report.build import REPORT_FILE, ReportOptions, build_report
from tests.pii_samples import luhn_complete

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
SUPERSCRIPT = "⁰¹²³⁴⁵⁶⁷⁸⁹"


def _grouped(separator: str) -> Callable[[str], str]:
    return lambda digits: separator.join(digits[start : start + 4] for start in range(0, len(digits), 4))


CARD_FORMS: list[Callable[[str], str]] = [
    _grouped("\u00a0"),
    _grouped("\u2009"),
    _grouped("\u2011"),
    _grouped("\u2212"),
    _grouped("\n"),
    _grouped("\u200b"),
    _grouped("\u00ad"),
    lambda digits: "".join(SUPERSCRIPT[int(digit)] for digit in digits),
    lambda digits: "".join(chr(0xFF10 + int(digit)) for digit in digits),
    "\u200b".join,
]
EMAIL_FORMS = [
    '"{user} x"@example.com',
    "{user}@[192.0.2.7]",
    "{user}\u200b@example.com",
    "{user}\uff20example.com",
    "{user}(at)example.com",
    "https://shop.example/u?to={user}%40example.com",
]
#: Till lines are Windows-1252: only its own separators (no-break space, soft hyphen, en dash) can appear there.
TILL_CARD_FORMS = [_grouped("\u00a0"), _grouped("\u00ad"), _grouped(" \u00a0"), _grouped("\u2013\u00a0")]


class Planter:
    """Hands out distinct planted values and remembers what a reader would recognise of each."""

    def __init__(self) -> None:
        self.card_digits: list[str] = []
        self.email_users: list[str] = []
        self._serial = 0

    def card(self, forms: list[Callable[[str], str]] = CARD_FORMS) -> str:
        self._serial += 1
        digits = luhn_complete(f"5{self._serial:014d}")
        self.card_digits.append(digits)
        return forms[self._serial % len(forms)](digits)

    def email(self) -> str:
        self._serial += 1
        user = f"leaky{self._serial}"
        self.email_users.append(user)
        return EMAIL_FORMS[self._serial % len(EMAIL_FORMS)].format(user=user)

    def value(self) -> str:
        return self.card() if self._serial % 2 else self.email()


def _sale(plant: Planter, number: int, **overrides: Any) -> dict[str, Any]:
    sale = {
        "event_type": "sale",
        "event_id": f"s-{number}",
        "event_time": "2024-06-09T10:15:00Z",
        "channel": "store",
        "store": "Leeds",
        "order_id": f"o-{number}",
        "customer_name": plant.email(),
        "payment_method": "card",
        "card_number": plant.card(),
        "items": [{"product": "Latte", "size": "Large", "flavour": "Vanilla", "unit_price": 2.45, "quantity": 1}],
        "total_price": 2.45,
    }
    return {**sale, **overrides}


def _run(number: int, **overrides: Any) -> dict[str, Any]:
    run = {
        "event_type": "job_run",
        "event_id": f"r-{number}",
        "event_time": "2024-06-09T02:40:00Z",
        "run_id": f"run-{number}",
        "client": "acme",
        "job_name": "nightly",
        "status": "FAILED",
        "started_at": "2024-06-09T02:00:00Z",
        "ended_at": "2024-06-09T02:40:00Z",
        "instance_size": "m5",
        "error_message": "executor lost",
    }
    return {**run, **overrides}


def _events(plant: Planter) -> list[dict[str, Any]]:
    """Each form in each string field (ids, free text), then rejected records carrying them elsewhere."""
    records: list[dict[str, Any]] = []
    number = 0
    for _ in range(len(CARD_FORMS) + len(EMAIL_FORMS)):
        for field in ("event_id", "order_id", "store"):
            number += 1
            records.append(_sale(plant, number, **{field: f"{field[:2]}-{plant.value()}"[:64]}))
        for field in ("product", "size", "flavour"):
            number += 1
            item = {"product": "Latte", "size": "L", "flavour": "V", "unit_price": 2.45, field: plant.value()[:64]}
            records.append(_sale(plant, number, items=[item]))
        for field in ("event_id", "run_id", "client", "job_name", "instance_size", "error_message"):
            number += 1
            records.append(_run(number, **{field: f"{field[:2]}-{plant.value()}"[:64]}))
        number += 1
        records.append(_sale(plant, number, total_price=9.0, notes=plant.value()))
        number += 1
        records.append(_sale(plant, number, payment_method=plant.value()))
        number += 1
        records.append(_run(number, status=plant.value()))
        number += 1
        records.append(_sale(plant, number, **{plant.value(): "\u0000"}))
        number += 1
        records.append(_sale(plant, number, items=[{"product": plant.value()[:64], "unit_price": -1}]))
    return records


def _till_lines(plant: Planter) -> list[str]:
    lines = []
    for column in range(8):
        cells = ["08/06/2024 09:02", "Chesterfield", "Nicole Miles", "Regular Latte - 2.45", "2.45", "CARD", ""]
        planted = plant.card(TILL_CARD_FORMS)
        if column < len(cells):
            cells[column] = f"{cells[column]} {planted}".strip()
        else:
            cells.append(f"note {planted}")
        lines.append(",".join(f'"{cell}"' for cell in cells))
    return lines


@pytest.fixture(scope="module")
def hunt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Planter, RunReport, Path]:
    plant = Planter()
    work = tmp_path_factory.mktemp("pii-hidden-forms")
    events = work / "events.jsonl"
    lines = [json.dumps(record, ensure_ascii=index % 2 == 0) for index, record in enumerate(_events(plant))]
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pos = work / "pos"
    pos.mkdir()
    (pos / "chesterfield_2024-06-08.csv").write_bytes(("\r\n".join(_till_lines(plant)) + "\r\n").encode("cp1252"))
    out = work / "out"
    report = local_run(LocalRunOptions(events=events, pos_csv=pos, out=out, now=NOW, batch_size=7))
    build_report(ReportOptions(lake=out / "lake", out=out, now=NOW))
    return plant, report, out


def _as_read(path: Path) -> str:
    """A file as a person (or a query) reads it: Parquet rows decoded, JSON strings unescaped."""
    if path.suffix == ".parquet":
        return json.dumps(pq.read_table(path).to_pylist(), default=str, ensure_ascii=False)
    text = path.read_bytes().decode("utf-8", errors="replace")
    if path.suffix == ".html":  # the report's data is JSON with non-ASCII letters escaped
        text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda escape: chr(int(escape[1], 16)), text)
    if path.suffix in (".jsonl", ".json"):
        decoded = []
        for line in text.splitlines():
            try:
                decoded.append(json.dumps(json.loads(line), ensure_ascii=False))
            except ValueError:
                decoded.append(line)
        text = "\n".join(decoded)
    return text


def _what_a_reader_sees(text: str) -> str:
    """Letters and digits only, in compatibility form: separators and invisible characters do not hide a number."""
    return "".join(char for char in unicodedata.normalize("NFKC", text) if char.isalnum())


def test_the_hunt_reached_every_output(hunt: tuple[Planter, RunReport, Path]) -> None:
    _, report, out = hunt
    assert report.lake_rows["sales"] >= 60
    assert report.lake_rows["job_runs"] >= 60
    assert sum(report.quarantined.values()) >= 60
    assert any((out / "quarantine" / "pos_csv").rglob("*.jsonl"))
    assert (out / "alerts.jsonl").stat().st_size > 0
    assert (out / REPORT_FILE).stat().st_size > 0


def test_no_planted_card_or_address_can_be_read_in_any_output(hunt: tuple[Planter, RunReport, Path]) -> None:
    plant, _, out = hunt
    seen = {path: _what_a_reader_sees(_as_read(path)) for path in out.rglob("*") if path.is_file()}
    leaks = sorted(
        (needle, str(path.relative_to(out)))
        for path, text in seen.items()
        for needle in [*plant.card_digits, *plant.email_users]
        if needle in text
    )
    assert leaks == []
