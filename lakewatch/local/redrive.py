"""`python -m lakewatch redrive --out DIR`: the production re-drive (`lakewatch.redrive`) on a `local-run` output.

Locally, events-raw is the events file `local-run` replayed (named in `summary.json`): an on-failure record's
sequence range maps back to its lines (`runner.line_index`), as GetRecords would read them back on AWS
within retention. Records of another stream (a job_monitor on-failure batch names `job-runs-clean`, which only
lived in that run's moto) cannot be read back locally and count as `on_failure_other_stream`. Quarantine rows
are read from `DIR/quarantine/stream/`. What is re-submitted is replayed through the handlers into DIR
(`runner.replay_redriven`); the ledger is `DIR/redrive/ledger.jsonl` and every run's report is appended to
`DIR/redrive/runs.jsonl`. A new `local-run` into DIR starts all of that afresh.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

from lakewatch import redrive
from lakewatch.local import aws as local_aws
from lakewatch.local import aws_events
from lakewatch.local.runner import (
    DEAD_LETTERS_FILE,
    REDRIVE_FIRST_INDEX,
    SUMMARY_FILE,
    LocalRunError,
    line_index,
    read_event_lines,
    replay_redriven,
    sequence_number,
)

REDRIVE_DIR = "redrive"
LEDGER_FILE = "ledger.jsonl"
RUNS_FILE = "runs.jsonl"


@dataclass(frozen=True, slots=True)
class LocalRedriveOptions:
    out: Path
    on_failure: bool = True
    quarantine: bool = True
    reasons: tuple[str, ...] | None = None
    since: date | None = None
    until: date | None = None
    dry_run: bool = False


class FileLedger:
    """The ledger as JSON lines; additions are kept until `commit`, after the re-driven records were replayed.

    `commit` writes the whole ledger to a temporary file and renames it over the old one, so a run killed while
    committing leaves the old ledger or the new one, never a truncated line that would stop every later run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: set[str] = set()
        lines = path.read_bytes().splitlines() if path.exists() else []
        for number, line in enumerate(lines, start=1):
            try:
                key = orjson.loads(line)
            except orjson.JSONDecodeError:
                key = None
            if not isinstance(key, str):
                raise LocalRunError(f"{path} line {number} is not a ledger key: repair or remove that line")
            self._keys.add(key)
        self._pending: list[str] = []

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def add(self, key: str) -> None:
        self._keys.add(key)
        self._pending.append(key)

    def commit(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = self.path.read_bytes() if self.path.exists() else b""
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        with temporary.open("wb") as ledger:
            ledger.write(kept)
            ledger.writelines(orjson.dumps(key) + b"\n" for key in self._pending)
            ledger.flush()
            os.fsync(ledger.fileno())
        temporary.replace(self.path)
        self._pending.clear()

    def __len__(self) -> int:
        return len(self._keys)


def redrive_local(options: LocalRedriveOptions) -> redrive.RedriveReport:
    out = options.out
    summary = _load_summary(out)
    now = datetime.fromisoformat(summary["now"])
    ledger = FileLedger(out / REDRIVE_DIR / LEDGER_FILE)
    report = redrive.RedriveReport(dry_run=options.dry_run)
    collected: list[redrive.Entry] = []

    def put(entries: list[redrive.Entry]) -> list[int]:
        collected.extend(entries)
        return []

    if options.on_failure:
        events = _EventsRaw(Path(summary["events_file"]), summary.get("events_format", "json"), out / REDRIVE_DIR)
        redrive.redrive_on_failure(
            _read_messages(out / DEAD_LETTERS_FILE), read=events.read, put=put, ledger=ledger, report=report
        )
    if options.quarantine:
        rows = redrive.select_rows(
            _quarantine_rows(out, report), reasons=options.reasons, since=options.since, until=options.until
        )
        redrive.redrive_quarantine(
            rows, pii_key=local_aws.LOCAL_PII_KEY.encode(), now=now, put=put, ledger=ledger, report=report
        )
    if options.dry_run:
        return report
    run_number = _next_run_number(out / REDRIVE_DIR)
    if collected:
        # What this run puts into events-raw, kept so that a batch of it that fails again can be read back.
        (out / REDRIVE_DIR).mkdir(parents=True, exist_ok=True)
        _redriven_path(out / REDRIVE_DIR, run_number).write_bytes(
            b"".join(base64.b64encode(data) + b"\n" for _, data in collected)
        )
        replay_redriven(out, [data for _, data in collected], now=now, run_number=run_number)
    ledger.commit()
    with (out / REDRIVE_DIR / RUNS_FILE).open("ab") as runs:
        runs.write(orjson.dumps({"run": run_number, **report.to_json()}) + b"\n")
    return report


def _redriven_path(redrive_dir: Path, run_number: int) -> Path:
    return redrive_dir / f"events-raw-run-{run_number}.b64"


class _EventsRaw:
    """events-raw as the local runs saw it, by sequence number: the events file's non-blank lines, then what each
    re-drive run put (numbered from `REDRIVE_FIRST_INDEX` times the run's number, kept as base64 lines), so that
    a re-driven batch that fails again can itself be re-driven, as Kinesis would still hold it on AWS."""

    def __init__(self, path: Path, events_format: str, redrive_dir: Path) -> None:
        self.path = path
        self.events_format = events_format
        self.redrive_dir = redrive_dir
        self._payloads: list[bytes] | None = None
        self._redriven: dict[int, list[bytes]] = {}

    def read(self, batch: redrive.BatchInfo) -> list[redrive.StreamRecord]:
        if batch.stream_name != local_aws.EVENTS_RAW_STREAM:
            raise redrive.OtherStreamError(f"{batch.stream_name} is not retained after a local run")
        first, last = line_index(batch.start_sequence_number), line_index(batch.end_sequence_number)
        run = first // REDRIVE_FIRST_INDEX
        if run > 0:
            return self._read(batch, self._redriven_run(run), first - run * REDRIVE_FIRST_INDEX, last - first)
        if self._payloads is None:
            try:
                lines = read_event_lines(self.path)[0]
                # A base64 line is one record's bytes in base64 (`--events-format base64`): the record is the bytes.
                self._payloads = aws_events.decode_base64_lines(lines) if self.events_format == "base64" else lines
            except (LocalRunError, ValueError) as error:
                raise redrive.RedriveError(str(error)) from None
        return self._read(batch, self._payloads, first, last - first)

    def _redriven_run(self, run: int) -> list[bytes]:
        if run not in self._redriven:
            path = _redriven_path(self.redrive_dir, run)
            try:
                self._redriven[run] = [base64.b64decode(line) for line in path.read_bytes().splitlines()]
            except (OSError, ValueError):
                self._redriven[run] = []  # not kept (or damaged): the range counts as expired
        return self._redriven[run]

    @staticmethod
    def _read(batch: redrive.BatchInfo, payloads: list[bytes], offset: int, span: int) -> list[redrive.StreamRecord]:
        """The records at `offset` .. `offset + span` of `payloads`, numbered as the batch numbers them."""
        if offset < 0 or offset + span >= len(payloads):
            raise redrive.ExpiredRangeError(f"{batch.ledger_key} is no longer held")
        base = line_index(batch.start_sequence_number) - offset
        # The local replay's partition key is the sequence number (`aws.kinesis_event`).
        return [
            redrive.StreamRecord(sequence_number(base + index), sequence_number(base + index), payloads[index])
            for index in range(offset, offset + span + 1)
        ]


def _load_summary(out: Path) -> dict[str, Any]:
    """summary.json, with what re-drive needs of it checked: the run's clock and its events file."""
    try:
        summary = orjson.loads((out / SUMMARY_FILE).read_bytes())
    except FileNotFoundError:
        raise LocalRunError(f"no {SUMMARY_FILE} in {out}: not a local-run output directory") from None
    except (OSError, orjson.JSONDecodeError) as error:
        raise LocalRunError(f"cannot read {out / SUMMARY_FILE}: {error}") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("events_file"), str):
        raise LocalRunError(f"{out / SUMMARY_FILE} is not a local-run summary: it names no events file")
    try:
        summary["now"] = datetime.fromisoformat(summary["now"]).isoformat()
    except (KeyError, TypeError, ValueError):
        raise LocalRunError(f"{out / SUMMARY_FILE} is not a local-run summary: no ISO-8601 `now`") from None
    return summary


def _read_messages(path: Path) -> list[object]:
    """The on-failure messages of a JSON-lines file; a line that is not JSON is kept as None, which re-drive
    counts as malformed, so one damaged line never stops the others from being re-driven."""
    if not path.exists():
        return []
    messages: list[object] = []
    for line in path.read_bytes().splitlines():
        if line.strip():
            try:
                messages.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                messages.append(None)
    return messages


def _quarantine_rows(out: Path, report: redrive.RedriveReport) -> Iterator[redrive.QuarantineRow]:
    root = out / "quarantine"
    for path in sorted((root / redrive.STREAM_SOURCE).rglob("*.jsonl")):
        key = f"quarantine/{path.relative_to(root).as_posix()}"
        yield from redrive.parse_quarantine_object(key, path.read_bytes(), report)


def _next_run_number(redrive_dir: Path) -> int:
    """One more than any run logged or begun: a run killed before it logged itself still used its number (its
    events-raw records, and on-failure batches naming them, exist), so the number is never given out again."""
    logged = len(_read_messages(redrive_dir / RUNS_FILE))  # a damaged line still counts as a run
    begun = (_RUN_NUMBER.fullmatch(path.name) for path in redrive_dir.glob("events-raw-run-*.b64"))
    return max([logged, *(int(match[1]) for match in begun if match)]) + 1


_RUN_NUMBER = re.compile(r"events-raw-run-(\d+)\.b64")
