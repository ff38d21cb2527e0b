"""The command line a new user meets: every user error is one line and a non-zero exit, never a traceback; every
subcommand's --help says what it does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lakewatch import __main__ as cli
from lakewatch.__main__ import build_parser, main

SUBCOMMANDS = ("local-run", "demo", "report", "redrive", "forecast-backtest", "bench")


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_the_parser_knows_exactly_the_subcommands_tested_here() -> None:
    subparsers = next(action for action in build_parser()._actions if action.dest == "command")
    assert set(subparsers.choices) == set(SUBCOMMANDS)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_help_says_what_it_does(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    subparsers = next(action for action in build_parser()._actions if action.dest == "command")
    summary = next(choice.help for choice in subparsers._choices_actions if choice.dest == command)

    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])

    assert exit_info.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert summary.lower() in help_text.lower()


def test_every_option_of_every_subcommand_has_a_help_line() -> None:
    subparsers = next(action for action in build_parser()._actions if action.dest == "command")
    undocumented = [
        f"{command} {action.option_strings[0]}"
        for command, parser in subparsers.choices.items()
        for action in parser._actions
        if action.option_strings and action.help is None
    ]
    assert undocumented == []


@pytest.mark.parametrize("text", ["2024-07-01T12:00:00z", "2024-07-01T12:00:00Z", "2024-07-01T12:00:00+00:00"])
def test_now_in_utc_is_read_whichever_case_its_z_is_in(text: str) -> None:
    assert cli._iso_datetime(text) == datetime(2024, 7, 1, 12, tzinfo=UTC)


def test_report_into_a_path_that_is_a_file_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    taken = tmp_path / "report.html"
    taken.write_text("mine")

    assert main(["report", "--lake", str(lake), "--out", str(taken)]) == 2

    assert _one_line_error(capsys) == f"lakewatch: error: --out exists and is not a directory: {taken}"
    assert taken.read_text() == "mine"


def test_an_os_error_of_any_subcommand_is_one_line_naming_the_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def disk_full(_args: object) -> int:
        raise OSError(28, "No space left on device", str(tmp_path / "lake"))

    monkeypatch.setattr(cli, "_forecast_backtest", disk_full)

    assert main(["forecast-backtest", "--lake", str(tmp_path)]) == 2

    assert _one_line_error(capsys) == f"lakewatch: error: No space left on device: {tmp_path / 'lake'}"


def test_demo_days_reaching_before_the_lake_accepts_is_one_line_error_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"

    assert main(["demo", "--days", "1000000", "--out", str(out)]) == 2

    assert "use at most 1644" in _one_line_error(capsys)
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "help_command"),
    [
        (["local-run", "--events", "e.jsonl", "--out", "o", "--frobnicate"], "python -m lakewatch --help"),
        (["local-run", "--events", "e.jsonl"], "python -m lakewatch local-run --help"),
        (["demo", "--days", "0"], "python -m lakewatch demo --help"),
        (["frobnicate"], "python -m lakewatch --help"),
        ([], "python -m lakewatch --help"),
    ],
)
def test_a_usage_error_says_where_to_read_the_usage(
    argv: list[str], help_command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)

    assert exit_info.value.code == 2
    assert _one_line_error(capsys).endswith(f"(see: {help_command})")
