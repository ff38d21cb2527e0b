"""An in-process AWS for the local runner: moto serving the same resources the CDK stacks create.

The handlers run unchanged against it: they read the same environment variables and call the same APIs.
Where moto is the replay's cost, the runner answers the handlers' calls in process instead, through a botocore
`before-call` hook on their clients (`hooks.py`): the clean streams (`CleanStreams`) and the baselines table
(`dynamodb.LocalTable`, with moto as its reference in the tests).
Where moto stops short of AWS (Firehose never reads Kinesis nor writes Parquet, Glue runs no script,
Athena returns only seeded results), the runner covers the gap itself; see the README's moto table.
"""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import orjson
from botocore.awsrequest import AWSResponse
from botocore.loaders import JSONFileLoader
from moto import mock_aws

from lakewatch.domain import baseline
from lakewatch.local import hooks
from lakewatch.local.dynamodb import LocalTable

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

#: The environment of an emulated AWS: fake credentials, the region, and our own config file (see it for why).
_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": str(Path(__file__).with_name("aws_config.ini")),
    "AWS_PROFILE": "default",
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


class CleanStreams:
    """sales-clean and job-runs-clean, served in process instead of by moto.

    PutRecords calls of a client `attach`ed here (the transform's) are answered by a botocore `before-call`
    hook: the handler's code and its boto3 client (parameter validation, request serialisation) run unchanged,
    only the call to moto is replaced (a `before-call` response skips sending the request). moto spends about
    half a millisecond per record serialising PutRecords and GetRecords and walks the whole shard on every
    call, which held a 50,000-record replay to a few hundred records per second. Consumers (`read_new`) get
    each record once, in order, shaped as GetRecords returns it. Every entry succeeds: PutRecords partial
    failures are exercised by the transform's own fault tests, not here.
    """

    _HOOK = "before-call.kinesis.PutRecords"

    def __init__(self, stream_names: tuple[str, ...]) -> None:
        self._pending: dict[str, list[dict[str, Any]]] = {name: [] for name in stream_names}
        self._sequence = itertools.count(49_500_000_000_000_000_001)
        self._clients: list[Any] = []

    def attach(self, client: Any) -> None:
        client.meta.events.register_first(self._HOOK, self._put_records, unique_id=f"lakewatch-local-{id(self)}")
        self._clients.append(client)

    def detach_all(self) -> None:
        for client in self._clients:
            client.meta.events.unregister(self._HOOK, unique_id=f"lakewatch-local-{id(self)}")
        self._clients.clear()

    def read_new(self, stream_name: str) -> list[dict[str, Any]]:
        records, self._pending[stream_name] = self._pending[stream_name], []
        return records

    def _put_records(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        body = orjson.loads(params["body"])
        stream_name = body.get("StreamName") or str(body.get("StreamARN", "")).rsplit("/", 1)[-1]
        pending = self._pending.get(stream_name)
        if pending is None:
            return None  # not a clean stream: moto answers
        results = []
        for entry in body["Records"]:
            sequence_number = str(next(self._sequence))
            pending.append(
                {
                    "SequenceNumber": sequence_number,
                    "Data": base64.b64decode(entry["Data"]),
                    "PartitionKey": entry["PartitionKey"],
                }
            )
            results.append({"SequenceNumber": sequence_number, "ShardId": SHARD_ID})
        return hooks.answer(params["url"], {"FailedRecordCount": 0, "Records": results})


@dataclass
class StreamTail:
    """Reads one in-process clean stream from where it last stopped, as an event source mapping would."""

    streams: CleanStreams
    stream_name: str

    def read_new(self) -> list[dict[str, Any]]:
        return self.streams.read_new(self.stream_name)


def _read_model_file(_loader: Any, full_path: str, open_method: Callable[..., Any]) -> Any:
    """`botocore.loaders.JSONFileLoader._load_file` parsing with orjson: the same data, in a fraction of the time.

    botocore parses its JSON service models (endpoints, partitions, each service's API: megabytes) once per
    session, with `json` into OrderedDicts. The handlers' clients, moto's and the runner's own make about eight
    sessions, so a run parsed some 300 model files (2.4 s) before its first record. Plain dicts keep key order,
    which is all that botocore and moto rely on.
    """
    if not os.path.isfile(full_path):
        return None
    with open_method(full_path, "rb") as file:
        return orjson.loads(file.read())


class LocalAws:
    """Context manager: start moto, create the lakewatch resources, export the handlers' environment."""

    def __init__(self, *, pii_key: str = LOCAL_PII_KEY) -> None:
        self._pii_key = pii_key
        self._mock = mock_aws()
        self._saved_env: dict[str, str | None] = {}
        self._saved_model_reader: Any = None

    def __enter__(self) -> LocalAws:
        self._export({**_FAKE_CREDENTIALS})
        self._saved_model_reader = JSONFileLoader._load_file
        JSONFileLoader._load_file = _read_model_file
        self._mock.start()
        session = boto3.session.Session(region_name=REGION)
        self.kinesis = session.client("kinesis")
        self.s3 = session.client("s3")
        self.sns = session.client("sns")
        self.sqs = session.client("sqs")
        self.dynamodb = session.client("dynamodb")
        self.secrets = session.client("secretsmanager")
        self._create_resources()
        self.clean_streams = CleanStreams((SALES_STREAM, JOB_RUNS_STREAM))
        self.baselines_table = LocalTable(baseline.table_definition(BASELINES_TABLE))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.clean_streams.detach_all()
        self.baselines_table.detach_all()
        self._mock.stop()
        JSONFileLoader._load_file = self._saved_model_reader
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
        self.dynamodb.create_table(**baseline.table_definition(BASELINES_TABLE))
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

    def tail(self, stream_name: str) -> StreamTail:
        return StreamTail(self.clean_streams, stream_name)

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
