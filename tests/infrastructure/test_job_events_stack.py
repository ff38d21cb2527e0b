"""job_events in the pipeline stack: one rule per service for exactly its terminal states, read-only IAM limited
to the calls the Lambda makes, retries then an alarmed queue, settings from the stage, lakewatch's own Glue jobs
tagged as client `lakewatch`."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from lakewatch.domain import job_events
from stacks.config import JobEventsConfig, StageConfig
from stacks.constructs.job_events import ASYNC_RETRY_ATTEMPTS
from stacks.pipeline_stack import OWN_CLIENT
from tests.infrastructure.conftest import DISTINCT_CONTEXT, Synth, logical_id, render, synthesize

CONTEXT = {
    **DISTINCT_CONTEXT,
    "job_events_monitored_jobs": "all",
    "job_events_client_by_job": {"nightly_export": "acme"},
    "job_events_glue_dpu_hour_usd": 0.5,
}
#: Every call `lambdas/job_events/logic.py` makes, and nothing more.
READ_ACTIONS = {
    "glue:GetTags",
    "glue:GetJobRun",
    "states:ListTagsForResource",
    "batch:ListTagsForResource",
    "emr-serverless:GetApplication",
    "emr-serverless:GetJobRun",
}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("job_events"), **CONTEXT)


@pytest.fixture(scope="module")
def resources(synth: Synth) -> dict[str, dict[str, Any]]:
    return synth.pipeline_template.to_json()["Resources"]


def function_id(synth: Synth) -> str:
    return logical_id(synth.pipeline, synth.pipeline.job_events.function)


def test_one_rule_per_service_matches_exactly_the_states_the_lambda_maps(synth: Synth, resources: dict) -> None:
    rules = [resources[logical_id(synth.pipeline, rule)]["Properties"] for rule in synth.pipeline.job_events.rules]

    patterns = sorted((rule["EventPattern"] for rule in rules), key=lambda pattern: pattern["source"])
    assert patterns == sorted(
        (
            {
                "source": [service.source],
                "detail-type": [service.detail_type],
                "detail": {service.state_field: list(service.statuses)},
            }
            for service in job_events.SERVICES
        ),
        key=lambda pattern: pattern["source"],
    )
    for rule in rules:
        assert "EventBusName" not in rule  # the default bus, where AWS services publish
        (target,) = rule["Targets"]
        assert render(target["Arn"]) == f"<{function_id(synth)}.Arn>"


def test_the_role_reads_tags_and_runs_and_writes_only_events_raw(synth: Synth, resources: dict) -> None:
    role_id = render(resources[function_id(synth)]["Properties"]["Role"]).strip("<>").removesuffix(".Arn")
    statements = [
        statement
        for policy in resources.values()
        if policy["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {
        action for s in statements for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }

    plumbing = ("logs:", "xray:", "kms:", "kinesis:", "sqs:")
    service_actions = {action for action in actions if not action.startswith(plumbing)}
    assert service_actions == READ_ACTIONS
    assert {action for action in actions if action.startswith("kinesis:")} <= {
        "kinesis:PutRecord",
        "kinesis:PutRecords",
        "kinesis:ListShards",
        "kinesis:DescribeStreamSummary",
    }
    queue_id = logical_id(synth.pipeline, synth.pipeline.job_events.on_failure_queue)
    for statement in statements:
        if str(statement["Action"]).startswith("sqs:") or "'sqs:" in str(statement["Action"]):
            assert render(statement["Resource"]) == f"<{queue_id}.Arn>"  # its on-failure destination only
        if set(statement["Action"]) & READ_ACTIONS:
            resource = render(statement["Resource"])
            assert resource.startswith("arn:<AWS::Partition>:") and ":<AWS::AccountId>:" in resource


def test_a_failing_event_is_retried_then_kept_on_an_alarmed_queue(synth: Synth, resources: dict) -> None:
    (config,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
        and r["Properties"]["FunctionName"] == {"Ref": function_id(synth)}
    ]
    queue_id = logical_id(synth.pipeline, synth.pipeline.job_events.on_failure_queue)

    assert config["MaximumRetryAttempts"] == ASYNC_RETRY_ATTEMPTS
    assert render(config["DestinationConfig"]["OnFailure"]["Destination"]) == f"<{queue_id}.Arn>"
    alarm = resources[logical_id(synth.pipeline, synth.pipeline.job_events.on_failure_alarm)]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert render(alarm["Dimensions"][0]["Value"]) == f"<{queue_id}.QueueName>"


def test_the_stage_settings_reach_the_environment(synth: Synth, resources: dict) -> None:
    variables = resources[function_id(synth)]["Properties"]["Environment"]["Variables"]

    assert variables["MONITORED_JOBS"] == "all"
    assert variables["CLIENT_BY_JOB"] == '{"nightly_export":"acme"}'
    assert variables["PRICE_GLUE_DPU_HOUR"] == "0.5"
    assert variables["PRICE_GLUE_FLEX_DPU_HOUR"] == repr(job_events.Prices().glue_flex_dpu_hour)


def test_there_is_one_price_setting_per_price_defaulting_to_it() -> None:
    defaults = JobEventsConfig()
    prices = {field.name: field.default for field in dataclasses.fields(job_events.Prices)}

    assert {name: getattr(defaults, f"{name}_usd") for name in prices} == prices
    price_settings = {f.name for f in dataclasses.fields(JobEventsConfig) if f.name.endswith("_usd")}
    assert price_settings == {f"{name}_usd" for name in prices}
    assert "job_events_glue_dpu_hour_usd" in {item.key for item in StageConfig.settings()}


def test_lakewatchs_own_glue_jobs_are_tagged_as_client_lakewatch(synth: Synth, resources: dict) -> None:
    jobs = {key: job["Properties"] for key, job in resources.items() if job["Type"] == "AWS::Glue::Job"}

    names = set()
    for job in jobs.values():
        assert job["Tags"][job_events.CLIENT_TAG] == OWN_CLIENT
        names.add(job["Tags"][job_events.JOB_NAME_TAG])
    assert names == {"pos_csv_etl", "compact_partitions_sales", "compact_partitions_job_runs"}
