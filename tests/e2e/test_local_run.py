"""`python -m lakewatch local-run` end to end: every record lands in exactly one place, nothing leaks."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lakewatch.__main__ import main
from lakewatch.domain import pii
from lakewatch.local.runner import LocalRunOptions, RunReport, local_run
from tests.conftest import REPO_ROOT

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
CARD_NUMBER = "4929123456781234"
CUSTOMER_NAME = "Priscilla Quartermaine"
CUSTOMER_ID = "cust-998877"


def _sale(event_id: str, *, day: int, hour: int, store: str | None, name: str | None = CUSTOMER_NAME) -> dict:
    sale = {
        "event_type": "sale",
        "event_id": event_id,
        "event_time": f"2024-06-{day:02d}T{hour:02d}:15:00Z",
        "channel": "store" if store else "web",
        "payment_method": "card",
        "card_number": CARD_NUMBER,
        "items": [
            {"product": "Latte", "size": "Large", "flavour": None, "unit_price": 2.45, "quantity": 2},
            {"product": "Flavoured iced latte", "size": "Regular", "flavour": "Hazelnut", "unit_price": 2.75},
        ],
        "total_price": 7.65,
    }
    if store:
        sale["store"] = store
    else:
        sale["customer_id"] = CUSTOMER_ID
        sale["order_id"] = f"order-{event_id}"
    if name:
        sale["customer_name"] = name
    return sale


def _job_run(run_id: str, *, status: str = "SUCCEEDED", error: str | None = None) -> dict:
    run = {
        "event_type": "job_run",
        "event_id": f"evt-{run_id}",
        "event_time": "2024-06-09T02:40:00Z",
        "run_id": run_id,
        "client": "acme-retail",
        "job_name": "nightly_sales_analysis",
        "status": status,
        "started_at": "2024-06-09T02:00:00Z",
        "ended_at": "2024-06-09T02:40:00+00:00",
        "cost_usd": 1.25,
        "data_processed_gb": 12.5,
        "instance_size": "m5.xlarge",
    }
    if error:
        run["error_message"] = error
    return run


def _line(record: object) -> bytes:
    return json.dumps(record).encode()


VALID_SALES = [
    _sale("s-1", day=8, hour=9, store="Chesterfield"),
    _sale("s-2", day=9, hour=10, store="Chesterfield"),
    _sale("s-3", day=9, hour=19, store=None),
]
EVENT_LINES: list[tuple[bytes, str]] = [
    *[(_line(sale), "sales") for sale in VALID_SALES],
    (_line(VALID_SALES[0]), "sales"),  # redelivered: same bytes again
    (_line(_job_run("r-1")), "job_runs"),
    (_line(_job_run("r-2", status="failed", error=f"card {CARD_NUMBER} rejected for ops@example.com")), "job_runs"),
    (b'{"event_type": "sale", "event_id": "broken', "invalid_json"),
    (b"   ", "invalid_json"),
    (_line([1, 2, 3]), "not_an_object"),
    (_line({"event_type": "refund", "event_id": "x-1", "event_time": "2024-06-09T10:00:00Z"}), "unknown_event_type"),
    (_line({k: v for k, v in _sale("s-4", day=9, hour=9, store="Leeds").items() if k != "items"}), "missing_field"),
    (_line({**_sale("s-5", day=9, hour=9, store="Leeds"), "payment_method": "IOU"}), "invalid_field"),
    (_line({**_sale("s-6", day=9, hour=9, store="Leeds"), "total_price": 99.0}), "total_mismatch"),
    (_line({**_sale("s-7", day=9, hour=9, store="Leeds"), "notes": "x" * 300_000}), "too_large"),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunReport, Path]:
    """Given a file mixing valid, duplicate, malformed and PII-laden records, when local-run replays it."""
    work = tmp_path_factory.mktemp("local-run")
    events = work / "events.jsonl"
    events.write_bytes(b"\n".join(line for line, _ in EVENT_LINES) + b"\n\n")
    out = work / "out"
    report = local_run(LocalRunOptions(events=events, out=out, now=NOW, batch_size=4))
    return report, out


def _quarantine_rows(out: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted((out / "quarantine").rglob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]


def test_every_record_lands_in_exactly_one_place(run: tuple[RunReport, Path]) -> None:
    report, out = run
    expected = {outcome: sum(1 for _, o in EVENT_LINES if o == outcome) for _, outcome in EVENT_LINES}
    assert report.input_records == len(EVENT_LINES)
    assert report.blank_lines_skipped == 1
    assert report.clean_records == {"sales": expected["sales"], "job_runs": expected["job_runs"]}
    reasons = sorted(row["reason"] for row in _quarantine_rows(out))
    assert reasons == sorted(outcome for _, outcome in EVENT_LINES if outcome not in {"sales", "job_runs"})
    assert report.dead_lettered == 0
    assert report.accounted_stream_records == report.input_records


def test_quarantine_rows_carry_reason_field_and_sequence_number(run: tuple[RunReport, Path]) -> None:
    _, out = run
    rows = {row["reason"]: row for row in _quarantine_rows(out)}
    assert rows["missing_field"]["field"] == "items"
    assert rows["invalid_field"]["field"] == "payment_method"
    assert all(row["sequence_number"] for row in rows.values())
    assert set(rows["invalid_json"]["record"]) == pii.FINGERPRINT_FIELDS


def test_duplicates_count_once_in_named_queries(run: tuple[RunReport, Path]) -> None:
    _, out = run
    with (out / "queries" / "daily_revenue.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sum(int(row["orders"]) for row in rows) == len(VALID_SALES)
    assert sum(float(row["revenue"]) for row in rows) == pytest.approx(7.65 * len(VALID_SALES))
    with (out / "queries" / "returning_customers.csv").open() as handle:
        returning = next(csv.DictReader(handle))
    # The same person bought in a store on two days and online: one customer, returning.
    assert int(returning["customers"]) == 1
    assert int(returning["returning_customers"]) == 1


def test_failed_run_alerts_once_with_masked_error(run: tuple[RunReport, Path]) -> None:
    report, out = run
    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    failed = [alert for alert in alerts if alert["attributes"]["alert_type"] == "job_failed"]
    assert len(failed) == 1
    assert failed[0]["message"]["run_id"] == "r-2"
    assert failed[0]["attributes"]["client"] == "acme-retail"
    assert report.alerts.get("job_failed") == 1


def test_no_card_number_or_customer_name_anywhere_under_out(run: tuple[RunReport, Path]) -> None:
    _, out = run
    files = [path for path in out.rglob("*") if path.is_file()]
    assert any(path.suffix == ".parquet" for path in files)
    assert (out / "lambda-logs.jsonl").stat().st_size > 0, "handler logs and EMF metrics are scanned too"
    for path in files:
        content = path.read_bytes()
        for secret in (CARD_NUMBER, CUSTOMER_NAME, CUSTOMER_ID, "ops@example.com"):
            assert secret.encode() not in content, f"{secret!r} leaked into {path}"


def test_every_named_query_wrote_a_csv(run: tuple[RunReport, Path]) -> None:
    report, out = run
    sql_names = {path.stem for path in (REPO_ROOT / "athena").glob("*.sql")}
    assert sql_names
    assert {path.stem for path in (out / "queries").glob("*.csv")} == sql_names
    assert set(report.queries) == sql_names


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["local-run", "--events", "/nonexistent/events.jsonl", "--out", "/tmp/x"], "events file not found"),
        (["local-run", "--events", "e.jsonl", "--out", "o", "--now", "yesterday"], "not an ISO-8601 date-time"),
        (["local-run", "--events", "e.jsonl"], "--out"),
        (["bench", "--records", "0"], "must be at least 1"),
    ],
)
def test_bad_command_line_gets_one_line_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(argv))
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_cli_entry_point_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lakewatch", "local-run", "--events", "missing.jsonl", "--out", "unused"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "lakewatch: error: events file not found: missing.jsonl"
