"""job_events' work: one EventBridge job state change -> at most one `job_run` event on `events-raw`.

The decisions (terminal states, status mapping, identity, client, cost) are `lakewatch.domain.job_events`'s;
this module makes the AWS calls they need, with clients passed in:

- tags, with the service's own tag API (`glue:GetTags`, `states:ListTagsForResource`,
  `batch:ListTagsForResource` on the job definition, `emr-serverless:GetApplication`), cached per resource for
  `TAG_CACHE_SECONDS`: a busy job ends many runs an hour, and its tags change rarely;
- enrichment, for the services whose event carries no times or capacity (`glue:GetJobRun`,
  `emr-serverless:GetJobRun`), only once the tags say the run is monitored;
- one `PutRecord`, partition key = the derived `event_id`, so every delivery of the same run lands on the
  same shard with the same key and counts once downstream.

An AWS error propagates: the Lambda's asynchronous invocation retries the event, then sends it to its
on-failure queue (a missing permission is a deployment fault to fix, never a run to drop). An event that is
not a usable terminal state change is reported as such and never retried.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from lakewatch.domain import job_events
from lakewatch.domain.job_events import PartOfARun, StateChange, UnusableEvent

#: How long a resource's tags are trusted: a re-tagged job is picked up within this many seconds.
TAG_CACHE_SECONDS = 900.0

_encoder = msgspec.json.Encoder()


class Verdict(enum.StrEnum):
    PUT = "put"
    NOT_MONITORED = "not_monitored"
    #: A piece of a run (`job_events.PartOfARun`): its parent job's event reports the run.
    PART_OF_A_RUN = "part_of_a_run"
    UNUSABLE = "unusable"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one event: counts and names only, never a value from the event (logs and metrics)."""

    verdict: Verdict
    service: str | None = None
    status: str | None = None
    event_id: str | None = None
    reason: str | None = None


@dataclass
class TagCache:
    """Tags per (service, resource), each trusted for `ttl_seconds`. One per execution environment."""

    clock: Callable[[], float] = time.monotonic
    ttl_seconds: float = TAG_CACHE_SECONDS
    _entries: dict[tuple[str, str], tuple[float, Mapping[str, str]]] = field(default_factory=dict)

    def get(self, key: tuple[str, str], read: Callable[[], Mapping[str, str]]) -> Mapping[str, str]:
        now = self.clock()
        cached = self._entries.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        tags = read()
        self._entries[key] = (now + self.ttl_seconds, tags)
        return tags


@dataclass(frozen=True, slots=True)
class Clients:
    glue: Any
    stepfunctions: Any
    batch: Any
    emr_serverless: Any
    kinesis: Any


def process_event(
    event: Mapping[str, Any],
    *,
    clients: Clients,
    tags: TagCache,
    policy: job_events.ClientPolicy,
    prices: job_events.Prices,
    stream_name: str,
) -> Outcome:
    try:
        change = job_events.parse_state_change(event)
    except PartOfARun as part:
        return Outcome(Verdict.PART_OF_A_RUN, service=job_events.BATCH.name, reason=str(part))
    except UnusableEvent as unusable:
        return Outcome(Verdict.UNUSABLE, reason=str(unusable))
    service = change.service.name
    emr_run = None
    if change.service is job_events.EMR_SERVERLESS:  # its tags and its name are in GetJobRun's answer
        emr_run = _emr_job_run(clients, change)
        change = job_events.emr_serverless_named(change, emr_run)
    resource_tags = _tags(clients, tags, change, emr_run)
    client = job_events.client_for(resource_tags, change.job_name, policy)
    if client is None:
        return Outcome(Verdict.NOT_MONITORED, service=service, status=change.status)
    try:
        facts = _facts(clients, change, prices, emr_run, job_events.moment(event.get("time")))
    except UnusableEvent as unusable:
        return Outcome(Verdict.UNUSABLE, service=service, status=change.status, reason=str(unusable))
    job_run = job_events.job_run_event(
        change, facts, client=client, job_name=job_events.job_name_for(resource_tags, change)
    )
    clients.kinesis.put_record(StreamName=stream_name, Data=_encoder.encode(job_run), PartitionKey=change.event_id)
    return Outcome(Verdict.PUT, service=service, status=change.status, event_id=change.event_id)


def _tags(clients: Clients, cache: TagCache, change: StateChange, emr_run: Mapping[str, Any] | None) -> dict[str, str]:
    """The tags that decide monitoring: the job's (cached); for Batch and EMR Serverless the run's own on top."""
    service, resource = change.service.name, change.tagged_resource
    if change.service is job_events.GLUE:
        tags = cache.get((service, resource), lambda: clients.glue.get_tags(ResourceArn=resource).get("Tags") or {})
        return dict(tags)
    if change.service is job_events.STEP_FUNCTIONS:
        listed = cache.get(
            (service, resource), lambda: _pairs(clients.stepfunctions.list_tags_for_resource(resourceArn=resource))
        )
        return dict(listed)
    if change.service is job_events.BATCH:
        definition = cache.get(
            (service, resource), lambda: clients.batch.list_tags_for_resource(resourceArn=resource).get("tags") or {}
        )
        return {**definition, **_string_tags(change.detail.get("tags"))}
    application = cache.get(
        (service, resource),
        lambda: clients.emr_serverless.get_application(applicationId=resource)["application"].get("tags") or {},
    )
    return {**application, **_string_tags((emr_run or {}).get("tags"))}


def _pairs(response: Mapping[str, Any]) -> dict[str, str]:
    return {item["key"]: item["value"] for item in response.get("tags") or []}


def _string_tags(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {key: text for key, text in value.items() if isinstance(key, str) and isinstance(text, str)}


def _emr_job_run(clients: Clients, change: StateChange) -> Mapping[str, Any]:
    application_id = change.tagged_resource
    return clients.emr_serverless.get_job_run(applicationId=application_id, jobRunId=change.run_id)["jobRun"]


def _facts(
    clients: Clients,
    change: StateChange,
    prices: job_events.Prices,
    emr_run: Mapping[str, Any] | None,
    event_time: datetime | None,
) -> job_events.RunFacts:
    if change.service is job_events.GLUE:
        job_run = clients.glue.get_job_run(JobName=change.job_name, RunId=change.run_id)["JobRun"]
        return job_events.glue_facts(change, job_run, prices)
    if change.service is job_events.EMR_SERVERLESS:
        return job_events.emr_serverless_facts(change, emr_run or {}, prices)
    if change.service is job_events.STEP_FUNCTIONS:
        return job_events.step_functions_facts(change)
    return job_events.batch_facts(change, event_time)
