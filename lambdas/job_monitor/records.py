"""Decoding of one clean `job_runs` record (DEVELOPERS.md, "Clean records") into typed values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lakewatch.domain.baseline import format_clean_time, parse_clean_time
from lakewatch.domain.tables import CLEAN_TIMESTAMP_FORMAT

SUCCEEDED = "SUCCEEDED"
FAILURE_STATUSES = frozenset({"FAILED", "TIMED_OUT"})
STATUSES = FAILURE_STATUSES | {SUCCEEDED}


class MalformedRecord(ValueError):
    """A record on `job-runs-clean` that breaks the clean-record contract: an upstream bug, not data."""


@dataclass(frozen=True, slots=True)
class JobRun:
    event_id: str
    run_id: str
    client: str
    job_name: str
    status: str
    started_at: datetime
    ended_at: datetime
    duration_seconds: float
    data_processed_gb: float | None
    cost_usd: float | None
    instance_size: str | None
    error_message: str | None

    @property
    def failed(self) -> bool:
        return self.status in FAILURE_STATUSES

    @property
    def ended_at_text(self) -> str:
        """Fixed-width UTC text: sorts like the instant, so DynamoDB and Python compare it as time."""
        return format_clean_time(self.ended_at)


def _text(row: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = row.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise MalformedRecord(f"{name}: expected a non-empty string")
    return value


def _number(row: dict[str, Any], name: str, *, required: bool = True) -> float | None:
    value = row.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise MalformedRecord(f"{name}: expected a number >= 0")
    return float(value)


def _timestamp(row: dict[str, Any], name: str) -> datetime:
    text = _text(row, name)
    try:
        return parse_clean_time(text or "")
    except ValueError as error:
        raise MalformedRecord(f"{name}: expected {CLEAN_TIMESTAMP_FORMAT}") from error


def parse_job_run(data: bytes) -> JobRun:
    """Decode a clean record; raise `MalformedRecord` (never log the payload: it is someone else's data)."""
    try:
        row = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedRecord("not valid JSON") from error
    if not isinstance(row, dict):
        raise MalformedRecord("not a JSON object")
    status = _text(row, "status")
    if status not in STATUSES:
        raise MalformedRecord("status: not one of " + ", ".join(sorted(STATUSES)))
    return JobRun(
        event_id=_text(row, "event_id") or "",
        run_id=_text(row, "run_id") or "",
        client=_text(row, "client") or "",
        job_name=_text(row, "job_name") or "",
        status=status,
        started_at=_timestamp(row, "started_at"),
        ended_at=_timestamp(row, "ended_at"),
        duration_seconds=_number(row, "duration_seconds") or 0.0,
        data_processed_gb=_number(row, "data_processed_gb", required=False),
        cost_usd=_number(row, "cost_usd", required=False),
        instance_size=_text(row, "instance_size", required=False),
        error_message=_text(row, "error_message", required=False),
    )
