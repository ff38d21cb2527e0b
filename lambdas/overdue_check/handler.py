"""overdue_check entry point: EventBridge hourly schedule -> `run_overdue` alerts. Thin on purpose."""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from lambda_common import aws
from lambda_common.observability import logger, metrics, tracer
from lambda_common.schedule import parse_event_time

from overdue_check.logic import Dependencies, OverdueAlertsFailed, check
from overdue_check.settings import Settings


@functools.cache
def dependencies() -> Dependencies:
    """Settings and clients, once per execution environment (tests clear the cache between mocks)."""
    return Dependencies(
        settings=Settings.from_env(os.environ),
        dynamodb=aws.client("dynamodb"),
        sns=aws.client("sns"),
    )


@logger.inject_lambda_context(log_event=False)  # never the raw event, whatever POWERTOOLS_LOGGER_LOG_EVENT says
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = parse_event_time(event)
    summary = check(dependencies(), now)
    metrics.add_metric(name="JobsScanned", unit=MetricUnit.Count, value=summary.scanned)
    metrics.add_metric(name="OverdueJobs", unit=MetricUnit.Count, value=summary.overdue)
    metrics.add_metric(name="OverdueAlertsPublished", unit=MetricUnit.Count, value=summary.alerted)
    metrics.add_metric(name="OverdueAlertsFailed", unit=MetricUnit.Count, value=summary.failed)
    result = {
        "now": now.isoformat(),
        "scanned": summary.scanned,
        "overdue": summary.overdue,
        "alerted": summary.alerted,
    }
    logger.info("overdue check done", **result, failed=summary.failed)
    if summary.failed:
        raise OverdueAlertsFailed(f"{summary.failed} overdue alert(s) could not be published")
    return result
