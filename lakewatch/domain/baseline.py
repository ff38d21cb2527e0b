"""Per client/job duration baseline: is this run far longer than the recent ones? (pure, no I/O)

On-call people watch for runs "much longer than the recent average run time", in data whose durations grow
slowly every day (each batch re-processes an ever larger history) and wobble by ±15-20 % from one day to the
next. Neither of those may page anyone; a sudden multiple of the baseline must.

So the baseline is robust and short-memoried:

* it holds the durations of the last `BASELINE_WINDOW` *successful, non-outlier* runs, ordered by when they
  ended, so slow growth moves the median along with it (a 20-run window lags a daily job by ~10 days,
  which no realistic growth curve turns into a multiple);
* it is summarised by the median and the median absolute deviation (MAD), which a single spike cannot drag;
* a run is an outlier only when all three thresholds below agree, and an outlier never enters the
  history, so a spike cannot poison the baseline it is judged against.

Failed runs never enter the history either: a run that died after two minutes says nothing about how
long a healthy run takes.

This module states the outlier rule once. `athena/duration_outliers.sql` lists the same outliers over the
lake with these numbers (its `rule` row and window frame; a unit test reads them out of the SQL and compares
them with the constants below) and with the same median and MAD, and differs in what it judges against,
as its header says: earlier outliers stay in its history (the median and MAD shrug them off; the Lambda
drops them), and its history is every earlier successful run in the lake, not the runs the Lambda had
seen when the run arrived. Generated test data that must trip the rule derives its spikes from
`RATIO_THRESHOLD` rather than holding a number of its own.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: How many recent successful runs make the baseline. Long enough for the median/MAD to be stable against
#: noise, short enough that slow growth is followed rather than flagged.
BASELINE_WINDOW = 20
#: No verdict before this many runs: with fewer, one odd early run could be half the evidence, and a new
#: client's first week is when durations move most.
MIN_HISTORY = 7
#: A run is flagged only at this multiple of the median or more. Day-to-day noise (±20 %) plus ten days of
#: growth stays far below it; the "3x and 5x" runs on-call care about are above it.
RATIO_THRESHOLD = 2.5
#: ...and only when it is this many robust standard deviations above the median. For steady jobs the ratio
#: decides; for jobs whose healthy durations already vary widely this stops a 2.5x run that is within their
#: normal spread from alerting.
MAD_K = 5.0
#: Scales the MAD into a standard-deviation estimate for normally distributed noise.
MAD_TO_SIGMA = 1.4826
#: ...and only when the run took at least this much longer than the median, so a 20-second job taking a
#: minute never pages a person at night.
ABSOLUTE_FLOOR_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One successful run in a baseline; `ended_at` is sortable UTC text (tables.CLEAN_TIMESTAMP_FORMAT)."""

    run_id: str
    ended_at: str
    duration_seconds: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judgement of one run against a baseline; figures are None when there was too little history."""

    judged: bool
    is_outlier: bool
    history_size: int
    median_seconds: float | None = None
    mad_seconds: float | None = None
    ratio: float | None = None
    #: The shortest duration that would have been flagged against this baseline.
    threshold_seconds: float | None = None


def outlier_threshold(median: float, mad: float) -> float:
    """Smallest duration that is an outlier against a baseline of this median and MAD (all thresholds)."""
    return max(RATIO_THRESHOLD * median, median + MAD_K * MAD_TO_SIGMA * mad, median + ABSOLUTE_FLOOR_SECONDS)


def judge(history: Sequence[HistoryEntry], duration_seconds: float) -> Verdict:
    """Judge a successful run's duration against the history it must not yet be part of."""
    if len(history) < MIN_HISTORY:
        return Verdict(judged=False, is_outlier=False, history_size=len(history))
    durations = [entry.duration_seconds for entry in history]
    median = statistics.median(durations)
    mad = statistics.median(abs(value - median) for value in durations)
    threshold = outlier_threshold(median, mad)
    return Verdict(
        judged=True,
        is_outlier=duration_seconds >= threshold,
        history_size=len(history),
        median_seconds=median,
        mad_seconds=mad,
        ratio=duration_seconds / median if median > 0 else None,
        threshold_seconds=threshold,
    )


def contains_run(history: Iterable[HistoryEntry], run_id: str) -> bool:
    """Whether a run is already in the history (a redelivered record must not count twice)."""
    return any(entry.run_id == run_id for entry in history)


def admit(history: Sequence[HistoryEntry], entry: HistoryEntry) -> tuple[HistoryEntry, ...]:
    """The history with a non-outlier successful run added: the `BASELINE_WINDOW` latest by `ended_at`.

    Ordering by end time rather than by arrival makes the result independent of delivery order, so a late
    run lands where it belongs (or falls off the end) and two writers always agree on the outcome.
    A run already present is not added again.
    """
    if contains_run(history, entry.run_id):
        return tuple(history)
    ordered = sorted((*history, entry), key=lambda item: (item.ended_at, item.run_id))
    return tuple(ordered[-BASELINE_WINDOW:])


# --- DynamoDB item layout (table `baselines`: pk S, sk S, TTL `expires_at`) ------------------------------
#
#   pk = partition_key(client, job_name), sk = "baseline"    one per client/job: the state below, `version`
#   pk = partition_key(client, job_name), sk = "alert#<alert_type>#<dedupe_id>"    one alert's dedupe marker
#
# `client` and `job_name` are stored as attributes too, so nothing ever parses `pk`.
#
# Sparse index `by_last_run` (GSI): partition `watched` (the constant `WATCHED`, set on baseline items that
# have a last run, absent on markers), sort `last_ended_at`. The overdue check queries it for items whose
# last run ended before a cutoff instead of scanning the table.

BASELINE_SK = "baseline"
LAST_RUN_INDEX = "by_last_run"
LAST_RUN_INDEX_PARTITION = "watched"
LAST_RUN_INDEX_SORT = "last_ended_at"
#: The one value of `LAST_RUN_INDEX_PARTITION`: every watched client/job sits in one index partition, read
#: in last-run order. Hourly reads of a few hundred small projected items stay far below a partition's limits.
WATCHED = "job"
#: What the index projects besides the keys: what the overdue check reads from a candidate.
LAST_RUN_INDEX_ATTRIBUTES = ("client", "job_name", "last_run_id", "overdue_alerted_for")
#: DynamoDB's size limits on key attributes (UTF-8 bytes): a longer key can never be written.
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
#: DynamoDB's limit on the keys of one BatchGetItem call.
MAX_BATCH_GET_KEYS = 100
#: A client/job that has not run for this long is considered retired: its state expires (after having
#: raised its one overdue alert long before).
STATE_RETENTION_SECONDS = 90 * 86_400


def partition_key(client: str, job_name: str) -> str:
    """The item key of one client/job: the JSON array `["<client>","<job_name>"]`.

    Unambiguous whatever either name holds (a separator such as "#" would make `acme` + `daily#eu` and
    `acme#daily` + `eu` one key, and mix two jobs' baselines and alerts), and readable in the console.
    """
    return json.dumps([client, job_name], ensure_ascii=False, separators=(",", ":"))


def alert_marker_sk(alert_type: str, dedupe_id: str) -> str:
    return f"alert#{alert_type}#{dedupe_id}"


@dataclass(frozen=True, slots=True)
class JobState:
    """The `sk = "baseline"` item of one client/job. `version` 0 means no item exists yet."""

    client: str
    job_name: str
    history: tuple[HistoryEntry, ...] = ()
    #: End of the latest run seen, any status (sortable UTC text); only ever moves forward.
    last_ended_at: str | None = None
    last_run_id: str | None = None
    last_status: str | None = None
    #: The `last_ended_at` whose overdue episode has been alerted; a newer run re-arms the check.
    overdue_alerted_for: str | None = None
    version: int = 0


def state_from_item(item: dict[str, Any]) -> JobState:
    """Decode a DynamoDB (low-level, typed) `baseline` item."""

    def text(name: str) -> str | None:
        value = item.get(name)
        return None if value is None else value["S"]

    history = tuple(
        HistoryEntry(run_id=run_id, ended_at=ended_at, duration_seconds=float(duration))
        for run_id, ended_at, duration in json.loads(text("history") or "[]")
    )
    return JobState(
        client=item["client"]["S"],
        job_name=item["job_name"]["S"],
        history=history,
        last_ended_at=text("last_ended_at"),
        last_run_id=text("last_run_id"),
        last_status=text("last_status"),
        overdue_alerted_for=text("overdue_alerted_for"),
        version=int(item.get("version", {}).get("N", "0")),
    )


def history_attribute(history: Iterable[HistoryEntry]) -> dict[str, Any]:
    """A history as one compact JSON string attribute, `[[run_id, ended_at, duration_seconds], ...]`.

    A typed list of maps would be ~3x larger (more write units on every run) and slower to (de)serialise, for
    no query benefit: the history is only ever read and written whole.
    """
    rows = [[entry.run_id, entry.ended_at, entry.duration_seconds] for entry in history]
    return {"S": json.dumps(rows, separators=(",", ":"))}


def table_definition(table_name: str) -> dict[str, Any]:
    """`CreateTable` arguments of the baselines table as the stack defines it (keys and the sparse index), for
    the AWS emulation of the local runner and tests; TTL and encryption do not change what they observe."""
    return {
        "TableName": table_name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("pk", "sk", LAST_RUN_INDEX_PARTITION, LAST_RUN_INDEX_SORT)
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": LAST_RUN_INDEX,
                "KeySchema": [
                    {"AttributeName": LAST_RUN_INDEX_PARTITION, "KeyType": "HASH"},
                    {"AttributeName": LAST_RUN_INDEX_SORT, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(LAST_RUN_INDEX_ATTRIBUTES)},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
