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
its records were put, and an item already in the ledger is skipped, so a second run puts nothing. PutRecords
fails record by record (throttling): only the failed records are put again, and when some still fail, the
ones put are in the ledger one by one, so the next run puts only the rest. If a run dies between the put and
the ledger write, the next run puts that item again; the lake and the alerts de-duplicate on event_id, so
nothing is counted twice downstream. Two messages or rows naming the same item count once, in a dry run as in
the real one, so a dry run's counts are what the real run puts (bar put failures, reported as such).

Every message and row gets one outcome in the report: re-driven (or would be), already re-driven, expired,
still rejected (by reason), not re-drivable, of another stream, not readable now, or malformed (not what
the pipeline writes: named by its field, never its value). None of them stops the run.

Clients are injected: the same functions run against AWS (see `aws_redrive_on_failure_queue` and
`aws_redrive_quarantine`) and, through the local runner, against a `local-run` output directory.
"""

from __future__ import annotations

import codecs
import hashlib
import time
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

#: Longest Kinesis sequence number accepted from an on-failure message (real ones have 56 digits).
MAX_SEQUENCE_DIGITS = 128
#: An event source mapping's batch size is 1 to 10,000 records.
MAX_BATCH_SIZE = 10_000
#: PutRecords attempts per entry: a throttled (or otherwise failed) entry is put again, alone with the others
#: that failed, up to this many times in all, before it counts as a put failure.
PUT_ATTEMPTS = 4

#: ReceiveMessage long polling: the wait (seconds) for the last, empty, receive of a run.
RECEIVE_WAIT_SECONDS = 1

#: (partition key, data) of one record to put.
Entry = tuple[str, bytes]
#: Puts entries into events-raw; returns the indices (into its argument) of the entries that could not be put.
Put = Callable[[Sequence[Entry]], Sequence[int]]


class RedriveError(Exception):
    """An on-failure message or quarantine row that is not what the pipeline writes, or a batch not read back."""


class ExpiredRangeError(RedriveError):
    """The stream no longer holds the batch's range (past retention, the shard or stream gone)."""


class OtherStreamError(RedriveError):
    """The batch was read from another stream than the one re-driven into: putting its records there would be
    wrong (a job_monitor batch holds clean job_run rows, not wire records)."""


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
    def from_invocation_record(cls, record: object) -> BatchInfo:
        """The batch an on-failure message names, checked field by field as Lambda writes them.

        Anything else (another service's record, a hand-edited or truncated message) is a `RedriveError` that
        names the field, never its value: a message is untrusted input and could hold anything."""
        info = record.get("KinesisBatchInfo") if isinstance(record, Mapping) else None
        if not isinstance(info, Mapping):
            raise RedriveError("not a Kinesis on-failure invocation record: no KinesisBatchInfo object")
        for name in ("streamArn", "shardId", "startSequenceNumber", "endSequenceNumber"):
            if not isinstance(info.get(name), str) or not info[name]:
                raise RedriveError(f"KinesisBatchInfo.{name} is not a non-empty string")
        arn = info["streamArn"]
        if not arn.startswith("arn:") or ":stream/" not in arn or not arn.rsplit("/", 1)[-1]:
            raise RedriveError("KinesisBatchInfo.streamArn is not a Kinesis stream ARN")
        for name in ("startSequenceNumber", "endSequenceNumber"):
            text = info[name]
            if not (text.isascii() and text.isdigit() and len(text) <= MAX_SEQUENCE_DIGITS):
                raise RedriveError(f"KinesisBatchInfo.{name} is not a decimal sequence number")
        if int(info["startSequenceNumber"]) > int(info["endSequenceNumber"]):
            raise RedriveError("KinesisBatchInfo.startSequenceNumber is after its endSequenceNumber")
        size = info.get("batchSize")
        if type(size) is not int or not 1 <= size <= MAX_BATCH_SIZE:
            raise RedriveError(f"KinesisBatchInfo.batchSize is not an integer from 1 to {MAX_BATCH_SIZE}")
        return cls(
            stream_arn=info["streamArn"],
            shard_id=info["shardId"],
            start_sequence_number=info["startSequenceNumber"],
            end_sequence_number=info["endSequenceNumber"],
            batch_size=size,
        )

    @property
    def stream_name(self) -> str:
        return self.stream_arn.rsplit("/", 1)[-1]

    @property
    def ledger_key(self) -> str:
        return f"on-failure/{self.stream_name}/{self.shard_id}/{self.start_sequence_number}-{self.end_sequence_number}"

    @property
    def partial_key(self) -> str:
        """In the ledger once some of the batch's records were put and others failed: then each record put
        is in the ledger under `record_key`, so that a later run puts only the rest."""
        return f"{self.ledger_key}#partial"

    def record_key(self, sequence_number: str) -> str:
        return f"{self.ledger_key}#{sequence_number}"


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
    #: Messages that are no on-failure invocation record of a Kinesis batch (left on the queue on AWS).
    on_failure_malformed: int = 0
    #: Batches of another stream than the one re-driven into (e.g. job_monitor's), left for their own re-drive.
    on_failure_other_stream: int = 0
    #: Batches not read back for another reason (throttling, access): a later run tries again.
    on_failure_read_errors: int = 0
    quarantine_selected: int = 0
    would_pass: int = 0
    still_rejected: Counter[str] = field(default_factory=Counter)
    not_redrivable: int = 0
    #: Quarantine object lines that are not a JSON object (a truncated or hand-edited object).
    quarantine_malformed: int = 0
    #: Quarantine objects listed but gone when read: the quarantine lifecycle expired them during the run.
    quarantine_objects_gone: int = 0
    already_redriven: int = 0
    records_put: int = 0
    put_failures: int = 0
    #: Items this run counted (re-driven, or in a dry run would be): a second message or row naming the same
    #: item is already re-driven, in a dry run as in the real one, so both count alike.
    counted: set[str] = field(default_factory=set, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "on_failure_batches": self.on_failure_batches,
            "on_failure_records": self.on_failure_records,
            "on_failure_expired": self.on_failure_expired,
            "on_failure_malformed": self.on_failure_malformed,
            "on_failure_other_stream": self.on_failure_other_stream,
            "on_failure_read_errors": self.on_failure_read_errors,
            "quarantine_selected": self.quarantine_selected,
            "would_pass": self.would_pass,
            "still_rejected": dict(sorted(self.still_rejected.items())),
            "not_redrivable": self.not_redrivable,
            "quarantine_malformed": self.quarantine_malformed,
            "quarantine_objects_gone": self.quarantine_objects_gone,
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
    except ClientError as error:
        raise _read_error(batch, error) from None
    end = int(batch.end_sequence_number)
    records: list[StreamRecord] = []
    while iterator and len(records) < batch.batch_size:
        try:
            response = kinesis.get_records(ShardIterator=iterator, Limit=min(10_000, batch.batch_size - len(records)))
        except ClientError as error:
            raise _read_error(batch, error) from None
        for record in response["Records"]:
            if int(record["SequenceNumber"]) > end:
                return records
            records.append(StreamRecord(record["SequenceNumber"], record["PartitionKey"], bytes(record["Data"])))
        if not response["Records"] and not response.get("MillisBehindLatest"):
            break  # at the tip of the shard: nothing more to read
        iterator = response.get("NextShardIterator")
    return records


#: GetShardIterator / GetRecords errors meaning the range is gone: past retention (trimmed), the shard or
#: stream deleted, or a sequence number the shard does not hold.
_EXPIRED_CODES = frozenset({"ResourceNotFoundException", "InvalidArgumentException", "TrimmedDataAccessException"})


def _read_error(batch: BatchInfo, error: ClientError) -> RedriveError:
    code = error.response.get("Error", {}).get("Code", "")
    kind = ExpiredRangeError if code in _EXPIRED_CODES else RedriveError
    return kind(f"{batch.ledger_key}: {code}")


def _read_whole_batch(
    batch: BatchInfo, read: Callable[[BatchInfo], list[StreamRecord]], report: RedriveReport
) -> list[StreamRecord] | None:
    """The batch's records, or None (counted in `report` by why) when they cannot all be read back."""
    try:
        records = read(batch)
    except OtherStreamError:
        report.on_failure_other_stream += 1
        return None
    except ExpiredRangeError:
        report.on_failure_expired += 1
        return None
    except RedriveError:
        report.on_failure_read_errors += 1
        return None
    if len(records) != batch.batch_size:
        report.on_failure_expired += 1
        return None
    return records


def redrive_on_failure(
    messages: Iterable[object],
    *,
    read: Callable[[BatchInfo], list[StreamRecord]],
    put: Put,
    ledger: Ledger,
    report: RedriveReport,
) -> list[BatchInfo]:
    """Put every on-failure batch's records again; return the batches done (re-driven now or before)."""
    done: list[BatchInfo] = []
    for message in messages:
        try:
            batch = BatchInfo.from_invocation_record(message)
        except RedriveError:
            report.on_failure_malformed += 1
            continue
        if batch.ledger_key in report.counted or batch.ledger_key in ledger:
            report.already_redriven += 1
            done.append(batch)
            continue
        records = _read_whole_batch(batch, read, report)
        if records is None:
            continue
        if batch.partial_key in ledger:  # an earlier run put some of them: put only the rest
            records = [record for record in records if batch.record_key(record.sequence_number) not in ledger]
        report.on_failure_batches += 1
        report.on_failure_records += len(records)
        if report.dry_run:
            report.counted.add(batch.ledger_key)
            continue
        failed = set(put([(record.partition_key, record.data) for record in records]))
        report.put_failures += len(failed)
        report.records_put += len(records) - len(failed)
        if failed:
            ledger.add(batch.partial_key)
            for index, record in enumerate(records):
                if index not in failed:
                    ledger.add(batch.record_key(record.sequence_number))
            continue
        ledger.add(batch.ledger_key)
        report.counted.add(batch.ledger_key)
        done.append(batch)
    return done


# ------------------------------------------------------------------------------------------ quarantine rows
def redrivable_record(row: Mapping[str, Any]) -> bytes | None:
    """The bytes to re-submit for a quarantine row, or None when the row holds nothing re-drivable."""
    if not isinstance(row, Mapping):
        return None
    record = row.get("record")
    if row.get("source") != STREAM_SOURCE or not isinstance(record, dict):
        return None
    if "length" in record and record.keys() <= _FINGERPRINT_SHAPES:
        return None
    return orjson.dumps(record)


#: Every field a fingerprint-only row's record has had: today's keyed hash, the plain SHA-256 of rows written
#: before fingerprints were keyed (still in quarantine for its retention), or the length alone.
_FINGERPRINT_SHAPES = pii.FINGERPRINT_FIELDS | {"sha256"}


def select_rows(
    rows: Iterable[QuarantineRow], *, reasons: Iterable[str] | None, since: date | None, until: date | None
) -> Iterator[QuarantineRow]:
    """Rows with one of `reasons` (all when None) quarantined within [since, until] (open ends when None)."""
    wanted = None if reasons is None else set(reasons)
    for row in rows:
        reason = row.row.get("reason")
        if wanted is not None and (not isinstance(reason, str) or reason not in wanted):
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
        if row.ledger_key in report.counted or row.ledger_key in ledger:
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
    if report.dry_run:
        report.counted.update(row.ledger_key for row, _ in passing)
        return
    for start in range(0, len(passing), MAX_PUT_RECORDS):
        chunk = passing[start : start + MAX_PUT_RECORDS]
        failed = set(put([entry for _, entry in chunk]))
        report.put_failures += len(failed)
        report.records_put += len(chunk) - len(failed)
        for index, (row, _) in enumerate(chunk):
            if index not in failed:  # each row is its own item: the rows put are done, whatever failed
                ledger.add(row.ledger_key)
                report.counted.add(row.ledger_key)


def partition_key(event_id: str | None, payload: bytes) -> str:
    """The event id (what producers partition by), else a hash of the record; within Kinesis' length limit."""
    if event_id:
        return event_id[:MAX_PARTITION_KEY]
    return hashlib.sha256(payload).hexdigest()


def parse_quarantine_object(object_key: str, body: bytes, report: RedriveReport) -> list[QuarantineRow]:
    """The rows of one quarantine object; a line that is not a JSON object (a truncated upload, a hand edit)
    is counted as `quarantine_malformed` and the object's other rows are still re-driven."""
    rows = []
    # An object saved again by a Windows editor may start with a UTF-8 byte-order mark and end lines in CRLF.
    for line_number, line in enumerate(body.removeprefix(codecs.BOM_UTF8).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            row = None
        if not isinstance(row, dict):
            report.quarantine_malformed += 1
            continue
        rows.append(QuarantineRow(object_key, line_number, row))
    return rows


# ------------------------------------------------------------------------------------------ AWS wiring
def put_records(
    kinesis: Any, stream_name: str, entries: Sequence[Entry], *, sleep: Callable[[float], None] = time.sleep
) -> list[int]:
    """PutRecords in requests within the API limits; return the indices of the entries that could not be put.

    PutRecords succeeds or fails record by record (`ErrorCode` on each failed one, typically
    `ProvisionedThroughputExceededException`): only the failed entries are put again, after a growing pause,
    so a throttled request never puts its other records twice."""
    pending = list(range(len(entries)))
    for attempt in range(PUT_ATTEMPTS):
        if attempt:
            sleep(0.1 * 2**attempt)
        failed: list[int] = []
        for chunk in _chunks(entries, pending):
            try:
                response = kinesis.put_records(
                    StreamName=stream_name,
                    Records=[{"PartitionKey": entries[i][0], "Data": entries[i][1]} for i in chunk],
                )
            except (ClientError, BotoCoreError):
                failed.extend(chunk)
                continue
            results = response.get("Records", [])
            if len(results) != len(chunk):  # no per-record answer: nothing is known to be put
                failed.extend(chunk)
                continue
            failed.extend(index for index, result in zip(chunk, results, strict=True) if result.get("ErrorCode"))
        pending = failed
        if not pending:
            break
    return pending


def _chunks(entries: Sequence[Entry], indices: Sequence[int]) -> Iterator[list[int]]:
    """The indices of `entries`, cut into PutRecords requests within the record count and byte limits."""
    chunk: list[int] = []
    size = 0
    for index in indices:
        key, data = entries[index]
        entry_size = len(key.encode()) + len(data)
        if chunk and (len(chunk) == MAX_PUT_RECORDS or size + entry_size > MAX_PUT_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(index)
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
    *,
    sqs: Any,
    kinesis: Any,
    queue_url: str,
    target_stream: str,
    ledger: Ledger,
    dry_run: bool,
    receive_wait_seconds: int = RECEIVE_WAIT_SECONDS,
) -> RedriveReport:
    """Drain the on-failure queue: re-drive each message's batch and delete the messages whose batch is done.

    A message whose batch could not be re-driven (expired, unreadable, malformed, of another stream) stays on
    the queue for a later run. Each message is handled once per run, by its MessageId: a message received again
    (its visibility timeout ran out during a long run) is not counted twice, and the run ends when a receive
    brings nothing new. Receives long-poll (`receive_wait_seconds`): a short poll samples only some of the queue's
    servers and may answer empty while messages remain, which would end the run early with them never counted.
    A dry run reads every message, then makes them all visible again at once."""
    report = RedriveReport(dry_run=dry_run)
    handled: set[str] = set()
    invisible: dict[str, str] = {}  # MessageId -> the latest receipt handle, to make it visible again

    def read(batch: BatchInfo) -> list[StreamRecord]:
        if batch.stream_name != target_stream:
            raise OtherStreamError(f"{batch.ledger_key} is not a batch of {target_stream}")
        return read_batch(kinesis, batch)

    try:
        while True:
            received = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=receive_wait_seconds
            )
            messages = received.get("Messages", [])
            for message in messages:
                invisible[message["MessageId"]] = message["ReceiptHandle"]
            new = [message for message in messages if message["MessageId"] not in handled]
            if not new:
                return report
            handled.update(message["MessageId"] for message in new)
            for message in new:
                try:
                    body = orjson.loads(message["Body"])
                except orjson.JSONDecodeError:
                    body = None  # counted as malformed below, and left on the queue
                done = redrive_on_failure(
                    [body],
                    read=read,
                    put=lambda entries: put_records(kinesis, target_stream, entries),
                    ledger=ledger,
                    report=report,
                )
                if done and not dry_run:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                    del invisible[message["MessageId"]]
    finally:
        handles = list(invisible.values())
        for start in range(0, len(handles), 10):
            entries = [
                {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for index, handle in enumerate(handles[start : start + 10])
            ]
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def list_quarantine_rows(
    s3: Any, bucket: str, *, since: date, until: date, report: RedriveReport
) -> Iterator[QuarantineRow]:
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
                try:
                    body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") not in {"NoSuchKey", "404"}:
                        raise
                    report.quarantine_objects_gone += 1  # expired (lifecycle) between the listing and the read
                    continue
                yield from parse_quarantine_object(item["Key"], body, report)
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
        list_quarantine_rows(s3, bucket, since=since, until=until, report=report),
        reasons=reasons,
        since=None,
        until=None,
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
