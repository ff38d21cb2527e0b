"""The production re-drive against moto: on-failure batches read back from Kinesis, quarantine rows re-judged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lakewatch import redrive
from tests.e2e.test_local_run import _sale

REGION = "eu-west-1"
RAW = "events-raw"
BUCKET = "lake"
PII_KEY = b"test-pii-key"
NOW = datetime(2024, 6, 10, 12, tzinfo=UTC)


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        kinesis = boto3.client("kinesis", region_name=REGION)
        kinesis.create_stream(StreamName=RAW, ShardCount=1)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="on-failure")["QueueUrl"]
        yield {"kinesis": kinesis, "s3": s3, "sqs": sqs, "queue_url": queue_url}


def _put(kinesis: Any, payloads: list[bytes]) -> list[str]:
    return [
        kinesis.put_record(StreamName=RAW, PartitionKey=f"pk-{index}", Data=payload)["SequenceNumber"]
        for index, payload in enumerate(payloads)
    ]


def _read_all(kinesis: Any) -> list[tuple[str, bytes]]:
    iterator = kinesis.get_shard_iterator(
        StreamName=RAW, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return [(r["PartitionKey"], r["Data"]) for r in kinesis.get_records(ShardIterator=iterator)["Records"]]


def _invocation_record(kinesis: Any, first: str, last: str, size: int) -> dict[str, Any]:
    arn = kinesis.describe_stream_summary(StreamName=RAW)["StreamDescriptionSummary"]["StreamARN"]
    return {
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 4},
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "version": "1.0",
        "KinesisBatchInfo": {
            "shardId": "shardId-000000000000",
            "startSequenceNumber": first,
            "endSequenceNumber": last,
            "batchSize": size,
            "streamArn": arn,
        },
    }


def test_on_failure_batches_are_read_back_and_put_again_once(aws: dict[str, Any]) -> None:
    kinesis, sqs, queue_url = aws["kinesis"], aws["sqs"], aws["queue_url"]
    payloads = [f"record-{index}".encode() for index in range(5)]
    sequences = _put(kinesis, payloads)
    message = _invocation_record(kinesis, sequences[1], sequences[3], 3)
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))
    ledger = redrive.S3Ledger(aws["s3"], BUCKET)

    def run(dry_run: bool) -> redrive.RedriveReport:
        return redrive.aws_redrive_on_failure_queue(
            sqs=sqs, kinesis=kinesis, queue_url=queue_url, target_stream=RAW, ledger=ledger, dry_run=dry_run
        )

    dry = run(dry_run=True)
    assert (dry.on_failure_batches, dry.on_failure_records, dry.records_put) == (1, 3, 0)
    assert len(_read_all(kinesis)) == 5

    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))  # the same message delivered twice
    first = run(dry_run=False)
    second = run(dry_run=False)

    # Same partition key and data, once; the queue is drained; the duplicate message puts nothing again
    assert _read_all(kinesis)[5:] == [(f"pk-{index}", payloads[index]) for index in (1, 2, 3)]
    assert first.records_put + second.records_put == 3
    assert first.already_redriven + second.already_redriven >= 1
    assert sqs.receive_message(QueueUrl=queue_url).get("Messages", []) == []


def test_a_range_the_stream_no_longer_holds_is_reported_expired(aws: dict[str, Any]) -> None:
    kinesis = aws["kinesis"]
    sequences = _put(kinesis, [b"only"])
    message = _invocation_record(kinesis, sequences[0], sequences[0], 2)  # the batch had two records
    report = redrive.RedriveReport(dry_run=False)

    redrive.redrive_on_failure(
        [message],
        read=lambda batch: redrive.read_batch(kinesis, batch),
        put=lambda entries: pytest.fail("nothing may be put"),
        ledger=set(),  # type: ignore[arg-type]
        report=report,
    )

    assert report.on_failure_expired == 1


def _row(reason: str, record: Any, *, source: str = "stream") -> bytes:
    row = {
        "reason": reason,
        "field": None,
        "event_id": None,
        "sequence_number": "1",
        "source": source,
        "quarantined_at": "2024-06-09 10:00:00.000000",
        "record": record,
    }
    return json.dumps(row).encode()


def _scrubbed_sale(event_id: str, **changes: Any) -> dict[str, Any]:
    sale = _sale(event_id, day=9, hour=9, store="Leeds")
    for name in ("card_number", "customer_name", "customer_id"):
        sale.pop(name, None)
    return sale | changes


def test_quarantine_rows_that_now_pass_are_resubmitted_once_and_the_rest_reported(aws: dict[str, Any]) -> None:
    s3, kinesis = aws["s3"], aws["kinesis"]
    body = b"\n".join(
        [
            _row("invalid_field", _scrubbed_sale("fixed-1")),  # rejected by yesterday's transform, valid today
            _row("total_mismatch", _scrubbed_sale("still-bad", total_price=99.0)),
            _row("invalid_json", {"length": 12, "keyed_hash": "0" * 128}),  # only a fingerprint is left
        ]
    )
    s3.put_object(Bucket=BUCKET, Key="quarantine/stream/dt=2024-06-09/batch-1.jsonl", Body=body)
    s3.put_object(Bucket=BUCKET, Key="quarantine/stream/dt=2024-06-01/old.jsonl", Body=_row("invalid_field", {}))
    ledger = redrive.S3Ledger(s3, BUCKET)

    def run(dry_run: bool, reasons: list[str] | None = None) -> redrive.RedriveReport:
        return redrive.aws_redrive_quarantine(
            s3=s3,
            kinesis=kinesis,
            bucket=BUCKET,
            target_stream=RAW,
            pii_key=PII_KEY,
            reasons=reasons,
            since=date(2024, 6, 9),
            until=date(2024, 6, 10),
            now=NOW,
            ledger=ledger,
            dry_run=dry_run,
        )

    dry = run(dry_run=True)
    assert dry.to_json() | {"dry_run": None} == {
        "dry_run": None,
        "on_failure_batches": 0,
        "on_failure_records": 0,
        "on_failure_expired": 0,
        "quarantine_selected": 3,
        "would_pass": 1,
        "still_rejected": {"total_mismatch": 1},
        "not_redrivable": 1,
        "already_redriven": 0,
        "records_put": 0,
        "put_failures": 0,
    }
    assert _read_all(kinesis) == []

    assert run(dry_run=False, reasons=["total_mismatch"]).records_put == 0
    first = run(dry_run=False)
    second = run(dry_run=False)

    put = _read_all(kinesis)
    assert [key for key, _ in put] == ["fixed-1"]
    assert json.loads(put[0][1])["event_id"] == "fixed-1"
    assert (first.records_put, second.records_put, second.already_redriven) == (1, 0, 1)


@pytest.mark.parametrize(
    ("row", "redrivable"),
    [
        ({"source": "stream", "record": {"event_type": "sale"}}, True),
        ({"source": "stream", "record": {"length": 3, "keyed_hash": "ab"}}, False),
        ({"source": "stream", "record": [1, 2]}, False),
        ({"source": "pos_csv", "record": {"event_type": "sale"}}, False),
        ({"source": "job_monitor", "record": {"event_type": "job_run"}}, False),
    ],
)
def test_only_complete_scrubbed_stream_records_can_be_redriven(row: dict, redrivable: bool) -> None:
    assert (redrive.redrivable_record(row) is not None) is redrivable
