"""Daily batch/ETL job runs of many clients, with the anomalies the on-call alerts must find.

Each client runs a nightly job (some a second one) on an instance size that fits its data volume. Durations grow
slowly as history accumulates and vary from day to day; cost is duration times the instance's hourly price. On
top of that the generator plants failed and timed-out runs (one `job_failed` alert each), duration spikes (one
`duration_outlier` alert each), clients that stop running (one `run_overdue` alert each), runs that arrive late
and redeliveries, and records all of it in the manifest.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lakewatch.domain.baseline import BASELINE_WINDOW, RATIO_THRESHOLD
from lakewatch.local.synthetic.common import (
    FIRST_NAMES,
    KIND_DUPLICATE,
    KIND_EVENT,
    KIND_LATE,
    LAST_NAMES,
    ReplayLine,
    dumps,
    event_uuid,
    luhn_card,
    utc_text,
    words,
)

#: The overdue check's defaults (stage config): runs are generated so that a healthy series never leaves a
#: gap this long between two run ends, so only the planted stopped clients can be overdue.
HEALTHY_MAX_GAP = timedelta(hours=24 + 2)

MAIN_JOB = "nightly_sales_analysis"
SECOND_JOBS = ("daily_inventory_refresh", "customer_segmentation", "marketing_attribution")

_COMPANY_PREFIXES = words("""
northwind contoso fabrikam tailspin adventure wingtip litware proseware lucerne margie alpine blue-yonder coho
fourth-coffee graphic humongous trey woodgrove wide-world southridge relecloud datum proseco bellows kestrel
harbour meridian summit pinnacle cobalt granite ember lantern orchard quarry riverstone saffron tamarind vertex
""")
_COMPANY_SECTORS = words("""
retail foods apparel pharmacy hardware motors logistics grocers outdoors electronics books toys homeware beauty
sports
""")


# The cost model: on-demand hourly price (USD) and relative throughput of each instance size; a run costs its
# duration times the hourly price.
INSTANCE_TYPES: dict[str, tuple[float, float]] = {
    "m5.large": (0.096, 1.0),
    "m5.xlarge": (0.192, 1.9),
    "m5.2xlarge": (0.384, 3.6),
    "m5.4xlarge": (0.768, 6.5),
    "r5.xlarge": (0.252, 2.1),
    "r5.2xlarge": (0.504, 4.0),
    "r5.4xlarge": (1.008, 7.2),
    "c5.2xlarge": (0.34, 4.2),
    "c5.4xlarge": (0.68, 7.6),
}
_TIERS = (
    ("m5.large", "m5.xlarge", "r5.xlarge"),
    ("m5.xlarge", "m5.2xlarge", "r5.xlarge", "c5.2xlarge"),
    ("m5.2xlarge", "r5.2xlarge", "c5.2xlarge", "m5.4xlarge"),
    ("m5.4xlarge", "r5.4xlarge", "c5.4xlarge"),
)
_MIN_DURATION_S = 4 * 60
_MAX_INITIAL_DURATION_S = 60 * 60
_START_JITTER_S = 8 * 60
_NOISE = 0.12
_SPIKE_MIN_HISTORY_DAYS = 14
#: Spikes are measured against the same window of recent successful runs as the alert's baseline.
_SPIKE_WINDOW = BASELINE_WINDOW
#: How far above the alert's ratio threshold the smallest planted spike sits: enough that no spike is a
#: borderline call for the alert (nor for the `duration_outliers` query, whose SQL threshold is 3x).
_SPIKE_MARGIN_OVER_ALERT = 1.3
_SPIKE_MIN_FACTOR = RATIO_THRESHOLD * _SPIKE_MARGIN_OVER_ALERT
_SPIKE_MAX_FACTOR = 6.0
#: A spike never runs more than this much longer than the baseline, so it never also makes its series overdue.
_SPIKE_MAX_EXTRA_S = 3600
_TIMEOUT_FACTOR = 1.5
#: No run, however it ends, is recorded as shorter than this.
_MIN_RUN_S = 30

_FAILURE_MESSAGES = (
    "Stage 'aggregate_daily_sales' failed: java.lang.OutOfMemoryError: GC overhead limit exceeded",
    "Input file s3://{client}-landing/sales/{day}/sales.csv not found",
    "S3 AccessDenied (403) reading s3://{client}-landing/sales/{day}/",
    "Schema mismatch in sales feed: column 'transaction_amount' expected DECIMAL, got STRING",
    "Upstream extract returned 0 rows; refusing to publish an empty report",
    "Connection reset by peer after 3 retries (reporting-db:5432)",
)
_PII_FAILURE_MESSAGES = (
    "Report delivery failed: mailbox {email} unavailable (550 5.1.1)",
    "Row 18342 rejected: unmasked card number {card} in column 'notes'",
    "Customer contact {email} failed validation; payment ref {card_spaced}",
)
_TIMEOUT_MESSAGE = "Run exceeded its {timeout} timeout and was stopped by the scheduler"


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """One client/job's daily series; `max_gap_seconds` is the longest time between two consecutive run ends."""

    client: str
    job_name: str
    instance_size: str
    runs: int
    first_started_at: str
    last_ended_at: str
    stopped: bool
    max_gap_seconds: float


@dataclass(frozen=True, slots=True)
class SpikeInfo:
    """A successful run planted at `ratio` times the median of the series' last (≤ 20) healthy successful runs."""

    run_id: str
    client: str
    job_name: str
    ended_at: str
    duration_seconds: int
    baseline_median_seconds: float
    ratio: float


@dataclass(frozen=True, slots=True)
class StoppedInfo:
    client: str
    job_name: str
    last_ended_at: str


@dataclass(frozen=True, slots=True)
class LateInfo:
    run_id: str
    ended_at: str
    arrives_at: str


@dataclass(frozen=True, slots=True)
class JobRunsManifest:
    start: str
    days: int
    clients: int
    seed: int
    client_names: tuple[str, ...]
    series: tuple[SeriesInfo, ...]
    #: Distinct runs: the rows `lake/job_runs` must end with (none is invalid).
    runs: int
    succeeded_runs: int
    #: FAILED and TIMED_OUT runs: one `job_failed` alert each.
    failed_run_ids: tuple[str, ...]
    timed_out_run_ids: tuple[str, ...]
    failed_cost_usd: float
    total_cost_usd: float
    #: One `duration_outlier` alert each.
    spikes: tuple[SpikeInfo, ...]
    spike_run_ids: tuple[str, ...]
    #: The only series expected to become overdue (`run_overdue`) once "now" is past last_ended_at + 26 h.
    stopped: tuple[StoppedInfo, ...]
    #: Clients whose series only succeed, never spike and never stop: slow growth and noise only, no alert.
    healthy_clients: tuple[str, ...]
    late: tuple[LateInfo, ...]
    late_run_ids: tuple[str, ...]
    duplicate_lines: int
    duplicated_run_ids: tuple[str, ...]
    #: Longest gap between consecutive run ends of any series that is not stopped (< 26 h by construction).
    max_run_gap_seconds: float
    total_lines: int
    pii_strings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class JobRunsDataset:
    #: The distinct job_run events (wire-contract dicts), in ended_at order.
    runs: list[dict[str, Any]]
    lines: list[ReplayLine]
    manifest: JobRunsManifest


@dataclass(slots=True)
class _Series:
    client: str
    job_name: str
    instance_size: str
    daily_gb: float
    initial_duration_s: float
    growth: tuple[str, float]
    start_hour: float
    first_day: int
    last_day: int
    failure_rate: float
    spike_days: tuple[int, ...] = ()
    #: Days (index in the period) whose run is planted to fail whatever the dice say, with this status.
    forced: dict[int, str] = field(default_factory=dict)


#: Growth curves (batches slow down as a client's history accumulates) and their rate ranges: about +0.2-0.4 %
#: a day at first, +25-60 % after 120 days, so day-to-day change always stays far inside the noise.
_GROWTH_RATES = {"linear": (0.002, 0.004), "compound": (0.002, 0.004), "sqrt": (0.02, 0.04), "log": (0.06, 0.12)}


def _growth(kind: str, rate: float, days_since_start: int) -> float:
    """History makes every batch slower: a gentle, client-specific increasing curve."""
    if kind == "linear":
        return 1.0 + rate * days_since_start
    if kind == "compound":
        return (1.0 + rate) ** days_since_start
    if kind == "sqrt":
        return 1.0 + rate * math.sqrt(days_since_start)
    return 1.0 + rate * math.log1p(days_since_start)


def _client_names(rng: random.Random, count: int) -> list[str]:
    combos = [f"{prefix}-{sector}" for prefix in _COMPANY_PREFIXES for sector in _COMPANY_SECTORS]
    if count <= len(combos):
        return rng.sample(combos, count)
    return [f"{name}-{index // len(combos) + 1}" for index, name in enumerate(combos * (count // len(combos) + 1))][
        :count
    ]


@dataclass(frozen=True, slots=True)
class _Roles:
    """Which clients carry which planted behaviour (a client has at most one of stopped, healthy, prone)."""

    #: Stop running some days before the end of the period: one `run_overdue` each.
    stopped: set[str]
    #: Never fail, spike or stop: slow growth and noise only.
    healthy: set[str]
    #: Fail about one run in twenty instead of one in ~170.
    prone: set[str]
    #: Carry at least one planted duration spike (filled in once the series are planned).
    spike: set[str] = field(default_factory=set)


def _plan_series(rng: random.Random, names: list[str], days: int) -> tuple[list[_Series], _Roles]:
    """Profiles of every client's series and which clients carry which planted behaviour."""
    roles = _assign_roles(rng, names)
    series = [profile for name in names for profile in _client_series(rng, name, roles, days)]
    _plant_spikes(rng, series, roles, client_count=len(names))
    _plant_failures(rng, series, roles)
    return series, roles


def _assign_roles(rng: random.Random, names: list[str]) -> _Roles:
    count = len(names)
    order = list(range(count))
    rng.shuffle(order)
    n_stopped = max(1, round(count * 0.03)) if count >= 3 else 0
    n_healthy = max(1, round(count * 0.3))
    n_prone = round(count * 0.1)
    return _Roles(
        stopped={names[i] for i in order[:n_stopped]},
        healthy={names[i] for i in order[n_stopped : n_stopped + n_healthy]},
        prone={names[i] for i in order[n_stopped + n_healthy : n_stopped + n_healthy + n_prone]},
    )


def _client_series(rng: random.Random, name: str, roles: _Roles, days: int) -> list[_Series]:
    """A client's main job and, for about three in ten, a second smaller job that starts 2.5 h later."""
    daily_gb = min(120.0, max(1.5, math.exp(rng.gauss(math.log(12), 0.8))))
    tier = 0 if daily_gb < 6 else 1 if daily_gb < 20 else 2 if daily_gb < 50 else 3
    instance = rng.choice(_TIERS[tier])
    speed = INSTANCE_TYPES[instance][1]
    initial = min(_MAX_INITIAL_DURATION_S, max(_MIN_DURATION_S, 180 + daily_gb * 360 / speed))
    late_starter = name not in roles.stopped and name not in roles.healthy and rng.random() < 0.2 and days >= 10
    first_day = rng.randrange(int(days * 0.4)) if late_starter else 0
    last_day = days - 1
    if name in roles.stopped:
        last_day = max(first_day + 1, days - 1 - rng.randint(3, 10)) if days > 12 else max(0, days - 3)
    failure_rate = 0.0 if name in roles.healthy else 0.05 if name in roles.prone else 0.006
    evening = rng.random() < 0.15
    start_hour = rng.uniform(19.0, 22.5) if evening else rng.uniform(0.0, 6.0)
    curve = rng.choice(tuple(_GROWTH_RATES))
    growth = (curve, rng.uniform(*_GROWTH_RATES[curve]))
    jobs = [MAIN_JOB]
    if rng.random() < 0.3:
        jobs.append(rng.choice(SECOND_JOBS))
    series = []
    for job_index, job in enumerate(jobs):
        scale = 1.0 if job_index == 0 else rng.uniform(0.3, 0.6)
        series.append(
            _Series(
                client=name,
                job_name=job,
                instance_size=instance,
                daily_gb=round(daily_gb * scale, 3),
                initial_duration_s=max(_MIN_DURATION_S, initial * scale),
                growth=growth,
                start_hour=(start_hour + 2.5 * job_index) % 24,
                first_day=first_day,
                last_day=last_day,
                failure_rate=failure_rate,
            )
        )
    return series


def _plant_spikes(rng: random.Random, series: list[_Series], roles: _Roles, *, client_count: int) -> None:
    """Spikes go to main-job series with enough history whose baseline is short enough that even a 6x run does
    not also make the series overdue; one spike per ~50 days of history."""
    candidates = [
        s
        for s in series
        if s.job_name == MAIN_JOB
        and s.client not in roles.healthy
        and s.client not in roles.stopped
        and s.last_day - s.first_day >= _SPIKE_MIN_HISTORY_DAYS + 4
    ]
    candidates.sort(key=lambda s: (s.initial_duration_s > 20 * 60, rng.random()))
    for s in candidates[: max(1, round(client_count * 0.08))] if candidates else []:
        first = s.first_day + _SPIKE_MIN_HISTORY_DAYS + rng.randrange(5)
        spike_days = [first]
        while spike_days[-1] + 50 <= s.last_day - 2:
            spike_days.append(spike_days[-1] + rng.randint(40, 50))
        s.spike_days = tuple(day for day in spike_days if day <= s.last_day - 2)
        roles.spike.add(s.client)


def _plant_failures(rng: random.Random, series: list[_Series], roles: _Roles) -> None:
    """However few clients and days, one of each failure kind is planted (the first two carry PII)."""
    failing = [
        s
        for s in series
        if s.client not in roles.healthy and s.client not in roles.stopped and s.last_day - s.first_day >= 8
    ]
    if failing:
        target = rng.choice(failing)
        target.forced = {
            target.first_day + 3: "FAILED",
            target.first_day + 5: "TIMED_OUT",
            target.first_day + 6: "FAILED",
        }


def _format_timeout(seconds: float) -> str:
    minutes = math.ceil(seconds / 300) * 5
    return f"{minutes // 60}h{minutes % 60:02d}m"


@dataclass(slots=True)
class _Run:
    """One generated run: its wire record and what the generator knows about it (the record may say less)."""

    record: dict[str, Any]
    ended: datetime
    #: The canonical (upper-case) status; the record sometimes carries it in lower case.
    status: str
    spike: bool
    #: Seconds since the previous run of the same series ended (None for a series' first run).
    gap_before: float | None


@dataclass(slots=True)
class _Outcome:
    """How a day's run went: how long it took, how much it read, and its error message if it did not succeed."""

    duration: int
    gb: float
    error: str | None = None
    #: For a planted spike: the median of the healthy runs it is measured against.
    baseline_median: float | None = None


@dataclass(slots=True)
class _PiiPlanting:
    """PII planted in failure messages: the kinds still owed (each appears at least once) and every string."""

    kinds_left: list[str] = field(default_factory=lambda: ["email", "card"])
    strings: set[str] = field(default_factory=set)


def generate_job_runs(*, start: date, days: int, clients: int, seed: int) -> JobRunsDataset:
    """Daily batch runs of `clients` clients over `days` days from `start`, with planted anomalies."""
    if days < 1 or clients < 1:
        raise ValueError("generate_job_runs needs at least one day and one client")
    rng = random.Random(f"lakewatch-job-runs-{seed}")
    names = _client_names(rng, clients)
    plan, roles = _plan_series(rng, names, days)
    period_start = datetime(start.year, start.month, start.day, tzinfo=UTC)

    runs: list[_Run] = []
    series_info: list[SeriesInfo] = []
    spikes: list[SpikeInfo] = []
    stopped: list[StoppedInfo] = []
    pii = _PiiPlanting()
    for series in plan:
        series_runs, series_spikes = _simulate_series(series, seed=seed, period_start=period_start, pii=pii)
        runs.extend(series_runs)
        spikes.extend(series_spikes)
        is_stopped = series.client in roles.stopped
        if is_stopped:
            stopped.append(StoppedInfo(series.client, series.job_name, series_runs[-1].record["event_time"]))
        series_info.append(_series_info(series, series_runs, stopped=is_stopped))

    runs.sort(key=lambda run: (run.ended, run.record["run_id"]))
    lines, late, duplicated = _job_run_lines(rng, runs)

    records = [run.record for run in runs]
    failed = [run.record for run in runs if run.status != "SUCCEEDED"]
    manifest = JobRunsManifest(
        start=start.isoformat(),
        days=days,
        clients=clients,
        seed=seed,
        client_names=tuple(names),
        series=tuple(series_info),
        runs=len(records),
        succeeded_runs=len(records) - len(failed),
        failed_run_ids=tuple(record["run_id"] for record in failed),
        timed_out_run_ids=tuple(record["run_id"] for record in failed if record["status"].upper() == "TIMED_OUT"),
        failed_cost_usd=_total_cost(failed),
        total_cost_usd=_total_cost(records),
        spikes=tuple(spikes),
        spike_run_ids=tuple(spike.run_id for spike in spikes),
        stopped=tuple(stopped),
        healthy_clients=tuple(sorted(roles.healthy - roles.stopped - roles.spike)),
        late=tuple(late),
        late_run_ids=tuple(info.run_id for info in late),
        duplicate_lines=len(duplicated),
        duplicated_run_ids=tuple(duplicated),
        max_run_gap_seconds=max((info.max_gap_seconds for info in series_info if not info.stopped), default=0.0),
        total_lines=len(lines),
        pii_strings=tuple(sorted(pii.strings)),
    )
    return JobRunsDataset(runs=records, lines=lines, manifest=manifest)


def _series_info(series: _Series, runs: list[_Run], *, stopped: bool) -> SeriesInfo:
    return SeriesInfo(
        client=series.client,
        job_name=series.job_name,
        instance_size=series.instance_size,
        runs=len(runs),
        first_started_at=runs[0].record["started_at"],
        last_ended_at=runs[-1].record["event_time"],
        stopped=stopped,
        max_gap_seconds=max((run.gap_before for run in runs if run.gap_before is not None), default=0.0),
    )


def _simulate_series(
    series: _Series, *, seed: int, period_start: datetime, pii: _PiiPlanting
) -> tuple[list[_Run], list[SpikeInfo]]:
    """One run a day from the series' first to its last day.

    Each series draws from its own generator, seeded from its name, so planting a spike in one series never shifts
    another. A spike is measured against the median of the series' last (at most 20) successful runs that were not
    spikes, which is what the alert compares with too; the days around a spike never fail at random.
    """
    srng = random.Random(f"{seed}-{series.client}-{series.job_name}")
    healthy_durations: list[float] = []
    protected = {day + delta for day in series.spike_days for delta in (-1, 0, 1)}
    runs: list[_Run] = []
    spikes: list[SpikeInfo] = []
    for day_index in range(series.first_day, series.last_day + 1):
        age = day_index - series.first_day
        expected = series.initial_duration_s * _growth(*series.growth, age)
        started = period_start + timedelta(
            days=day_index,
            hours=series.start_hour,
            seconds=srng.uniform(-_START_JITTER_S, _START_JITTER_S),
        )
        started = started.replace(microsecond=0)
        status = _status_of_day(srng, series, day_index, protected)
        gb = series.daily_gb * _growth(*series.growth, age) ** 0.8 * srng.uniform(0.95, 1.05)
        is_spike = day_index in series.spike_days
        if is_spike:
            outcome = _spike_outcome(srng, gb, healthy_durations)
        else:
            outcome = _ordinary_outcome(srng, series, status, started=started, expected=expected, gb=gb, pii=pii)
        ended = started + timedelta(seconds=outcome.duration)
        record = _run_record(srng, series, status, started=started, ended=ended, outcome=outcome)
        if outcome.baseline_median is not None:
            median = outcome.baseline_median
            spikes.append(
                SpikeInfo(
                    record["run_id"],
                    series.client,
                    series.job_name,
                    utc_text(ended),
                    outcome.duration,
                    median,
                    outcome.duration / median,
                )
            )
        elif status == "SUCCEEDED":
            healthy_durations.append(outcome.duration)
        gap_before = (ended - runs[-1].ended).total_seconds() if runs else None
        runs.append(_Run(record, ended, status, is_spike, gap_before))
    return runs, spikes


def _status_of_day(srng: random.Random, series: _Series, day_index: int, protected: set[int]) -> str:
    """A planted failure, else the series' failure rate; never at random around a spike or on the series' last
    day (so a stopped client's last run is a success and its silence is its only anomaly)."""
    if day_index in series.forced:
        return series.forced[day_index]
    if day_index not in protected and day_index != series.last_day and srng.random() < series.failure_rate:
        return "TIMED_OUT" if srng.random() < 0.25 else "FAILED"
    return "SUCCEEDED"


def _spike_outcome(srng: random.Random, gb: float, healthy_durations: list[float]) -> _Outcome:
    median = statistics.median(healthy_durations[-_SPIKE_WINDOW:])
    cap = min(_SPIKE_MAX_FACTOR, 1 + _SPIKE_MAX_EXTRA_S / median)
    factor = srng.uniform(_SPIKE_MIN_FACTOR, max(_SPIKE_MIN_FACTOR, cap))
    duration = round(median * factor)
    gb *= srng.uniform(1.0, 1.3)
    return _Outcome(max(duration, _MIN_RUN_S), gb, baseline_median=median)


def _ordinary_outcome(
    srng: random.Random,
    series: _Series,
    status: str,
    *,
    started: datetime,
    expected: float,
    gb: float,
    pii: _PiiPlanting,
) -> _Outcome:
    """Success: the expected duration with day-to-day noise. Timeout: stopped at 1.5x, rounded up to 5 minutes.
    Failure: part of the way through, with an error message (some carry PII the pipeline must mask)."""
    if status == "SUCCEEDED":
        duration = round(expected * srng.uniform(1 - _NOISE, 1 + _NOISE))
        return _Outcome(max(duration, _MIN_RUN_S), gb)
    if status == "TIMED_OUT":
        duration = math.ceil(expected * _TIMEOUT_FACTOR / 300) * 300
        error = _TIMEOUT_MESSAGE.format(timeout=_format_timeout(duration))
        return _Outcome(max(duration, _MIN_RUN_S), gb * (duration / expected * 0.4), error)
    fraction = srng.uniform(0.3, 1.0)
    duration = round(expected * fraction)
    error = _failure_message(srng, series.client, started.date(), pii)
    return _Outcome(max(duration, _MIN_RUN_S), gb * fraction, error)


def _run_record(
    srng: random.Random, series: _Series, status: str, *, started: datetime, ended: datetime, outcome: _Outcome
) -> dict[str, Any]:
    """The wire-contract `job_run` event, with the variations producers really send: a lower-case status now
    and then, an offset instead of `Z`, and `duration_seconds` left out (the pipeline derives it)."""
    record: dict[str, Any] = {
        "event_type": "job_run",
        "event_id": event_uuid(srng),
        "event_time": utc_text(ended),
        "run_id": f"{series.client}:{series.job_name}:{started:%Y-%m-%d}",
        "client": series.client,
        "job_name": series.job_name,
        "status": status if srng.random() > 0.03 else status.lower(),
        "started_at": utc_text(started),
        "ended_at": utc_text(ended) if srng.random() > 0.05 else ended.isoformat(),
    }
    if srng.random() > 0.2:
        record["duration_seconds"] = outcome.duration
    record["data_processed_gb"] = round(outcome.gb, 3)
    record["cost_usd"] = round(outcome.duration / 3600 * INSTANCE_TYPES[series.instance_size][0], 4)
    record["instance_size"] = series.instance_size
    if outcome.error is not None:
        record["error_message"] = outcome.error
    return record


def _total_cost(runs: Iterable[dict[str, Any]]) -> float:
    """Σ cost_usd at the column's scale (4 decimals), summed exactly in ten-thousandths."""
    return sum(round(run["cost_usd"] * 10_000) for run in runs) / 10_000


def _failure_message(rng: random.Random, client: str, day: date, pii: _PiiPlanting) -> str:
    """An error message; about one in five (and the first two) carries an e-mail or a card number."""
    if pii.kinds_left or rng.random() < 0.2:
        wanted = pii.kinds_left.pop(0) if pii.kinds_left else rng.choice(("email", "card"))
        template = _PII_FAILURE_MESSAGES[0 if wanted == "email" else rng.choice((1, 2))]
        email = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}@{client}.example.com".lower()
        card = luhn_card(rng)
        card_spaced = " ".join(card[index : index + 4] for index in range(0, 16, 4))
        message = template.format(email=email, card=card, card_spaced=card_spaced)
        for value in (email, card, card_spaced):
            if value in message:
                pii.strings.add(value)
        return message
    return rng.choice(_FAILURE_MESSAGES).format(client=client, day=day.isoformat())


def _job_run_lines(rng: random.Random, runs: list[_Run]) -> tuple[list[ReplayLine], list[LateInfo], list[str]]:
    """Arrival times: just after the run ends, except a few late runs; plus redeliveries of some runs."""
    windows = _late_windows(runs)
    late_pick = _pick_late_runs(rng, runs, windows)
    lines: list[ReplayLine] = []
    late: list[LateInfo] = []
    for index, run in enumerate(runs):
        data = dumps(run.record)
        if index in late_pick:
            arrival = run.ended + timedelta(seconds=rng.uniform(*windows[index]))
            late.append(LateInfo(run.record["run_id"], utc_text(run.ended), utc_text(arrival)))
            lines.append(ReplayLine(arrival, data, KIND_LATE))
        else:
            lines.append(ReplayLine(run.ended + timedelta(seconds=rng.uniform(1, 30)), data, KIND_EVENT))
    duplicated = _add_redeliveries(rng, runs, lines)
    return lines, late, duplicated


def _late_windows(runs: list[_Run]) -> dict[int, tuple[float, float]]:
    """For each run that may arrive late, how many seconds after its end it may arrive (earliest, latest).

    A late run arrives 20-75 min after it ended, after at least one run that ended later (so it really is out of
    order), but never so late that its series would look overdue first. Only ordinary successes qualify.
    """
    windows: dict[int, tuple[float, float]] = {}
    for index, run in enumerate(runs):
        if run.status != "SUCCEEDED" or run.spike or run.gap_before is None or index + 1 == len(runs):
            continue
        overtaken = (runs[index + 1].ended - run.ended).total_seconds() + 60
        earliest = max(20 * 60, overtaken)
        latest = min(75 * 60, HEALTHY_MAX_GAP.total_seconds() - 600 - run.gap_before)
        if earliest <= latest:
            windows[index] = (earliest, latest)
    return windows


def _pick_late_runs(rng: random.Random, runs: list[_Run], windows: dict[int, tuple[float, float]]) -> set[int]:
    """About one run in 250 (at least two), half of them ending shortly before midnight so that the late arrival
    crosses into the next day."""
    eligible = list(windows)
    before_midnight = [index for index in eligible if runs[index].ended.hour == 23]
    n_late = max(2, len(runs) // 250)
    late_pick = set(rng.sample(before_midnight, min(len(before_midnight), n_late // 2)))
    rest = [index for index in eligible if index not in late_pick]
    late_pick |= set(rng.sample(rest, min(len(rest), n_late - len(late_pick))))
    return late_pick


def _add_redeliveries(rng: random.Random, runs: list[_Run], lines: list[ReplayLine]) -> list[str]:
    """Send ~0.5 % of runs again, 2 min to 4 h later, always including the first failure and the first spike (so
    the alert de-duplication is exercised even on a tiny dataset); return the redelivered run ids."""
    forced = {
        next((i for i, run in enumerate(runs) if run.status != "SUCCEEDED"), None),
        next((i for i, run in enumerate(runs) if run.spike), None),
    } - {None}
    duplicated: list[str] = []
    for index, run in enumerate(runs):
        if index in forced or rng.random() < 0.005:
            delay = timedelta(seconds=rng.uniform(120, 4 * 3600))
            lines.append(ReplayLine(lines[index].arrival + delay, lines[index].data, KIND_DUPLICATE))
            duplicated.append(run.record["run_id"])
    return duplicated
