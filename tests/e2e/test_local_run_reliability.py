"""`local-run` keeps every record and keeps the clock honest: poison records, schedules, accounting, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lakewatch.__main__ import main
from lakewatch.domain import tables
from lakewatch.local.runner import LocalRunOptions, local_run
from tests.conftest import REPO_ROOT
from tests.e2e.test_local_run import _job_run, _sale

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)


def _run(client: str, day: int, *, run_id: str | None = None) -> bytes:
    run = _job_run(run_id or f"{client}-{day}")
    run |= {
        "client": client,
        "event_time": f"2024-06-{day:02d}T02:40:00Z",
        "started_at": f"2024-06-{day:02d}T02:00:00Z",
        "ended_at": f"2024-06-{day:02d}T02:40:00Z",
    }
    return json.dumps(run).encode()


def _replay(tmp_path: Path, lines: list[bytes], now: datetime = NOW, **options: object) -> tuple[object, Path]:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    return local_run(LocalRunOptions(events=events, out=out, now=now, **options)), out


def _alerts(out: Path, alert_type: str) -> list[dict]:
    lines = (out / "alerts.jsonl").read_text().splitlines()
    return [alert for alert in map(json.loads, lines) if alert["attributes"].get("alert_type") == alert_type]


def test_a_run_dated_1900_does_not_make_the_schedule_replay_a_century(tmp_path: Path) -> None:
    # Given one run that "ended" in 1900 before a normal one (old code: ~1.09 M hourly checks from 1900)
    ancient = json.loads(_run("acme", 9, run_id="ancient"))
    ancient |= {"started_at": "1900-01-01T00:00:00Z", "ended_at": "1900-01-01T00:40:00Z"}
    lines = [json.dumps(ancient).encode(), _run("acme", 9)]

    report, _ = _replay(tmp_path, lines)

    # Then the schedule fires from the first plausible run end (2024-06-09 02:40) to --now only
    assert report.schedule_ticks == 34


def test_redelivered_old_runs_do_not_stall_the_clock_of_a_paused_client(tmp_path: Path) -> None:
    # Given two daily clients; "paused" skips 4-6 June; every batch also redelivers paused's first run
    lines = []
    for day in range(1, 10):
        lines.append(_run("steady", day))
        if day not in (4, 5, 6):
            lines.append(_run("paused", day))
        lines.append(_run("paused", 1))

    # When replayed up to a --now at which both clients are on time again (last runs 9 June 02:40)
    report, out = _replay(tmp_path, lines, now=datetime(2024, 6, 10, 3, 0, tzinfo=UTC), batch_size=3)

    # Then paused was alerted as overdue while its pause lasted, though its later runs arrive before --now
    overdue = _alerts(out, "run_overdue")
    assert [alert["attributes"]["client"] for alert in overdue] == ["paused"]
    assert report.accounting.balanced


def test_a_sale_dated_ahead_does_not_move_the_schedule_clock(tmp_path: Path) -> None:
    # Given a till whose clock runs a week ahead, among a client's daily runs
    lines = [_run("steady", 1), json.dumps(_sale("s-ahead", day=9, hour=9, store="Leeds")).encode()]
    lines += [_run("steady", day) for day in range(2, 10)]

    _, out = _replay(tmp_path, lines, now=datetime(2024, 6, 10, 3, 0, tzinfo=UTC), batch_size=2)

    # Then the client's runs, each on time, raise no overdue alert
    assert _alerts(out, "run_overdue") == []


def test_a_poison_record_in_a_batch_does_not_take_its_neighbours_down(tmp_path: Path) -> None:
    # Given 99 valid sales around records that have crashed the transform (invalid UTF-8 in a string, deep nesting)
    sales = [json.dumps(_sale(f"s-{index}", day=9, hour=10, store="Leeds")).encode() for index in range(98)]
    lines = [*sales[:40], b'{"event_type": "sale", "event_id": "\xff"}', *sales[40:], b"[" * 5000 + b"]" * 5000]

    report, out = _replay(tmp_path, lines, batch_size=100)

    # Then every valid neighbour reaches the lake; at most the poison records themselves are set aside
    assert report.clean_records["sales"] == len(sales)
    assert report.dead_lettered <= 2
    assert report.accounting.balanced
    if report.dead_lettered:
        letters = [json.loads(line) for line in (out / "dead_letters.jsonl").read_text().splitlines()]
        assert all(letter["KinesisBatchInfo"]["batchSize"] == 1 for letter in letters)


def test_summary_accounts_for_every_input_line(tmp_path: Path) -> None:
    lines = [json.dumps(_sale("s-1", day=9, hour=9, store="Leeds")).encode()] * 2 + [b"{", _run("acme", 9)]

    report, out = _replay(tmp_path, lines)

    summary = json.loads((out / "summary.json").read_text())
    accounting = summary["accounting"]
    assert accounting["input_lines"] == 4
    assert accounting["lake_rows"] == {"sales": 2, "job_runs": 1}  # a redelivered line is its own lake row
    assert accounting["quarantine_rows"]["stream"] == 1
    assert accounting["on_failure_records"] == {}
    assert accounting["balanced"] is True
    assert summary["records_per_second"] > 0
    assert report.accounting.stream_accounted == 4


def test_compaction_runs_once_per_replayed_day_and_merges_the_pos_and_stream_files(tmp_path: Path) -> None:
    # Given a stream sale and a POS CSV sale on the same day: two files in one partition
    pos = tmp_path / "pos"
    pos.mkdir()
    (pos / "leeds_09-06-2024.csv").write_text("09/06/2024 10:00,Leeds,Sam Newday,Large Latte - 2.45,2.45,CASH,\n")
    lines = [json.dumps(_sale("s-1", day=9, hour=9, store="Leeds")).encode()]

    report, out = _replay(tmp_path, lines, pos_csv=pos)

    partition = out / tables.SALES.partition_prefix("2024-06-09")
    files = sorted(path.name for path in partition.glob("*.parquet"))
    assert len(files) == 1 and files[0].startswith("compacted-")
    assert pq.read_table(partition / files[0]).num_rows == 2
    assert report.compaction == {"compacted": 1, "nothing_to_do": 1}  # one replayed day (9 June), two tables
    assert not (out / "_compaction").exists() or not any((out / "_compaction").rglob("*.json"))


def test_the_printed_summary_counts_pos_rows_as_lake_rows(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    pos = tmp_path / "pos"
    pos.mkdir()
    (pos / "leeds_09-06-2024.csv").write_text("09/06/2024 10:00,Leeds,Sam Newday,Large Latte - 2.45,2.45,CASH,\n")
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"{\n")

    code = main(
        [
            "local-run",
            "--events",
            str(events),
            "--pos-csv",
            str(pos),
            "--out",
            str(tmp_path / "out"),
            "--now",
            "2024-06-10T12:00:00Z",
        ]
    )

    printed = capfd.readouterr()  # file descriptors: the JVM writes to fd 2 directly
    assert code == 0
    assert "nothing to the lake" not in printed.out
    assert "POS CSV: 1 sales lake rows" in printed.out
    assert "1 input lines = 0 job_runs + 0 sales lake rows + 1 quarantined + 0 on-failure (adds up)" in printed.out
    assert "records/s" in printed.out
    assert "WARN" not in printed.err and "Stage" not in printed.err, "Spark stays quiet unless it fails"


def _unwritable_dir(tmp_path: Path) -> Path:
    """An existing directory this process cannot create files in (root ignores permission bits: use /proc)."""
    import os

    if os.geteuid() == 0:
        return Path("/proc")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    return locked


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--now", "9999-12-31T23:59:59-01:00"], "--now: out of range"),
        (["--now", "1999-12-31T00:00:00Z"], "the first day the lake accepts"),
        (["--out", ""], "--out: must name a directory"),
    ],
)
def test_bad_clock_or_output_gets_one_line_error(
    tmp_path: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"{}\n")
    argv = ["local-run", "--events", str(events), "--out", str(tmp_path / "out"), *extra]

    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(argv))

    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (Path.cwd() / "lake").exists() and not (Path.cwd() / "summary.json").exists()


def test_unwritable_out_gets_one_line_error_from_the_command_line(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"{}\n")
    out = _unwritable_dir(tmp_path)

    result = subprocess.run(
        [sys.executable, "-m", "lakewatch", "local-run", "--events", str(events), "--out", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.startswith(f"lakewatch: error: cannot write into --out {out}")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_empty_out_never_writes_into_the_current_directory(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"{}\n")

    result = subprocess.run(
        [sys.executable, "-m", "lakewatch", "local-run", "--events", str(events), "--out", ""],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert "--out: must name a directory" in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["events.jsonl"]
