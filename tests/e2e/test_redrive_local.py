"""`python -m lakewatch redrive --out DIR`: a fixed bug's records come back once, whatever is run twice."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from lakewatch.__main__ import main
from lakewatch.domain import tables
from lakewatch.local import redrive as local_redrive
from lakewatch.local import runner
from lakewatch.local.redrive import FileLedger
from lakewatch.local.runner import LocalRunOptions, local_run
from tests.e2e.test_local_run import _sale

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
BUG_TRIGGER = b"s-bug"


def _with_a_transform_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    """The transform crashes on one record (a bug shipped that day): the mapping bisects it out alone."""
    real_import = runner._import_handlers

    def import_handlers() -> dict[str, Callable[..., Any]]:
        handlers = real_import()
        transform = handlers["transform"]

        def buggy(event: dict, context: Any) -> Any:
            if any(BUG_TRIGGER in base64.b64decode(r["kinesis"]["data"]) for r in event["Records"]):
                raise RuntimeError("a bug in the transform")
            return transform(event, context)

        return handlers | {"transform": buggy}

    monkeypatch.setattr(runner, "_import_handlers", import_handlers)


def _sales_in_lake(out: Path) -> list[str]:
    paths = sorted((out / tables.SALES.prefix).rglob("*.parquet"))
    return sorted(
        event_id for path in paths for event_id in pq.read_table(path, columns=["event_id"])["event_id"].to_pylist()
    )


def _redrive(out: Path, *extra: str, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["redrive", "--out", str(out), *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_redrive_puts_a_fixed_bugs_records_back_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a run in which a transform bug sent one sale to the on-failure destination
    lines = [json.dumps(_sale(f"s-{index}", day=9, hour=9, store="Leeds")).encode() for index in range(5)]
    lines.insert(2, json.dumps(_sale("s-bug", day=9, hour=10, store="Leeds")).encode())
    lines.append(json.dumps({**_sale("s-mismatch", day=9, hour=9, store="Leeds"), "total_price": 99.0}).encode())
    lines.append(b"{not json")
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    with monkeypatch.context() as patched:
        _with_a_transform_bug(patched)
        report = local_run(LocalRunOptions(events=events, out=out, now=NOW, batch_size=4))
    assert report.dead_lettered == 1
    assert "s-bug" not in _sales_in_lake(out)
    # ... and yesterday's transform quarantined a sale today's accepts (written as that transform did)
    fixed = {k: v for k, v in _sale("s-fixed", day=9, hour=11, store="Leeds").items() if k != "customer_name"}
    fixed.pop("card_number")
    row = {
        "reason": "invalid_field",
        "field": "store",
        "event_id": "s-fixed",
        "sequence_number": "7",
        "source": "stream",
        "quarantined_at": "2024-06-09 11:00:00.000000",
        "record": fixed,
    }
    old_object = out / "quarantine" / "stream" / "dt=2024-06-09" / "yesterday.jsonl"
    old_object.parent.mkdir(parents=True, exist_ok=True)
    old_object.write_text(json.dumps(row) + "\n")

    # When the bug is fixed and the operator first asks for a dry run
    dry = _redrive(out, "--dry-run", capsys=capsys)
    lake_before = _sales_in_lake(out)

    # Then it says what would come back and what cannot, and changes nothing
    assert (dry["on_failure_records"], dry["would_pass"], dry["records_put"]) == (1, 1, 0)
    assert dry["still_rejected"] == {"total_mismatch": 1}
    assert dry["not_redrivable"] == 1  # the invalid JSON line left only a fingerprint
    assert not (out / "redrive").exists()

    # When re-driven, twice
    first = _redrive(out, capsys=capsys)
    second = _redrive(out, capsys=capsys)

    # Then both records reach the lake exactly once
    assert first["records_put"] == 2
    assert second["records_put"] == 0 and second["already_redriven"] == 2
    assert _sales_in_lake(out) == sorted([*lake_before, "s-bug", "s-fixed"])


def test_redrive_of_a_directory_that_is_no_local_run_output_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["redrive", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lakewatch: error: no summary.json in")
    assert len(err.strip().splitlines()) == 1


def test_a_base64_events_files_dead_letter_is_redriven_as_the_record_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a `--events-format base64` run in which a transform bug dead-lettered one sale
    lines = [json.dumps(_sale(f"s-{index}", day=9, hour=9, store="Leeds")).encode() for index in range(3)]
    lines.insert(1, json.dumps(_sale("s-bug", day=9, hour=10, store="Leeds")).encode())
    events = tmp_path / "events.b64"
    events.write_bytes(b"\n".join(base64.b64encode(line) for line in lines) + b"\n")
    out = tmp_path / "out"
    with monkeypatch.context() as patched:
        _with_a_transform_bug(patched)
        report = local_run(LocalRunOptions(events=events, out=out, now=NOW, batch_size=4, events_format="base64"))
    assert report.dead_lettered == 1

    # When re-driven, the record put is the sale's bytes, not their base64 text (which would be invalid JSON)
    redriven = _redrive(out, capsys=capsys)

    assert redriven["records_put"] == 1
    assert "s-bug" in _sales_in_lake(out)
    assert not any(b"invalid_json" in path.read_bytes() for path in (out / "quarantine").rglob("*.jsonl"))


def _dead_lettered_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    lines = [json.dumps(_sale(name, day=9, hour=9, store="Leeds")).encode() for name in ("s-0", "s-bug", "s-1")]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    with monkeypatch.context() as patched:
        _with_a_transform_bug(patched)
        assert local_run(LocalRunOptions(events=events, out=out, now=NOW, batch_size=4)).dead_lettered == 1
    return out


def test_damaged_files_of_a_local_run_are_counted_or_one_line_errors_never_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _dead_lettered_run(tmp_path, monkeypatch)
    letters = out / "dead_letters.jsonl"

    # A damaged on-failure line is counted as malformed; the good one is still re-driven
    letters.write_bytes(b'{"KinesisBatchInfo": \n[1, 2]\n' + letters.read_bytes())
    redriven = _redrive(out, capsys=capsys)
    assert (redriven["on_failure_malformed"], redriven["records_put"]) == (2, 1)
    assert "s-bug" in _sales_in_lake(out)

    # A ledger line that is no key, and a summary that is no local-run summary, are one-line errors
    summary = (out / "summary.json").read_bytes()
    for path, content in [
        (out / "redrive" / "ledger.jsonl", b'"on-failure/events-raw/x"\n"quarantine/abc'),
        (out / "summary.json", b'{"now": "2024-06-10T12:00:00+00:00"}'),
        (out / "summary.json", b"[]"),
        (out / "summary.json", summary.replace(b'"now"', b'"now_"', 1)),
    ]:
        kept = path.read_bytes()
        path.write_bytes(content)
        assert main(["redrive", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("lakewatch: error: ") and len(err.strip().splitlines()) == 1
        path.write_bytes(kept)


def test_a_run_killed_while_committing_its_ledger_leaves_the_previous_ledger_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _dead_lettered_run(tmp_path, monkeypatch)
    path = out / "redrive" / "ledger.jsonl"
    ledger = FileLedger(path)
    ledger.add("quarantine/a#1")
    ledger.commit()
    before = path.read_bytes()

    class Killed(BaseException):
        pass

    def killed(_: int) -> None:
        raise Killed

    ledger.add("quarantine/b#1")
    with monkeypatch.context() as patched:
        patched.setattr(local_redrive.os, "fsync", killed)
        with pytest.raises(Killed):
            ledger.commit()

    assert path.read_bytes() == before
    assert _redrive(out, capsys=capsys)["records_put"] == 1


def test_a_redriven_batch_that_fails_again_can_itself_be_redriven_once_the_bug_is_fixed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _dead_lettered_run(tmp_path, monkeypatch)

    # The operator re-drives before the fix is deployed: the record fails again, into a new on-failure batch
    with monkeypatch.context() as patched:
        _with_a_transform_bug(patched)
        too_early = _redrive(out, capsys=capsys)
    assert too_early["records_put"] == 1
    assert "s-bug" not in _sales_in_lake(out)

    # Once fixed, that new batch is read back (as Kinesis would still hold it) and put again, once
    fixed = _redrive(out, capsys=capsys)
    again = _redrive(out, capsys=capsys)

    assert (fixed["records_put"], fixed["already_redriven"], fixed["on_failure_expired"]) == (1, 1, 0)
    assert (again["records_put"], again["already_redriven"]) == (0, 2)
    assert _sales_in_lake(out).count("s-bug") == 1


@pytest.mark.parametrize(
    "arguments",
    [
        ["--source", "on-failure", "--reason", "invalid_field"],
        ["--source", "on-failure", "--since", "2024-06-01"],
        ["--since", "2024-06-02", "--until", "2024-06-01"],
        ["--since", "2024-02-30"],
        ["--reason", "no_such_reason"],
        ["--source", "everything"],
    ],
)
def test_bad_redrive_arguments_are_one_line_errors(
    tmp_path: Path, arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["redrive", "--out", str(tmp_path), *arguments])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "error:" in err and "summary.json" not in err


def test_a_run_killed_before_its_ledger_never_hands_its_number_to_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _dead_lettered_run(tmp_path, monkeypatch)

    class Killed(BaseException):
        pass

    def killed(_: FileLedger) -> None:
        raise Killed

    # A re-drive before the fix dead-letters the record again, then dies before its ledger and its log
    with monkeypatch.context() as patched:
        _with_a_transform_bug(patched)
        patched.setattr(FileLedger, "commit", killed)
        with pytest.raises(Killed):
            main(["redrive", "--out", str(out)])
    capsys.readouterr()
    killed_runs_records = {path.name: path.read_bytes() for path in (out / "redrive").glob("events-raw-run-*")}
    assert killed_runs_records  # what the killed run put, which its new on-failure batch names

    # The next run, still before the fix, puts both batches (the killed run's and its own) under a new number
    with monkeypatch.context() as patched:
        _with_a_transform_bug(patched)
        _redrive(out, capsys=capsys)
    last = _redrive(out, capsys=capsys)

    for name, records in killed_runs_records.items():
        assert (out / "redrive" / name).read_bytes() == records  # never overwritten by a later run
    assert last["records_put"] >= 1 and last["on_failure_expired"] == 0
    assert "s-bug" in _sales_in_lake(out)
