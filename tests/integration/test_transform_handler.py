"""The transform Lambda with moto: routing, quarantine, retries of throttled entries, partial batch responses,
faults injected where moto cannot fail on demand (fake clients, botocore Stubber), poison records, replays,
the AWS sample event, and no PII in any output or log line."""

from __future__ import annotations

import base64
import copy
import dataclasses
import gzip
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from transform import delivery
from transform import handler as transform_handler
from transform.settings import Settings

from lakewatch.domain import pii
from lakewatch.domain import transform as transform_module
from lakewatch.domain.transform import Clean
from tests.fixtures import kinesis_event, load_event

SALES_STREAM = "sales-clean"
JOB_RUNS_STREAM = "job-runs-clean"
BUCKET = "lakewatch-lake"
SECRET_VALUE = "integration-test-pii-key-0123456789"
PII_STRINGS = ("4111", "Jane Doe", "John Smith", "cust-42", "ops@example.com")


@dataclass
class Aws:
    kinesis: Any
    s3: Any
    secrets: Any
    sleeps: list[float] = field(default_factory=list)

    def stream_payloads(self, stream: str) -> list[dict[str, Any]]:
        shard = self.kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
        iterator = self.kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        records = self.kinesis.get_records(ShardIterator=iterator["ShardIterator"], Limit=10_000)["Records"]
        return [json.loads(record["Data"]) for record in records]

    def quarantine_objects(self) -> dict[str, bytes]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        return {item["Key"]: self.s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read() for item in listing}

    def quarantine_rows(self) -> list[dict[str, Any]]:
        return [json.loads(line) for body in self.quarantine_objects().values() for line in body.splitlines()]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with mock_aws():
        kinesis = boto3.client("kinesis")
        s3 = boto3.client("s3")
        secrets = boto3.client("secretsmanager")
        for stream in (SALES_STREAM, JOB_RUNS_STREAM):
            kinesis.create_stream(StreamName=stream, ShardCount=1)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        secret_arn = secrets.create_secret(Name="lakewatch/pii-key", SecretString=SECRET_VALUE)["ARN"]
        resources = Aws(kinesis=kinesis, s3=s3, secrets=secrets)
        monkeypatch.setenv("SALES_STREAM_NAME", SALES_STREAM)
        monkeypatch.setenv("JOB_RUNS_STREAM_NAME", JOB_RUNS_STREAM)
        monkeypatch.setenv("QUARANTINE_BUCKET", BUCKET)
        monkeypatch.setenv("PII_KEY_SECRET_ARN", secret_arn)
        transform_handler.dependencies.cache_clear()
        transform_handler.pii_key.cache_clear()
        deps = transform_handler.Dependencies(
            settings=Settings.from_env(os.environ),
            kinesis=kinesis,
            s3=s3,
            secrets=secrets,
            retry=delivery.Retry(sleep=resources.sleeps.append),
        )
        monkeypatch.setattr(transform_handler, "dependencies", lambda: deps)
        yield resources
        transform_handler.pii_key.cache_clear()


def use_clients(monkeypatch: pytest.MonkeyPatch, **clients: Any) -> None:
    """Swap some of the handler's clients (`kinesis=`, `s3=`, `secrets=`) for this test."""
    deps = dataclasses.replace(transform_handler.dependencies(), **clients)
    monkeypatch.setattr(transform_handler, "dependencies", lambda: deps)


class FlakyKinesis:
    """A Kinesis client whose PutRecords fails chosen partition keys with `code`, `times` times each."""

    def __init__(self, real: Any, failing_keys: set[str], *, times: int, code: str) -> None:
        self.real = real
        self.remaining = dict.fromkeys(failing_keys, times)
        self.code = code
        self.sent: Counter[str] = Counter()
        self.calls = 0

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        failing = []
        for entry in Records:
            key = entry["PartitionKey"]
            if self.remaining.get(key, 0) > 0:
                self.remaining[key] -= 1
                failing.append(True)
            else:
                failing.append(False)
        passing = [entry for entry, fails in zip(Records, failing, strict=True) if not fails]
        real_results = iter(self.real.put_records(StreamName=StreamName, Records=passing)["Records"] if passing else [])
        self.sent.update(entry["PartitionKey"] for entry in passing)
        results = [
            {"ErrorCode": self.code, "ErrorMessage": "Rate exceeded for shard"} if fails else next(real_results)
            for fails in failing
        ]
        return {"FailedRecordCount": sum(failing), "Records": results}


def mixed_batch() -> list[dict[str, Any] | bytes]:
    return [
        load_event("sale_web"),
        load_event("job_run"),
        load_event("sale_store"),
        load_event("sale_web", event_id="sale-web-0002", total_price=1.0),
        b"definitely not json, card 4111 1111 1111 1111",
        load_event("job_run", event_id="run-evt-0002", status="cancelled"),
    ]


def sequence(index: int) -> str:
    return f"{index + 1:056d}"


def test_a_mixed_batch_is_routed_to_both_clean_streams_and_quarantine(aws: Aws, lambda_context: Any) -> None:
    # Given a batch of two valid sales, one valid job run and three invalid records
    event = kinesis_event(mixed_batch())

    # When the transform handles it
    response = transform_handler.handler(event, lambda_context)

    # Then nothing is left to retry, sales and job runs are on their streams, rejects in quarantine with reasons
    assert response == {"batchItemFailures": []}
    assert [row["event_id"] for row in aws.stream_payloads(SALES_STREAM)] == ["sale-web-0001", "sale-store-0001"]
    assert [row["event_id"] for row in aws.stream_payloads(JOB_RUNS_STREAM)] == ["run-evt-0001"]
    [key] = aws.quarantine_objects()
    # named after its first reject, dated by that record's arrival in events-raw (the builder's 2024-05-01)
    assert key == f"quarantine/stream/dt=2024-05-01/{sequence(3)}.jsonl"
    rows = aws.quarantine_rows()
    assert [(row["reason"], row["field"], row["sequence_number"]) for row in rows] == [
        ("total_mismatch", "total_price", sequence(3)),
        ("invalid_json", None, sequence(4)),
        ("invalid_field", "status", sequence(5)),
    ]
    assert all(row["source"] == "stream" and row["quarantined_at"] for row in rows)
    assert rows[1]["record"]["length"] == len(b"definitely not json, card 4111 1111 1111 1111")


def test_clean_rows_are_keyed_with_the_secret_from_secrets_manager(aws: Aws, lambda_context: Any) -> None:
    # Given the same customer sent twice in two invocations
    transform_handler.handler(kinesis_event([load_event("sale_web")]), lambda_context)
    transform_handler.handler(
        kinesis_event([load_event("sale_web", event_id="again")], first_sequence=9), lambda_context
    )

    # Then both rows carry the same customer_key, computed with the secret's value
    keys = {row["customer_key"] for row in aws.stream_payloads(SALES_STREAM)}
    expected = pii.customer_key(pii.normalise_customer_identity("cust-42", "Jane Doe"), SECRET_VALUE.encode())
    assert keys == {expected}


def test_throttled_entries_are_retried_alone_and_each_record_lands_exactly_once(
    aws: Aws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stream that throttles two of five sales twice each
    sales = [load_event("sale_web", event_id=f"sale-{index}") for index in range(5)]
    flaky = FlakyKinesis(aws.kinesis, {"sale-1", "sale-3"}, times=2, code="ProvisionedThroughputExceededException")
    use_clients(monkeypatch, kinesis=flaky)

    # When the transform handles the batch
    response = transform_handler.handler(kinesis_event(sales), lambda_context)

    # Then everything is delivered, each record exactly once, after two backoffs that never really slept
    assert response == {"batchItemFailures": []}
    delivered = Counter(row["event_id"] for row in aws.stream_payloads(SALES_STREAM))
    assert delivered == Counter({f"sale-{index}": 1 for index in range(5)})
    assert flaky.calls == 3
    assert len(aws.sleeps) == 2 and all(0 <= pause <= delivery.BACKOFF_CAP_SECONDS for pause in aws.sleeps)


def test_entries_still_failing_after_the_retries_become_batch_item_failures(
    aws: Aws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job-runs stream that keeps failing one run internally, and a batch with sales around it
    batch = [load_event("sale_web"), load_event("job_run"), load_event("sale_store")]
    flaky = FlakyKinesis(aws.kinesis, {"run-evt-0001"}, times=1_000, code="InternalFailure")
    use_clients(monkeypatch, kinesis=flaky)

    # When the transform handles it
    response = transform_handler.handler(kinesis_event(batch), lambda_context)

    # Then only that record is reported for Kinesis to retry, after a bounded number of attempts
    assert response == {"batchItemFailures": [{"itemIdentifier": sequence(1)}]}
    assert flaky.calls == 1 + delivery.MAX_ATTEMPTS  # one call for the sales, MAX_ATTEMPTS for the job run
    assert aws.stream_payloads(JOB_RUNS_STREAM) == []
    assert len(aws.stream_payloads(SALES_STREAM)) == 2


def test_a_non_retryable_entry_error_is_reported_without_retrying(
    aws: Aws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky = FlakyKinesis(aws.kinesis, {"sale-web-0001"}, times=1, code="AccessDeniedException")
    use_clients(monkeypatch, kinesis=flaky)

    response = transform_handler.handler(kinesis_event([load_event("sale_web")]), lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": sequence(0)}]}
    assert flaky.calls == 1 and aws.sleeps == []


def test_a_failed_quarantine_write_makes_the_rejected_records_batch_item_failures(
    aws: Aws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an S3 that refuses the quarantine object
    class RefusingS3:
        def put_object(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "PutObject")

    use_clients(monkeypatch, s3=RefusingS3())

    # When a mixed batch is handled
    response = transform_handler.handler(kinesis_event(mixed_batch()), lambda_context)

    # Then exactly the rejected records are left for Kinesis to retry; the valid ones were delivered
    assert response == {"batchItemFailures": [{"itemIdentifier": sequence(index)} for index in (3, 4, 5)]}
    assert len(aws.stream_payloads(SALES_STREAM)) == 2


def test_an_unreadable_pii_key_fails_the_whole_invocation(aws: Aws, lambda_context: Any) -> None:
    # Given the secret has been deleted
    aws.secrets.delete_secret(SecretId="lakewatch/pii-key", ForceDeleteWithoutRecovery=True)

    # When a batch arrives, the invocation fails (the event source mapping retries and bisects the batch)
    with pytest.raises(ClientError):
        transform_handler.handler(kinesis_event([load_event("sale_web")]), lambda_context)
    assert aws.stream_payloads(SALES_STREAM) == []


def test_no_pii_reaches_streams_quarantine_or_logs(
    aws: Aws, lambda_context: Any, capsys: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a batch full of names, ids, card numbers and e-mail addresses, valid and invalid
    batch = [
        *mixed_batch(),
        load_event("sale_web", event_type="refund"),
        load_event("sale_store", customer_id="cust-42", items="4111 1111 1111 1111"),
    ]

    # When the transform handles it
    transform_handler.handler(kinesis_event(batch), lambda_context)

    # Then no stream record, quarantine object, log line (as Powertools formats it) or metric contains any of it
    formatter = transform_handler.logger.registered_formatter
    log_lines = [formatter.format(record) for record in caplog.records]
    outputs = [
        json.dumps(aws.stream_payloads(SALES_STREAM)),
        json.dumps(aws.stream_payloads(JOB_RUNS_STREAM)),
        *(body.decode() for body in aws.quarantine_objects().values()),
        capsys.readouterr().out,
        *log_lines,
    ]
    assert any('"received":8' in line and '"unknown_event_type":1' in line for line in log_lines)
    for output in outputs:
        for secret in PII_STRINGS:
            assert secret not in output


def test_metrics_count_received_delivered_and_quarantined_by_reason(aws: Aws, lambda_context: Any, capsys: Any) -> None:
    transform_handler.handler(kinesis_event(mixed_batch()), lambda_context)

    [emf] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    figures = {name: value for name, value in emf.items() if isinstance(value, list)}
    assert figures == {
        "RecordsReceived": [6.0],
        "RecordsDelivered_sales": [2.0],
        "RecordsDelivered_job_runs": [1.0],
        "RecordsQuarantined": [3.0],
        "RecordsQuarantined_total_mismatch": [1.0],
        "RecordsQuarantined_invalid_json": [1.0],
        "RecordsQuarantined_invalid_field": [1.0],
        "DeliveryRetries": [0.0],
        "DeliveryFailures": [0.0],
    }


def clean(event_id: str, size: int) -> Clean:
    return Clean("sales", event_id, "2024-05-01", b"x" * size)


def test_put_records_requests_stay_within_500_records_and_5_mib() -> None:
    # Given 1,200 small entries and then 6 entries of 1 MiB each
    small = [(str(index), clean(f"e{index}", 100)) for index in range(1_200)]
    large = [(str(index), clean(f"big{index}", 1024 * 1024 - 10)) for index in range(6)]

    # When they are chunked for PutRecords
    small_chunks = delivery.chunk_entries(small)
    large_chunks = delivery.chunk_entries(large)

    # Then every request is within both limits and nothing is lost or reordered
    assert [len(chunk) for chunk in small_chunks] == [500, 500, 200]
    assert [len(chunk) for chunk in large_chunks] == [5, 1]
    assert [entry for chunk in small_chunks + large_chunks for entry in chunk] == small + large


def test_backoff_is_bounded_exponential_with_full_jitter() -> None:
    retry = delivery.Retry(sleep=lambda _: None, random=lambda: 1.0)
    assert [retry.delay(attempt) for attempt in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0]
    assert delivery.Retry(sleep=lambda _: None, random=lambda: 0.0).delay(3) == 0.0


# ------------------------------------------------------------------------------ replays and partial retries


def test_a_redelivered_batch_overwrites_its_quarantine_object_instead_of_adding_one(
    aws: Aws, lambda_context: Any, capsys: Any
) -> None:
    # Given a mixed batch handled once
    event = kinesis_event(mixed_batch())
    transform_handler.handler(event, lambda_context)
    first = aws.quarantine_objects()

    # When the event source mapping delivers the very same batch again, to another invocation (after a timeout)
    transform_handler.handler(event, dataclasses.replace(lambda_context, aws_request_id="second-attempt"))

    # Then there is still one quarantine object with one row per rejected record
    assert list(aws.quarantine_objects()) == list(first)
    assert [row["sequence_number"] for row in aws.quarantine_rows()] == [sequence(3), sequence(4), sequence(5)]


def test_a_bisected_batch_quarantines_each_reject_once(aws: Aws, lambda_context: Any) -> None:
    # Given a batch handled whole, then again as the two halves bisection would send
    batch = mixed_batch()
    for attempt, (records, first) in enumerate([(batch, 1), (batch[:4], 1), (batch[4:], 5)]):
        context = dataclasses.replace(lambda_context, aws_request_id=f"attempt-{attempt}")
        transform_handler.handler(kinesis_event(records, first_sequence=first), context)

    # Then every rejected record is in quarantine exactly once
    assert Counter(row["sequence_number"] for row in aws.quarantine_rows()) == Counter(
        {sequence(3): 1, sequence(4): 1, sequence(5): 1}
    )


def test_rejects_after_an_undelivered_record_wait_for_its_retry(
    aws: Aws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a job-runs stream refusing the valid run at position 1, and rejects before and after it
    batch = [b"not json", load_event("job_run"), load_event("sale_store"), b"still not json"]
    flaky = FlakyKinesis(aws.kinesis, {"run-evt-0001"}, times=1, code="AccessDeniedException")
    use_clients(monkeypatch, kinesis=flaky)

    # When the batch is handled, and Kinesis then retries from the lowest failed record
    response = transform_handler.handler(kinesis_event(batch), lambda_context)
    transform_handler.handler(kinesis_event(batch[1:], first_sequence=2), lambda_context)

    # Then the first attempt quarantined only the reject before the failure and reported the one after it;
    # the retry quarantined that one: each reject once, nothing lost
    assert response == {"batchItemFailures": [{"itemIdentifier": sequence(index)} for index in (1, 3)]}
    assert sorted(row["sequence_number"] for row in aws.quarantine_rows()) == [sequence(0), sequence(3)]


# ------------------------------------------------------------------------------------------ injected faults


def test_a_put_records_call_failing_as_a_whole_reports_only_that_tables_records(
    aws: Aws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Kinesis client whose PutRecords call itself is throttled (after botocore's own retries)
    kinesis = boto3.client("kinesis")
    stubber = Stubber(kinesis)
    stubber.add_client_error("put_records", "ProvisionedThroughputExceededException", http_status_code=400)
    use_clients(monkeypatch, kinesis=kinesis)

    # When a batch with one sale and two rejects is handled
    with stubber:
        response = transform_handler.handler(kinesis_event([b"nope", load_event("sale_web"), b"nope"]), lambda_context)

    # Then the sale is left for Kinesis to retry, with the reject after it; the reject before it is quarantined
    assert response == {"batchItemFailures": [{"itemIdentifier": sequence(index)} for index in (1, 2)]}
    assert [row["sequence_number"] for row in aws.quarantine_rows()] == [sequence(0)]
    stubber.assert_no_pending_responses()


def test_secrets_manager_failing_at_cold_start_fails_the_invocation_and_the_next_one_recovers(
    aws: Aws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Secrets Manager throttling the first GetSecretValue, then answering
    secrets = boto3.client("secretsmanager")
    stubber = Stubber(secrets)
    stubber.add_client_error("get_secret_value", "ThrottlingException", http_status_code=400)
    stubber.add_response("get_secret_value", {"SecretString": SECRET_VALUE})
    use_clients(monkeypatch, secrets=secrets)
    event = kinesis_event([load_event("sale_web")])

    # When two invocations arrive
    with stubber:
        with pytest.raises(ClientError):
            transform_handler.handler(event, lambda_context)
        response = transform_handler.handler(event, lambda_context)

    # Then the first fails as a whole (nothing written), the second is served with the key (the failure was
    # not cached)
    assert response == {"batchItemFailures": []}
    [row] = aws.stream_payloads(SALES_STREAM)
    assert row["customer_key"] == pii.customer_key(
        pii.normalise_customer_identity("cust-42", "Jane Doe"), SECRET_VALUE.encode()
    )


def test_an_s3_throttle_on_the_quarantine_write_leaves_the_rejects_for_retry(
    aws: Aws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # Given an S3 client whose PutObject is throttled
    s3 = boto3.client("s3")
    stubber = Stubber(s3)
    stubber.add_client_error("put_object", "SlowDown", http_status_code=503)
    use_clients(monkeypatch, s3=s3)

    # When a mixed batch is handled
    with stubber:
        response = transform_handler.handler(kinesis_event(mixed_batch()), lambda_context)

    # Then the rejects are reported for retry and not counted as quarantined
    assert response == {"batchItemFailures": [{"itemIdentifier": sequence(index)} for index in (3, 4, 5)]}
    [emf] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf["RecordsQuarantined"] == [0.0] and emf["DeliveryFailures"] == [3.0]


# ------------------------------------------------------------------------------------------ poison records


def test_poison_records_are_quarantined_alone_and_their_neighbours_delivered(aws: Aws, lambda_context: Any) -> None:
    # Given valid records around invalid UTF-8 in a string, deep nesting and a Latin-1 customer name
    latin1_sale = (
        json.dumps(load_event("sale_store", customer_name="Caf\u00e9 Royal"))
        .encode()
        .replace(b"Caf\\u00e9", b"Caf\xe9")
    )
    batch = [load_event("sale_web"), b'{"a":"\xff"}', b"[" * 1000 + b"]" * 1000, latin1_sale, load_event("job_run")]

    # When the transform handles it
    response = transform_handler.handler(kinesis_event(batch), lambda_context)

    # Then nothing is left to retry: the valid records are delivered, the poison ones quarantined as invalid_json
    assert response == {"batchItemFailures": []}
    assert len(aws.stream_payloads(SALES_STREAM)) == 1 and len(aws.stream_payloads(JOB_RUNS_STREAM)) == 1
    assert [(row["reason"], row["field"]) for row in aws.quarantine_rows()] == [
        ("invalid_json", "encoding"),
        ("invalid_json", "nesting"),
        ("invalid_json", "encoding"),
    ]


def test_an_unexpected_error_quarantines_that_record_as_transform_error_and_is_counted(
    aws: Aws, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # Given a bug that only job runs meet
    def broken(*_: Any) -> Clean:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(transform_module, "_clean_job_run", broken)

    # When a batch with a sale and a job run is handled
    response = transform_handler.handler(kinesis_event([load_event("sale_web"), load_event("job_run")]), lambda_context)

    # Then the sale is delivered, the run quarantined alone (fingerprint only), and the metric an alarm watches is out
    assert response == {"batchItemFailures": []}
    assert len(aws.stream_payloads(SALES_STREAM)) == 1
    [row] = aws.quarantine_rows()
    assert (row["reason"], row["field"], row["event_id"]) == ("transform_error", None, None)
    assert set(row["record"]) == pii.FINGERPRINT_FIELDS
    [emf] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf["RecordsQuarantined_transform_error"] == [1.0]


# ------------------------------------------------------------------------------------- the AWS sample event


def test_the_kinesis_sample_event_from_the_lambda_docs_is_quarantined_as_invalid_json(
    aws: Aws, lambda_context: Any
) -> None:
    # Given the Kinesis sample event of the AWS Lambda developer guide (plain text, not the wire contract)
    event = load_event("kinesis_event")

    # When the transform handles it
    response = transform_handler.handler(event, lambda_context)

    # Then both records are quarantined by their fingerprint, dated by their arrival (2018-12-17)
    assert response == {"batchItemFailures": []}
    [key] = aws.quarantine_objects()
    assert key == "quarantine/stream/dt=2018-12-17/49590338271490256608559692538361571095921575989136588898.jsonl"
    assert [row["record"]["length"] for row in aws.quarantine_rows()] == [
        len(b"Hello, this is a test."),
        len(b"This is only a test."),
    ]


def test_the_sample_event_carrying_wire_contract_records_is_routed_like_the_builders_event(
    aws: Aws, lambda_context: Any
) -> None:
    # Given the AWS sample event with its data replaced by a sale and a job run (every other field as AWS sends it)
    event = copy.deepcopy(load_event("kinesis_event"))
    for record, payload in zip(event["Records"], (load_event("sale_web"), load_event("job_run")), strict=True):
        record["kinesis"]["data"] = base64.b64encode(json.dumps(payload).encode()).decode()

    # When the transform handles it
    response = transform_handler.handler(event, lambda_context)

    # Then each lands on its clean stream
    assert response == {"batchItemFailures": []}
    assert [row["event_id"] for row in aws.stream_payloads(SALES_STREAM)] == ["sale-web-0001"]
    assert [row["event_id"] for row in aws.stream_payloads(JOB_RUNS_STREAM)] == ["run-evt-0001"]


def test_a_cloudwatch_logs_subscription_wired_to_the_stream_is_quarantined_record_by_record(
    aws: Aws, lambda_context: Any
) -> None:
    # Given what a CloudWatch Logs subscription filter puts on a stream: gzip-compressed DATA_MESSAGE documents (as in
    # the Kinesis / CloudWatch Logs samples of the Powertools test events), here one carrying a card number
    message = {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/lambda/checkout",
        "logStream": "2024/05/01/[$LATEST]0123456789abcdef",
        "subscriptionFilters": ["to-events-raw"],
        "logEvents": [{"id": "1", "timestamp": 1714560000000, "message": "paid with 4111 1111 1111 1111"}],
    }
    compressed = gzip.compress(json.dumps(message).encode())
    event = kinesis_event([compressed, gzip.compress(b'{"messageType": "CONTROL_MESSAGE"}'), load_event("sale_web")])

    # When the transform handles the batch
    response = transform_handler.handler(event, lambda_context)

    # Then the binary records are quarantined by their fingerprint alone and the sale beside them is delivered
    assert response == {"batchItemFailures": []}
    rows = aws.quarantine_rows()
    assert [(row["reason"], row["field"], row["record"]["length"]) for row in rows] == [
        ("invalid_json", None, len(compressed)),
        ("invalid_json", None, len(gzip.compress(b'{"messageType": "CONTROL_MESSAGE"}'))),
    ]
    assert b"4111" not in b"".join(aws.quarantine_objects().values())
    assert [row["event_id"] for row in aws.stream_payloads(SALES_STREAM)] == ["sale-web-0001"]


def test_the_keys_of_a_tumbling_window_event_do_not_change_the_outcome(aws: Aws, lambda_context: Any) -> None:
    # Given a Kinesis event with the keys Lambda adds for a tumbling window (Powertools' tumbling-window sample shape)
    event = kinesis_event([load_event("sale_web"), b"Hello, this is a test."])
    event |= {
        "window": {"start": "2024-05-01T12:00:00Z", "end": "2024-05-01T12:02:00Z"},
        "state": {"1": 282},
        "shardId": "shardId-000000000006",
        "eventSourceARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/events-raw",
        "isFinalInvokeForWindow": False,
        "isWindowTerminatedEarly": False,
    }

    # When the transform handles it, then the records are routed as without those keys
    assert transform_handler.handler(event, lambda_context) == {"batchItemFailures": []}
    assert [row["event_id"] for row in aws.stream_payloads(SALES_STREAM)] == ["sale-web-0001"]
    assert [row["reason"] for row in aws.quarantine_rows()] == ["invalid_json"]
