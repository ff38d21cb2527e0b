"""Decoding of one clean `job_runs` record (DEVELOPERS.md, "Clean records").

The row type is `events.CleanJobRun`, generated from the `job_runs` table's columns, and the status
vocabulary is `events.JOB_STATUSES`: this module adds only what job_monitor needs on top (parsed times and
the checks a clean record passed in the transform), so a column or status added to the contract reaches
job_monitor without a second definition to keep in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from lakewatch.domain import events
from lakewatch.domain.reasons import Reason
from lakewatch.domain.tables import format_clean_timestamp, parse_clean_utc

_DECODER = msgspec.json.Decoder(events.CleanJobRun)
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")
#: Where msgspec says a value of the row failed (a number beyond a float, such as 1e400): a column, by name.
_INVALID_FIELD = re.compile(r"at `\$\.([A-Za-z_]+)")
_REQUIRED_TEXT = ("event_id", "run_id", "client", "job_name", "status")
_OPTIONAL_TEXT = ("instance_size", "error_message")
_OPTIONAL_NUMBERS = ("data_processed_gb", "cost_usd")


class MalformedRecord(ValueError):
    """A record on `job-runs-clean` that breaks the clean-record contract: an upstream bug, not data.

    `reason` and `field` are what its quarantine row says (never the payload: it is someone else's data).
    """

    def __init__(self, reason: Reason, field: str | None, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.reason = reason
        self.field = field


@dataclass(frozen=True, slots=True)
class JobRun:
    """A decoded clean row (`row`, columns by name) with its times parsed."""

    row: Any  # events.CleanJobRun: a generated msgspec Struct, so not usable as an annotation
    started_at: datetime
    ended_at: datetime
    ingested_at: datetime

    @property
    def failed(self) -> bool:
        return self.row.status in events.FAILED_JOB_STATUSES

    @property
    def ended_at_text(self) -> str:
        """Fixed-width UTC text: sorts like the instant, so DynamoDB and Python compare it as time."""
        return format_clean_timestamp(self.ended_at)


def _check_text(row: Any, name: str, *, required: bool) -> None:
    value = getattr(row, name)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value:
        raise MalformedRecord(Reason.INVALID_FIELD, name, "expected a non-empty string")


def _check_number(row: Any, name: str, *, required: bool) -> None:
    value = getattr(row, name)
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise MalformedRecord(Reason.INVALID_FIELD, name, "expected a number >= 0")


def _time(row: Any, name: str) -> datetime:
    _check_text(row, name, required=True)
    try:
        return parse_clean_utc(getattr(row, name))
    except ValueError:
        raise MalformedRecord(Reason.INVALID_FIELD, name, "expected clean UTC timestamp text") from None


def parse_job_run(data: bytes) -> JobRun:
    """Decode a clean record; raise `MalformedRecord` with the reason and field it breaks."""
    try:
        row = _DECODER.decode(data)
    except msgspec.ValidationError as error:
        # The generated type declares names only: a JSON value that is not an object, a missing column, or a
        # number no float holds.
        missing = _MISSING_FIELD.search(str(error))
        if missing is not None:
            raise MalformedRecord(Reason.MISSING_FIELD, missing.group(1), "missing") from None
        invalid = _INVALID_FIELD.search(str(error))
        if invalid is not None:
            raise MalformedRecord(Reason.INVALID_FIELD, invalid.group(1), "out of range") from None
        raise MalformedRecord(Reason.NOT_AN_OBJECT, None, "not a JSON object") from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        raise MalformedRecord(Reason.INVALID_JSON, None, "not valid JSON") from None
    for name in _REQUIRED_TEXT:
        _check_text(row, name, required=True)
    for name in _OPTIONAL_TEXT:
        _check_text(row, name, required=False)
    if row.status not in events.JOB_STATUSES:
        raise MalformedRecord(Reason.INVALID_FIELD, "status", "not one of " + ", ".join(sorted(events.JOB_STATUSES)))
    _check_number(row, "duration_seconds", required=True)
    for name in _OPTIONAL_NUMBERS:
        _check_number(row, name, required=False)
    return JobRun(row, _time(row, "started_at"), _time(row, "ended_at"), _time(row, "ingested_at"))
