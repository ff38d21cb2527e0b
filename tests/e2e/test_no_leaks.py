"""A leak hunt through `local-run`: card numbers and e-mail addresses planted in every string field of both
event types, in unknown and misspelt fields of rejected records, and in every column of a till CSV, never
come out in clear in any output: lake Parquet (decoded, not its compressed bytes), quarantine, alerts, the
handlers' logs, the saved queries' CSVs, the summary, the on-failure file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lakewatch.local.runner import LocalRunOptions, RunReport, local_run
from tests.pii_samples import luhn_complete

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
#: Every separator the masking must see through, and every card length (13-19 digits), all Luhn-valid.
SEPARATORS = [" ", "  ", "-", ".", "/", "_", "\u2013", "\t", " -", "._"]


def _card(serial: int) -> tuple[str, str]:
    """(the card as written, its bare digits): a distinct Luhn-valid number per serial, grouped by 4."""
    length = 13 + serial % 7
    digits = luhn_complete(f"4{serial:0{length - 2}d}"[: length - 1])
    separator = SEPARATORS[serial % len(SEPARATORS)]
    written = separator.join(digits[start : start + 4] for start in range(0, length, 4))
    return written, digits


class Planter:
    """Hands out a distinct planted value per use and remembers what to look for in the outputs."""

    def __init__(self) -> None:
        self.needles: set[str] = set()
        self._serial = 0

    def card(self) -> str:
        self._serial += 1
        written, digits = _card(self._serial)
        self.needles.update({written, digits})
        return written

    def email(self) -> str:
        self._serial += 1
        address = f"leak{self._serial}@" + ("localhost" if self._serial % 2 else "example.co.uk")
        self.needles.add(address)
        return address

    def value(self, prefix: str = "") -> str:
        """A card or an e-mail, alternately, inside ordinary text."""
        return f"{prefix}{self.card() if self._serial % 2 else self.email()}"


def _sale(plant: Planter, number: int, **overrides: object) -> dict:
    sale = {
        "event_type": "sale",
        "event_id": f"s-{number}",
        "event_time": f"2024-06-0{1 + number % 9}T10:15:00Z",
        "channel": "store",
        "store": "Leeds",
        "order_id": f"order-{number}",
        "customer_id": plant.card(),
        "customer_name": plant.email(),
        "payment_method": "card",
        "card_number": plant.card(),
        "items": [{"product": "Latte", "size": "Large", "flavour": None, "unit_price": 2.45, "quantity": 1}],
        "total_price": 2.45,
        "currency": "GBP",
    }
    sale.update(overrides)
    return sale


def _job_run(plant: Planter, number: int, **overrides: object) -> dict:
    run = {
        "event_type": "job_run",
        "event_id": f"r-{number}",
        "event_time": "2024-06-09T02:40:00Z",
        "run_id": f"run-{number}",
        "client": "acme-retail",
        "job_name": "nightly",
        "status": "FAILED",
        "started_at": "2024-06-09T02:00:00Z",
        "ended_at": "2024-06-09T02:40:00Z",
        "cost_usd": 1.25,
        "instance_size": "m5.xlarge",
        "error_message": f"executor lost: {plant.card()} / {plant.email()}",
    }
    run.update(overrides)
    return run


def _events(plant: Planter) -> list[dict]:
    """Valid records with a planted value in each string field in turn, then rejected ones."""
    records: list[dict] = []
    number = 0
    for field in ("event_id", "order_id", "store"):
        number += 1
        records.append(_sale(plant, number, **{field: plant.value(f"{field}-")}))
    for field in ("product", "size", "flavour"):
        number += 1
        item = {"product": "Latte", "size": "Large", "flavour": "Vanilla", "unit_price": 2.45}
        records.append(_sale(plant, number, items=[{**item, field: plant.value(f"{field} ")}]))
    for field in ("event_id", "run_id", "client", "job_name", "instance_size", "error_message"):
        number += 1
        records.append(_job_run(plant, number, **{field: plant.value(f"{field}-")}))
    # Rejected records: PII under misspelt, cased, nested and unknown keys, and in the offending field itself.
    number += 1
    records.append(_sale(plant, number, total_price=99.0, customerName=plant.email(), cardNumber=plant.card()))
    number += 1
    records.append(_sale(plant, number, payment_method=plant.card(), CUSTOMER_NAME=plant.email()))
    number += 1
    records.append(_sale(plant, number, customer={"name": plant.email(), "card": plant.card()}, items=[]))
    number += 1
    records.append(_job_run(plant, number, status=plant.value(), notes=[plant.card(), {"who": plant.email()}]))
    number += 1
    records.append({"event_type": plant.card(), "event_id": f"x-{number}", "name": plant.email()})
    return records


def _csv_rows(plant: Planter) -> list[str]:
    """Till lines with a planted value in each column in turn (one unexpected eighth column too)."""
    rows = []
    for column in range(8):
        cells = [
            "08/06/2024 09:02",
            "Chesterfield",
            "Nicole Miles",
            "Regular Latte - 2.45",
            "2.45",
            "CARD",
            "4111111111111111",
        ]
        if column < len(cells):
            cells[column] = plant.value(cells[column] + " ")
        else:
            cells.append(plant.value("note "))
        rows.append(",".join(f'"{cell}"' for cell in cells))
    return rows


@pytest.fixture(scope="module")
def hunt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Planter, RunReport, Path]:
    """Given records and till lines carrying planted card numbers and e-mails, when local-run replays them."""
    plant = Planter()
    work = tmp_path_factory.mktemp("leak-hunt")
    events = work / "events.jsonl"
    events.write_text("\n".join(json.dumps(record) for record in _events(plant)) + "\n")
    pos = work / "pos"
    pos.mkdir()
    (pos / "chesterfield_2024-06-08.csv").write_text("\n".join(_csv_rows(plant)) + "\n")
    out = work / "out"
    report = local_run(LocalRunOptions(events=events, pos_csv=pos, out=out, now=NOW, batch_size=5))
    plant.needles.add("4111111111111111")
    return plant, report, out


def _readable(path: Path) -> str:
    """A file's content as text a person (or a query) would see it: Parquet decoded row by row."""
    if path.suffix == ".parquet":
        return json.dumps(pq.read_table(path).to_pylist(), default=str, ensure_ascii=False)
    return path.read_bytes().decode("utf-8", errors="replace")


def test_the_hunt_reached_every_output(hunt: tuple[Planter, RunReport, Path]) -> None:
    _, report, out = hunt
    assert report.lake_rows["sales"] >= 6
    assert report.lake_rows["job_runs"] >= 6
    assert report.alerts.get("job_failed", 0) >= 6
    assert sum(report.quarantined.values()) >= 5
    assert any((out / "quarantine" / "pos_csv").rglob("*.jsonl"))
    assert (out / "lambda-logs.jsonl").stat().st_size > 0


def test_no_planted_card_or_email_anywhere_under_out(hunt: tuple[Planter, RunReport, Path]) -> None:
    plant, _, out = hunt
    texts = {path: _readable(path) for path in out.rglob("*") if path.is_file()}
    leaks = sorted(
        (needle, str(path.relative_to(out)))
        for path, text in texts.items()
        for needle in plant.needles
        if needle in text
    )
    assert leaks == []


def test_ids_holding_pii_stay_joinable(hunt: tuple[Planter, RunReport, Path]) -> None:
    # The failed runs whose client or job_name carried a card still alert, each under a token, not in clear.
    _, _, out = hunt
    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    clients = {alert["attributes"]["client"] for alert in alerts if alert["attributes"]["alert_type"] == "job_failed"}
    assert "acme-retail" in clients
    assert any(client.startswith("tok_") for client in clients)
