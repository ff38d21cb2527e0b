"""The transform's batch logic: transform every record, deliver clean rows, quarantine the rest.

Delivery guarantees (nothing is lost silently):
- every input record ends delivered to its clean stream, written to quarantine, or reported in
  `failed_sequence_numbers` (the handler turns those into `batchItemFailures`, so Kinesis retries them);
- PutRecords is retried for the failed entries only (throttling and internal failures, with bounded
  exponential backoff and full jitter), so this function never sends a record twice itself; duplicates can
  only come from the event source mapping replaying a batch, which the lake tolerates (dedup on event_id);
- quarantine writes are idempotent under replay: the object is named after the first rejected record it
  holds (`quarantine_key`), so a redelivered batch, or a bisected half of it, overwrites instead of adding a
  second copy; and rejects after the first clean record that could not be delivered are not written yet (they
  are reported for retry with it, since Kinesis resumes from the lowest failed record), so a partial retry
  never quarantines a record twice. `quarantined` counts what was written, so metrics do not double-count;
- nothing here logs or returns a payload: outcomes carry counts, reasons, error codes and sequence numbers.

KPL aggregates (`lakewatch/domain/kpl.py`) are expanded first, each user record becoming an input of its own
that carries its aggregate's sequence number, so each gets its own verdict and a failed user record fails
its whole Kinesis record: Kinesis retries that record (all its user records) and nothing after it is written
to quarantine yet, exactly as for a plain record. A corrupt aggregate stays whole, and the transform
quarantines it as `invalid_json` with field `kpl_aggregation`. A batch without an aggregate pays one
`startswith` per record.

Clients and the sleep function are passed in, so tests drive throttling without waiting.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from botocore.exceptions import BotoCoreError, ClientError

from lakewatch.domain import kpl, tables
from lakewatch.domain.reasons import Reason
from lakewatch.domain.transform import KPL_MAGIC, Clean, Rejected, quarantine_row, transform_records

SOURCE = "stream"
#: PutRecords limits: 500 records and 5 MiB (data + partition keys) per request.
MAX_PUT_RECORDS = 500
MAX_PUT_BYTES = 5 * 1024 * 1024
#: Per-entry error codes worth retrying; anything else (e.g. KMS access denied) will not heal in seconds.
RETRYABLE_ERRORS = frozenset({"ProvisionedThroughputExceededException", "InternalFailure", "KMSThrottlingException"})
MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 2.0

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class InputRecord:
    sequence_number: str
    data: bytes
    #: When the record reached `events-raw` (Kinesis' approximate arrival, epoch seconds): the same on every
    #: redelivery, so it dates the quarantine object deterministically. None falls back to the batch's `now`.
    arrived_at: float | None = None


@dataclass(frozen=True, slots=True)
class Destinations:
    """Where clean rows and quarantine rows go: stream name per lake table, and the quarantine bucket."""

    streams: dict[str, str]
    quarantine_bucket: str


@dataclass(frozen=True, slots=True)
class Retry:
    """How failed PutRecords entries are retried. `sleep` and `random` are injected so tests never wait."""

    sleep: Callable[[float], None]
    random: Callable[[], float] = random.random
    max_attempts: int = MAX_ATTEMPTS
    base_seconds: float = BACKOFF_BASE_SECONDS
    cap_seconds: float = BACKOFF_CAP_SECONDS

    def delay(self, attempt: int) -> float:
        """Full-jitter exponential backoff (AWS Architecture Blog) before retry number `attempt` (1-based)."""
        return self.random() * min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))


@dataclass
class DeliveryResult:
    failed: list[str] = field(default_factory=list)
    retried_entries: int = 0
    error_codes: Counter[str] = field(default_factory=Counter)


@dataclass
class BatchOutcome:
    received: int = 0
    #: User records taken out of KPL aggregates (each counted in `delivered` / `quarantined` like a record).
    deaggregated: int = 0
    delivered: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[Reason] = field(default_factory=Counter)
    retried_entries: int = 0
    delivery_error_codes: Counter[str] = field(default_factory=Counter)
    quarantine_key: str | None = None
    quarantine_failed: bool = False
    #: Sequence numbers Kinesis must retry, in input order.
    failed_sequence_numbers: list[str] = field(default_factory=list)


def process_batch(
    records: Sequence[InputRecord],
    *,
    pii_key: bytes,
    destinations: Destinations,
    kinesis: Any,
    s3: Any,
    retry: Retry,
    now: datetime,
) -> BatchOutcome:
    """Transform, route and deliver one Kinesis batch; report what could not be delivered."""
    outcome = BatchOutcome(received=len(records))
    records, outcome.deaggregated = expand_aggregates(records)
    clean_by_table: dict[str, list[tuple[str, Clean]]] = {}
    rejected: list[tuple[int, InputRecord, Rejected]] = []
    verdicts = transform_records([record.data for record in records], pii_key=pii_key, ingested_at=now, source=SOURCE)
    for position, (record, result) in enumerate(zip(records, verdicts, strict=True)):
        if type(result) is Clean:
            clean_by_table.setdefault(result.table, []).append((record.sequence_number, result))
        else:
            rejected.append((position, record, result))

    failed: set[str] = set()
    for table, entries in clean_by_table.items():
        result = put_clean_records(kinesis, destinations.streams[table], entries, retry)
        failed.update(result.failed)
        outcome.delivered[table] = len(entries) - len(result.failed)
        outcome.retried_entries += result.retried_entries
        outcome.delivery_error_codes.update(result.error_codes)

    # Kinesis resumes from the lowest failed record: rejects after it will be seen again, so they wait for then.
    first_failure = next((p for p, record in enumerate(records) if record.sequence_number in failed), len(records))
    to_write = [(record, result) for position, record, result in rejected if position < first_failure]
    failed.update(record.sequence_number for position, record, _ in rejected if position >= first_failure)
    if to_write:
        first = to_write[0][0]
        arrived_at = now if first.arrived_at is None else datetime.fromtimestamp(first.arrived_at, UTC)
        key = quarantine_key(arrived_at, first.sequence_number)
        entries = [(record.sequence_number, result) for record, result in to_write]
        if put_quarantine(s3, destinations.quarantine_bucket, key, entries, now):
            outcome.quarantine_key = key
            for _, result in to_write:
                outcome.quarantined[result.reason] += 1
        else:
            outcome.quarantine_failed = True
            failed.update(sequence_number for sequence_number, _ in entries)
    # One entry per Kinesis record, even when several of its user records failed.
    outcome.failed_sequence_numbers = list(
        dict.fromkeys(r.sequence_number for r in records if r.sequence_number in failed)
    )
    return outcome


def _has_aggregate(records: Sequence[InputRecord]) -> bool:
    """One `startswith` per record: the whole cost of KPL support for a batch of plain records (a plain loop is
    ~3x cheaper than `any()` over a generator here)."""
    for record in records:  # noqa: SIM110  see above: measured
        if record.data.startswith(KPL_MAGIC):
            return True
    return False


def expand_aggregates(records: Sequence[InputRecord]) -> tuple[Sequence[InputRecord], int]:
    """Each KPL aggregate replaced by its user records (same sequence number and arrival), the rest as is; and
    how many user records came out of aggregates."""
    if not _has_aggregate(records):
        return records, 0
    expanded: list[InputRecord] = []
    user_record_count = 0
    for record in records:
        if record.data.startswith(KPL_MAGIC):
            try:
                user_records = kpl.user_records(record.data)
            except kpl.CorruptAggregate:
                expanded.append(record)  # whole: the transform quarantines it (field kpl_aggregation)
                continue
            expanded.extend(InputRecord(record.sequence_number, data, record.arrived_at) for data in user_records)
            user_record_count += len(user_records)
        else:
            expanded.append(record)
    return expanded, user_record_count


def put_clean_records(
    kinesis: Any, stream_name: str, entries: Sequence[tuple[str, Clean]], retry: Retry
) -> DeliveryResult:
    """PutRecords every entry (partition key = event_id), retrying only the entries that failed."""
    result = DeliveryResult()
    for chunk in chunk_entries(entries):
        _put_chunk(kinesis, stream_name, chunk, retry, result)
    return result


def chunk_entries(entries: Sequence[tuple[str, Clean]]) -> list[list[tuple[str, Clean]]]:
    """Split entries into PutRecords requests within the record-count and byte limits."""
    chunks: list[list[tuple[str, Clean]]] = []
    current: list[tuple[str, Clean]] = []
    size = 0
    for entry in entries:
        clean = entry[1]
        entry_size = len(clean.payload) + len(clean.event_id.encode())
        if current and (len(current) == MAX_PUT_RECORDS or size + entry_size > MAX_PUT_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry_size
    if current:
        chunks.append(current)
    return chunks


def _put_chunk(
    kinesis: Any, stream_name: str, chunk: list[tuple[str, Clean]], retry: Retry, result: DeliveryResult
) -> None:
    pending = chunk
    for attempt in range(1, retry.max_attempts + 1):
        try:
            response = kinesis.put_records(
                StreamName=stream_name,
                Records=[{"Data": clean.payload, "PartitionKey": clean.event_id} for _, clean in pending],
            )
        except (ClientError, BotoCoreError) as error:
            # botocore has already retried the call itself; what is left will not heal within this invocation.
            code = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error).__name__
            result.error_codes[code] += len(pending)
            result.failed.extend(sequence_number for sequence_number, _ in pending)
            return
        if not response.get("FailedRecordCount"):
            return
        retryable = []
        for entry, entry_result in zip(pending, response["Records"], strict=True):
            code = entry_result.get("ErrorCode")
            if code is None:
                continue
            result.error_codes[code] += 1
            if code in RETRYABLE_ERRORS:
                retryable.append(entry)
            else:
                result.failed.append(entry[0])
        if not retryable:
            return
        if attempt == retry.max_attempts:
            result.failed.extend(sequence_number for sequence_number, _ in retryable)
            return
        result.retried_entries += len(retryable)
        retry.sleep(retry.delay(attempt))
        pending = retryable


def quarantine_key(arrived_at: datetime, first_sequence_number: str) -> str:
    """`quarantine/stream/dt=<UTC date the first reject arrived>/<its sequence number>.jsonl`.

    Both parts are properties of the first rejected record, not of the invocation, so every delivery of the
    same records names the same object. Sequence numbers are unique within a stream, hence so are the names.
    """
    day = arrived_at.astimezone(UTC).strftime(tables.PARTITION_DATE_FORMAT)
    return f"{tables.QUARANTINE_ROOT}/{SOURCE}/{tables.PARTITION_KEY}={day}/{first_sequence_number}.jsonl"


def quarantine_body(rejected: Sequence[tuple[str, Rejected]], now: datetime) -> bytes:
    """JSON lines, one quarantine row (DEVELOPERS.md) per rejected record; records are already PII-free."""
    rows = (
        quarantine_row(result, sequence_number=sequence_number, source=SOURCE, quarantined_at=now)
        for sequence_number, result in rejected
    )
    return b"".join(_encoder.encode(row) + b"\n" for row in rows)


def put_quarantine(s3: Any, bucket: str, key: str, rejected: Sequence[tuple[str, Rejected]], now: datetime) -> bool:
    """One PutObject for the batch's rejects; False (never an exception) when S3 refuses it."""
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=quarantine_body(rejected, now), ContentType="application/x-ndjson")
    except (ClientError, BotoCoreError):
        return False
    return True
