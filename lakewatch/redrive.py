"""Re-drive what the pipeline set aside, once its cause is fixed: on-failure batches and quarantine rows.

Both go back into `events-raw`, so the transform running at that time judges every record again.

- On-failure messages: the invocation records an event source mapping sends to its on-failure queue when
  it gives up on a batch. They name the stream, the shard and a sequence-number range (`KinesisBatchInfo`),
  never the data, so the records are read back from the stream (GetShardIterator `AT_SEQUENCE_NUMBER` and
  GetRecords) while Kinesis still retains them (the stream's retention period, 24 hours by default), and put
  again with the same partition key and data. A range the stream no longer holds is reported as expired.
- Quarantine rows: a row keeps the record *scrubbed* (card numbers, customer ids and names removed, free text
  masked), so only what scrubbing left can come back. A row is re-drivable when its source is the stream and
  its `record` is the scrubbed JSON object. The scrubbed record carries the customer only as its
  `customer_key`, which the transform accepts in place of the customer fields, so a re-driven sale keeps its
  customer without any PII having been stored. A row that holds only a fingerprint (invalid JSON, too large, a crash
  before decoding) has nothing left to re-drive and is reported as not re-drivable. Selected rows are
  first judged by the current transform (`judge`): a dry run says how many would now pass, and only those
  are re-submitted.

Idempotent: every re-driven item (an on-failure batch, a quarantine row) has a deterministic key (the batch's
stream, shard and sequence range; the quarantine object key and line number) recorded in a `Ledger` after
its records were put, and an item already in the ledger is skipped, so a second run puts nothing. If a run
dies between the put and the ledger write, the next run puts that item again; the lake and the alerts
de-duplicate on event_id, so nothing is counted twice downstream.

Clients are injected: the same functions run against AWS (see `aws_redrive_on_failure_queue` and
`aws_redrive_quarantine`) and, through the local runner, against a `local-run` output directory.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from lakewatch.domain import pii, tables
from lakewatch.domain.transform import Clean, transform_records

#: PutRecords limits: 500 records per request (the 5 MiB limit is far off for records of at most 256 KiB
#: each only when few are large; requests are also cut at `MAX_PUT_BYTES`).
MAX_PUT_RECORDS = 500
MAX_PUT_BYTES = 5 * 1024 * 1024
#: Kinesis partition keys are at most 256 Unicode characters.
MAX_PARTITION_KEY = 256
#: Where the S3 ledger keeps one empty object per re-driven item, outside the lake and quarantine prefixes.
LEDGER_PREFIX = "redrive/ledger/"
STREAM_SOURCE = "stream"

#: (partition key, data) of one record to put.
Entry = tuple[str, bytes]
#: Puts entries into events-raw; returns how many could not be put.
Put = Callable[[Sequence[Entry]], int]


class RedriveError(Exception):
    """An on-failure message or quarantine row that is not what the pipeline writes."""


class Ledger(Protocol):
    """The keys of items already re-driven."""

    def __contains__(self, key: object) -> bool: ...

    def add(self, key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """The `KinesisBatchInfo` of an on-failure invocation record: which records the mapping gave up on."""

    stream_arn: str
    shard_id: str
    start_sequence_number: str
    end_sequence_number: str
    batch_size: int

    @classmethod
    def from_invocation_record(cls, record: Mapping[str, Any]) -> BatchInfo:
        try:
            info = record["KinesisBatchInfo"]
            return cls(
                stream_arn=str(info["streamArn"]),
                shard_id=str(info["shardId"]),
                start_sequence_number=str(info["startSequenceNumber"]),
                end_sequence_number=str(info["endSequenceNumber"]),
                batch_size=int(info["batchSize"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise RedriveError(f"not a Kinesis on-failure invocation record: {error!r}") from None

    @property
    def stream_name(self) -> str:
        return self.stream_arn.rsplit("/", 1)[-1]

    @property
    def ledger_key(self) -> str:
        return f"on-failure/{self.stream_name}/{self.shard_id}/{self.start_sequence_number}-{self.end_sequence_number}"


@dataclass(frozen=True, slots=True)
class StreamRecord:
    sequence_number: str
    partition_key: str
    data: bytes


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    """One line of a quarantine object: where it is (for the ledger) and what it holds."""

    object_key: str
    line: int
    row: Mapping[str, Any]

    @property
    def ledger_key(self) -> str:
        return f"quarantine/{self.object_key}#{self.line}"

    @property
    def quarantined_on(self) -> date | None:
        text = self.row.get("quarantined_at")
        try:
            return date.fromisoformat(str(text)[:10])
        except ValueError:
            return None


@dataclass
class RedriveReport:
    """What a re-drive did (or, in a dry run, would do); `to_json` is what the CLI prints."""

    dry_run: bool
    on_failure_batches: int = 0
    on_failure_records: int = 0
    #: Ranges the stream no longer holds (past retention) or returned fewer records than the batch had.
    on_failure_expired: int = 0
    quarantine_selected: int = 0
    would_pass: int = 0
    still_rejected: Counter[str] = field(default_factory=Counter)
    not_redrivable: int = 0
    already_redriven: int = 0
    records_put: int = 0
    put_failures: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "on_failure_batches": self.on_failure_batches,
            "on_failure_records": self.on_failure_records,
            "on_failure_expired": self.on_failure_expired,
            "quarantine_selected": self.quarantine_selected,
            "would_pass": self.would_pass,
            "still_rejected": dict(sorted(self.still_rejected.items())),
            "not_redrivable": self.not_redrivable,
            "already_redriven": self.already_redriven,
            "records_put": self.records_put,
            "put_failures": self.put_failures,
        }


# ------------------------------------------------------------------------------------------ on-failure batches
def read_batch(kinesis: Any, batch: BatchInfo) -> list[StreamRecord]:
    """The batch's records, read back from its shard from the start sequence number to the end one."""
    try:
        iterator = kinesis.get_shard_iterator(
            StreamName=batch.stream_name,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=batch.start_sequence_number,
        )["ShardIterator"]
    except ClientError as error:  # e.g. the range is past retention, or the stream was replaced
        raise RedriveError(f"{batch.ledger_key}: {error.response['Error']['Code']}") from None
    end = int(batch.end_sequence_number)
    records: list[StreamRecord] = []
    while iterator and len(records) < batch.batch_size:
        response = kinesis.get_records(ShardIterator=iterator, Limit=min(10_000, batch.batch_size - len(records)))
        for record in response["Records"]:
            if int(record["SequenceNumber"]) > end:
                return records
            records.append(StreamRecord(record["SequenceNumber"], record["PartitionKey"], bytes(record["Data"])))
        if not response["Records"] and not response.get("MillisBehindLatest"):
            break  # at the tip of the shard: nothing more to read
        iterator = response.get("NextShardIterator")
    return records


def redrive_on_failure(
    messages: Iterable[Mapping[str, Any]],
    *,
    read: Callable[[BatchInfo], list[StreamRecord]],
    put: Put,
    ledger: Ledger,
    report: RedriveReport,
) -> list[BatchInfo]:
    """Put every on-failure batch's records again; return the batches done (re-driven now or before)."""
    done: list[BatchInfo] = []
    for message in messages:
        batch = BatchInfo.from_invocation_record(message)
        if batch.ledger_key in ledger:
            report.already_redriven += 1
            done.append(batch)
            continue
        try:
            records = read(batch)
        except RedriveError:
            report.on_failure_expired += 1
            continue
        if len(records) != batch.batch_size:
            report.on_failure_expired += 1
            continue
        report.on_failure_batches += 1
        report.on_failure_records += len(records)
        if report.dry_run:
            continue
        failures = put([(record.partition_key, record.data) for record in records])
        report.put_failures += failures
        if failures:
            continue
        report.records_put += len(records)
        ledger.add(batch.ledger_key)
        done.append(batch)
    return done


# ------------------------------------------------------------------------------------------ quarantine rows
def redrivable_record(row: Mapping[str, Any]) -> bytes | None:
    """The bytes to re-submit for a quarantine row, or None when the row holds nothing re-drivable."""
    record = row.get("record")
    if row.get("source") != STREAM_SOURCE or not isinstance(record, dict):
        return None
    if record.keys() == pii.FINGERPRINT_FIELDS:
        return None
    return orjson.dumps(record)


def select_rows(
    rows: Iterable[QuarantineRow], *, reasons: Iterable[str] | None, since: date | None, until: date | None
) -> Iterator[QuarantineRow]:
    """Rows with one of `reasons` (all when None) quarantined within [since, until] (open ends when None)."""
    wanted = None if reasons is None else set(reasons)
    for row in rows:
        if wanted is not None and row.row.get("reason") not in wanted:
            continue
        day = row.quarantined_on
        if (since is not None or until is not None) and day is None:
            continue
        if since is not None and day < since:  # type: ignore[operator]
            continue
        if until is not None and day > until:  # type: ignore[operator]
            continue
        yield row


def redrive_quarantine(
    rows: Iterable[QuarantineRow],
    *,
    pii_key: bytes,
    now: datetime,
    put: Put,
    ledger: Ledger,
    report: RedriveReport,
) -> None:
    """Judge the rows with the current transform and re-submit those that would now pass."""
    candidates: list[tuple[QuarantineRow, bytes]] = []
    for row in rows:
        report.quarantine_selected += 1
        if row.ledger_key in ledger:
            report.already_redriven += 1
            continue
        payload = redrivable_record(row.row)
        if payload is None:
            report.not_redrivable += 1
            continue
        candidates.append((row, payload))
    verdicts = transform_records([payload for _, payload in candidates], pii_key=pii_key, ingested_at=now)
    passing: list[tuple[QuarantineRow, Entry]] = []
    for (row, payload), verdict in zip(candidates, verdicts, strict=True):
        if type(verdict) is Clean:
            passing.append((row, (partition_key(verdict.event_id, payload), payload)))
        else:
            report.still_rejected[str(verdict.reason)] += 1
    report.would_pass += len(passing)
    if report.dry_run or not passing:
        return
    for start in range(0, len(passing), MAX_PUT_RECORDS):
        chunk = passing[start : start + MAX_PUT_RECORDS]
        failures = put([entry for _, entry in chunk])
        report.put_failures += failures
        if failures:
            continue
        report.records_put += len(chunk)
        for row, _ in chunk:
            ledger.add(row.ledger_key)


def partition_key(event_id: str | None, payload: bytes) -> str:
    """The event id (what producers partition by), else a hash of the record; within Kinesis' length limit."""
    if event_id:
        return event_id[:MAX_PARTITION_KEY]
    return hashlib.sha256(payload).hexdigest()


def parse_quarantine_object(object_key: str, body: bytes) -> list[QuarantineRow]:
    rows = []
    for line_number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise RedriveError(f"{object_key} line {line_number} is not JSON") from None
        rows.append(QuarantineRow(object_key, line_number, row))
    return rows


# ------------------------------------------------------------------------------------------ AWS wiring
def put_records(kinesis: Any, stream_name: str, entries: Sequence[Entry]) -> int:
    """PutRecords in requests within the API limits; return how many entries failed."""
    failures = 0
    for chunk in _chunks(entries):
        try:
            response = kinesis.put_records(
                StreamName=stream_name, Records=[{"PartitionKey": key, "Data": data} for key, data in chunk]
            )
        except (ClientError, BotoCoreError):
            failures += len(chunk)
            continue
        failures += int(response.get("FailedRecordCount", 0))
    return failures


def _chunks(entries: Sequence[Entry]) -> Iterator[list[Entry]]:
    chunk: list[Entry] = []
    size = 0
    for key, data in entries:
        entry_size = len(key.encode()) + len(data)
        if chunk and (len(chunk) == MAX_PUT_RECORDS or size + entry_size > MAX_PUT_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append((key, data))
        size += entry_size
    if chunk:
        yield chunk


class S3Ledger:
    """One empty object per re-driven item under `LEDGER_PREFIX`, named by a hash of the item's key."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def _key(self, key: str) -> str:
        return LEDGER_PREFIX + hashlib.sha256(key.encode()).hexdigest()

    def __contains__(self, key: object) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self._key(str(key)))
        except ClientError as error:
            if error.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def add(self, key: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=key.encode())


def aws_redrive_on_failure_queue(
    *, sqs: Any, kinesis: Any, queue_url: str, target_stream: str, ledger: Ledger, dry_run: bool
) -> RedriveReport:
    """Drain the on-failure queue: re-drive each message's batch and delete the messages whose batch is done.

    A message whose batch could not be re-driven stays on the queue for a later run. A dry run reads every
    message (each stays invisible while the run reads on, so none is counted twice), then makes them all
    visible again at once."""
    report = RedriveReport(dry_run=dry_run)
    seen: list[str] = []
    try:
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", []
            )
            if not messages:
                return report
            seen.extend(message["ReceiptHandle"] for message in messages)
            bodies = [orjson.loads(message["Body"]) for message in messages]
            done = redrive_on_failure(
                bodies,
                read=lambda batch: read_batch(kinesis, batch),
                put=lambda entries: put_records(kinesis, target_stream, entries),
                ledger=ledger,
                report=report,
            )
            if dry_run:
                continue
            done_keys = {batch.ledger_key for batch in done}
            finished = [
                message["ReceiptHandle"]
                for message, body in zip(messages, bodies, strict=True)
                if BatchInfo.from_invocation_record(body).ledger_key in done_keys
            ]
            for start in range(0, len(finished), 10):
                entries = [
                    {"Id": str(index), "ReceiptHandle": handle}
                    for index, handle in enumerate(finished[start : start + 10])
                ]
                sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
            seen = [handle for handle in seen if handle not in finished]
    finally:
        for start in range(0, len(seen), 10):
            entries = [
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for index, handle in enumerate(seen[start : start + 10])
            ]
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def list_quarantine_rows(s3: Any, bucket: str, *, since: date, until: date) -> Iterator[QuarantineRow]:
    """Every stream quarantine row in the objects of the days [since, until] (`quarantine/stream/dt=<day>/`)."""
    paginator = s3.get_paginator("list_objects_v2")
    day = since
    while day <= until:
        prefix = (
            f"{tables.QUARANTINE_ROOT}/{STREAM_SOURCE}/{tables.PARTITION_KEY}="
            f"{day.strftime(tables.PARTITION_DATE_FORMAT)}/"
        )
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                yield from parse_quarantine_object(item["Key"], body)
        day += timedelta(days=1)


def aws_redrive_quarantine(
    *,
    s3: Any,
    kinesis: Any,
    bucket: str,
    target_stream: str,
    pii_key: bytes,
    reasons: Iterable[str] | None,
    since: date,
    until: date,
    now: datetime,
    ledger: Ledger,
    dry_run: bool,
) -> RedriveReport:
    report = RedriveReport(dry_run=dry_run)
    rows = select_rows(
        list_quarantine_rows(s3, bucket, since=since, until=until), reasons=reasons, since=None, until=None
    )
    redrive_quarantine(
        rows,
        pii_key=pii_key,
        now=now,
        put=lambda entries: put_records(kinesis, target_stream, entries),
        ledger=ledger,
        report=report,
    )
    return report
