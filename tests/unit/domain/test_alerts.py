"""Alert builders: subjects readable at a glance within SNS limits, bodies with the triggering figures."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from lakewatch.domain import alerts
from lakewatch.domain.alerts import AlertType, Severity

ENDED = datetime(2024, 5, 1, 3, 30, tzinfo=UTC)


def failed(**overrides: object) -> alerts.Alert:
    arguments: dict = {
        "client": "acme-retail",
        "job_name": "nightly_sales",
        "run_id": "r-123",
        "status": "TIMED_OUT",
        "started_at": ENDED - timedelta(hours=2, minutes=14),
        "ended_at": ENDED,
        "duration_seconds": 2 * 3_600 + 14 * 60,
        "cost_usd": 3.5,
        "error_message": "card 4111 1111 1111 1111 of jane@example.com declined",
    }
    arguments.update(overrides)
    return alerts.job_failed(**arguments)


def test_job_failed_is_critical_with_a_glanceable_subject_and_masked_error() -> None:
    # Given a timed-out run whose error message still carries a card number and an e-mail address
    # When its alert is built
    alert = failed()
    body = json.loads(alert.message)

    # Then the subject says what, who and how long; attributes let subscribers filter; PII is masked
    assert alert.subject == "FAILED: acme-retail/nightly_sales run r-123 (TIMED_OUT after 2h 14m)"
    assert alert.message_attributes == {
        "alert_type": {"DataType": "String", "StringValue": "job_failed"},
        "severity": {"DataType": "String", "StringValue": "critical"},
        "client": {"DataType": "String", "StringValue": "acme-retail"},
    }
    assert body["error_message"] == "card [card] of [email] declined"
    expected = {
        "alert_type": "job_failed",
        "severity": "critical",
        "client": "acme-retail",
        "job_name": "nightly_sales",
        "run_id": "r-123",
        "status": "TIMED_OUT",
        "event_time": "2024-05-01T03:30:00Z",
        "duration_seconds": 8040.0,
        "cost_usd": 3.5,
    }
    assert {key: body[key] for key in expected} == expected
    assert alert.dedupe_id == "r-123"


def test_duration_outlier_is_a_warning_with_baseline_and_ratio() -> None:
    # Given a 3 h 05 m run against a 1 h baseline
    alert = alerts.duration_outlier(
        client="acme-retail",
        job_name="nightly_sales",
        run_id="r-9",
        started_at=ENDED - timedelta(hours=3, minutes=5),
        ended_at=ENDED,
        duration_seconds=3 * 3_600 + 5 * 60,
        baseline_seconds=3_600,
        mad_seconds=120,
        threshold_seconds=9_000,
        history_size=20,
    )
    body = json.loads(alert.message)

    # Then subject and body carry duration, baseline and ratio; severity is warning
    assert alert.subject == "SLOW RUN: acme-retail/nightly_sales run r-9 took 3h 05m, 3.1x its 1h 00m baseline"
    assert alert.severity is Severity.WARNING
    assert alert.message_attributes["alert_type"]["StringValue"] == "duration_outlier"
    assert {key: body[key] for key in ("run_id", "duration_seconds", "baseline_seconds", "ratio", "event_time")} == {
        "run_id": "r-9",
        "duration_seconds": 11_100.0,
        "baseline_seconds": 3_600.0,
        "ratio": 3.08,
        "event_time": "2024-05-01T03:30:00Z",
    }


def test_run_overdue_names_the_gap_and_the_expected_interval() -> None:
    # Given a daily job whose last run ended 27 h before the check
    now = ENDED + timedelta(hours=27)
    alert = alerts.run_overdue(
        client="acme-retail",
        job_name="nightly_sales",
        last_run_id="r-8",
        last_ended_at=ENDED,
        now=now,
        expected_interval_hours=24,
        grace_hours=2,
    )
    body = json.loads(alert.message)

    # Then it is critical (a client gets no report), says how long, and is keyed by the episode
    assert alert.subject == "OVERDUE: acme-retail/nightly_sales has not run for 27h (expected every 24h)"
    assert alert.severity is Severity.CRITICAL
    assert body["hours_since_last_run"] == 27.0
    assert body["last_run_at"] == "2024-05-01T03:30:00Z"
    assert body["event_time"] == "2024-05-02T06:30:00Z"
    assert (body["expected_interval_hours"], body["grace_hours"]) == (24, 2)
    assert alert.dedupe_id == "2024-05-01T03:30:00Z"


def test_the_overdue_email_says_how_the_last_run_ended() -> None:
    alert = alerts.run_overdue(
        client="acme-retail", job_name="nightly_sales", last_run_id="r-8", last_ended_at=ENDED,
        now=ENDED + timedelta(hours=27), expected_interval_hours=24, grace_hours=2, last_run_status="FAILED",
    )  # fmt: skip
    assert alert.body["last_run_status"] == "FAILED"
    assert "Last run:     r-8 (FAILED), ended 2024-05-01T03:30:00Z" in alerts.email_text(
        alert, alerts.AlertLinks("eu-west-1")
    )


def test_a_long_identity_is_shortened_but_the_figures_survive() -> None:
    # Given names far too long for a subject, with a line break smuggled in
    alert = failed(client="a" * 80, job_name="very_long_job_name\nwith_newline", run_id="r-" + "9" * 40)

    # Then the subject fits SNS's limit, has no control characters, and still ends with the figures
    assert len(alert.subject) <= alerts.MAX_SUBJECT_LENGTH < 100
    assert "\n" not in alert.subject
    assert alert.subject.startswith("FAILED: aaaa")
    assert alert.subject.endswith("... (TIMED_OUT after 2h 14m)")


#: Characters SNS refuses in a subject or that make one read other than it is, as producers send them in names.
UNSAFE_IN_NAMES = {
    "C0 control": "acme\x01retail",
    "NEL (a Latin-1 reading of cp1252's ellipsis)": "acme\x85retail",
    "C1 control sequence introducer": "acme\x9bretail",
    "line separator": "acme\u2028retail",
    "paragraph separator": "acme\u2029retail",
    "zero-width space": "acme\u200bretail",
    "right-to-left override": "acme\u202eliater",
    "byte order mark": "\ufeffacme-retail",
}


@pytest.mark.parametrize("client", UNSAFE_IN_NAMES.values(), ids=UNSAFE_IN_NAMES.keys())
def test_subjects_and_the_client_attribute_hold_no_control_or_format_character(client: str) -> None:
    # Given a client name carrying a character SNS refuses in a subject ("no line breaks or control characters")
    for alert in (failed(client=client), failed(job_name=client), failed(run_id=client)):
        # Then the subject and the client attribute read on one line, the character replaced by a space
        for text in (alert.subject, alert.message_attributes["client"]["StringValue"]):
            assert [char for char in text if unicodedata.category(char)[0] == "C" or char in "\u2028\u2029"] == []
    # ... and the body keeps the name as sent (it is JSON, where any character is escaped)
    assert failed(client=client).body["client"] == client


def test_the_subject_limit_holds_in_utf16_code_units_and_never_splits_an_emoji() -> None:
    # Given names of astral characters, each two UTF-16 code units (how a Java service counts "characters")
    alert = failed(client="\U0001f600" * 60, job_name="caf\u00e9")

    # Then the subject is within the limit however SNS counts, shortened with "...", the figures whole
    assert len(alert.subject.encode("utf-16-le")) // 2 <= alerts.MAX_SUBJECT_LENGTH
    assert alert.subject.endswith("... (TIMED_OUT after 2h 14m)")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (725, "12m 05s"), (8_040, "2h 14m"), (3 * 86_400 + 4 * 3_600 + 59, "3d 4h")],
)
def test_durations_are_written_for_people(seconds: float, text: str) -> None:
    assert alerts.format_duration(seconds) == text


def test_forecast_breach_stays_in_the_vocabulary() -> None:
    assert AlertType("forecast_breach") is AlertType.FORECAST_BREACH
