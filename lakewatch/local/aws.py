"""An in-process AWS for the local runner: moto serving the same resources the CDK stacks create.

The handlers run unchanged against it: they read the same environment variables and call the same APIs.
Where moto stops short of AWS (Firehose never reads Kinesis nor writes Parquet, Glue runs no script,
Athena returns only seeded results), the runner covers the gap itself; see the README's moto table.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import orjson
from moto import mock_aws

REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"
#: A well-known key for local runs only: customer_key values produced locally are not secret.
LOCAL_PII_KEY = "lakewatch-local-only-not-a-secret"

EVENTS_RAW_STREAM = "lakewatch-events-raw"
SALES_STREAM = "lakewatch-sales-clean"
JOB_RUNS_STREAM = "lakewatch-job-runs-clean"
QUARANTINE_BUCKET = "lakewatch-local-lake"
BASELINES_TABLE = "lakewatch-baselines"
PII_SECRET_NAME = "lakewatch/pii-key"  # noqa: S105 - a name, not a secret
ALERTS_TOPIC = "lakewatch-alerts"
OPS_TOPIC = "lakewatch-ops"
#: Every local stream has one shard; the replay's events-raw records and on-failure records name it.
SHARD_ID = "shardId-000000000000"

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@dataclass
class LambdaContext:
    """The slice of the Lambda context object that Powertools and the handlers read (runner and tests)."""

    function_name: str = "lakewatch-local"
    aws_request_id: str = "local"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:lakewatch-local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


@dataclass
class KinesisTail:
    """Reads a moto stream from where it last stopped, the way an event source mapping would."""

    client: Any
    stream_name: str
    _iterators: dict[str, str] = field(default_factory=dict)

    def read_new(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        shards = self.client.list_shards(StreamName=self.stream_name)["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            iterator = (
                self._iterators.get(shard_id)
                or self.client.get_shard_iterator(
                    StreamName=self.stream_name, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            while True:
                response = self.client.get_records(ShardIterator=iterator, Limit=10_000)
                iterator = response["NextShardIterator"]
                records.extend(response["Records"])
                if not response["Records"]:
                    break
            self._iterators[shard_id] = iterator
        records.sort(key=lambda record: int(record["SequenceNumber"]))
        return records


class LocalAws:
    """Context manager: start moto, create the lakewatch resources, export the handlers' environment."""

    def __init__(self, *, pii_key: str = LOCAL_PII_KEY) -> None:
        self._pii_key = pii_key
        self._mock = mock_aws()
        self._saved_env: dict[str, str | None] = {}

    def __enter__(self) -> LocalAws:
        self._export({**_FAKE_CREDENTIALS})
        self._mock.start()
        session = boto3.session.Session(region_name=REGION)
        self.kinesis = session.client("kinesis")
        self.s3 = session.client("s3")
        self.sns = session.client("sns")
        self.sqs = session.client("sqs")
        self.dynamodb = session.client("dynamodb")
        self.secrets = session.client("secretsmanager")
        self._create_resources()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._mock.stop()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _export(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _create_resources(self) -> None:
        for stream in (EVENTS_RAW_STREAM, SALES_STREAM, JOB_RUNS_STREAM):
            self.kinesis.create_stream(StreamName=stream, ShardCount=1)
        self.s3.create_bucket(Bucket=QUARANTINE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        self.dynamodb.create_table(
            TableName=BASELINES_TABLE,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            BillingMode="PAY_PER_REQUEST",
        )
        secret_arn = self.secrets.create_secret(Name=PII_SECRET_NAME, SecretString=self._pii_key)["ARN"]
        self.alerts_topic_arn = self.sns.create_topic(Name=ALERTS_TOPIC)["TopicArn"]
        self.ops_topic_arn = self.sns.create_topic(Name=OPS_TOPIC)["TopicArn"]
        # SNS delivers to nobody in moto unless subscribed: a queue per topic records every message.
        self._capture_queues = {
            "alerts": self._subscribe_capture_queue(self.alerts_topic_arn, "alerts-capture"),
            "ops": self._subscribe_capture_queue(self.ops_topic_arn, "ops-capture"),
        }
        self._export(
            {
                "SALES_STREAM_NAME": SALES_STREAM,
                "JOB_RUNS_STREAM_NAME": JOB_RUNS_STREAM,
                "QUARANTINE_BUCKET": QUARANTINE_BUCKET,
                "PII_KEY_SECRET_ARN": secret_arn,
                "ALERTS_TOPIC_ARN": self.alerts_topic_arn,
                "BASELINES_TABLE_NAME": BASELINES_TABLE,
                "POWERTOOLS_METRICS_NAMESPACE": "lakewatch",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            }
        )

    def _subscribe_capture_queue(self, topic_arn: str, queue_name: str) -> str:
        queue_url = self.sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        return queue_url

    def tail(self, stream_name: str) -> KinesisTail:
        return KinesisTail(self.kinesis, stream_name)

    def drain_published(self) -> list[dict[str, Any]]:
        """Every SNS message published so far, oldest first, as `alerts.jsonl` lines."""
        published: list[dict[str, Any]] = []
        for topic, queue_url in self._capture_queues.items():
            while True:
                response = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
                messages = response.get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    published.append(_sns_envelope_to_line(topic, orjson.loads(message["Body"])))
                self.sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                        for index, message in enumerate(messages)
                    ],
                )
        return published

    def quarantine_objects(self) -> Iterator[tuple[str, bytes]]:
        """(key, body) of every object the handlers wrote under the quarantine prefix."""
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=QUARANTINE_BUCKET, Prefix="quarantine/"):
            for item in page.get("Contents", []):
                body = self.s3.get_object(Bucket=QUARANTINE_BUCKET, Key=item["Key"])["Body"].read()
                yield item["Key"], body


def _sns_envelope_to_line(topic: str, envelope: dict[str, Any]) -> dict[str, Any]:
    message_text = envelope.get("Message", "")
    try:
        message: Any = orjson.loads(message_text)
    except orjson.JSONDecodeError:
        message = message_text
    attributes = {name: attribute.get("Value") for name, attribute in (envelope.get("MessageAttributes") or {}).items()}
    return {"topic": topic, "subject": envelope.get("Subject"), "message": message, "attributes": attributes}


def kinesis_event(records: list[tuple[str, bytes]], *, stream_name: str, arrival_epoch: float) -> dict[str, Any]:
    """A Lambda Kinesis event, shaped exactly as the event source mapping delivers it.

    `records` are (sequence number, payload) pairs; the partition key mirrors what producers send.
    """
    arn = stream_arn(stream_name)
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": sequence_number,
                    "sequenceNumber": sequence_number,
                    "data": base64.b64encode(payload).decode("ascii"),
                    "approximateArrivalTimestamp": arrival_epoch,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{SHARD_ID}:{sequence_number}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT_ID}:role/lakewatch-local",
                "awsRegion": REGION,
                "eventSourceARN": arn,
            }
            for sequence_number, payload in records
        ]
    }


def stream_arn(stream_name: str) -> str:
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT_ID}:stream/{stream_name}"


def scheduled_event(time_iso: str) -> dict[str, Any]:
    """An EventBridge scheduled event as the hourly rule delivers it; handlers read `time` as "now"."""
    return {
        "version": "0",
        "id": f"local-schedule-{time_iso}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": time_iso,
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/lakewatch-overdue-check"],
        "detail": {},
    }
