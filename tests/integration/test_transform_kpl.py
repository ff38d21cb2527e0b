"""The transform Lambda with KPL-aggregated records: each user record its own verdict, a corrupt aggregate
quarantined whole, and a failed user record failing (once) the Kinesis record that carried it."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from transform import handler as transform_handler

from lakewatch.domain import kpl, pii
from tests.fixtures import kinesis_event, load_event
from tests.integration.test_transform_handler import (
    JOB_RUNS_STREAM,
    SALES_STREAM,
    Aws,
    FlakyKinesis,
    aws,  # noqa: F401  the moto fixture, used by name
    sequence,
    use_clients,
)

AGGREGATE_SIZE = 500


def user_record(index: int) -> bytes:
    """Valid sales and job runs, with every 7th record not JSON and every 5th sale's total off."""
    if index % 7 == 3:
        return b"not json " + str(index).encode()
    if index % 11 == 0:
        return json.dumps(load_event("job_run", event_id=f"kpl-run-{index}", run_id=f"r-{index}")).encode()
    total = 73.97 if index % 5 else 99.0
    return json.dumps(load_event("sale_web", event_id=f"kpl-sale-{index}", total_price=total)).encode()


def aggregate_of(indexes: range) -> bytes:
    return kpl.aggregate([(f"pk-{index % 4}", user_record(index)) for index in indexes])


def expected_invalid(indexes: range) -> int:
    return sum(1 for index in indexes if index % 7 == 3 or (index % 11 and index % 5 == 0))


def test_an_aggregate_of_500_user_records_yields_500_verdicts(aws: Aws, lambda_context: Any) -> None:  # noqa: F811
    indexes = range(AGGREGATE_SIZE)
    blob = aggregate_of(indexes)
    assert len(blob) < 1024 * 1024  # a Kinesis record

    response = transform_handler.handler(kinesis_event([blob]), lambda_context)

    assert response == {"batchItemFailures": []}
    delivered = aws.stream_payloads(SALES_STREAM) + aws.stream_payloads(JOB_RUNS_STREAM)
    rows = aws.quarantine_rows()
    assert len(delivered) + len(rows) == AGGREGATE_SIZE
    assert len(rows) == expected_invalid(indexes)
    not_json = sum(1 for index in indexes if index % 7 == 3)
    assert Counter(row["reason"] for row in rows) == Counter(
        {"invalid_json": not_json, "total_mismatch": len(rows) - not_json}
    )
    assert {row["sequence_number"] for row in rows} == {sequence(0)}
    assert len({row["event_id"] for row in delivered}) == len(delivered)


def test_one_corrupted_byte_quarantines_the_aggregate_whole(aws: Aws, lambda_context: Any) -> None:  # noqa: F811
    blob = bytearray(aggregate_of(range(AGGREGATE_SIZE)))
    blob[len(blob) // 2] ^= 0xFF

    response = transform_handler.handler(kinesis_event([bytes(blob), load_event("sale_web")]), lambda_context)

    assert response == {"batchItemFailures": []}
    [row] = aws.quarantine_rows()
    assert (row["reason"], row["field"], row["sequence_number"]) == ("invalid_json", "kpl_aggregation", sequence(0))
    assert set(row["record"]) == pii.FINGERPRINT_FIELDS  # its bytes are never kept
    assert [sale["event_id"] for sale in aws.stream_payloads(SALES_STREAM)] == ["sale-web-0001"]


def test_a_failed_user_record_fails_its_kinesis_record_once_and_defers_its_rejects(
    aws: Aws,  # noqa: F811
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a plain sale, an aggregate whose 2nd user record keeps failing delivery and whose 3rd is not JSON,
    # and a plain record after it
    batch = [
        load_event("sale_web", event_id="plain-before"),
        kpl.aggregate([("pk", user_record(index)) for index in (1, 2, 3, 4)]),
        load_event("sale_web", event_id="plain-after"),
    ]
    flaky = FlakyKinesis(aws.kinesis, {"kpl-sale-2"}, times=1_000, code="InternalFailure")
    use_clients(monkeypatch, kinesis=flaky)

    # When the transform handles the batch
    response = transform_handler.handler(kinesis_event(batch), lambda_context)

    # Then the aggregate's Kinesis record is reported once, and its reject waits for the retry of that record
    assert response == {"batchItemFailures": [{"itemIdentifier": sequence(1)}]}
    assert aws.quarantine_rows() == []
    assert {sale["event_id"] for sale in aws.stream_payloads(SALES_STREAM)} == {
        "plain-before",
        "kpl-sale-1",
        "kpl-sale-4",
        "plain-after",
    }

    # When Kinesis retries from that record with the stream healthy again
    use_clients(monkeypatch, kinesis=aws.kinesis)
    retry = kinesis_event(batch[1:], first_sequence=2)
    assert transform_handler.handler(retry, lambda_context) == {"batchItemFailures": []}

    # Then its reject is quarantined exactly once and every sale is in the stream (duplicates share event_id)
    [row] = aws.quarantine_rows()
    assert (row["reason"], row["sequence_number"]) == ("invalid_json", sequence(1))
    assert {sale["event_id"] for sale in aws.stream_payloads(SALES_STREAM)} == {
        "plain-before",
        "kpl-sale-1",
        "kpl-sale-2",
        "kpl-sale-4",
        "plain-after",
    }


def test_a_batch_without_aggregates_is_passed_on_as_is() -> None:
    from transform.delivery import InputRecord, expand_aggregates

    records = [InputRecord(sequence(i), json.dumps(load_event("sale_web")).encode()) for i in range(3)]

    expanded, user_records = expand_aggregates(records)

    assert expanded is records and user_records == 0
