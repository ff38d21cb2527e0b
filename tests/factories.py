"""Factories for test data: clean `job_runs` records, the Lambda events that carry them, and the moto
resources the alerting Lambdas talk to.

A clean record is what the transform writes to `job-runs-clean` (DEVELOPERS.md, "Clean records"): keys are
exactly `JOB_RUNS.column_names` plus `dt`, timestamps in `CLEAN_TIMESTAMP_FORMAT` UTC. Built here from the
schema, never from the transform, so tests of its consumers do not depend on its code.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lakewatch.domain import baseline
from lakewatch.domain.tables import JOB_RUNS, PARTITION_DATE_FORMAT, PARTITION_KEY, format_clean_timestamp
from lakewatch.local import aws as local_aws

DEFAULT_ENDED_AT = datetime(2024, 5, 1, 3, 30, tzinfo=UTC)
_sequence = itertools.count(1)


def clean_time(moment: datetime) -> str:
    return format_clean_timestamp(moment)


def clean_job_run(
    *,
    run_id: str | None = None,
    client: str = "acme-retail",
    job_name: str = "nightly_sales",
    status: str = "SUCCEEDED",
    ended_at: datetime = DEFAULT_ENDED_AT,
    duration_seconds: float = 3_600.0,
    **overrides: Any,
) -> dict[str, Any]:
    """One clean job_run row; `overrides` may replace any column (or `dt`) by name."""
    run_id = run_id or f"r-{next(_sequence)}"
    started_at = ended_at - timedelta(seconds=duration_seconds)
    row: dict[str, Any] = {
        "event_id": f"evt-{run_id}",
        "run_id": run_id,
        "client": client,
        "job_name": job_name,
        "status": status,
        "started_at": clean_time(started_at),
        "ended_at": clean_time(ended_at),
        "duration_seconds": float(duration_seconds),
        "data_processed_gb": 12.5,
        "cost_usd": 1.2345,
        "instance_size": "m5.xlarge",
        "error_message": None if status == "SUCCEEDED" else "Stage 3 failed: executor lost",
        "ingested_at": clean_time(ended_at + timedelta(seconds=5)),
        PARTITION_KEY: ended_at.astimezone(UTC).strftime(PARTITION_DATE_FORMAT),
    }
    unknown = set(overrides) - set(row)
    if unknown:
        raise KeyError(f"not a job_runs column: {sorted(unknown)}")
    row.update(overrides)
    assert tuple(key for key in row if key != PARTITION_KEY) == JOB_RUNS.column_names
    return row


def kinesis_event(payloads: list[dict[str, Any] | bytes], *, stream: str = "job-runs-clean") -> dict[str, Any]:
    """A Kinesis event as the event source mapping delivers it; dicts are JSON-encoded, bytes sent as they are.

    Sequence numbers are unique per test run and increase in list order, like a shard's. The event shape
    comes from the local runner's builder, so tests and `local-run` exercise the same thing.
    """
    records = [
        (f"{next(_sequence):056d}", payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        for payload in payloads
    ]
    return local_aws.kinesis_event(records, stream_name=stream, arrival_epoch=1714534200.0)


def scheduled_event(time: datetime) -> dict[str, Any]:
    """An EventBridge scheduled event; schedule-driven Lambdas take "now" from its `time`."""
    return local_aws.scheduled_event(time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


@dataclass
class Aws:
    """moto clients plus the baselines table and an alerts topic whose messages land in an SQS queue."""

    dynamodb: Any
    sns: Any
    sqs: Any
    table_name: str
    topic_arn: str
    queue_url: str
    #: The lake bucket job_monitor quarantines into.
    s3: Any = None
    quarantine_bucket: str = ""

    def published(self) -> list[dict[str, Any]]:
        """Drain the queue subscribed to the alerts topic: subject, parsed body, attributes of each message."""
        messages = []
        while batch := self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages"):
            for message in batch:
                envelope = json.loads(message["Body"])
                messages.append(
                    {
                        "subject": envelope["Subject"],
                        "body": json.loads(envelope["Message"]),
                        "attributes": {name: value["Value"] for name, value in envelope["MessageAttributes"].items()},
                    }
                )
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return messages

    def state(self, client: str = "acme-retail", job_name: str = "nightly_sales") -> baseline.JobState:
        item = self.dynamodb.get_item(
            TableName=self.table_name,
            Key={"pk": {"S": baseline.partition_key(client, job_name)}, "sk": {"S": baseline.BASELINE_SK}},
            ConsistentRead=True,
        ).get("Item")
        return baseline.JobState(client, job_name) if item is None else baseline.state_from_item(item)


@contextmanager
def alerting_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto with the baselines table and the alerts topic, and the Lambda environment pointing at them."""
    with mock_aws():
        dynamodb, sns, sqs, s3 = (boto3.client(name) for name in ("dynamodb", "sns", "sqs", "s3"))
        table_name = "lakewatch-baselines"
        dynamodb.create_table(**baseline.table_definition(table_name))
        topic_arn = sns.create_topic(Name="lakewatch-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="alerts-capture")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        monkeypatch.setenv("ALERTS_TOPIC_ARN", topic_arn)
        monkeypatch.setenv("BASELINES_TABLE_NAME", table_name)
        quarantine_bucket = "lakewatch-lake"
        s3.create_bucket(Bucket=quarantine_bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        monkeypatch.setenv("QUARANTINE_BUCKET", quarantine_bucket)
        yield Aws(dynamodb, sns, sqs, table_name, topic_arn, queue_url, s3, quarantine_bucket)
