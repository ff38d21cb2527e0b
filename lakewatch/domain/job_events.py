"""AWS job state-change events (EventBridge) as wire-contract `job_run` events: pure, no I/O.

Glue, Step Functions, AWS Batch and EMR Serverless announce the end of every run on the default event bus.
This module turns one such event (plus, for Glue and EMR Serverless, the service's own `GetJobRun` answer,
which the `job_events` Lambda fetches) into the `job_run` event a producer would have sent, so the transform,
the lake, `job_monitor` and the alerts apply unchanged.

What it decides, in one place each:

- **which events count** (`SERVICES`): the terminal states of each service, and how each maps to the wire
  contract's status vocabulary (`events.JOB_STATUSES`). A run that was stopped, aborted or cancelled did not
  deliver its output, so it is a `FAILED` run (it pages and stays out of the duration baselines) whose
  `error_message` says how it ended; the CDK rules are built from the same table;
- **identity**: `run_id`, `job_name`, and an `event_id` derived from the run's own identity (never from the
  EventBridge envelope), so EventBridge's at-least-once delivery, a Lambda retry, or AWS announcing the same
  end twice all yield the same event, which every count de-duplicates;
- **which client** (`client_for`): the `lakewatch:client` tag of the job (read by the Lambda with the
  service's tag API), or, when the stage monitors every job of the account, a configured mapping or the job
  name itself; `lakewatch:job` overrides the job name (CloudFormation-named jobs get a readable one);
- **cost** (`glue_cost`, `emr_serverless_cost`): Glue DPU-hours times the price per DPU-hour (per-second
  billing with its one-minute minimum; Flex at its own price), EMR Serverless from the billed vCPU-, GB- and
  storage-hours; `None` where nothing can be known (Step Functions and Batch do not report a cost).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lakewatch.domain import events

#: The tag that opts a job in and names its client, e.g. `lakewatch:client=acme-retail`.
CLIENT_TAG = "lakewatch:client"
#: Optional tag naming the job as lakewatch shows it (default: the service's own job name).
JOB_NAME_TAG = "lakewatch:job"
#: Glue 2.0 and later bill per second with a one-minute minimum per run.
GLUE_MINIMUM_BILLED_SECONDS = 60
#: DPUs per Glue worker, by worker type (Glue pricing: G.1X is 1 DPU, G.2X 2 DPU, ...).
GLUE_WORKER_DPU: Mapping[str, float] = {
    "G.025X": 0.25,
    "G.1X": 1,
    "G.2X": 2,
    "G.4X": 4,
    "G.8X": 8,
    "G.12X": 12,
    "G.16X": 16,
    "R.1X": 1,
    "R.2X": 2,
    "R.4X": 4,
    "R.8X": 8,
    "Z.2X": 2,
}
GLUE_FLEX = "FLEX"
_EVENT_ID_DIGEST_CHARS = 40


@dataclass(frozen=True, slots=True)
class Prices:
    """Public on-demand prices (USD, us-east-1) unless the stage configures its own (`stacks/config.py`)."""

    glue_dpu_hour: float = 0.44
    glue_flex_dpu_hour: float = 0.29
    emr_serverless_vcpu_hour: float = 0.052624
    emr_serverless_gb_hour: float = 0.0057785
    emr_serverless_storage_gb_hour: float = 0.000111


@dataclass(frozen=True, slots=True)
class Service:
    """One AWS producer of job state changes: how to match its terminal events and map their state."""

    #: Short name: the `event_id` prefix and the key of the local runner's recorded responses.
    name: str
    source: str
    detail_type: str
    #: The `detail` field holding the state.
    state_field: str
    #: Terminal state as the service spells it -> wire-contract status.
    statuses: Mapping[str, str]

    @property
    def terminal_states(self) -> tuple[str, ...]:
        return tuple(self.statuses)


GLUE = Service(
    "glue",
    "aws.glue",
    "Glue Job State Change",
    "state",
    {"SUCCEEDED": "SUCCEEDED", "FAILED": "FAILED", "TIMEOUT": "TIMED_OUT", "STOPPED": "FAILED"},
)
STEP_FUNCTIONS = Service(
    "states",
    "aws.states",
    "Step Functions Execution Status Change",
    "status",
    {"SUCCEEDED": "SUCCEEDED", "FAILED": "FAILED", "TIMED_OUT": "TIMED_OUT", "ABORTED": "FAILED"},
)
BATCH = Service(
    "batch", "aws.batch", "Batch Job State Change", "status", {"SUCCEEDED": "SUCCEEDED", "FAILED": "FAILED"}
)
EMR_SERVERLESS = Service(
    "emr-serverless",
    "aws.emr-serverless",
    "EMR Serverless Job Run State Change",
    "state",
    {"SUCCESS": "SUCCEEDED", "FAILED": "FAILED", "CANCELLED": "FAILED"},
)
SERVICES: tuple[Service, ...] = (GLUE, STEP_FUNCTIONS, BATCH, EMR_SERVERLESS)
_BY_ENVELOPE = {(service.source, service.detail_type): service for service in SERVICES}

if not {status for service in SERVICES for status in service.statuses.values()} <= events.JOB_STATUSES:
    raise RuntimeError("job_events.SERVICES maps to a status outside events.JOB_STATUSES")


class UnusableEvent(ValueError):
    """An event this module cannot turn into a run (not a terminal state change it knows, or malformed).

    Carries a short reason for logs and metrics; never any of the event's values.
    """


class PartOfARun(UnusableEvent):
    """The end of a piece of a run, not of a run: a child of an AWS Batch array job, or a node of a multi-node
    parallel job. Its parent job announces the run's own end (failed when a child failed), so a child counted as a
    run would page once per failed child (an array job has up to 10,000) and put child durations in the job's
    baseline."""


@dataclass(frozen=True, slots=True)
class StateChange:
    """What one terminal state-change event says, before enrichment."""

    service: Service
    #: The service's own state (`STOPPED`, `CANCELLED`, ...), kept for the error message.
    state: str
    run_id: str
    job_name: str
    #: Everything that names the run uniquely in the account (the event_id is derived from it).
    identity: str
    #: The resource whose tags decide monitoring and client (job, state machine, job definition, application).
    tagged_resource: str
    account: str
    region: str
    partition: str
    detail: Mapping[str, Any]

    @property
    def status(self) -> str:
        return self.service.statuses[self.state]

    @property
    def event_id(self) -> str:
        """`<service>-<digest of the run's identity>`: the same for every delivery of the same run's end."""
        digest = hashlib.sha256(f"{self.service.source}|{self.identity}".encode()).hexdigest()
        return f"{self.service.name}-{digest[:_EVENT_ID_DIGEST_CHARS]}"


@dataclass(frozen=True, slots=True)
class RunFacts:
    """When a run started and ended, what it cost and how it ended: from the event and/or `GetJobRun`."""

    started_at: datetime
    ended_at: datetime
    cost_usd: float | None = None
    instance_size: str | None = None
    error_message: str | None = None


def parse_state_change(event: Mapping[str, Any]) -> StateChange:
    """The terminal state change an EventBridge event announces; `UnusableEvent` for anything else."""
    if not isinstance(event, Mapping):
        raise UnusableEvent("not an object")
    source, detail_type = event.get("source"), event.get("detail-type")
    service = (
        _BY_ENVELOPE.get((source, detail_type)) if isinstance(source, str) and isinstance(detail_type, str) else None
    )
    if service is None:
        raise UnusableEvent("unsupported source or detail-type")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise UnusableEvent("no detail")
    state = detail.get(service.state_field)
    if not isinstance(state, str) or state not in service.statuses:
        raise UnusableEvent("not a terminal state")
    account, region = _text(event, "account"), _text(event, "region")
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    common = {"service": service, "state": state, "account": account, "region": region, "partition": partition}
    return _IDENTITIES[service.name](detail, common)


def _glue_identity(detail: Mapping[str, Any], common: dict[str, Any]) -> StateChange:
    job_name, run_id = _text(detail, "jobName"), _text(detail, "jobRunId")
    job_arn = f"arn:{common['partition']}:glue:{common['region']}:{common['account']}:job/{job_name}"
    return StateChange(
        **common,
        run_id=run_id,
        job_name=job_name,
        identity=f"{job_arn}/{run_id}",
        tagged_resource=job_arn,
        detail=detail,
    )


def _step_functions_identity(detail: Mapping[str, Any], common: dict[str, Any]) -> StateChange:
    """A redriven execution keeps its ARN and name but ends again, possibly failing again: each redrive is a run
    of its own (`<name>/redrive-<n>`, a `/` no execution name can hold), or its end would share the first end's
    `event_id` (one row in the lake) and `run_id` (one failure alert for two failures)."""
    execution_arn, machine_arn = _text(detail, "executionArn"), _text(detail, "stateMachineArn")
    redrives = _redrive_count(detail)
    suffix = f"/redrive-{redrives}" if redrives else ""
    return StateChange(
        **common,
        run_id=_text(detail, "name") + suffix,
        job_name=machine_arn.rsplit(":", 1)[-1],
        identity=execution_arn + suffix,
        tagged_resource=machine_arn,
        detail=detail,
    )


def _redrive_count(detail: Mapping[str, Any]) -> int:
    """How many times a Step Functions execution was redriven (`redriveCount`; 0 when absent or not a count)."""
    count = detail.get("redriveCount")
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 0


def _batch_identity(detail: Mapping[str, Any], common: dict[str, Any]) -> StateChange:
    if _batch_child(detail):
        raise PartOfARun("child of an array or multi-node job")
    return StateChange(
        **common,
        run_id=_text(detail, "jobId"),
        job_name=_text(detail, "jobName"),
        identity=_text(detail, "jobArn"),
        tagged_resource=_text(detail, "jobDefinition"),
        detail=detail,
    )


def _emr_serverless_identity(detail: Mapping[str, Any], common: dict[str, Any]) -> StateChange:
    application_id, run_id = _text(detail, "applicationId"), _text(detail, "jobRunId")
    name = detail.get("jobRunName")
    return StateChange(
        **common,
        run_id=run_id,
        # The run's name when it has one; else the application, the closest thing to "the job" it runs.
        job_name=name if isinstance(name, str) and name.strip() else application_id,
        identity=f"{application_id}/{run_id}",
        tagged_resource=application_id,
        detail=detail,
    )


def _batch_child(detail: Mapping[str, Any]) -> bool:
    """An array job's child carries its `arrayProperties.index` (the parent carries `size` instead); a node of a
    multi-node parallel job its `nodeDetails.nodeIndex`."""
    array, node = detail.get("arrayProperties"), detail.get("nodeDetails")
    return (isinstance(array, Mapping) and "index" in array) or (isinstance(node, Mapping) and "nodeIndex" in node)


_IDENTITIES: dict[str, Callable[[Mapping[str, Any], dict[str, Any]], StateChange]] = {
    GLUE.name: _glue_identity,
    STEP_FUNCTIONS.name: _step_functions_identity,
    BATCH.name: _batch_identity,
    EMR_SERVERLESS.name: _emr_serverless_identity,
}


def _text(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value.strip():
        raise UnusableEvent(f"missing {key}")
    return value


# ------------------------------------------------------------------------------------------- clients


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    """Which jobs are monitored, and for which client.

    Opt-in (the default): only jobs tagged `lakewatch:client`. With `monitor_all_jobs`, every job of the
    account, the client then coming from the tag, else `client_by_job` (keyed by job name), else the job name.
    """

    monitor_all_jobs: bool = False
    client_by_job: Mapping[str, str] | None = None


def client_for(tags: Mapping[str, str], job_name: str, policy: ClientPolicy) -> str | None:
    """The client a run belongs to, or None when this job is not monitored."""
    tagged = tags.get(CLIENT_TAG, "").strip()
    if tagged:
        return tagged
    if not policy.monitor_all_jobs:
        return None
    return (policy.client_by_job or {}).get(job_name) or job_name


def job_name_for(tags: Mapping[str, str], change: StateChange) -> str:
    return tags.get(JOB_NAME_TAG, "").strip() or change.job_name


# ------------------------------------------------------------------------------------------- run facts


def glue_facts(change: StateChange, job_run: Mapping[str, Any], prices: Prices) -> RunFacts:
    """Times, cost and error of a Glue run from its `GetJobRun` `JobRun` (the event carries none of them)."""
    started = moment(job_run.get("StartedOn"))
    ended = moment(job_run.get("CompletedOn"))
    if started is None or ended is None:
        raise UnusableEvent("GetJobRun has no StartedOn/CompletedOn")
    workers, worker_type = job_run.get("NumberOfWorkers"), job_run.get("WorkerType")
    instance_size = f"{worker_type} x{workers}" if worker_type and workers else None
    error = job_run.get("ErrorMessage") or (None if change.status == "SUCCEEDED" else change.detail.get("message"))
    return RunFacts(
        started_at=started,
        ended_at=ended,
        cost_usd=glue_cost(job_run, prices),
        instance_size=instance_size,
        error_message=_ending(change, error),
    )


def glue_dpu_hours(job_run: Mapping[str, Any]) -> float | None:
    """DPU-hours billed for a Glue run; None when the run reports neither DPU-seconds nor its capacity.

    `DPUSeconds` (reported for auto-scaling and Flex runs) is AWS's own figure. Otherwise capacity (workers x
    DPU per worker type, else `MaxCapacity`) x `ExecutionTime`, at least the one-minute minimum.
    """
    dpu_seconds = _number(job_run.get("DPUSeconds"))
    if dpu_seconds is not None:
        return dpu_seconds / 3600
    capacity = _glue_capacity(job_run)
    seconds = _number(job_run.get("ExecutionTime"))
    if capacity is None or seconds is None:
        return None
    return capacity * max(seconds, GLUE_MINIMUM_BILLED_SECONDS) / 3600


def glue_cost(job_run: Mapping[str, Any], prices: Prices) -> float | None:
    dpu_hours = glue_dpu_hours(job_run)
    if dpu_hours is None:
        return None
    flex = str(job_run.get("ExecutionClass") or "").upper() == GLUE_FLEX
    return _money(dpu_hours * (prices.glue_flex_dpu_hour if flex else prices.glue_dpu_hour))


def _glue_capacity(job_run: Mapping[str, Any]) -> float | None:
    workers = _number(job_run.get("NumberOfWorkers"))
    per_worker = GLUE_WORKER_DPU.get(str(job_run.get("WorkerType")))
    if workers is not None and per_worker is not None:
        return workers * per_worker
    return _number(job_run.get("MaxCapacity"))


def emr_serverless_named(change: StateChange, job_run: Mapping[str, Any]) -> StateChange:
    """The change with the job name `GetJobRun` knows (the run's `name`) when the event did not carry one."""
    name = job_run.get("name")
    if change.detail.get("jobRunName") or not isinstance(name, str) or not name.strip():
        return change
    return dataclasses.replace(change, job_name=name)


def emr_serverless_facts(change: StateChange, job_run: Mapping[str, Any], prices: Prices) -> RunFacts:
    """Times, cost and error of an EMR Serverless run from its `GetJobRun` `jobRun`.

    Ended: `endedAt`, else the last update (a terminal run is not updated again). Started: `startedAt`, else
    the end minus the reported execution duration, else creation (which then includes time in the queue).
    """
    ended = moment(job_run.get("endedAt")) or moment(job_run.get("updatedAt")) or moment(change.detail.get("updatedAt"))
    if ended is None:
        raise UnusableEvent("GetJobRun has no end time")
    started = moment(job_run.get("startedAt"))
    duration = _number(job_run.get("totalExecutionDurationSeconds"))
    if started is None and duration is not None:
        started = ended - timedelta(seconds=duration)
    started = started or moment(job_run.get("createdAt")) or moment(change.detail.get("createdAt")) or ended
    error = None if change.status == "SUCCEEDED" else job_run.get("stateDetails") or change.detail.get("stateDetails")
    return RunFacts(
        started_at=started,
        ended_at=ended,
        cost_usd=emr_serverless_cost(job_run, prices),
        error_message=_ending(change, error),
    )


def emr_serverless_cost(job_run: Mapping[str, Any], prices: Prices) -> float | None:
    """Billed vCPU-hours x vCPU price + GB-hours x memory price + storage GB-hours x storage price.

    `billedResourceUtilization` already holds what AWS bills (the one-minute minimum per worker, storage over
    the free 20 GB per worker), so no minimum is applied here.
    """
    billed = job_run.get("billedResourceUtilization")
    if not isinstance(billed, Mapping):
        return None
    vcpu, memory = _number(billed.get("vCPUHour")), _number(billed.get("memoryGBHour"))
    if vcpu is None or memory is None:
        return None
    storage = _number(billed.get("storageGBHour")) or 0.0
    return _money(
        vcpu * prices.emr_serverless_vcpu_hour
        + memory * prices.emr_serverless_gb_hour
        + storage * prices.emr_serverless_storage_gb_hour
    )


def step_functions_facts(change: StateChange) -> RunFacts:
    """`startDate` / `stopDate` (epoch milliseconds) are in the event; a failure's `error` and `cause` too.

    A redriven execution's run starts at its `redriveDate`: `startDate` is the first attempt's, and the hours
    between a failure and its redrive are no part of how long the job takes."""
    redriven = moment(change.detail.get("redriveDate")) if _redrive_count(change.detail) else None
    started, ended = redriven or moment(change.detail.get("startDate")), moment(change.detail.get("stopDate"))
    if started is None or ended is None:
        raise UnusableEvent("no startDate/stopDate")
    parts = [str(change.detail[key]) for key in ("error", "cause") if change.detail.get(key)]
    return RunFacts(started_at=started, ended_at=ended, error_message=_ending(change, ": ".join(parts) or None))


def batch_facts(change: StateChange, event_time: datetime | None) -> RunFacts:
    """`startedAt` / `stoppedAt` (epoch milliseconds) from the event's JobDetail.

    A job that failed before it started (a failed dependency, a cancellation while queued) has no `startedAt`:
    it ran for no time, so it starts when it stopped.
    """
    ended = moment(change.detail.get("stoppedAt")) or event_time
    if ended is None:
        raise UnusableEvent("no stoppedAt")
    started = moment(change.detail.get("startedAt")) or ended
    error = None if change.status == "SUCCEEDED" else change.detail.get("statusReason")
    return RunFacts(
        started_at=started,
        ended_at=ended,
        instance_size=_batch_size(change.detail),
        error_message=_ending(change, error),
    )


def _batch_size(detail: Mapping[str, Any]) -> str | None:
    container = detail.get("container")
    if not isinstance(container, Mapping):
        return None
    requirements = container.get("resourceRequirements")
    if not isinstance(requirements, list):
        return None
    sizes = {item.get("type"): item.get("value") for item in requirements if isinstance(item, Mapping)}
    if sizes.get("VCPU") and sizes.get("MEMORY"):
        return f"{sizes['VCPU']} vCPU {sizes['MEMORY']} MiB"
    return None


def _ending(change: StateChange, error: object) -> str | None:
    """The error text, prefixed by the service's own state when the wire status does not say it."""
    text = str(error).strip() if error else ""
    if change.status == "SUCCEEDED":
        return None
    if change.state != change.status:  # STOPPED, ABORTED, CANCELLED, TIMEOUT
        return f"{change.service.name} {change.state}" + (f": {text}" if text else "")
    return text or None


# ------------------------------------------------------------------------------------------- the event


def job_run_event(change: StateChange, facts: RunFacts, *, client: str, job_name: str) -> dict[str, Any]:
    """The wire-contract `job_run` event. `event_time` is the run's end: a property of the run, not of the
    delivery, so a redelivered event is byte-for-byte the same. `duration_seconds` is left for the transform
    to derive from the timestamps (Glue's `ExecutionTime` excludes start-up, and would disagree with them)."""
    ended = _iso(facts.ended_at)
    event: dict[str, Any] = {
        events.EVENT_TYPE_FIELD: events.JOB_RUN,
        "event_id": change.event_id,
        "event_time": ended,
        "schema_version": 1,
        "run_id": change.run_id,
        "client": client,
        "job_name": job_name,
        "status": change.status,
        "started_at": _iso(min(facts.started_at, facts.ended_at)),
        "ended_at": ended,
    }
    optional = {"cost_usd": facts.cost_usd, "instance_size": facts.instance_size, "error_message": facts.error_message}
    event.update({key: value for key, value in optional.items() if value is not None})
    return event


def moment(value: object) -> datetime | None:
    """A UTC datetime from what AWS returns: a datetime (boto3), ISO-8601 text, or epoch milliseconds."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch_milliseconds(value)
    if isinstance(value, str) and value.strip():
        return _from_text(value.strip())
    return None


def _from_epoch_milliseconds(value: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):  # out of datetime's range, or NaN
        return None


def _from_text(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _money(value: float) -> float:
    """Rounded half up to the `cost_usd` column's scale, as the transform stores it."""
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-events.COST_SCALE), rounding=ROUND_HALF_UP))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
