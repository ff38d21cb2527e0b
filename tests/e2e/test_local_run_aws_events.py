"""`local-run --aws-events DIR --events-format base64`: documented EventBridge job events become job runs in the
same replay as the stream, KPL aggregates are taken apart, and every input still lands in exactly one place."""

from __future__ import annotations

import base64
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lakewatch.domain import job_events, kpl
from lakewatch.local.aws_events import merge_by_time
from lakewatch.local.runner import LocalRunError, LocalRunOptions, RunReport, local_run
from tests.fixtures.aws_events import AWS_EVENTS_DIR, load_aws_event

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
CLIENT = "acme-retail"


def _sale(event_id: str, *, hour: int, total: float = 4.90) -> bytes:
    return json.dumps(
        {
            "event_type": "sale",
            "event_id": event_id,
            "event_time": f"2024-06-09T{hour:02d}:15:00Z",
            "channel": "web",
            "payment_method": "card",
            "items": [{"product": "Latte", "unit_price": 2.45, "quantity": 2}],
            "total_price": total,
        }
    ).encode()


AGGREGATE = kpl.aggregate([("a", _sale("k-1", hour=9)), ("b", _sale("k-2", hour=9, total=1.0)), ("a", b"junk")])
CORRUPT = AGGREGATE[:-1] + bytes([AGGREGATE[-1] ^ 1])
RECORDS = [_sale("s-1", hour=8), AGGREGATE, CORRUPT, _sale("s-2", hour=20)]


def _states_failed_in_range() -> dict:
    event = load_aws_event("states_failed")
    shift = int(datetime(2024, 6, 9, 3, 0, tzinfo=UTC).timestamp() * 1000) - event["detail"]["startDate"]
    event["detail"]["startDate"] += shift
    event["detail"]["stopDate"] += shift
    return event


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunReport, Path]:
    work = tmp_path_factory.mktemp("aws-events")
    events = work / "events.b64"
    events.write_text("".join(base64.b64encode(record).decode() + "\n" for record in RECORDS))
    aws_dir = work / "aws"
    aws_dir.mkdir()
    for name in ("glue_job_runs.jsonl", "emr_job_runs.jsonl"):
        shutil.copy(AWS_EVENTS_DIR / name, aws_dir / name)
    glue_failed = load_aws_event("glue_failed")
    delivered = [load_aws_event("glue_succeeded"), glue_failed, glue_failed, _states_failed_in_range()]
    delivered.append(load_aws_event("emr_serverless_success"))
    (aws_dir / "events.jsonl").write_text("".join(json.dumps(event) + "\n" for event in delivered))
    tags = {job_events.CLIENT_TAG: CLIENT}
    (aws_dir / "tags.json").write_text(
        json.dumps(
            {
                "arn:aws:glue:us-west-2:123456789012:job/MyJob": tags,
                "arn:aws:states:us-east-1:012345678912:stateMachine:state-machine": tags,
                "00f1982r1uukb925": tags,
            }
        )
    )
    out = work / "out"
    report = local_run(
        LocalRunOptions(events=events, out=out, now=NOW, batch_size=3, events_format="base64", aws_events=aws_dir)
    )
    return report, out


def _alerts(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines() if line]


def test_every_eventbridge_event_becomes_a_job_run_and_every_record_lands_once(run: tuple[RunReport, Path]) -> None:
    report, _ = run

    assert report.aws_events == {"put": 5}
    assert report.clean_records == {"sales": 3, "job_runs": 5}  # s-1, k-1, s-2; the Glue failure twice
    assert report.quarantined["stream"] == 3  # k-2 total, "junk", the corrupt aggregate
    assert (report.kpl_aggregates, report.kpl_user_records) == (1, 3)
    assert report.accounting.balanced


def test_the_failed_runs_alert_once_each_though_one_was_delivered_twice(run: tuple[RunReport, Path]) -> None:
    _, out = run

    failed = [alert for alert in _alerts(out) if alert["attributes"].get("alert_type") == "job_failed"]

    assert sorted(alert["message"]["run_id"] for alert in failed) == sorted(
        [load_aws_event("glue_failed")["detail"]["jobRunId"], "execution-name"]
    )


def test_the_corrupt_aggregate_is_quarantined_whole(run: tuple[RunReport, Path]) -> None:
    _, out = run
    rows = [
        json.loads(line)
        for path in (out / "quarantine").rglob("*.jsonl")
        for line in path.read_text().splitlines()
        if line
    ]

    assert sorted((row["reason"], str(row["field"])) for row in rows) == [
        ("invalid_json", "None"),
        ("invalid_json", "kpl_aggregation"),
        ("total_mismatch", "total_price"),
    ]


def test_job_runs_are_interleaved_with_the_stream_by_time() -> None:
    stream = [_sale("s-1", hour=8), AGGREGATE, _sale("s-2", hour=20)]
    run_at_noon = json.dumps({"event_type": "job_run", "event_time": "2024-06-09T12:00:00Z"}).encode()

    assert merge_by_time(stream, [run_at_noon]) == [stream[0], stream[1], run_at_noon, stream[2]]


def test_one_record_dated_far_ahead_does_not_pull_the_job_runs_to_it() -> None:
    future = json.dumps({"event_type": "sale", "event_time": "2024-06-09T23:00:00Z"}).encode()
    stream = [_sale("s-1", hour=8), future, _sale("s-2", hour=20)]
    run_at_noon = json.dumps({"event_type": "job_run", "event_time": "2024-06-09T12:00:00Z"}).encode()

    assert merge_by_time(stream, [run_at_noon]) == [stream[0], run_at_noon, *stream[1:]]


def test_a_line_that_is_not_base64_is_a_one_line_error(tmp_path: Path) -> None:
    events = tmp_path / "events.b64"
    events.write_text("not base64!\n")

    with pytest.raises(LocalRunError, match="line 1 is not base64"):
        local_run(LocalRunOptions(events=events, out=tmp_path / "out", now=NOW, events_format="base64"))
