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
import importlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
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
    for number, line in enumerate(path.read_text().splitlines(), start=1):
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
    tags = _read_tags(directory / TAGS_FILE)
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

    A job run goes right after the longest prefix of the stream whose latest event time is not after its
    own; a stream record without a readable `event_time` (a KPL aggregate, a broken line) keeps the time of
    the record before it. The stream's own order never changes.
    """
    if not job_runs:
        return stream
    latest: list[str] = []
    current = ""
    for payload in stream:
        current = max(current, _event_time(payload))
        latest.append(current)
    merged: list[bytes] = []
    position = 0
    for job_run in job_runs:
        cut = bisect.bisect_right(latest, _event_time(job_run), lo=position)
        merged.extend(stream[position:cut])
        merged.append(job_run)
        position = cut
    merged.extend(stream[position:])
    return merged


def _event_time(payload: bytes) -> str:
    """The payload's `event_time` as sortable UTC text ('' when unreadable)."""
    match = _EVENT_TIME.search(payload[:4096])
    moment = job_events.moment(match[1].decode(errors="replace")) if match else None
    return moment.isoformat() if moment else ""


def _read_tags(path: Path) -> dict[str, dict[str, str]]:
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
