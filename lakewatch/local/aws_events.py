"""AWS job state changes for the local runner: recorded `GetJobRun` answers, and the replay of EventBridge events.

`local-run --aws-events DIR` reads:

- `DIR/events.jsonl`: EventBridge events, one per line, exactly as AWS delivers them to a Lambda target;
- `DIR/glue_job_runs.jsonl`: `glue:GetJobRun` responses (`{"JobRun": {...}}`), one per line;
- `DIR/emr_job_runs.jsonl`: `emr-serverless:GetJobRun` responses (`{"jobRun": {...}}`), one per line.

moto serves the tag reads (`glue:GetTags`, `states:ListTagsForResource`, `batch:ListTagsForResource`,
`emr-serverless:GetApplication`), but its `GetJobRun` invents a run of its own (its own id, "now" as the
times, a fixed execution time) and cannot be told the run an event announces. So `RecordedJobRuns` stands in
at the client for that one call, answering from the recorded responses and passing every other call to moto.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lakewatch.domain import job_events

EVENTS_FILE = "events.jsonl"
GLUE_JOB_RUNS_FILE = "glue_job_runs.jsonl"
EMR_JOB_RUNS_FILE = "emr_job_runs.jsonl"


class RecordedJobRuns:
    """A boto3 client whose `get_job_run` answers from recorded responses; every other call goes to `client`.

    Keys: Glue runs by `(JobName, RunId)`, EMR Serverless runs by `(applicationId, jobRunId)`. An unknown run
    raises the service's own not-found error, as AWS would.
    """

    def __init__(self, client: Any, responses: Mapping[tuple[str, str], Mapping[str, Any]], not_found: str) -> None:
        self._client = client
        self._responses = dict(responses)
        self._not_found = not_found

    def get_job_run(self, **kwargs: str) -> Mapping[str, Any]:
        key = (
            kwargs.get("JobName") or kwargs.get("applicationId") or "",
            kwargs.get("RunId") or kwargs.get("jobRunId") or "",
        )
        response = self._responses.get(key)
        if response is None:
            raise ClientError({"Error": {"Code": self._not_found, "Message": "job run not recorded"}}, "GetJobRun")
        return response

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
    def emr_serverless(cls, client: Any, responses: Iterable[Mapping[str, Any]]) -> RecordedJobRuns:
        return cls(
            client,
            {(r["jobRun"]["applicationId"], r["jobRun"]["jobRunId"]): r for r in responses},
            "ResourceNotFoundException",
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
