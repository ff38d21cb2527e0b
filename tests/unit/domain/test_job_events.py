"""job_events: AWS documentation's example state-change events become wire-contract job_run events."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakewatch.domain import events, job_events, transform
from lakewatch.domain.job_events import ClientPolicy, Prices, UnusableEvent
from tests.fixtures.aws_events import load_aws_event, recorded_emr_run, recorded_glue_run

PRICES = Prices()
INGESTED = datetime(2024, 6, 10, tzinfo=UTC)


def test_every_service_maps_only_onto_the_wire_contract_vocabulary() -> None:
    for service in job_events.SERVICES:
        assert set(service.statuses.values()) <= events.JOB_STATUSES


@pytest.mark.parametrize(
    ("fixture", "service", "status"),
    [
        ("glue_succeeded", "glue", "SUCCEEDED"),
        ("glue_failed", "glue", "FAILED"),
        ("glue_timeout", "glue", "TIMED_OUT"),
        ("glue_stopped", "glue", "FAILED"),
        ("states_succeeded", "states", "SUCCEEDED"),
        ("states_failed", "states", "FAILED"),
        ("states_timed_out", "states", "TIMED_OUT"),
        ("states_aborted", "states", "FAILED"),
        ("batch_succeeded", "batch", "SUCCEEDED"),
        ("batch_failed", "batch", "FAILED"),
        ("emr_serverless_success", "emr-serverless", "SUCCEEDED"),
        ("emr_serverless_failed", "emr-serverless", "FAILED"),
        ("emr_serverless_cancelled", "emr-serverless", "FAILED"),
    ],
)
def test_each_documented_terminal_event_maps_to_its_status(fixture: str, service: str, status: str) -> None:
    change = job_events.parse_state_change(load_aws_event(fixture))

    assert (change.service.name, change.status) == (service, status)
    assert change.event_id.startswith(f"{service}-")
    assert len(change.event_id) <= events.MAX_EVENT_ID_LENGTH
    assert len(change.run_id) <= events.MAX_ID_LENGTH


@pytest.mark.parametrize(
    "event",
    [
        {"source": "aws.glue", "detail-type": "Glue Job State Change", "detail": {"state": "RUNNING"}},
        {"source": "aws.glue", "detail-type": "Glue Crawler State Change", "detail": {"state": "Succeeded"}},
        {"source": "aws.batch", "detail-type": "Batch Job State Change", "detail": {"status": "RUNNABLE"}},
        {"source": "aws.glue", "detail-type": "Glue Job State Change", "detail": {"state": "FAILED"}},
        {"source": "aws.states", "detail-type": "Step Functions Execution Status Change", "detail": None},
        [],
    ],
)
def test_anything_but_a_complete_terminal_state_change_is_unusable(event: Any) -> None:
    with pytest.raises(UnusableEvent):
        job_events.parse_state_change(event)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    source=st.sampled_from([s.source for s in job_events.SERVICES]) | _JSON,
    detail_type=st.sampled_from([s.detail_type for s in job_events.SERVICES]) | _JSON,
    detail=st.dictionaries(
        st.sampled_from(["state", "status", "jobName", "jobRunId", "executionArn", "stateMachineArn", "name"]),
        st.sampled_from(["SUCCEEDED", "FAILED", "SUCCESS"]) | _JSON,
    )
    | _JSON,
)
def test_any_json_is_a_state_change_or_unusable_never_a_crash(source: Any, detail_type: Any, detail: Any) -> None:
    event = {"source": source, "detail-type": detail_type, "detail": detail, "account": "1", "region": "eu-west-1"}
    try:
        change = job_events.parse_state_change(event)
    except UnusableEvent:
        return
    assert change.status in events.JOB_STATUSES


@settings(max_examples=200, deadline=None)
@given(detail=st.dictionaries(st.sampled_from(["startedAt", "stoppedAt", "statusReason", "container"]), _JSON))
def test_batch_facts_from_any_json_detail_are_facts_or_unusable(detail: dict[str, Any]) -> None:
    event = load_aws_event("batch_failed")
    event["detail"].update(detail)
    change = job_events.parse_state_change(event)
    try:
        facts = job_events.batch_facts(change, None)
    except UnusableEvent:
        return
    event = job_events.job_run_event(change, facts, client="c", job_name="j")  # what the transform then judges
    assert event["started_at"] <= event["ended_at"]


def test_the_event_id_is_the_runs_not_the_deliverys() -> None:
    first = load_aws_event("glue_failed")
    redelivered = {**copy.deepcopy(first), "id": "another-envelope-id", "time": "2017-09-07T06:09:00Z"}
    other_run = copy.deepcopy(first)
    other_run["detail"]["jobRunId"] = "jr_" + "f" * 64

    ids = [job_events.parse_state_change(event).event_id for event in (first, redelivered, other_run)]

    assert ids[0] == ids[1] != ids[2]


def test_a_glue_run_takes_times_cost_and_error_from_get_job_run() -> None:
    change = job_events.parse_state_change(load_aws_event("glue_failed"))

    facts = job_events.glue_facts(change, recorded_glue_run(change.run_id), PRICES)

    assert facts.started_at == datetime(2024, 6, 8, 6, 1, 10, tzinfo=UTC)
    assert facts.ended_at == datetime(2024, 6, 8, 6, 2, 3, tzinfo=UTC)
    # 35 s billed as the one-minute minimum: 2 G.2X workers = 4 DPU x 60 s = 0.0667 DPU-hours x $0.44
    assert facts.cost_usd == 0.0293
    assert facts.instance_size == "G.2X x2"
    assert facts.error_message is not None and "assume role permissions" in facts.error_message


@pytest.mark.parametrize(
    ("job_run", "dpu_hours"),
    [
        ({"WorkerType": "G.1X", "NumberOfWorkers": 10, "ExecutionTime": 720}, 2.0),
        ({"WorkerType": "G.1X", "NumberOfWorkers": 10, "ExecutionTime": 5}, 10 * 60 / 3600),
        ({"WorkerType": "G.2X", "NumberOfWorkers": 3, "MaxCapacity": 99.0, "ExecutionTime": 3600}, 6.0),
        ({"MaxCapacity": 0.0625, "ExecutionTime": 3600}, 0.0625),
        ({"DPUSeconds": 1800.0, "WorkerType": "G.1X", "NumberOfWorkers": 10, "ExecutionTime": 3600}, 0.5),
        ({"WorkerType": "G.1X", "NumberOfWorkers": 10}, None),
        ({"ExecutionTime": 600}, None),
    ],
)
def test_glue_dpu_hours(job_run: dict[str, Any], dpu_hours: float | None) -> None:
    if dpu_hours is None:
        assert job_events.glue_dpu_hours(job_run) is None
        assert job_events.glue_cost(job_run, PRICES) is None
    else:
        assert job_events.glue_dpu_hours(job_run) == pytest.approx(dpu_hours)


def test_a_flex_glue_run_is_priced_at_the_flex_price() -> None:
    run = {"DPUSeconds": 7200.0, "ExecutionTime": 7200, "ExecutionClass": "FLEX"}

    assert job_events.glue_cost(run, PRICES) == 0.58
    assert job_events.glue_cost({**run, "ExecutionClass": "STANDARD"}, PRICES) == 0.88
    assert job_events.glue_cost(run, Prices(glue_flex_dpu_hour=0.25)) == 0.5


def test_an_emr_serverless_run_is_priced_from_its_billed_utilisation() -> None:
    change = job_events.parse_state_change(load_aws_event("emr_serverless_success"))

    facts = job_events.emr_serverless_facts(change, recorded_emr_run(change.run_id), PRICES)

    # 4 vCPU-h x 0.052624 + 16 GB-h x 0.0057785 + 20 storage GB-h x 0.000111 = 0.305172
    assert facts.cost_usd == 0.3052
    assert facts.ended_at == datetime(2024, 6, 9, 2, 0, tzinfo=UTC)
    # no startedAt: the end minus the 1,800 s it ran, not its creation (which includes time queued)
    assert facts.started_at == datetime(2024, 6, 9, 1, 30, tzinfo=UTC)
    assert facts.error_message is None


def test_an_emr_serverless_run_without_billed_utilisation_has_no_cost() -> None:
    assert job_events.emr_serverless_cost({"totalResourceUtilization": {"vCPUHour": 1.0}}, PRICES) is None


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("glue_stopped", "glue STOPPED: Job run stopped"),
        ("states_aborted", "states ABORTED"),
        ("emr_serverless_cancelled", "emr-serverless CANCELLED: Job run completed"),
    ],
)
def test_a_stopped_run_fails_and_says_how_it_ended(fixture: str, message: str) -> None:
    change = job_events.parse_state_change(load_aws_event(fixture))
    if change.service is job_events.GLUE:
        facts = job_events.glue_facts(change, {**recorded_glue_run(change.run_id), "ErrorMessage": None}, PRICES)
    elif change.service is job_events.EMR_SERVERLESS:
        facts = job_events.emr_serverless_facts(change, recorded_emr_run(change.run_id), PRICES)
    else:
        facts = job_events.step_functions_facts(change)

    assert change.status == "FAILED"
    assert facts.error_message == message


def test_step_functions_times_come_from_the_event() -> None:
    change = job_events.parse_state_change(load_aws_event("states_failed"))

    facts = job_events.step_functions_facts(change)

    assert (facts.ended_at - facts.started_at).total_seconds() == pytest.approx(5.034)
    assert facts.cost_usd is None
    assert change.job_name == "state-machine"
    assert change.run_id == "execution-name"


def test_each_redrive_of_a_step_functions_execution_is_a_run_of_its_own() -> None:
    # Given an execution that failed, then was redriven (same ARN, same name) and failed again two hours later
    first = load_aws_event("states_failed")
    again = copy.deepcopy(first)
    again["detail"].update(
        {"redriveCount": 1, "redriveDate": 1551232346847, "startDate": 1551225146847, "stopDate": 1551232946847}
    )
    original, redriven = (job_events.parse_state_change(event) for event in (first, again))

    # Then the second end is another run: its own event_id (not de-duplicated away) and run_id (its own alert)
    assert original.event_id != redriven.event_id
    assert (original.run_id, redriven.run_id) == ("execution-name", "execution-name/redrive-1")
    # ... which lasted from its redrive (10 minutes), not from the first attempt's start
    facts = job_events.step_functions_facts(redriven)
    assert (facts.ended_at - facts.started_at).total_seconds() == 600
    # ... and an execution never redriven keeps the identity it always had
    first["detail"].update({"redriveCount": 0, "redriveDate": None})
    unchanged = job_events.parse_state_change(first)
    assert (unchanged.event_id, unchanged.run_id) == (original.event_id, original.run_id)


@pytest.mark.parametrize(
    ("piece", "job_id"),
    [
        ({"arrayProperties": {"index": 7}}, "4c7599ae-0a82-49aa-ba5a-4727fcce14a8:7"),
        ({"nodeDetails": {"nodeIndex": 1, "isMainNode": False}}, "4c7599ae-0a82-49aa-ba5a-4727fcce14a8#1"),
    ],
    ids=["array-child", "multi-node-node"],
)
def test_a_batch_child_job_is_part_of_its_parents_run_not_a_run(piece: dict[str, Any], job_id: str) -> None:
    # Given the end of an array job's child (or a multi-node job's node), as Batch announces every job's end
    event = load_aws_event("batch_failed")
    event["detail"].update(piece, jobId=job_id, jobArn=f"arn:aws:batch:us-east-1:123456789012:job/{job_id}")

    # Then it is no run of its own (its parent's end is)
    with pytest.raises(job_events.PartOfARun):
        job_events.parse_state_change(event)
    # ... while the array job itself, which carries its size and status summary instead, is one
    parent = load_aws_event("batch_failed")
    parent["detail"]["arrayProperties"] = {"size": 10, "statusSummary": {"FAILED": 1, "SUCCEEDED": 9}}
    assert job_events.parse_state_change(parent).status == "FAILED"


def test_a_batch_job_that_never_started_ran_for_no_time() -> None:
    event = load_aws_event("batch_failed")
    del event["detail"]["startedAt"]
    change = job_events.parse_state_change(event)

    facts = job_events.batch_facts(change, None)

    assert facts.started_at == facts.ended_at
    assert facts.instance_size == "2 vCPU 256 MiB"
    assert facts.error_message == "Essential container in task exited"


def test_the_client_comes_from_the_tag_or_only_with_monitor_all_from_the_mapping_or_the_job_name() -> None:
    tagged = {job_events.CLIENT_TAG: "acme-retail"}
    everything = ClientPolicy(monitor_all_jobs=True, client_by_job={"nightly": "globex"})

    assert job_events.client_for(tagged, "nightly", ClientPolicy()) == "acme-retail"
    assert job_events.client_for({}, "nightly", ClientPolicy()) is None
    assert job_events.client_for(tagged, "nightly", everything) == "acme-retail"
    assert job_events.client_for({}, "nightly", everything) == "globex"
    assert job_events.client_for({}, "hourly", everything) == "hourly"


@pytest.mark.parametrize(
    "fixture", ["glue_succeeded", "glue_failed", "states_succeeded", "batch_failed", "emr_serverless_failed"]
)
def test_the_job_run_event_is_clean_for_the_transform(fixture: str) -> None:
    change = job_events.parse_state_change(load_aws_event(fixture))
    facts = _facts(change)

    event = job_events.job_run_event(change, facts, client="acme-retail", job_name=change.job_name)
    verdict = transform.transform_record(json.dumps(event).encode(), pii_key=b"k" * 32, ingested_at=INGESTED)

    assert type(verdict) is transform.Clean, verdict
    assert verdict.event_id == change.event_id
    assert event["status"] == change.status


def _facts(change: job_events.StateChange) -> job_events.RunFacts:
    if change.service is job_events.GLUE:
        return job_events.glue_facts(change, recorded_glue_run(change.run_id), PRICES)
    if change.service is job_events.EMR_SERVERLESS:
        return job_events.emr_serverless_facts(change, recorded_emr_run(change.run_id), PRICES)
    # The documented Step Functions and Batch examples are from 2019 and 2022: move them into the lake's range.
    facts = (
        job_events.step_functions_facts(change)
        if change.service is job_events.STEP_FUNCTIONS
        else job_events.batch_facts(change, None)
    )
    shift = datetime(2024, 6, 9, tzinfo=UTC) - facts.started_at
    return job_events.RunFacts(
        facts.started_at + shift, facts.ended_at + shift, facts.cost_usd, facts.instance_size, facts.error_message
    )
