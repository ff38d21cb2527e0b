"""job_monitor and overdue_check publish one message per protocol (moto's SNS): SQS still receives today's JSON
body, while the structured message carries the e-mail text and the chat notification with the configured links."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from job_monitor import handler as job_monitor
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns import sns_backends
from overdue_check import handler as overdue_check

from lakewatch.domain.tables import parse_clean_utc
from tests.factories import Aws, alerting_aws, clean_job_run, kinesis_event, scheduled_event

GRAFANA_URL = "https://g-abc.grafana-workspace.eu-west-1.amazonaws.com"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with alerting_aws(monkeypatch) as resources:
        monkeypatch.setenv("DASHBOARD_URL", GRAFANA_URL)
        monkeypatch.setenv("ATHENA_WORKGROUP", "lakewatch-prod")
        job_monitor.dependencies.cache_clear()
        overdue_check.dependencies.cache_clear()
        yield resources
        job_monitor.dependencies.cache_clear()
        overdue_check.dependencies.cache_clear()


def _structured(aws: Aws) -> list[dict[str, str]]:
    """The messages as published (before SNS picks one per protocol)."""
    topic = sns_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].topics[aws.topic_arn]
    return [json.loads(message) for _id, message, *_rest in topic.sent_notifications]


def test_job_monitor_publishes_per_protocol_and_sqs_keeps_the_json(aws: Aws, lambda_context: Any) -> None:
    run = clean_job_run(
        run_id="r-123", status="FAILED", duration_seconds=600, error_message="quota for ops@example.com"
    )
    job_monitor.handler(kinesis_event([run]), lambda_context)
    [received] = aws.published()
    [published] = _structured(aws)
    assert json.loads(published["default"]) == received["body"]  # SQS: today's body
    assert f"{GRAFANA_URL}/d/lakewatch-batch-client?var-client=acme-retail&var-job=nightly_sales" in published["email"]
    assert "ops@example.com" not in published["email"]
    assert json.loads(published["https"])["content"]["title"].endswith(received["subject"])


def test_overdue_check_publishes_per_protocol(aws: Aws, lambda_context: Any) -> None:
    run = clean_job_run(run_id="r-1", duration_seconds=600)
    job_monitor.handler(kinesis_event([run]), lambda_context)
    overdue_check.handler(scheduled_event(parse_clean_utc(run["ended_at"]) + timedelta(hours=30)), lambda_context)
    [received] = aws.published()
    [published] = _structured(aws)
    assert received["attributes"]["alert_type"] == "run_overdue"
    assert json.loads(published["default"]) == received["body"]
    assert (
        "Saved query overdue_clients (all clients): https://eu-west-1.console.aws.amazon.com/athena/"
        in (published["email"])
    )
