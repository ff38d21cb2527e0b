"""job_events entry point: an EventBridge job state change -> a `job_run` event on `events-raw`. Thin on purpose.

EventBridge invokes this function asynchronously, one event per invocation. An AWS error raises, so Lambda's
asynchronous retries run it again and, once they are spent, its on-failure queue keeps the event; every retry
puts the same `event_id`, which the lake and the alerts de-duplicate. An event that is not a usable terminal
state change, or a job that is not monitored, is counted and logged (service, status and reason only: never
a job's error text or arguments) and not retried.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from lambda_common import aws
from lambda_common.observability import logger, metrics, tracer

from job_events.logic import Clients, Outcome, TagCache, Verdict, process_event
from job_events.settings import Settings

METRIC_NAMES = {
    Verdict.PUT: "JobEventsPut",
    Verdict.NOT_MONITORED: "JobEventsNotMonitored",
    Verdict.PART_OF_A_RUN: "JobEventsPartOfARun",
    Verdict.UNUSABLE: "JobEventsUnusable",
}


@dataclass(frozen=True, slots=True)
class Dependencies:
    settings: Settings
    clients: Clients
    tags: TagCache


@functools.cache
def dependencies() -> Dependencies:
    """Settings, clients and the tag cache, once per execution environment (tests clear the cache)."""
    return Dependencies(
        settings=Settings.from_env(os.environ),
        clients=Clients(
            glue=aws.client("glue"),
            stepfunctions=aws.client("stepfunctions"),
            batch=aws.client("batch"),
            emr_serverless=aws.client("emr-serverless"),
            kinesis=aws.client("kinesis"),
        ),
        tags=TagCache(),
    )


def _report(outcome: Outcome) -> None:
    metrics.add_metric(name=METRIC_NAMES[outcome.verdict], unit=MetricUnit.Count, value=1)
    details = {"verdict": str(outcome.verdict), "service": outcome.service, "status": outcome.status}
    if outcome.verdict is Verdict.UNUSABLE:
        logger.warning("job state change not usable", reason=outcome.reason, **details)
    else:
        logger.info("job state change handled", event_id=outcome.event_id, **details)


@logger.inject_lambda_context(log_event=False)  # never the raw event, whatever POWERTOOLS_LOGGER_LOG_EVENT says
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = dependencies()
    current = deps.settings
    outcome = process_event(
        event,
        clients=deps.clients,
        tags=deps.tags,
        policy=current.policy,
        prices=current.prices,
        stream_name=current.events_raw_stream_name,
    )
    _report(outcome)
    return {"verdict": str(outcome.verdict), "event_id": outcome.event_id}
