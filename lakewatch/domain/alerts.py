"""The SNS messages of the alerts contract (the `alerts` topic's message format): pure builders, no I/O.

Every alert carries a subject a person understands on a phone lock screen, a JSON body with the figures
that triggered it (so the reader need not open a dashboard to judge it), and the message attributes
`alert_type`, `severity` and `client` so that subscribers can filter (e.g. only `critical` to the pager).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from lakewatch.domain import pii

#: SNS rejects a subject of 100 characters or more ("less than 100 characters"); the design allows at most
#: 100. 99 satisfies both.
MAX_SUBJECT_LENGTH = 99
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ELLIPSIS = "..."


class AlertType(StrEnum):
    """Values are the `alert_type` attribute subscribers filter on: never rename one."""

    JOB_FAILED = "job_failed"
    DURATION_OUTLIER = "duration_outlier"
    RUN_OVERDUE = "run_overdue"
    #: A load forecast (the next six hours) reaching its series' threshold: see `forecast_breach`.
    FORECAST_BREACH = "forecast_breach"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


#: A missed daily batch means a client gets no report that day (and clients notice any failure or delay),
#: and nothing else signals it: a job that never starts emits no failure event. It is
#: only raised after the expected interval plus a grace period, so it is as actionable as a failure.
RUN_OVERDUE_SEVERITY = Severity.CRITICAL


@dataclass(frozen=True, slots=True)
class Alert:
    """One message for the `alerts` topic. `dedupe_id` names the thing alerted on (a run, an episode)."""

    alert_type: AlertType
    severity: Severity
    client: str
    subject: str
    body: dict[str, Any] = field(default_factory=dict)
    dedupe_id: str = ""

    @property
    def message(self) -> str:
        return json.dumps(self.body, sort_keys=True, separators=(",", ":"))

    @property
    def message_attributes(self) -> dict[str, dict[str, str]]:
        """SNS `MessageAttributes` (all String), what subscription filter policies match on."""
        values = {"alert_type": str(self.alert_type), "severity": str(self.severity), "client": self.client}
        return {name: {"DataType": "String", "StringValue": value} for name, value in values.items() if value}


def format_duration(seconds: float) -> str:
    """Human duration for subjects: `45s`, `12m 05s`, `2h 14m`, `3d 4h`."""
    total = round(max(seconds, 0.0))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def iso_utc(moment: datetime) -> str:
    """ISO-8601 UTC text with a `Z` (naive datetimes are taken as UTC, as clean records are)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def fit_subject(prefix: str, identity: str, suffix: str) -> str:
    """`prefix + identity + suffix` within MAX_SUBJECT_LENGTH, shortening the identity (never the figures)."""
    prefix, identity, suffix = (_CONTROL.sub(" ", part) for part in (prefix, identity, suffix))
    room = MAX_SUBJECT_LENGTH - len(prefix) - len(suffix)
    if len(identity) > room:
        identity = identity[: max(room - len(_ELLIPSIS), 0)] + _ELLIPSIS
    return (prefix + identity + suffix)[:MAX_SUBJECT_LENGTH]


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def job_failed(
    *,
    client: str,
    job_name: str,
    run_id: str,
    status: str,
    started_at: datetime,
    ended_at: datetime,
    duration_seconds: float,
    cost_usd: float | None = None,
    data_processed_gb: float | None = None,
    instance_size: str | None = None,
    error_message: str | None = None,
) -> Alert:
    """A failed or timed-out run: critical, one per run. Cost is included because failed runs still bill."""
    subject = fit_subject(
        "FAILED: ", f"{client}/{job_name} run {run_id}", f" ({status} after {format_duration(duration_seconds)})"
    )
    body = {
        "alert_type": str(AlertType.JOB_FAILED),
        "severity": str(Severity.CRITICAL),
        "client": client,
        "job_name": job_name,
        "run_id": run_id,
        "status": status,
        "event_time": iso_utc(ended_at),
        "started_at": iso_utc(started_at),
        "ended_at": iso_utc(ended_at),
        "duration_seconds": _round(duration_seconds),
        "cost_usd": cost_usd,
        "data_processed_gb": data_processed_gb,
        "instance_size": instance_size,
        "error_message": None if error_message is None else pii.mask_text(error_message),
    }
    return Alert(AlertType.JOB_FAILED, Severity.CRITICAL, client, subject, body, dedupe_id=run_id)


def duration_outlier(
    *,
    client: str,
    job_name: str,
    run_id: str,
    started_at: datetime,
    ended_at: datetime,
    duration_seconds: float,
    baseline_seconds: float,
    mad_seconds: float,
    threshold_seconds: float,
    history_size: int,
    cost_usd: float | None = None,
    data_processed_gb: float | None = None,
) -> Alert:
    """A successful run far longer than its baseline: a warning (the report was delivered, late)."""
    ratio = duration_seconds / baseline_seconds if baseline_seconds > 0 else None
    ratio_text = f"{ratio:.1f}x" if ratio is not None else "far over"
    subject = fit_subject(
        "SLOW RUN: ",
        f"{client}/{job_name} run {run_id}",
        f" took {format_duration(duration_seconds)}, {ratio_text} its {format_duration(baseline_seconds)} baseline",
    )
    body = {
        "alert_type": str(AlertType.DURATION_OUTLIER),
        "severity": str(Severity.WARNING),
        "client": client,
        "job_name": job_name,
        "run_id": run_id,
        "event_time": iso_utc(ended_at),
        "started_at": iso_utc(started_at),
        "ended_at": iso_utc(ended_at),
        "duration_seconds": _round(duration_seconds),
        "baseline_seconds": _round(baseline_seconds),
        "baseline_mad_seconds": _round(mad_seconds),
        "threshold_seconds": _round(threshold_seconds),
        "baseline_runs": history_size,
        "ratio": _round(ratio, 2),
        "cost_usd": cost_usd,
        "data_processed_gb": data_processed_gb,
    }
    return Alert(AlertType.DURATION_OUTLIER, Severity.WARNING, client, subject, body, dedupe_id=run_id)


def run_overdue(
    *,
    client: str,
    job_name: str,
    last_run_id: str | None,
    last_ended_at: datetime,
    now: datetime,
    expected_interval_hours: float,
    grace_hours: float,
) -> Alert:
    """A client/job whose last run ended too long ago; one per episode, keyed by that last run's end."""
    hours_since = (now - last_ended_at).total_seconds() / 3_600
    subject = fit_subject(
        "OVERDUE: ",
        f"{client}/{job_name}",
        f" has not run for {hours_since:.0f}h (expected every {expected_interval_hours:g}h)",
    )
    body = {
        "alert_type": str(AlertType.RUN_OVERDUE),
        "severity": str(RUN_OVERDUE_SEVERITY),
        "client": client,
        "job_name": job_name,
        "last_run_id": last_run_id,
        "event_time": iso_utc(now),
        "last_run_at": iso_utc(last_ended_at),
        "hours_since_last_run": _round(hours_since, 2),
        "expected_interval_hours": expected_interval_hours,
        "grace_hours": grace_hours,
    }
    return Alert(AlertType.RUN_OVERDUE, RUN_OVERDUE_SEVERITY, client, subject, body, dedupe_id=iso_utc(last_ended_at))


def forecast_breach(
    *,
    series: str,
    series_key: str,
    target_hour: datetime,
    origin_hour: datetime,
    horizon: int,
    yhat: float,
    yhat_lo: float,
    yhat_hi: float,
    threshold: float,
    model_version: str,
    dedupe_id: str,
) -> Alert:
    """A forecast reaching its threshold: a warning, sent hours ahead so operations can prepare (staff, stock).

    No `client` attribute: a forecast is about a store or the whole chain, not a batch client.
    """
    subject = fit_subject(
        "FORECAST: ",
        f"{series}/{series_key}",
        f" {yhat:.0f} expected at {target_hour:%H:%M} UTC ({horizon}h ahead, threshold {threshold:g})",
    )
    body = {
        "alert_type": str(AlertType.FORECAST_BREACH),
        "severity": str(Severity.WARNING),
        "series": series,
        "series_key": series_key,
        "event_time": iso_utc(origin_hour),
        "origin_hour": iso_utc(origin_hour),
        "target_hour": iso_utc(target_hour),
        "horizon": horizon,
        "yhat": _round(yhat, 2),
        "yhat_lo": _round(yhat_lo, 2),
        "yhat_hi": _round(yhat_hi, 2),
        "threshold": threshold,
        "model_version": model_version,
    }
    return Alert(AlertType.FORECAST_BREACH, Severity.WARNING, "", subject, body, dedupe_id=dedupe_id)
