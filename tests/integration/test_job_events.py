"""The job_events Lambda with moto: documented EventBridge events -> job_run events on events-raw, then through
the transform and job_monitor: right status, duration and cost, and one alert per failed run even when each
event is delivered twice.

moto serves every tag read (`glue:GetTags`, `states:ListTagsForResource`, `batch:ListTagsForResource`,
`emr-serverless:GetApplication`) and Kinesis; `GetJobRun` is answered from recorded responses by the local
runner's stand-in (`RecordedJobRuns`), since moto's invents a run of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from job_events import handler as job_events_handler
from job_events.logic import Clients, TagCache
from job_events.settings import Settings
from job_monitor import handler as job_monitor_handler
from transform import handler as transform_handler

from lakewatch.domain import job_events
from lakewatch.local import aws as local_aws
from lakewatch.local.aws_events import RecordedJobRuns
from tests.factories import Aws, alerting_aws
from tests.fixtures.aws_events import emr_job_run_responses, glue_job_run_responses, load_aws_event

EVENTS_RAW = "events-raw"
JOB_RUNS_CLEAN = "job-runs-clean"
SALES_CLEAN = "sales-clean"
CLIENT = "acme-retail"
CLIENT_TAGS = {job_events.CLIENT_TAG: CLIENT}


@dataclass
class Pipeline:
    alerting: Aws
    kinesis: Any
    glue: Any
    stepfunctions: Any
    batch: Any
    emr_serverless: Any
    emr_application_id: str
    clients: Clients
    tags: TagCache

    def records(self, stream: str) -> list[bytes]:
        shard = self.kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
        iterator = self.kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        return [r["Data"] for r in self.kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]]

    def job_runs_put(self) -> list[dict[str, Any]]:
        return [json.loads(data) for data in self.records(EVENTS_RAW)]

    def emr_event(self, name: str) -> dict[str, Any]:
        """The documented EMR Serverless event, for the application moto created."""
        event = load_aws_event(name)
        event["detail"]["applicationId"] = self.emr_application_id
        return event


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    with alerting_aws(monkeypatch) as alerting:
        kinesis = boto3.client("kinesis")
        for stream in (EVENTS_RAW, JOB_RUNS_CLEAN, SALES_CLEAN):
            kinesis.create_stream(StreamName=stream, ShardCount=1)
        glue, sfn, batch, emr = (boto3.client(name) for name in ("glue", "stepfunctions", "batch", "emr-serverless"))
        application_id = emr.create_application(
            name="sessionize", releaseLabel="emr-6.6.0", type="SPARK", tags=CLIENT_TAGS
        )["applicationId"]
        emr_runs = emr_job_run_responses()
        for response in emr_runs:
            response["jobRun"]["applicationId"] = application_id
        clients = Clients(
            glue=RecordedJobRuns.glue(glue, glue_job_run_responses()),
            stepfunctions=sfn,
            batch=batch,
            emr_serverless=RecordedJobRuns.emr_serverless(emr, emr_runs),
            kinesis=kinesis,
        )
        monkeypatch.setenv("EVENTS_RAW_STREAM_NAME", EVENTS_RAW)
        tags = TagCache()
        deps = job_events_handler.Dependencies(Settings.from_env({"EVENTS_RAW_STREAM_NAME": EVENTS_RAW}), clients, tags)
        monkeypatch.setattr(job_events_handler, "dependencies", lambda: deps)
        yield Pipeline(alerting, kinesis, glue, sfn, batch, emr, application_id, clients, tags)


def tag_everything(pipeline: Pipeline, tags: dict[str, str] = CLIENT_TAGS) -> None:
    """Tag the documented events' jobs through each service's own tag API."""
    pipeline.glue.tag_resource(ResourceArn="arn:aws:glue:us-west-2:123456789012:job/MyJob", TagsToAdd=tags)
    pipeline.glue.tag_resource(ResourceArn="arn:aws:glue:us-east-1:123456789012:job/MyJob", TagsToAdd=tags)
    pipeline.stepfunctions.tag_resource(
        resourceArn="arn:aws:states:us-east-1:012345678912:stateMachine:state-machine",
        tags=[{"key": key, "value": value} for key, value in tags.items()],
    )
    pipeline.batch.tag_resource(
        resourceArn="arn:aws:batch:us-east-1:123456789012:job-definition/first-run-job-definition:1", tags=tags
    )


def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return job_events_handler.handler(event, context)


def test_a_tagged_glue_failure_becomes_one_job_run_event_keyed_by_its_run(
    pipeline: Pipeline, lambda_context: Any
) -> None:
    tag_everything(pipeline)
    event = load_aws_event("glue_failed")

    response = invoke(event, lambda_context)

    [put] = pipeline.job_runs_put()
    assert response == {"verdict": "put", "event_id": put["event_id"]}
    assert put == {
        "event_type": "job_run",
        "event_id": job_events.parse_state_change(event).event_id,
        "event_time": "2024-06-08T06:02:03.000Z",
        "schema_version": 1,
        "run_id": event["detail"]["jobRunId"],
        "client": CLIENT,
        "job_name": "MyJob",
        "status": "FAILED",
        "started_at": "2024-06-08T06:01:10.000Z",
        "ended_at": "2024-06-08T06:02:03.000Z",
        "cost_usd": 0.0293,
        "instance_size": "G.2X x2",
        "error_message": "Role arn:aws:iam::123456789012:role/Glue_Role should be given assume role permissions for "
        "Glue Service.",
    }


def test_the_partition_key_is_the_event_id(pipeline: Pipeline, lambda_context: Any) -> None:
    tag_everything(pipeline)
    invoke(load_aws_event("batch_succeeded"), lambda_context)

    shard = pipeline.kinesis.list_shards(StreamName=EVENTS_RAW)["Shards"][0]["ShardId"]
    iterator = pipeline.kinesis.get_shard_iterator(
        StreamName=EVENTS_RAW, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )
    [record] = pipeline.kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert record["PartitionKey"] == json.loads(record["Data"])["event_id"]


def test_an_untagged_job_is_not_monitored_unless_every_job_is(pipeline: Pipeline, lambda_context: Any) -> None:
    event = load_aws_event("glue_succeeded")

    assert invoke(event, lambda_context)["verdict"] == "not_monitored"
    assert pipeline.job_runs_put() == []

    monitor_all = Settings.from_env(
        {"EVENTS_RAW_STREAM_NAME": EVENTS_RAW, "MONITORED_JOBS": "all", "CLIENT_BY_JOB": '{"MyJob": "globex"}'}
    )
    deps = job_events_handler.Dependencies(monitor_all, pipeline.clients, pipeline.tags)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(job_events_handler, "dependencies", lambda: deps)
        assert invoke(event, lambda_context)["verdict"] == "put"
    [put] = pipeline.job_runs_put()
    assert (put["client"], put["job_name"], put["cost_usd"]) == ("globex", "MyJob", 0.88)


def test_tags_are_read_once_per_resource_while_cached(pipeline: Pipeline, lambda_context: Any) -> None:
    tag_everything(pipeline)
    reads: list[str] = []
    real_get_tags = pipeline.glue.get_tags

    def counting_get_tags(**kwargs: str) -> Any:
        reads.append(kwargs["ResourceArn"])
        return real_get_tags(**kwargs)

    pipeline.glue.get_tags = counting_get_tags  # moto's client, under the stand-in
    for name in ("glue_succeeded", "glue_failed", "glue_timeout", "glue_succeeded"):
        invoke(load_aws_event(name), lambda_context)

    assert len(pipeline.job_runs_put()) == 4
    assert reads == ["arn:aws:glue:us-west-2:123456789012:job/MyJob", "arn:aws:glue:us-east-1:123456789012:job/MyJob"]


def test_the_tag_cache_reads_again_once_its_entry_expires() -> None:
    now = [0.0]
    cache = TagCache(clock=lambda: now[0], ttl_seconds=60)
    reads: list[int] = []

    def read() -> dict[str, str]:
        reads.append(1)
        return {}

    cache.get(("glue", "job"), read)
    now[0] = 59.0
    cache.get(("glue", "job"), read)
    now[0] = 60.0
    cache.get(("glue", "job"), read)

    assert len(reads) == 2


def test_the_lakewatch_job_tag_names_the_job(pipeline: Pipeline, lambda_context: Any) -> None:
    tag_everything(pipeline, {job_events.CLIENT_TAG: "lakewatch", job_events.JOB_NAME_TAG: "pos_csv_etl"})

    invoke(load_aws_event("glue_succeeded"), lambda_context)

    [put] = pipeline.job_runs_put()
    assert (put["client"], put["job_name"]) == ("lakewatch", "pos_csv_etl")


def test_an_emr_serverless_run_is_monitored_by_its_application_tag(pipeline: Pipeline, lambda_context: Any) -> None:
    invoke(pipeline.emr_event("emr_serverless_cancelled"), lambda_context)

    [put] = pipeline.job_runs_put()
    assert put["status"] == "FAILED"
    assert put["error_message"].startswith("emr-serverless CANCELLED")
    assert put["cost_usd"] == 0.3052
    assert put["run_id"] == "00f1cbn5g4bb0c01"


@pytest.mark.parametrize(
    "event",
    [
        {"source": "aws.glue", "detail-type": "Glue Job State Change", "detail": {"state": "RUNNING"}},
        {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}},
    ],
)
def test_an_event_that_is_not_a_terminal_job_state_change_is_dropped_not_retried(
    pipeline: Pipeline, lambda_context: Any, event: dict[str, Any]
) -> None:
    assert invoke(event, lambda_context)["verdict"] == "unusable"
    assert pipeline.job_runs_put() == []


def test_the_children_of_a_failed_array_job_put_nothing_and_its_own_end_one_run(
    pipeline: Pipeline, lambda_context: Any
) -> None:
    # Given a tagged Batch array job of three children, one of which failed, so the array job failed
    tag_everything(pipeline)
    parent = load_aws_event("batch_failed")
    parent_id = parent["detail"]["jobId"]
    children = []
    for index in range(3):
        child = load_aws_event("batch_failed" if index == 1 else "batch_succeeded")
        child_id = f"{parent_id}:{index}"
        child["detail"].update(
            jobId=child_id,
            jobArn=f"arn:aws:batch:us-east-1:123456789012:job/{child_id}",
            arrayProperties={"index": index},
        )
        children.append(child)
    parent["detail"]["arrayProperties"] = {"size": 3, "statusSummary": {"FAILED": 1, "SUCCEEDED": 2}}

    # When EventBridge delivers every child's end, then the array job's
    verdicts = [invoke(event, lambda_context)["verdict"] for event in [*children, parent]]

    # Then only the array job became a run: one failure, one page, whatever the number of children
    assert verdicts == ["part_of_a_run"] * 3 + ["put"]
    assert [(run["run_id"], run["status"]) for run in pipeline.job_runs_put()] == [(parent_id, "FAILED")]


def test_a_run_that_get_job_run_does_not_know_raises_for_the_asynchronous_retry(
    pipeline: Pipeline, lambda_context: Any
) -> None:
    tag_everything(pipeline)
    event = load_aws_event("glue_failed")
    event["detail"]["jobRunId"] = "jr_" + "0" * 64

    with pytest.raises(Exception, match="EntityNotFoundException"):
        invoke(event, lambda_context)
    assert pipeline.job_runs_put() == []


# ------------------------------------------------------------------------------------- acceptance, end to end


def _in_lake_range(event: dict[str, Any], start: datetime) -> dict[str, Any]:
    """Move a documented Step Functions / Batch event (2019, 2022) to `start`, keeping its duration."""
    detail = event["detail"]
    first, last = ("startDate", "stopDate") if "startDate" in detail else ("startedAt", "stoppedAt")
    shift = int(start.timestamp() * 1000) - detail[first]
    detail[first] += shift
    detail[last] += shift
    return event


def _distinct(event: dict[str, Any], suffix: str) -> dict[str, Any]:
    """The four documented Step Functions events name one execution: give this one its own."""
    detail = event["detail"]
    detail["name"] = f"{detail['name']}-{suffix}"
    detail["executionArn"] = f"{detail['executionArn']}-{suffix}"
    return event


def _through_transform(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, lambda_context: Any) -> list[bytes]:
    secret_arn = boto3.client("secretsmanager").create_secret(Name="pii", SecretString="k" * 32)["ARN"]
    for name, value in {
        "SALES_STREAM_NAME": SALES_CLEAN,
        "JOB_RUNS_STREAM_NAME": JOB_RUNS_CLEAN,
        "QUARANTINE_BUCKET": pipeline.alerting.quarantine_bucket,
        "PII_KEY_SECRET_ARN": secret_arn,
    }.items():
        monkeypatch.setenv(name, value)
    transform_handler.dependencies.cache_clear()
    transform_handler.pii_key.cache_clear()
    raw = pipeline.records(EVENTS_RAW)
    records = [(f"{index:056d}", data) for index, data in enumerate(raw, start=1)]
    response = transform_handler.handler(
        local_aws.kinesis_event(records, stream_name=EVENTS_RAW, arrival_epoch=datetime.now(UTC).timestamp()),
        lambda_context,
    )
    assert response == {"batchItemFailures": []}
    transform_handler.dependencies.cache_clear()
    transform_handler.pii_key.cache_clear()
    return pipeline.records(JOB_RUNS_CLEAN)


def test_failed_and_succeeded_runs_of_every_service_delivered_twice_alert_once_each(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    tag_everything(pipeline)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
    events = [
        load_aws_event("glue_succeeded"),
        load_aws_event("glue_failed"),
        _in_lake_range(_distinct(load_aws_event("states_succeeded"), "ok"), start),
        _in_lake_range(_distinct(load_aws_event("states_failed"), "ko"), start),
        _in_lake_range(load_aws_event("batch_succeeded"), start),
        _in_lake_range(_distinct_batch(load_aws_event("batch_failed")), start),
        pipeline.emr_event("emr_serverless_success"),
    ]
    emr_failed = pipeline.emr_event("emr_serverless_failed")
    emr_failed["detail"]["jobRunId"] = "00f1cbn5g4bb0c02"
    second_emr = json.loads(json.dumps(_recorded_emr(pipeline)))
    second_emr["jobRun"].update(jobRunId="00f1cbn5g4bb0c02", state="FAILED", stateDetails="Job failed: OOM")
    pipeline.clients.emr_serverless._responses[(pipeline.emr_application_id, "00f1cbn5g4bb0c02")] = second_emr
    events.append(emr_failed)

    for event in events + events:  # EventBridge delivers at least once: here, everything twice
        assert invoke(event, lambda_context)["verdict"] == "put"
    clean = [json.loads(data) for data in _through_transform(pipeline, monkeypatch, lambda_context)]

    assert len({row["event_id"] for row in clean}) == 8
    by_job = {(row["job_name"], row["status"]): row for row in clean}
    assert by_job[("MyJob", "SUCCEEDED")]["duration_seconds"] == 750.0
    assert by_job[("MyJob", "SUCCEEDED")]["cost_usd"] == 0.88
    assert by_job[("state-machine", "FAILED")]["duration_seconds"] == pytest.approx(5.034)
    assert by_job[("event-test", "FAILED")]["duration_seconds"] == pytest.approx(600.3)
    assert by_job[("nightly-sessionize", "SUCCEEDED")]["cost_usd"] == 0.3052
    assert by_job[("state-machine", "SUCCEEDED")]["cost_usd"] is None

    records = [(f"{index:056d}", data) for index, data in enumerate(pipeline.records(JOB_RUNS_CLEAN), start=1)]
    job_monitor_handler.dependencies.cache_clear()
    response = job_monitor_handler.handler(
        local_aws.kinesis_event(records, stream_name=JOB_RUNS_CLEAN, arrival_epoch=datetime.now(UTC).timestamp()),
        lambda_context,
    )
    job_monitor_handler.dependencies.cache_clear()

    assert response == {"batchItemFailures": []}
    alerts = pipeline.alerting.published()
    failed_runs = sorted({row["run_id"] for row in clean if row["status"] == "FAILED"})
    assert len(failed_runs) == 4
    assert sorted(alert["body"]["run_id"] for alert in alerts) == failed_runs


def _distinct_batch(event: dict[str, Any]) -> dict[str, Any]:
    """The two Batch fixtures share the documented job id: give the failed one its own."""
    detail = event["detail"]
    detail["jobId"] = "5d8600bf-1b93-4b5f-9a0f-8aa2b1f2c3d4"
    detail["jobArn"] = detail["jobArn"].rsplit("/", 1)[0] + "/" + detail["jobId"]
    return event


def _recorded_emr(pipeline: Pipeline) -> dict[str, Any]:
    return pipeline.clients.emr_serverless.get_job_run(
        applicationId=pipeline.emr_application_id, jobRunId="00f1cbn5g4bb0c01"
    )


def test_settings_read_prices_by_the_names_of_the_prices_fields() -> None:
    settings = Settings.from_env(
        {"EVENTS_RAW_STREAM_NAME": EVENTS_RAW, "PRICE_GLUE_DPU_HOUR": "0.5", "PRICE_EMR_SERVERLESS_GB_HOUR": "0.01"}
    )

    assert settings.prices == job_events.Prices(glue_dpu_hour=0.5, emr_serverless_gb_hour=0.01)
    assert settings.policy == job_events.ClientPolicy(monitor_all_jobs=False, client_by_job={})


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"EVENTS_RAW_STREAM_NAME": EVENTS_RAW, "MONITORED_JOBS": "sometimes"},
        {"EVENTS_RAW_STREAM_NAME": EVENTS_RAW, "CLIENT_BY_JOB": '["acme"]'},
        {"EVENTS_RAW_STREAM_NAME": EVENTS_RAW, "PRICE_GLUE_DPU_HOUR": "-1"},
    ],
)
def test_settings_refuse_a_cold_start_with_a_missing_or_malformed_variable(env: dict[str, str]) -> None:
    with pytest.raises(RuntimeError):
        Settings.from_env(env)
