"""The SNS messages of the alerts contract (the `alerts` topic's message format): pure builders, no I/O.

Every alert carries a subject a person understands on a phone lock screen, a JSON body with the figures
that triggered it (so the reader need not open a dashboard to judge it), and the message attributes
`alert_type`, `severity` and `client` so that subscribers can filter (e.g. only `critical` to the pager).

It is published with `MessageStructure="json"` (`publish_arguments`), one message per protocol: e-mail gets text
a person on call reads in ten seconds, with links to the client investigation dashboard (preset to the client
and job) and to the matching saved query; HTTPS subscribers, which is how AWS Chatbot subscribes for Slack and
Teams, get Chatbot's custom notification (a title and a description); every other protocol (SQS, Lambda, HTTP,
e-mail-JSON) gets the JSON body unchanged, under `default`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlencode

from lakewatch.domain import pii

#: SNS rejects a subject of 100 characters or more ("less than 100 characters"); the contract allows at most
#: 100. 99 satisfies both. Counted in UTF-16 code units (an emoji counts two), the stricter reading of
#: "characters", so a subject never depends on which one SNS applies.
MAX_SUBJECT_LENGTH = 99
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
#: Unicode categories SNS refuses in a subject ("no line breaks or control characters") or that make it read
#: other than it is: controls beyond ASCII (U+0085 NEL, what a Latin-1 reading of cp1252's "..." gives; U+009B),
#: format characters (zero-width spaces, bidirectional overrides), line and paragraph separators, surrogates,
#: private-use and unassigned code points. Names reach the subject as the producer sent them.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
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
        """SNS `MessageAttributes` (all String), what subscription filter policies match on. A control or format
        character in a client name becomes a space, as in the subject (SNS refuses the ASCII controls)."""
        values = {
            "alert_type": str(self.alert_type),
            "severity": str(self.severity),
            "client": single_line(self.client),
        }
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


def single_line(text: str) -> str:
    """`text` with every run of control, format, separator or unassigned characters replaced by one space."""
    if not text.isascii():
        text = "".join("\x00" if unicodedata.category(char) in _UNSAFE_CATEGORIES else char for char in text)
    return _CONTROL.sub(" ", text)


def _utf16_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


def _utf16_prefix(text: str, units: int) -> str:
    """The longest prefix of `text` of at most `units` UTF-16 code units (never half an emoji)."""
    if _utf16_length(text) <= units:
        return text
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > units:
            return text[:index]
    return text


def fit_subject(prefix: str, identity: str, suffix: str) -> str:
    """`prefix + identity + suffix` on one line within MAX_SUBJECT_LENGTH, shortening the identity (never the
    figures)."""
    prefix, identity, suffix = (single_line(part) for part in (prefix, identity, suffix))
    room = MAX_SUBJECT_LENGTH - _utf16_length(prefix) - _utf16_length(suffix)
    if _utf16_length(identity) > room:
        identity = _utf16_prefix(identity, max(room - len(_ELLIPSIS), 0)) + _ELLIPSIS
    return _utf16_prefix(prefix + identity + suffix, MAX_SUBJECT_LENGTH)


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
    last_run_status: str | None = None,
) -> Alert:
    """A client/job whose last run ended too long ago; one per episode, keyed by that last run's end. The last
    run's status tells the reader whether the job stopped after a failure or after a run that went well."""
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
        "last_run_status": last_run_status,
        "event_time": iso_utc(now),
        "last_run_at": iso_utc(last_ended_at),
        "hours_since_last_run": _round(hours_since, 2),
        "expected_interval_hours": expected_interval_hours,
        "grace_hours": grace_hours,
    }
    return Alert(AlertType.RUN_OVERDUE, RUN_OVERDUE_SEVERITY, client, subject, body, dedupe_id=iso_utc(last_ended_at))


# --------------------------------------------------------------------------------------- per-protocol messages
#: The client investigation dashboard (`dashboards/`, which reads this uid from here): alert links open it.
INVESTIGATION_DASHBOARD_UID = "lakewatch-batch-client"
#: The saved query (`athena/<name>.sql`) that lists what each alert type is about, across clients.
SAVED_QUERY = {
    AlertType.JOB_FAILED: "job_failures",
    AlertType.DURATION_OUTLIER: "duration_outliers",
    AlertType.RUN_OVERDUE: "overdue_clients",
}
#: What the person on call checks first, per alert type.
NEXT_STEPS = {
    AlertType.JOB_FAILED: (
        "Read the job's logs for this run and the error above.",
        "Tell the client their report is late if the re-run will not finish in time.",
        "Re-run the job once the cause is fixed; the dashboard shows whether its recent runs failed too.",
    ),
    AlertType.DURATION_OUTLIER: (
        "Compare the data processed with the client's usual volume (a big drop of sales data?).",
        "Check the instance size and whether other clients' runs were slow at the same time.",
        "The dashboard shows the run against its baseline and the month-over-month trend.",
    ),
    AlertType.RUN_OVERDUE: (
        "Check whether the client's data arrived and the job was started at all (scheduler, upstream drop).",
        "Tell the client their report is late.",
        "The dashboard shows the job's last runs; the monitoring dashboard lists every client overdue.",
    ),
}
#: Environment variables of the links (set by the CDK app on the alerting functions).
DASHBOARD_URL_ENV = "DASHBOARD_URL"
ATHENA_WORKGROUP_ENV = "ATHENA_WORKGROUP"
#: Days of history the dashboard link shows before the alerted run.
LINK_DAYS = 30


@dataclass(frozen=True, slots=True)
class AlertLinks:
    """Where an alert sends its reader: the Grafana workspace when one is deployed, the AWS console otherwise."""

    region: str
    #: The Grafana URL (e.g. `https://g-abc.grafana-workspace.eu-west-1.amazonaws.com`); None: no workspace.
    dashboard_url: str | None = None
    athena_workgroup: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AlertLinks:
        """From a Lambda's environment (`AWS_REGION` is set by Lambda itself)."""
        return cls(
            region=env.get("AWS_REGION", "us-east-1"),
            dashboard_url=(env.get(DASHBOARD_URL_ENV) or "").rstrip("/") or None,
            athena_workgroup=env.get(ATHENA_WORKGROUP_ENV) or None,
        )

    @property
    def console_url(self) -> str:
        return f"https://{self.region}.console.aws.amazon.com"

    def investigation(self, client: str, job_name: str, moment: datetime) -> str:
        """The client investigation dashboard preset to the client and job, its range ending a day after `moment`;
        without a workspace, the client's runs in the Athena query editor."""
        if self.dashboard_url is None:
            return self.saved_query()
        end = int(moment.timestamp() * 1000) + 86_400_000
        query = {"var-client": client, "var-job": job_name, "from": str(end - (LINK_DAYS + 1) * 86_400_000),
                 "to": str(end)}  # fmt: skip
        return f"{self.dashboard_url}/d/{INVESTIGATION_DASHBOARD_UID}?{urlencode(query, quote_via=quote)}"

    def saved_query(self) -> str:
        """The Athena query editor of the lakewatch workgroup, where the saved queries are."""
        fragment = f"/query-editor?workgroup={quote(self.athena_workgroup)}" if self.athena_workgroup else ""
        return f"{self.console_url}/athena/home?region={self.region}#{fragment or '/query-editor'}"


def _facts(alert: Alert) -> list[tuple[str, str]]:
    """The few lines that say what happened, in the order a person reads them."""
    body = alert.body
    job = f"{alert.client} / {body.get('job_name')}"
    cost = "" if body.get("cost_usd") is None else f", cost {body['cost_usd']} USD"
    data = "" if body.get("data_processed_gb") is None else f", {body['data_processed_gb']} GB processed"
    if alert.alert_type is AlertType.RUN_OVERDUE:
        status = f" ({body['last_run_status']})" if body.get("last_run_status") else ""
        expected = f"expected every {body['expected_interval_hours']:g} h + {body['grace_hours']:g} h grace"
        return [
            ("What", f"no run for {body['hours_since_last_run']:g} h ({expected})"),
            ("Client / job", job),
            ("Last run", f"{body.get('last_run_id') or '?'}{status}, ended {body['last_run_at']}"),
            ("Checked at", body["event_time"]),
        ]  # fmt: skip
    facts = [
        ("Client / job", f"{job}, run {body['run_id']}"),
        ("When", f"started {body['started_at']}, ended {body['ended_at']} (UTC)"),
    ]
    duration = format_duration(body["duration_seconds"] or 0)
    if alert.alert_type is AlertType.JOB_FAILED:
        error = body.get("error_message") or "(none reported)"
        return [
            ("What", f"the run ended {body['status']} after {duration}"),
            *facts,
            ("Run", f"instance {body.get('instance_size') or '?'}{cost}{data}"),
            ("Error (masked)", error),
        ]
    return [
        ("What", f"the run took {duration}, {body['ratio']}x its baseline"),
        *facts,
        ("Baseline", f"{format_duration(body['baseline_seconds'])} (median of the previous {body['baseline_runs']} "
                     f"successful runs; alerts from {format_duration(body['threshold_seconds'])}){cost}{data}"),
    ]  # fmt: skip


def _moment(alert: Alert) -> datetime:
    return datetime.fromisoformat(str(alert.body["event_time"]).replace("Z", "+00:00"))


def email_text(alert: Alert, links: AlertLinks) -> str:
    """The e-mail: what, which client/job, when, against which baseline, the masked error, what to check next,
    and where to look."""
    job_name = str(alert.body.get("job_name"))
    width = max(len(label) for label, _ in _facts(alert))
    lines = [alert.subject, "", *(f"{label + ':':<{width + 1}} {value}" for label, value in _facts(alert)), ""]
    lines += ["Check next:", *(f"  - {step}" for step in NEXT_STEPS[alert.alert_type]), ""]
    lines += [
        f"Dashboard (this client and job): {links.investigation(alert.client, job_name, _moment(alert))}",
        f"Saved query {SAVED_QUERY[alert.alert_type]} (all clients): {links.saved_query()}",
        "",
        f"alert_type={alert.alert_type} severity={alert.severity} client={alert.client}",
    ]
    return "\n".join(lines)


#: What Slack's markdown reads as markup in text: `<...>` is a link or a mention (`<!channel>` pages everyone),
#: `&` starts those characters' escapes. Names and error texts reach the description as producers sent them.
_MARKDOWN_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _markdown_text(value: str) -> str:
    """A value shown as text in client markdown: never a link or a mention, whatever a name or an error holds."""
    return value.translate(_MARKDOWN_ESCAPES)


def chat_notification(alert: Alert, links: AlertLinks) -> dict[str, Any]:
    """AWS Chatbot's custom notification (Slack, Teams): a title, a description in client markdown, next steps."""
    icon = {Severity.CRITICAL: ":rotating_light:", Severity.WARNING: ":warning:"}.get(alert.severity, ":bell:")
    job_name = str(alert.body.get("job_name"))
    description = "\n".join(f"*{label}:* {_markdown_text(value)}" for label, value in _facts(alert))
    dashboard = links.investigation(alert.client, job_name, _moment(alert))
    link_text = "Open the dashboard" if links.dashboard_url else "Open the Athena query editor"
    return {
        "version": "1.0",
        "source": "custom",
        "id": f"{alert.alert_type}:{alert.dedupe_id}",
        "content": {
            "textType": "client-markdown",
            "title": f"{icon} {alert.subject}",
            "description": f"{description}\n<{dashboard}|{link_text}>",
            "nextSteps": list(NEXT_STEPS[alert.alert_type]),
            "keywords": [str(alert.alert_type), str(alert.severity), alert.client],
        },
        "metadata": {
            "threadId": f"{alert.client}/{job_name}",
            "summary": alert.subject,
            "eventType": str(alert.alert_type),
            "relatedResources": [dashboard],
            "additionalContext": {"client": alert.client, "job_name": job_name},
        },
    }


def publish_arguments(alert: Alert, links: AlertLinks) -> dict[str, Any]:
    """`sns.publish` keyword arguments (without `TopicArn`): one message per protocol, `default` being today's
    JSON body byte for byte, so SQS, Lambda, HTTP and e-mail-JSON subscribers see no change."""
    messages = {
        "default": alert.message,
        "email": email_text(alert, links),
        "https": json.dumps(chat_notification(alert, links), sort_keys=True, separators=(",", ":")),
    }
    return {
        "Subject": alert.subject,
        "Message": json.dumps(messages, separators=(",", ":")),
        "MessageStructure": "json",
        "MessageAttributes": alert.message_attributes,
    }


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
