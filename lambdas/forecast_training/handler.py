"""forecast_training entry point: EventBridge, weekly -> six direct models per series key, versioned in S3."""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from forecast_common.settings import Settings
from lambda_common import aws
from lambda_common.observability import logger, metrics, tracer
from lambda_common.schedule import parse_event_time

from forecast_training.logic import Dependencies, train_all


@functools.cache
def dependencies() -> Dependencies:
    """Settings and clients, once per execution environment (tests clear the cache between mocks)."""
    return Dependencies(
        settings=Settings.from_env(os.environ, hourly=False), athena=aws.client("athena"), s3=aws.client("s3")
    )


@logger.inject_lambda_context(log_event=False)  # never the raw event, whatever POWERTOOLS_LOGGER_LOG_EVENT says
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = parse_event_time(event)
    trained = train_all(dependencies(), now)
    metrics.add_metric(name="ForecastModelsTrained", unit=MetricUnit.Count, value=len(trained))
    logger.info("forecast training done", models=trained)
    return {"now": now.isoformat(), "models": trained}
