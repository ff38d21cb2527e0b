"""Per-protocol alert messages (`MessageStructure="json"`): for each alert type, e-mail gets readable text with the
links, HTTPS (AWS Chatbot) its custom notification, and every other protocol today's JSON body unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from lakewatch.domain import alerts

STARTED = datetime(2024, 6, 15, 1, 0, tzinfo=UTC)
ENDED = datetime(2024, 6, 15, 1, 12, 5, tzinfo=UTC)
GRAFANA = alerts.AlertLinks(
    region="eu-west-1", dashboard_url="https://g-abc.grafana-workspace.eu-west-1.amazonaws.com",
    athena_workgroup="lakewatch-prod",
)  # fmt: skip
CONSOLE = alerts.AlertLinks(region="eu-west-1", athena_workgroup="lakewatch-prod")

ALERTS = {
    "job_failed": alerts.job_failed(
        client="acme retail", job_name="nightly_sales", run_id="r-1", status="TIMED_OUT", started_at=STARTED,
        ended_at=ENDED, duration_seconds=725, cost_usd=1.25, data_processed_gb=3.5, instance_size="m5.xlarge",
        error_message="stage 3 failed for card 4111 1111 1111 1111",
    ),
    "duration_outlier": alerts.duration_outlier(
        client="acme retail", job_name="nightly_sales", run_id="r-2", started_at=STARTED, ended_at=ENDED,
        duration_seconds=5000, baseline_seconds=1000, mad_seconds=50, threshold_seconds=2500, history_size=20,
    ),
    "run_overdue": alerts.run_overdue(
        client="acme retail", job_name="nightly_sales", last_run_id="r-3", last_ended_at=ENDED,
        now=datetime(2024, 6, 16, 4, 0, tzinfo=UTC), expected_interval_hours=24, grace_hours=2,
    ),
}  # fmt: skip
#: What the e-mail must say for each type, besides the client and job: the figures a person acts on.
EMAIL_FACTS = {
    "job_failed": ["TIMED_OUT after 12m 05s", "started 2024-06-15T01:00:00Z", "instance m5.xlarge", "cost 1.25 USD"],
    "duration_outlier": ["took 1h 23m, 5.0x its baseline", "16m 40s (median of the previous 20 successful runs",
                         "alerts from 41m 40s"],
    "run_overdue": ["no run for 26.8 h (expected every 24 h + 2 h grace)", "r-3, ended 2024-06-15T01:12:05Z"],
}  # fmt: skip


def _messages(alert: alerts.Alert, links: alerts.AlertLinks) -> dict[str, str]:
    arguments = alerts.publish_arguments(alert, links)
    assert arguments["MessageStructure"] == "json"
    assert arguments["Subject"] == alert.subject
    assert arguments["MessageAttributes"] == alert.message_attributes  # filter policies keep working
    return json.loads(arguments["Message"])


@pytest.mark.parametrize("alert_type", ALERTS)
def test_every_protocol_but_email_and_https_gets_todays_json_unchanged(alert_type: str) -> None:
    alert = ALERTS[alert_type]
    messages = _messages(alert, GRAFANA)
    assert set(messages) == {"default", "email", "https"}  # sqs, lambda, http, email-json fall back to default
    assert messages["default"] == alert.message
    assert json.loads(messages["default"])["alert_type"] == alert_type


@pytest.mark.parametrize("alert_type", ALERTS)
def test_email_text_says_what_who_when_and_what_next_with_links(alert_type: str) -> None:
    alert = ALERTS[alert_type]
    text = _messages(alert, GRAFANA)["email"]
    assert text.splitlines()[0] == alert.subject
    assert "acme retail / nightly_sales" in text
    for fact in EMAIL_FACTS[alert_type]:
        assert fact in text, fact
    assert "Check next:" in text and text.count("\n  - ") == len(alerts.NEXT_STEPS[alert.alert_type])
    [dashboard] = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Dashboard")]
    url = urlsplit(dashboard)
    assert f"{url.scheme}://{url.netloc}" == GRAFANA.dashboard_url
    assert url.path == f"/d/{alerts.INVESTIGATION_DASHBOARD_UID}"
    query = parse_qs(url.query)
    assert query["var-client"] == ["acme retail"] and query["var-job"] == ["nightly_sales"]
    assert int(query["from"][0]) < ENDED.timestamp() * 1000 < int(query["to"][0])
    assert f"Saved query {alerts.SAVED_QUERY[alert.alert_type]} (all clients): https://eu-west-1.console" in text


def test_the_email_shows_the_error_masked() -> None:
    text = _messages(ALERTS["job_failed"], GRAFANA)["email"]
    assert "4111 1111 1111 1111" not in text
    assert f"Error (masked): {ALERTS['job_failed'].body['error_message']}" in text


@pytest.mark.parametrize("alert_type", ALERTS)
def test_https_gets_an_aws_chatbot_custom_notification(alert_type: str) -> None:
    alert = ALERTS[alert_type]
    chat = json.loads(_messages(alert, GRAFANA)["https"])
    assert (chat["version"], chat["source"]) == ("1.0", "custom")
    content = chat["content"]
    assert content["textType"] == "client-markdown"
    assert alert.subject in content["title"]
    assert "*Client / job:* acme retail / nightly_sales" in content["description"]
    assert f"{GRAFANA.dashboard_url}/d/{alerts.INVESTIGATION_DASHBOARD_UID}?" in content["description"]
    assert content["nextSteps"] == list(alerts.NEXT_STEPS[alert.alert_type])
    assert chat["metadata"]["threadId"] == "acme retail/nightly_sales"


def test_a_name_or_error_cannot_become_a_link_or_mention_in_chat() -> None:
    # Given a job name that is Slack markup for a link, and an error text that mentions the whole channel
    alert = alerts.job_failed(
        client="acme retail", job_name="<https://phish.example|Open the dashboard>", run_id="r-1", status="FAILED",
        started_at=STARTED, ended_at=ENDED, duration_seconds=60, error_message="<!channel> disk & memory full",
    )  # fmt: skip

    # Then the chat description shows them as text: only the dashboard link is a link
    description = json.loads(_messages(alert, GRAFANA)["https"])["content"]["description"]
    assert "&lt;https://phish.example|Open the dashboard&gt;" in description
    assert "&lt;!channel&gt; disk &amp; memory full" in description
    assert description.count("<") == description.count(">") == 1


@pytest.mark.parametrize("alert_type", ALERTS)
def test_without_a_grafana_workspace_the_links_go_to_the_console(alert_type: str) -> None:
    text = _messages(ALERTS[alert_type], CONSOLE)["email"]
    assert "grafana" not in text
    expected = (
        "https://eu-west-1.console.aws.amazon.com/athena/home?region=eu-west-1#/query-editor?workgroup=lakewatch-prod"
    )
    assert f"Dashboard (this client and job): {expected}" in text


def test_links_come_from_the_functions_environment() -> None:
    links = alerts.AlertLinks.from_env(
        {"AWS_REGION": "eu-west-2", "DASHBOARD_URL": "https://g.example/", "ATHENA_WORKGROUP": "lakewatch-dev"}
    )
    assert links == alerts.AlertLinks(
        region="eu-west-2", dashboard_url="https://g.example", athena_workgroup="lakewatch-dev"
    )
    assert alerts.AlertLinks.from_env({"AWS_REGION": "eu-west-2", "DASHBOARD_URL": ""}).dashboard_url is None


def test_every_alert_type_with_a_builder_has_a_saved_query_and_next_steps() -> None:
    built = {alert.alert_type for alert in ALERTS.values()}
    assert built == set(alerts.SAVED_QUERY) == set(alerts.NEXT_STEPS)


def test_the_saved_queries_named_exist() -> None:
    from lakewatch.athena_sql import load_named_queries

    assert set(alerts.SAVED_QUERY.values()) <= {query.name for query in load_named_queries()}
