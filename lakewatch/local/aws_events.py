"""AWS job state changes for the local runner: recorded `GetJobRun` answers, and the replay of EventBridge events.

`local-run --aws-events DIR` reads:

- `DIR/events.jsonl`: EventBridge events, one per line, exactly as AWS delivers them to a Lambda target;
- `DIR/glue_job_runs.jsonl`: `glue:GetJobRun` responses (`{"JobRun": {...}}`), one per line;
- `DIR/emr_job_runs.jsonl`: `emr-serverless:GetJobRun` responses (`{"jobRun": {...}}`), one per line.

- `DIR/tags.json` (optional): `{"<Glue job ARN, state machine ARN, Batch job definition ARN or EMR Serverless
  application id>": {"lakewatch:client": "acme", ...}}`, the tags that opt jobs in.

moto serves the tag reads (`glue:GetTags`, `states:ListTagsForResource`, `batch:ListTagsForResource`), but its
`GetJobRun` invents a run of its own (its own id, "now" as the times, a fixed execution time) and cannot be
told the run an event announces, and it creates EMR Serverless applications only under ids of its own. So
`RecordedJobRuns` stands in at the client for `GetJobRun` (both services) and EMR Serverless `GetApplication`,
answering from the recorded files and passing every other call to moto.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import importlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from lakewatch.domain import job_events, kpl
from lakewatch.local import aws as local_aws

EVENTS_FILE = "events.jsonl"
GLUE_JOB_RUNS_FILE = "glue_job_runs.jsonl"
EMR_JOB_RUNS_FILE = "emr_job_runs.jsonl"


class RecordedJobRuns:
    """A boto3 client whose `get_job_run` answers from recorded responses; every other call goes to `client`.

    Keys: Glue runs by `(JobName, RunId)`, EMR Serverless runs by `(applicationId, jobRunId)`. An unknown run
    raises the service's own not-found error, as AWS would.
    """

    def __init__(
        self,
        client: Any,
        responses: Mapping[tuple[str, str], Mapping[str, Any]],
        not_found: str,
        applications: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._client = client
        self._responses = dict(responses)
        self._not_found = not_found
        self._applications = dict(applications or {})

    def get_job_run(self, **kwargs: str) -> Mapping[str, Any]:
        key = (
            kwargs.get("JobName") or kwargs.get("applicationId") or "",
            kwargs.get("RunId") or kwargs.get("jobRunId") or "",
        )
        response = self._responses.get(key)
        if response is None:
            raise ClientError({"Error": {"Code": self._not_found, "Message": "job run not recorded"}}, "GetJobRun")
        return response

    def get_application(self, *, applicationId: str) -> Mapping[str, Any]:  # boto3 spells the parameter so
        """EMR Serverless: the application's tags from `tags.json`; moto cannot create one under a given id."""
        if applicationId not in self._applications:
            return self._client.get_application(applicationId=applicationId)
        return {"application": {"applicationId": applicationId, "tags": dict(self._applications[applicationId])}}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    @classmethod
    def glue(cls, client: Any, responses: Iterable[Mapping[str, Any]]) -> RecordedJobRuns:
        return cls(
            client,
            {(r["JobRun"]["JobName"], r["JobRun"]["Id"]): r for r in responses},
            "EntityNotFoundException",
        )

    @classmethod
    def emr_serverless(
        cls,
        client: Any,
        responses: Iterable[Mapping[str, Any]],
        applications: Mapping[str, Mapping[str, str]] | None = None,
    ) -> RecordedJobRuns:
        return cls(
            client,
            {(r["jobRun"]["applicationId"], r["jobRun"]["jobRunId"]): r for r in responses},
            "ResourceNotFoundException",
            applications,
        )


@dataclass(frozen=True, slots=True)
class AwsEvents:
    """What `--aws-events DIR` holds, read once."""

    events: list[dict[str, Any]]
    glue_job_runs: list[dict[str, Any]] = field(default_factory=list)
    emr_job_runs: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def read(cls, directory: Path) -> AwsEvents:
        return cls(
            events=_json_lines(directory / EVENTS_FILE, required=True),
            glue_job_runs=_json_lines(directory / GLUE_JOB_RUNS_FILE),
            emr_job_runs=_json_lines(directory / EMR_JOB_RUNS_FILE),
        )

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name, rows in (
            (EVENTS_FILE, self.events),
            (GLUE_JOB_RUNS_FILE, self.glue_job_runs),
            (EMR_JOB_RUNS_FILE, self.emr_job_runs),
        ):
            (directory / name).write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))

    def in_time_order(self) -> list[tuple[datetime, dict[str, Any]]]:
        """Each event with the moment it is delivered (its `time`), oldest first; events without one go last,
        in file order (the sort is stable)."""
        timed = [(job_events.moment(event.get("time")), event) for event in self.events]
        known = sorted(((moment, event) for moment, event in timed if moment is not None), key=lambda pair: pair[0])
        return known + [(moment, event) for moment, event in timed if moment is None]


def _json_lines(path: Path, *, required: bool = False) -> list[dict[str, Any]]:
    if not path.exists():
        if required:
            raise FileNotFoundError(f"{path} not found: --aws-events needs {EVENTS_FILE} in its directory")
        return []
    rows = []
    # Lines end at "\n" only: JSON text may hold U+2028 or U+0085 raw, where `str.splitlines` would also cut.
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from error
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object")
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------- the replay

TAGS_FILE = "tags.json"
#: What became of each EventBridge event: the handler's verdicts, plus `on_failure` for an event whose
#: invocation raised (in AWS: retried twice, then kept on the function's on-failure queue).
ON_FAILURE = "on_failure"
_EVENT_TIME = re.compile(rb'"event_time"\s*:\s*"([^"]{1,64})"')


@dataclass
class JobEventsReplay:
    """The `job_run` records `job_events` put on events-raw, oldest first, and what became of each event."""

    payloads: list[bytes]
    verdicts: Counter[str]


def replay_aws_events(directory: Path, *, kinesis: Any, events_raw_stream: str) -> JobEventsReplay:
    """Run every EventBridge event of `directory` through the real `job_events` handler, in time order.

    Call inside `LocalAws` (moto running) once the Lambda asset root is importable. Tags come from
    `DIR/tags.json` (`{"<job ARN, state machine ARN, job definition ARN or EMR application id>": {tags}}`),
    set with each service's own tag API in moto; EMR Serverless applications are answered by the stand-in,
    since moto cannot create one under a given id.
    """
    recorded = AwsEvents.read(directory)
    tags = read_tags(directory / TAGS_FILE)
    handler_module = importlib.import_module("job_events.handler")
    from job_events.logic import Clients, TagCache
    from job_events.settings import Settings

    glue, sfn, batch, emr = (boto3.client(name) for name in ("glue", "stepfunctions", "batch", "emr-serverless"))
    _tag_in_moto(tags, glue=glue, stepfunctions=sfn, batch=batch)
    clients = Clients(
        glue=RecordedJobRuns.glue(glue, recorded.glue_job_runs),
        stepfunctions=sfn,
        batch=batch,
        emr_serverless=RecordedJobRuns.emr_serverless(emr, recorded.emr_job_runs, applications=tags),
        kinesis=kinesis,
    )
    deps = handler_module.Dependencies(
        Settings.from_env({"EVENTS_RAW_STREAM_NAME": events_raw_stream}), clients, TagCache()
    )
    shard = kinesis.list_shards(StreamName=events_raw_stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=events_raw_stream, ShardId=shard, ShardIteratorType="LATEST")[
        "ShardIterator"
    ]
    verdicts: Counter[str] = Counter()
    original = handler_module.dependencies
    handler_module.dependencies = lambda: deps
    try:
        for _, event in recorded.in_time_order():
            context = local_aws.LambdaContext(function_name="job_events")
            try:
                verdicts[handler_module.handler(event, context)["verdict"]] += 1
            except Exception:  # what Lambda does with a failed asynchronous invocation: retry, then on-failure
                verdicts[ON_FAILURE] += 1
    finally:
        handler_module.dependencies = original
    payloads = [record["Data"] for record in kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]]
    return JobEventsReplay(sorted(payloads, key=_event_time), verdicts)


def merge_by_time(stream: list[bytes], job_runs: list[bytes]) -> list[bytes]:
    """`job_runs` (oldest first) interleaved with the stream's records by event time.

    A job run with end time `t` goes after as many stream records as have an `event_time` not after `t` (its
    rank among them), i.e. right after the k-th dated record in stream order. Ranking, rather than "after
    the last record not later than `t`", keeps one producer's clock error (a sale dated next month in the
    middle of the stream) from pulling every job run to its place. Records without a readable `event_time`
    (a KPL aggregate, a broken line) are never split from the record before them; the stream's own order
    never changes.
    """
    if not job_runs:
        return stream
    dated = [(index, moment) for index, moment in enumerate(map(_event_time, stream)) if moment]
    ranked = sorted(moment for _, moment in dated)
    merged: list[bytes] = []
    position = 0
    for job_run in job_runs:
        rank = bisect.bisect_right(ranked, _event_time(job_run))
        cut = max(position, _after_dated(stream, dated, rank))
        merged.extend(stream[position:cut])
        merged.append(job_run)
        position = cut
    merged.extend(stream[position:])
    return merged


def _after_dated(stream: list[bytes], dated: list[tuple[int, str]], rank: int) -> int:
    """The stream position right after its `rank`-th dated record and any undated records that follow it."""
    if rank == 0:
        return 0
    return dated[rank][0] if rank < len(dated) else len(stream)


def _event_time(payload: bytes) -> str:
    """The payload's `event_time` as sortable UTC text ('' when unreadable)."""
    match = _EVENT_TIME.search(payload[:4096])
    moment = job_events.moment(match[1].decode(errors="replace")) if match else None
    return moment.isoformat() if moment else ""


def read_tags(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error.msg})") from error
    if not isinstance(raw, dict) or not all(isinstance(tags, dict) for tags in raw.values()):
        raise ValueError(f"{path}: expected an object of resource -> {{tag: value}}")
    return {str(resource): {str(k): str(v) for k, v in tags.items()} for resource, tags in raw.items()}


def _tag_in_moto(tags: Mapping[str, Mapping[str, str]], *, glue: Any, stepfunctions: Any, batch: Any) -> None:
    for resource, values in tags.items():
        if ":glue:" in resource:
            glue.tag_resource(ResourceArn=resource, TagsToAdd=dict(values))
        elif ":states:" in resource:
            stepfunctions.tag_resource(resourceArn=resource, tags=[{"key": k, "value": v} for k, v in values.items()])
        elif ":batch:" in resource:
            batch.tag_resource(resourceArn=resource, tags=dict(values))


# ------------------------------------------------------------------------------------------- base64 events


def decode_base64_lines(lines: list[bytes]) -> list[bytes]:
    """`--events-format base64`: each line is the base64 of one Kinesis record's bytes (binary records, such as
    KPL aggregates, cannot be JSON lines). Raises ValueError naming the first line that is not base64."""
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(base64.b64decode(line.strip(), validate=True))
        except (binascii.Error, ValueError):
            raise ValueError(f"events line {number} is not base64") from None
    return records


@dataclass(frozen=True, slots=True)
class KplCounts:
    """Valid KPL aggregates among the input records, and the user records they hold."""

    aggregates: int = 0
    user_records: int = 0


def count_kpl(records: list[bytes]) -> KplCounts:
    """How many records are valid aggregates and how many user records they hold (a corrupt one is one record:
    the transform quarantines it whole)."""
    aggregates = user_records = 0
    for record in records:
        if kpl.is_aggregate(record):
            try:
                user_records += len(kpl.user_records(record))
            except kpl.CorruptAggregate:
                continue
            aggregates += 1
    return KplCounts(aggregates, user_records)


# ------------------------------------------------------------------------------------------- demo data

DEMO_ACCOUNT = local_aws.ACCOUNT_ID
DEMO_REGION = local_aws.REGION
#: A client whose batch work runs on Step Functions, AWS Batch and EMR Serverless, opted in by tags.
DEMO_AWS_CLIENT = "northwind-analytics"
_OWN_GLUE_JOBS = {"lakewatch-demo-PosCsvEtl": "pos_csv_etl", "lakewatch-demo-CompactSales": "compact_partitions_sales"}


@dataclass(frozen=True, slots=True)
class DemoAwsEvents:
    """A morning of EventBridge job state changes, with what the demo's checks expect of them."""

    events: AwsEvents
    tags: dict[str, dict[str, str]]
    #: Distinct runs, runs whose end was delivered twice, and the run ids that must page (`job_failed`).
    runs: int
    duplicate_deliveries: int
    failed_run_ids: list[str]

    def write(self, directory: Path) -> Path:
        self.events.write(directory)
        (directory / TAGS_FILE).write_text(json.dumps(self.tags, indent=2, sort_keys=True) + "\n")
        return directory


def demo_aws_events(day: datetime) -> DemoAwsEvents:
    """lakewatch's own Glue jobs (hourly POS import, one failure; the nightly compaction) and a client's Step
    Functions, Batch and EMR Serverless runs, ending between midnight and 11:00 UTC of `day`, in the shapes the
    AWS documentation gives. Deterministic: the same day, the same bytes."""
    midnight = day.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=UTC)
    events: list[dict[str, Any]] = []
    glue_runs: list[dict[str, Any]] = []
    failed: list[str] = []
    for hour in range(11):
        start = midnight + timedelta(hours=hour, minutes=15)
        state = "FAILED" if hour == 7 else "SUCCEEDED"
        run_id = f"jr_{hashlib.sha256(f'pos-{start.isoformat()}'.encode()).hexdigest()}"
        events.append(_glue_event("lakewatch-demo-PosCsvEtl", run_id, state, start + timedelta(seconds=95)))
        glue_runs.append(_glue_run("lakewatch-demo-PosCsvEtl", run_id, start, 90 + hour % 3, state))
        if state == "FAILED":
            failed.append(run_id)
    compaction_start = midnight + timedelta(hours=2, minutes=30)
    compaction_id = f"jr_{hashlib.sha256(b'compact-sales').hexdigest()}"
    events.append(
        _glue_event("lakewatch-demo-CompactSales", compaction_id, "SUCCEEDED", compaction_start + timedelta(minutes=6))
    )
    glue_runs.append(_glue_run("lakewatch-demo-CompactSales", compaction_id, compaction_start, 340, "SUCCEEDED"))
    machine = f"arn:aws:states:{DEMO_REGION}:{DEMO_ACCOUNT}:stateMachine:nightly-orders"
    events.append(_states_event(machine, "nightly-orders-0630", "ABORTED", midnight + timedelta(hours=3), 1_800))
    failed.append("nightly-orders-0630")
    events.append(_batch_event(midnight + timedelta(hours=4)))
    application = "00fdemo0sessionize"
    emr_end = midnight + timedelta(hours=5, minutes=30)
    events.append(_emr_event(application, "00fdemo0run00001", emr_end))
    emr_runs = [_emr_run(application, "00fdemo0run00001", emr_end, 1_500)]
    events.append(events[3])  # EventBridge delivers at least once: one end arrives twice
    tags = {
        f"arn:aws:glue:{DEMO_REGION}:{DEMO_ACCOUNT}:job/{name}": {
            job_events.CLIENT_TAG: "lakewatch",
            job_events.JOB_NAME_TAG: job,
        }
        for name, job in _OWN_GLUE_JOBS.items()
    }
    client = {job_events.CLIENT_TAG: DEMO_AWS_CLIENT}
    tags |= {machine: client, _BATCH_DEFINITION: client, application: client}
    return DemoAwsEvents(
        AwsEvents(events, glue_runs, emr_runs),
        tags,
        runs=len(events) - 1,
        duplicate_deliveries=1,
        failed_run_ids=failed,
    )


_BATCH_DEFINITION = f"arn:aws:batch:{DEMO_REGION}:{DEMO_ACCOUNT}:job-definition/orders-export:3"


def _envelope(detail_type: str, source: str, moment: datetime, detail: dict[str, Any]) -> dict[str, Any]:
    identity = hashlib.sha256(json.dumps(detail, sort_keys=True).encode()).hexdigest()
    return {
        "version": "0",
        "id": f"{identity[:8]}-{identity[8:12]}-{identity[12:16]}-{identity[16:20]}-{identity[20:32]}",
        "detail-type": detail_type,
        "source": source,
        "account": DEMO_ACCOUNT,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": DEMO_REGION,
        "resources": [],
        "detail": detail,
    }


def _glue_event(job: str, run_id: str, state: str, end: datetime) -> dict[str, Any]:
    message = "Job run succeeded" if state == "SUCCEEDED" else f"JobName:{job} and JobRunId:{run_id} failed to execute"
    detail = {"jobName": job, "severity": "INFO" if state == "SUCCEEDED" else "ERROR", "state": state}
    return _envelope("Glue Job State Change", "aws.glue", end, {**detail, "jobRunId": run_id, "message": message})


def _glue_run(job: str, run_id: str, start: datetime, seconds: int, state: str) -> dict[str, Any]:
    run: dict[str, Any] = {
        "Id": run_id,
        "Attempt": 0,
        "JobName": job,
        "StartedOn": _iso(start),
        "CompletedOn": _iso(start + timedelta(seconds=seconds + 5)),
        "JobRunState": state,
        "ExecutionTime": seconds,
        "MaxCapacity": 2.0,
        "WorkerType": "G.1X",
        "NumberOfWorkers": 2,
        "GlueVersion": "5.0",
        "ExecutionClass": "STANDARD",
    }
    if state == "FAILED":
        run["ErrorMessage"] = "AnalysisException: Path does not exist: s3://lakewatch-lake/landing/pos/"
    return {"JobRun": run}


def _states_event(machine: str, name: str, status: str, start: datetime, seconds: int) -> dict[str, Any]:
    execution = machine.replace(":stateMachine:", ":execution:") + f":{name}"
    begin = int(start.timestamp() * 1000)
    detail = {
        "executionArn": execution,
        "stateMachineArn": machine,
        "name": name,
        "status": status,
        "startDate": begin,
        "stopDate": begin + seconds * 1000,
        "input": "{}",
        "output": None,
    }
    event = _envelope(
        "Step Functions Execution Status Change", "aws.states", start + timedelta(seconds=seconds), detail
    )
    event["resources"] = [execution]
    return event


def _batch_event(start: datetime) -> dict[str, Any]:
    job_id = "5f3c1a9e-2b7d-4c61-9e0a-7d2f4b8c6a11"
    arn = f"arn:aws:batch:{DEMO_REGION}:{DEMO_ACCOUNT}:job/{job_id}"
    begin = int(start.timestamp() * 1000)
    detail = {
        "jobArn": arn,
        "jobName": "orders-export",
        "jobId": job_id,
        "jobQueue": f"arn:aws:batch:{DEMO_REGION}:{DEMO_ACCOUNT}:job-queue/exports",
        "status": "SUCCEEDED",
        "attempts": [],
        "createdAt": begin - 60_000,
        "startedAt": begin,
        "stoppedAt": begin + 720_000,
        "statusReason": "Essential container in task exited",
        "jobDefinition": _BATCH_DEFINITION,
        "container": {"resourceRequirements": [{"value": "2", "type": "VCPU"}, {"value": "4096", "type": "MEMORY"}]},
    }
    event = _envelope("Batch Job State Change", "aws.batch", start + timedelta(minutes=12), detail)
    event["resources"] = [arn]
    return event


def _emr_event(application: str, run_id: str, end: datetime) -> dict[str, Any]:
    detail = {
        "jobRunId": run_id,
        "applicationId": application,
        "arn": f"arn:aws:emr-serverless:{DEMO_REGION}:{DEMO_ACCOUNT}:/applications/{application}/jobruns/{run_id}",
        "releaseLabel": "emr-7.1.0",
        "state": "SUCCESS",
        "previousState": "RUNNING",
        "createdBy": f"arn:aws:sts::{DEMO_ACCOUNT}:assumed-role/EMRServerlessJobRole/scheduler",
        "updatedAt": _iso(end),
        "createdAt": _iso(end - timedelta(minutes=30)),
    }
    return _envelope("EMR Serverless Job Run State Change", "aws.emr-serverless", end, detail)


def _emr_run(application: str, run_id: str, end: datetime, seconds: int) -> dict[str, Any]:
    return {
        "jobRun": {
            "applicationId": application,
            "jobRunId": run_id,
            "name": "sessionize-clickstream",
            "createdAt": _iso(end - timedelta(seconds=seconds + 120)),
            "updatedAt": _iso(end),
            "state": "SUCCESS",
            "stateDetails": "Job run completed",
            "releaseLabel": "emr-7.1.0",
            "totalExecutionDurationSeconds": seconds,
            "billedResourceUtilization": {"vCPUHour": 8.5, "memoryGBHour": 34.0, "storageGBHour": 0.0},
            "tags": {},
        }
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def demo_base64_events(lines: list[bytes], *, aggregates: int = 3, per_aggregate: int = 10) -> list[str]:
    """The demo's events file as `--events-format base64`, with the first `aggregates` runs of `per_aggregate`
    consecutive small sale lines packed into KPL aggregates (each user record keeps its own verdict, so the
    demo's counts do not change)."""
    packed: list[bytes] = []
    group: list[bytes] = []
    left = aggregates
    for line in lines:
        if left and line.startswith(b'{"event_type":"sale"') and len(line) < 4096:
            group.append(line)
            if len(group) == per_aggregate:
                packed.append(kpl.aggregate([(f"demo-{len(packed)}", record) for record in group]))
                group, left = [], left - 1
            continue
        packed.extend(group)
        group = []
        packed.append(line)
    packed.extend(group)
    return [base64.b64encode(record).decode() for record in packed]
