"""The local runner's AWS job events: the GetJobRun stand-in, base64 events, KPL counting, the demo's events."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lakewatch.domain import job_events, kpl
from lakewatch.local import aws_events
from tests.fixtures.aws_events import emr_job_run_responses, glue_job_run_responses

DEMO_DAY = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)


class Moto:
    def get_tags(self, **_: Any) -> dict[str, Any]:
        return {"Tags": {"from": "moto"}}


def test_the_stand_in_answers_get_job_run_from_recordings_and_passes_the_rest_on() -> None:
    glue = aws_events.RecordedJobRuns.glue(Moto(), glue_job_run_responses())
    run_id = glue_job_run_responses()[0]["JobRun"]["Id"]

    assert glue.get_job_run(JobName="MyJob", RunId=run_id)["JobRun"]["ExecutionTime"] == 720
    assert glue.get_tags(ResourceArn="arn")["Tags"] == {"from": "moto"}
    with pytest.raises(ClientError, match="EntityNotFoundException"):
        glue.get_job_run(JobName="MyJob", RunId="jr_unknown")


def test_the_emr_stand_in_answers_get_application_with_the_recorded_tags() -> None:
    emr = aws_events.RecordedJobRuns.emr_serverless(Moto(), emr_job_run_responses(), {"app-1": {"k": "v"}})

    assert emr.get_application(applicationId="app-1") == {"application": {"applicationId": "app-1", "tags": {"k": "v"}}}
    assert emr.get_job_run(applicationId="00f1982r1uukb925", jobRunId="00f1cbn5g4bb0c01")["jobRun"]["name"]


def test_base64_lines_decode_to_the_records_and_count_aggregates() -> None:
    aggregate = kpl.aggregate([("a", b"{}"), ("b", b"{}")])
    lines = [base64.b64encode(record) for record in (b'{"x": 1}', aggregate, aggregate[:-1] + b"\x00")]

    records = aws_events.decode_base64_lines(lines)

    assert records[1] == aggregate
    assert aws_events.count_kpl(records) == aws_events.KplCounts(aggregates=1, user_records=2)
    with pytest.raises(ValueError, match="line 2"):
        aws_events.decode_base64_lines([lines[0], b"%%%"])


def test_the_demo_packs_sales_into_aggregates_without_losing_or_reordering_any() -> None:
    lines = [b'{"event_type":"sale","n":%d}' % index for index in range(25)] + [b'{"event_type":"job_run"}']

    packed = [base64.b64decode(line) for line in aws_events.demo_base64_events(lines, aggregates=2, per_aggregate=10)]

    unpacked = [record for blob in packed for record in (kpl.user_records(blob) if kpl.is_aggregate(blob) else [blob])]
    assert unpacked == lines
    assert sum(kpl.is_aggregate(blob) for blob in packed) == 2


def test_the_demos_job_events_are_terminal_changes_of_tagged_jobs_and_deterministic() -> None:
    demo = aws_events.demo_aws_events(DEMO_DAY)
    changes = [job_events.parse_state_change(event) for event in demo.events.events]

    assert len({change.event_id for change in changes}) == demo.runs == len(changes) - demo.duplicate_deliveries
    assert {change.service.name for change in changes} == {service.name for service in job_events.SERVICES}
    assert sorted(change.run_id for change in changes if change.status == "FAILED") == sorted(demo.failed_run_ids)
    assert all(change.tagged_resource in demo.tags for change in changes)
    assert json.dumps(aws_events.demo_aws_events(DEMO_DAY).events.events) == json.dumps(demo.events.events)


def test_an_event_holding_a_line_separator_in_a_string_is_read_as_one_event(tmp_path) -> None:
    # Given an events file written by a JSON encoder that leaves U+2028 and U+0085 raw (valid JSON), CRLF endings
    events = [{"detail": {"jobName": "nightly\u2028etl", "message": "lost\x85executor"}, "id": "1"}, {"id": "2"}]
    (tmp_path / aws_events.EVENTS_FILE).write_text(
        "\r\n".join(json.dumps(event, ensure_ascii=False) for event in events) + "\r\n", encoding="utf-8"
    )
    # When the directory is read, Then each line is one event, as written
    assert aws_events.AwsEvents.read(tmp_path).events == events
