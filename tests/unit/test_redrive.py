"""The production re-drive against moto: on-failure batches read back from Kinesis, quarantine rows re-judged."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import boto3
import orjson
import pytest
from botocore.exceptions import ClientError
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
        return _redrive_queue(aws, ledger, dry_run=dry_run)

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


def _redrive_queue(aws: dict[str, Any], ledger: Any, *, dry_run: bool) -> redrive.RedriveReport:
    """The on-failure queue re-driven as on AWS, over the moto stream and queue of `aws`, without long polling."""
    return redrive.aws_redrive_on_failure_queue(
        sqs=aws["sqs"],
        kinesis=aws["kinesis"],
        queue_url=aws["queue_url"],
        target_stream=RAW,
        ledger=ledger,
        dry_run=dry_run,
        receive_wait_seconds=0,
    )


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
        "on_failure_malformed": 0,
        "on_failure_other_stream": 0,
        "on_failure_read_errors": 0,
        "quarantine_selected": 3,
        "would_pass": 1,
        "still_rejected": {"total_mismatch": 1},
        "not_redrivable": 1,
        "quarantine_malformed": 0,
        "quarantine_objects_gone": 0,
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
        ({"source": "stream", "record": {"length": 3, "sha256": "ab"}}, False),  # before fingerprints were keyed
        ({"source": "stream", "record": {"length": 3}}, False),
        ({"source": "stream", "record": {"length": 3, "event_type": "sale"}}, True),
        ({"source": "stream", "record": [1, 2]}, False),
        ({"source": "pos_csv", "record": {"event_type": "sale"}}, False),
        ({"source": "job_monitor", "record": {"event_type": "job_run"}}, False),
    ],
)
def test_only_complete_scrubbed_stream_records_can_be_redriven(row: dict, redrivable: bool) -> None:
    assert (redrive.redrivable_record(row) is not None) is redrivable


# ------------------------------------------------------------------------------------------ hostile inputs
#: An on-failure invocation record as AWS documents it for a Kinesis event source mapping (SQS destination).
AWS_SAMPLE = {
    "requestContext": {
        "requestId": "c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
        "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:myfunction",
        "condition": "RetryAttemptsExhausted",
        "approximateInvokeCount": 1,
    },
    "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
    "version": "1.0",
    "timestamp": "2019-11-14T00:38:06.021Z",
    "KinesisBatchInfo": {
        "shardId": "shardId-000000000001",
        "startSequenceNumber": "49601189658422359378836298521827638475320189012309704722",
        "endSequenceNumber": "49601189658422359378836298522902373528957594348623495186",
        "approximateArrivalOfFirstRecord": "2019-11-14T00:38:04.835Z",
        "approximateArrivalOfLastRecord": "2019-11-14T00:38:05.580Z",
        "batchSize": 500,
        "streamArn": "arn:aws:kinesis:us-east-2:123456789012:stream/mystream",
    },
}


def _with_batch_info(**changes: Any) -> dict[str, Any]:
    return AWS_SAMPLE | {"KinesisBatchInfo": AWS_SAMPLE["KinesisBatchInfo"] | changes}


def _records_of(batch: redrive.BatchInfo) -> list[redrive.StreamRecord]:
    first = int(batch.start_sequence_number)
    return [redrive.StreamRecord(str(first + i), f"pk-{i}", f"data-{i}".encode()) for i in range(batch.batch_size)]


def test_the_aws_documented_on_failure_record_is_read_exactly() -> None:
    batch = redrive.BatchInfo.from_invocation_record(AWS_SAMPLE)

    assert batch == redrive.BatchInfo(
        stream_arn="arn:aws:kinesis:us-east-2:123456789012:stream/mystream",
        shard_id="shardId-000000000001",
        start_sequence_number="49601189658422359378836298521827638475320189012309704722",
        end_sequence_number="49601189658422359378836298522902373528957594348623495186",
        batch_size=500,
    )
    assert batch.stream_name == "mystream"


MALFORMED_MESSAGES = [
    None,
    "text",
    [AWS_SAMPLE],
    {},
    {"KinesisBatchInfo": None},
    {"KinesisBatchInfo": []},
    {"SQSBatchInfo": AWS_SAMPLE["KinesisBatchInfo"]},
    _with_batch_info(batchSize=0),
    _with_batch_info(batchSize=-3),
    _with_batch_info(batchSize=True),
    _with_batch_info(batchSize=2.5),
    _with_batch_info(batchSize="500"),
    _with_batch_info(batchSize=10_001),
    _with_batch_info(batchSize="4111 1111 1111 1111"),
    _with_batch_info(startSequenceNumber="abc"),
    _with_batch_info(startSequenceNumber=" 1"),
    _with_batch_info(startSequenceNumber="-1"),
    _with_batch_info(startSequenceNumber="١٢٣"),  # Arabic-Indic digits: isdigit, yet no sequence number
    _with_batch_info(startSequenceNumber=49601189658422359378836298521827638475320189012309704722),
    _with_batch_info(endSequenceNumber="4" * 5000),  # past Python's int() digit limit
    _with_batch_info(startSequenceNumber="9", endSequenceNumber="1"),
    _with_batch_info(shardId=None),
    _with_batch_info(shardId=""),
    _with_batch_info(streamArn=None),
    _with_batch_info(streamArn="mystream"),
    _with_batch_info(streamArn="arn:aws:kinesis:us-east-2:123456789012:stream/"),
]


def test_malformed_on_failure_messages_are_counted_and_the_others_still_redriven() -> None:
    put: list[redrive.Entry] = []
    report = redrive.RedriveReport(dry_run=False)

    redrive.redrive_on_failure(
        [
            *MALFORMED_MESSAGES,
            _with_batch_info(
                batchSize=2, endSequenceNumber=AWS_SAMPLE["KinesisBatchInfo"]["startSequenceNumber"][:-1] + "3"
            ),
        ],
        read=_records_of,
        put=lambda entries: put.extend(entries) or [],
        ledger=set(),  # type: ignore[arg-type]
        report=report,
    )

    assert report.on_failure_malformed == len(MALFORMED_MESSAGES)
    assert (report.on_failure_batches, report.records_put, put) == (1, 2, [("pk-0", b"data-0"), ("pk-1", b"data-1")])


def test_a_malformed_message_is_named_by_its_field_never_its_value() -> None:
    with pytest.raises(redrive.RedriveError) as raised:
        redrive.BatchInfo.from_invocation_record(_with_batch_info(batchSize="4111 1111 1111 1111"))

    assert "batchSize" in str(raised.value) and "4111" not in str(raised.value)


def test_dry_run_counts_what_the_real_run_puts_when_a_queue_holds_duplicates_and_garbage(
    aws: dict[str, Any],
) -> None:
    kinesis, sqs, queue_url = aws["kinesis"], aws["sqs"], aws["queue_url"]
    sequences = _put(kinesis, [b"a", b"b", b"c"])
    message = json.dumps(_invocation_record(kinesis, sequences[0], sequences[1], 2))
    for body in (message, "{not json", message, json.dumps({"hello": "world"})):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    ledger = redrive.S3Ledger(aws["s3"], BUCKET)

    def run(dry_run: bool) -> redrive.RedriveReport:
        return _redrive_queue(aws, ledger, dry_run=dry_run)

    dry = run(dry_run=True)
    real = run(dry_run=False)

    assert (dry.on_failure_records, dry.already_redriven, dry.on_failure_malformed) == (2, 1, 2)
    assert (real.records_put, real.already_redriven, real.on_failure_malformed) == (2, 1, 2)
    assert len(_read_all(kinesis)) == 5
    left = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in left) == sorted(["{not json", json.dumps({"hello": "world"})])


class _QueueWhoseMessagesComeBack:
    """An SQS queue whose visibility timeout runs out at once: every receive brings the same message again."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.receives = 0

    def receive_message(self, **request: Any) -> dict[str, Any]:
        assert request["WaitTimeSeconds"] > 0, "a short poll may answer empty while messages remain"
        self.receives += 1
        assert self.receives < 50, "the run never ends"
        return {"Messages": [{"MessageId": "m-1", "ReceiptHandle": f"r-{self.receives}", "Body": self.body}]}

    def change_message_visibility_batch(self, **_: Any) -> None:
        pass


def test_a_message_received_again_during_a_run_is_counted_once_and_the_run_ends(aws: dict[str, Any]) -> None:
    kinesis = aws["kinesis"]
    sequences = _put(kinesis, [b"a"])
    queue = _QueueWhoseMessagesComeBack(json.dumps(_invocation_record(kinesis, sequences[0], sequences[0], 1)))

    dry = redrive.aws_redrive_on_failure_queue(
        sqs=queue,
        kinesis=kinesis,
        queue_url="q",
        target_stream=RAW,
        ledger=set(),  # type: ignore[arg-type]
        dry_run=True,
    )

    assert (dry.on_failure_batches, dry.on_failure_records, dry.already_redriven) == (1, 1, 0)


def test_a_batch_of_another_stream_is_not_put_into_events_raw(aws: dict[str, Any]) -> None:
    kinesis, sqs, queue_url = aws["kinesis"], aws["sqs"], aws["queue_url"]
    kinesis.create_stream(StreamName="job-runs-clean", ShardCount=1)
    sequence = kinesis.put_record(StreamName="job-runs-clean", PartitionKey="k", Data=b'{"clean": "row"}')[
        "SequenceNumber"
    ]
    message = _invocation_record(kinesis, sequence, sequence, 1)
    message["KinesisBatchInfo"]["streamArn"] = message["KinesisBatchInfo"]["streamArn"].replace(RAW, "job-runs-clean")
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))

    report = _redrive_queue(aws, set(), dry_run=False)

    assert (report.on_failure_other_stream, report.records_put) == (1, 0)
    assert _read_all(kinesis) == []


class _ThrottledKinesis:
    """Kinesis whose GetRecords is throttled and whose PutRecords throttles chosen records on chosen attempts."""

    def __init__(self, throttle: dict[bytes, int]) -> None:
        self.throttle = throttle  # data -> how many attempts are throttled
        self.stored: list[bytes] = []

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        results = []
        for record in Records:
            if self.throttle.get(record["Data"], 0) > 0:
                self.throttle[record["Data"]] -= 1
                results.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"})
            else:
                self.stored.append(record["Data"])
                results.append({"SequenceNumber": "1", "ShardId": "shardId-000000000000"})
        failed = sum("ErrorCode" in result for result in results)
        return {"FailedRecordCount": failed, "Records": results}

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "it"}

    def get_records(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "GetRecords")


def test_put_records_puts_again_only_the_throttled_records() -> None:
    kinesis = _ThrottledKinesis({b"b": 2, b"d": 99})
    entries = [("k", data) for data in (b"a", b"b", b"c", b"d")]

    failed = redrive.put_records(kinesis, RAW, entries, sleep=lambda _: None)

    assert failed == [3]
    assert sorted(kinesis.stored) == [b"a", b"b", b"c"]  # each once; d never got through


def test_a_batch_put_in_part_is_completed_by_the_next_run_without_doubling_a_record() -> None:
    kinesis = _ThrottledKinesis({b"data-1": redrive.PUT_ATTEMPTS})  # fails every attempt of the first run
    batch = _with_batch_info(
        batchSize=3, endSequenceNumber=AWS_SAMPLE["KinesisBatchInfo"]["startSequenceNumber"][:-1] + "4"
    )
    ledger: set[str] = set()

    def run() -> redrive.RedriveReport:
        report = redrive.RedriveReport(dry_run=False)
        redrive.redrive_on_failure(
            [batch],
            read=_records_of,
            put=lambda entries: redrive.put_records(kinesis, RAW, entries, sleep=lambda _: None),
            ledger=ledger,  # type: ignore[arg-type]
            report=report,
        )
        return report

    first, second, third = run(), run(), run()

    assert (first.records_put, first.put_failures) == (2, 1)
    assert (second.on_failure_records, second.records_put, second.put_failures) == (1, 1, 0)
    assert (third.records_put, third.already_redriven) == (0, 1)
    assert sorted(kinesis.stored) == [b"data-0", b"data-1", b"data-2"]


def test_get_records_throttling_is_a_read_error_not_a_crash() -> None:
    report = redrive.RedriveReport(dry_run=False)

    redrive.redrive_on_failure(
        [AWS_SAMPLE],
        read=lambda batch: redrive.read_batch(_ThrottledKinesis({}), batch),
        put=lambda entries: pytest.fail("nothing may be put"),
        ledger=set(),  # type: ignore[arg-type]
        report=report,
    )

    assert (report.on_failure_read_errors, report.on_failure_expired) == (1, 0)


def test_quarantine_rows_put_are_done_even_when_others_of_their_request_failed() -> None:
    rows = [
        redrive.QuarantineRow("quarantine/stream/dt=2024-06-09/o.jsonl", line, json.loads(_row("invalid_field", sale)))
        for line, sale in enumerate([_scrubbed_sale("ok-1"), _scrubbed_sale("throttled"), _scrubbed_sale("ok-2")], 1)
    ]
    kinesis = _ThrottledKinesis({})
    kinesis.throttle = {orjson.dumps(row.row["record"]): 99 for row in rows[1:2]}
    ledger: set[str] = set()

    def run() -> redrive.RedriveReport:
        report = redrive.RedriveReport(dry_run=False)
        redrive.redrive_quarantine(
            rows,
            pii_key=PII_KEY,
            now=NOW,
            put=lambda entries: redrive.put_records(kinesis, RAW, entries, sleep=lambda _: None),
            ledger=ledger,  # type: ignore[arg-type]
            report=report,
        )
        return report

    first = run()
    kinesis.throttle.clear()
    second = run()

    assert (first.records_put, first.put_failures, second.records_put, second.already_redriven) == (2, 1, 1, 2)
    assert len(kinesis.stored) == 3


def test_broken_lines_of_a_quarantine_object_are_counted_and_its_other_rows_kept() -> None:
    body = b"\n".join(
        [
            _row("invalid_field", _scrubbed_sale("a")),
            b'{"reason": "invalid_field", "record": {"event_id"',  # truncated upload
            b"[1, 2]",
            b'"a string"',
            b"\xff\xfe garbage",
            b"",
            _row("invalid_field", _scrubbed_sale("b")),
        ]
    )
    report = redrive.RedriveReport(dry_run=True)

    rows = redrive.parse_quarantine_object("quarantine/stream/dt=2024-06-09/o.jsonl", body, report)

    assert [(row.line, row.row["record"]["event_id"]) for row in rows] == [(1, "a"), (7, "b")]
    assert report.quarantine_malformed == 4


def test_rows_whose_reason_or_date_is_no_string_are_simply_not_selected_by_a_filter() -> None:
    rows = [
        redrive.QuarantineRow("k", line, row)
        for line, row in enumerate(
            [
                {"reason": ["invalid_field"], "quarantined_at": "2024-06-09 10:00:00.000000"},
                {"reason": {"a": 1}, "quarantined_at": "2024-06-09 10:00:00.000000"},
                {"reason": "invalid_field", "quarantined_at": {"day": 9}},
                {"reason": "invalid_field", "quarantined_at": None},
                {"reason": "invalid_field", "quarantined_at": "2024-06-09 23:59:59.999999"},
            ],
            1,
        )
    ]

    selected = redrive.select_rows(rows, reasons=["invalid_field"], since=date(2024, 6, 9), until=date(2024, 6, 9))

    assert [row.line for row in selected] == [5]


def test_a_quarantine_object_saved_with_a_byte_order_mark_and_crlf_keeps_every_row() -> None:
    body = (
        codecs.BOM_UTF8
        + _row("invalid_field", _scrubbed_sale("a"))
        + b"\r\n"
        + _row("invalid_field", _scrubbed_sale("b"))
    )
    report = redrive.RedriveReport(dry_run=True)

    rows = redrive.parse_quarantine_object("quarantine/stream/dt=2024-06-09/o.jsonl", body + b"\r\n", report)

    assert [row.row["record"]["event_id"] for row in rows] == ["a", "b"]
    assert report.quarantine_malformed == 0


class _S3WhoseLifecycleExpires:
    """S3 whose quarantine lifecycle deletes `expiring` between the listing and the read of it."""

    def __init__(self, s3: Any, expiring: str) -> None:
        self.s3 = s3
        self.expiring = expiring

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s3, name)

    def get_object(self, **request: Any) -> Any:
        if request["Key"] == self.expiring:
            self.s3.delete_object(Bucket=request["Bucket"], Key=request["Key"])
        return self.s3.get_object(**request)


def test_a_quarantine_object_expired_during_the_run_is_counted_and_the_others_redriven(aws: dict[str, Any]) -> None:
    s3 = aws["s3"]
    s3.put_object(Bucket=BUCKET, Key="quarantine/stream/dt=2024-06-09/a.jsonl", Body=_row("invalid_field", {}))
    s3.put_object(Bucket=BUCKET, Key="quarantine/stream/dt=2024-06-09/b.jsonl", Body=_row("invalid_field", {}))

    report = redrive.aws_redrive_quarantine(
        s3=_S3WhoseLifecycleExpires(s3, "quarantine/stream/dt=2024-06-09/a.jsonl"),
        kinesis=aws["kinesis"],
        bucket=BUCKET,
        target_stream=RAW,
        pii_key=PII_KEY,
        reasons=None,
        since=date(2024, 6, 9),
        until=date(2024, 6, 9),
        now=NOW,
        ledger=redrive.S3Ledger(s3, BUCKET),
        dry_run=True,
    )

    assert (report.quarantine_objects_gone, report.quarantine_selected) == (1, 1)
