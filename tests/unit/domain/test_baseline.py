"""The duration baseline: slow growth and noise never alert, a sudden multiple does."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from lakewatch.domain import baseline, tables
from lakewatch.domain.baseline import HistoryEntry

DAYS = 180
START = datetime(2023, 1, 1, 2, 0, tzinfo=UTC)

#: Realistic growth shapes of batch durations: every batch re-processes a growing history.
GROWTH_CURVES: dict[str, Callable[[int], float]] = {
    "linear": lambda day: 1 + day / 120,  # 2.5x over the half year
    "sqrt": lambda day: 1 + math.sqrt(day) / 6,
    "log": lambda day: 1 + math.log1p(day) / 2,
    "exponential": lambda day: math.exp(day / 130),  # ~4x over the half year: aggressive
}


def entry(day: int, duration: float, run_id: str | None = None) -> HistoryEntry:
    ended = START + timedelta(days=day)
    return HistoryEntry(run_id or f"r-{day}", tables.format_clean_timestamp(ended), duration)


def replay(durations: Sequence[float]) -> tuple[list[int], tuple[HistoryEntry, ...]]:
    """Feed daily successful runs through judge/admit as job_monitor does; return flagged days and history."""
    history: tuple[HistoryEntry, ...] = ()
    flagged = []
    for day, duration in enumerate(durations):
        verdict = baseline.judge(history, duration)
        if verdict.is_outlier:
            flagged.append(day)
        else:
            history = baseline.admit(history, entry(day, duration))
    return flagged, history


def noisy_series(curve: Callable[[int], float], *, initial: float, noise: float, rng: random.Random) -> list[float]:
    return [initial * curve(day) * rng.uniform(1 - noise, 1 + noise) for day in range(DAYS)]


@pytest.mark.parametrize("curve_name", sorted(GROWTH_CURVES))
def test_slow_growth_with_day_to_day_noise_never_alerts(curve_name: str) -> None:
    # Given 50 clients per growth curve, each 180 days of daily runs growing as history accumulates, ±20 % noise
    rng = random.Random(f"growth-{curve_name}")
    flagged_total = 0
    for _client in range(50):
        initial = rng.uniform(600, 4 * 3_600)
        series = noisy_series(GROWTH_CURVES[curve_name], initial=initial, noise=0.20, rng=rng)

        # When every run is judged against the baseline of the ones before it
        flagged, _ = replay(series)
        flagged_total += len(flagged)

    # Then not one run is an outlier
    assert flagged_total == 0


@pytest.mark.parametrize("multiple", [3.0, 5.0])
@pytest.mark.parametrize("curve_name", sorted(GROWTH_CURVES))
def test_a_sudden_multiple_of_the_baseline_is_flagged(curve_name: str, multiple: float) -> None:
    # Given a growing, noisy series with a spike of `multiple` times the day's normal duration on days 60 and 150
    rng = random.Random(f"spike-{curve_name}-{multiple}")
    series = noisy_series(GROWTH_CURVES[curve_name], initial=1_800, noise=0.15, rng=rng)
    for day in (60, 150):
        series[day] = 1_800 * GROWTH_CURVES[curve_name](day) * multiple

    # When the series is replayed
    flagged, _ = replay(series)

    # Then exactly the two spikes are flagged
    assert flagged == [60, 150]


def test_a_spike_is_not_absorbed_into_the_baseline() -> None:
    # Given a steady 1 h job and three 4x spikes in a row
    series = [3_600.0] * 15 + [4 * 3_600.0] * 3 + [3_600.0] * 5

    # When it is replayed
    flagged, history = replay(series)

    # Then every spike is flagged (none of them moved the baseline) and none is in the history
    assert flagged == [15, 16, 17]
    assert all(item.duration_seconds == 3_600.0 for item in history)
    assert baseline.judge(history, 3 * 3_600.0).median_seconds == 3_600.0


def test_no_verdict_before_the_minimum_history() -> None:
    # Given a new job whose third run takes 10x the others
    series = [3_600.0, 3_600.0, 36_000.0] + [3_600.0] * (baseline.MIN_HISTORY - 2) + [36_000.0]

    # When it is replayed
    flagged, _ = replay(series)

    # Then the early run is not judged (too little history) but the same duration later is
    assert flagged == [len(series) - 1]
    assert baseline.judge([entry(day, 3_600.0) for day in range(baseline.MIN_HISTORY - 1)], 36_000.0).judged is False
    assert baseline.judge([entry(day, 3_600.0) for day in range(baseline.MIN_HISTORY)], 36_000.0).judged is True


def test_a_short_job_needs_more_than_a_ratio_to_page_someone() -> None:
    # Given a 60 s job with a steady history
    history = [entry(day, 60.0) for day in range(10)]

    # When a run takes 4x (4 minutes: under the absolute floor) and then 10x (10 minutes)
    small, large = baseline.judge(history, 240.0), baseline.judge(history, 600.0)

    # Then only the one more than ABSOLUTE_FLOOR_SECONDS over the median is an outlier
    assert (small.is_outlier, large.is_outlier) == (False, True)


def test_a_job_with_a_wide_normal_spread_needs_more_than_the_ratio() -> None:
    # Given a job whose healthy runs range from 20 min to 1 h 40 min ("wide variation")
    history = [entry(day, minutes * 60.0) for day, minutes in enumerate([20, 35, 50, 60, 70, 85, 100, 30, 45, 90])]
    verdict = baseline.judge(history, 2.6 * verdict_median(history))

    # Then 2.6x the median is within its spread (MAD rule) while far beyond the spread is flagged
    assert verdict.is_outlier is False
    assert verdict.threshold_seconds is not None
    assert baseline.judge(history, verdict.threshold_seconds).is_outlier is True


def verdict_median(history: Sequence[HistoryEntry]) -> float:
    median = baseline.judge(history, 0.0).median_seconds
    assert median is not None
    return median


def test_the_verdict_carries_the_figures_an_alert_needs() -> None:
    # Given ten runs of 50-70 minutes
    history = [entry(day, (50 + 2 * day) * 60.0) for day in range(11)]

    # When a 3 h run is judged
    verdict = baseline.judge(history, 3 * 3_600.0)

    # Then median, MAD, ratio and threshold are those of the history
    assert verdict.is_outlier is True
    assert verdict.median_seconds == 3_600.0
    assert verdict.mad_seconds == 360.0
    assert verdict.ratio == pytest.approx(3.0)
    assert verdict.threshold_seconds == pytest.approx(2.5 * 3_600.0)


def test_history_keeps_the_latest_runs_by_end_time_whatever_the_arrival_order() -> None:
    # Given runs of 30 days delivered in a shuffled order, with one redelivered twice
    runs = [entry(day, 1_000.0 + day) for day in range(30)]
    shuffled = runs[:]
    random.Random(7).shuffle(shuffled)
    shuffled += shuffled[:1]

    # When they are admitted one by one
    history: tuple[HistoryEntry, ...] = ()
    for item in shuffled:
        history = baseline.admit(history, item)

    # Then the history is exactly the BASELINE_WINDOW latest runs, each once, oldest first
    assert history == tuple(runs[-baseline.BASELINE_WINDOW :])


def test_state_item_round_trip() -> None:
    # Given a history encoded as a DynamoDB attribute inside a baseline item
    history = (entry(1, 61.5), entry(2, 3_599.25))
    item = {
        "pk": {"S": baseline.partition_key("acme", "nightly")},
        "sk": {"S": baseline.BASELINE_SK},
        "client": {"S": "acme"},
        "job_name": {"S": "nightly"},
        "history": baseline.history_attribute(history),
        "last_ended_at": {"S": history[-1].ended_at},
        "version": {"N": "4"},
    }

    # When it is decoded
    state = baseline.state_from_item(item)

    # Then nothing is lost and absent attributes are None
    assert state.history == history
    assert (state.version, state.last_ended_at, state.overdue_alerted_for) == (4, history[-1].ended_at, None)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("acme", "daily#eu"), ("acme#daily", "eu")),
        (("a,b", "c"), ("a", "b,c")),
        (('a"', "b"), ("a", '"b')),
        (("", "ab"), ("a", "b")),
    ],
)
def test_distinct_client_jobs_never_share_a_key(one: tuple[str, str], other: tuple[str, str]) -> None:
    assert baseline.partition_key(*one) != baseline.partition_key(*other)


def test_the_key_is_readable_json_of_client_and_job() -> None:
    assert baseline.partition_key("acme", "daily#eu") == '["acme","daily#eu"]'
    assert json.loads(baseline.partition_key("café", "j")) == ["café", "j"]
