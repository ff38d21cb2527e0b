"""The bench's inputs and report shape (its figures are measured by `python -m lakewatch bench`, never asserted)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from lakewatch.domain.transform import Clean, transform_records
from lakewatch.local.aws import kinesis_event
from lakewatch.local.bench import BENCH_PII_KEY, build_events, run_bench, typical_handler


def test_bench_events_are_deterministic_and_mix_sales_job_runs_and_rejects() -> None:
    events = build_events(2000)
    assert events == build_events(2000)

    verdicts = transform_records(events, pii_key=BENCH_PII_KEY, ingested_at=datetime(2024, 5, 2, tzinfo=UTC))

    kinds = Counter(verdict.table if isinstance(verdict, Clean) else "rejected" for verdict in verdicts)
    assert 0.80 < kinds["sales"] / len(events) < 0.92
    assert 0.08 < kinds["job_runs"] / len(events) < 0.16
    assert 0.005 < kinds["rejected"] / len(events) < 0.04


def test_bench_reports_both_rates_and_their_ratio_from_one_run() -> None:
    report = run_bench(records=300, batch_size=50)

    assert (report["records"], report["batch_size"]) == (300, 50)
    assert report["transform_records_per_s"] > 0 and report["floor_records_per_s"] > 0
    assert report["ratio"] == pytest.approx(report["transform_records_per_s"] / report["floor_records_per_s"], abs=0.01)
    assert report["typical_handler_records_per_s"] > 0
    assert report["speedup_vs_typical"] == pytest.approx(
        report["transform_records_per_s"] / report["typical_handler_records_per_s"], rel=0.01
    )


def test_the_typical_handler_validates_the_same_records_as_the_transform() -> None:
    # Given the bench's records as the event source mapping would deliver them
    records = build_events(500)
    event = kinesis_event(
        [(f"{index:056d}", record) for index, record in enumerate(records)],
        stream_name="events-raw",
        arrival_epoch=1714560000.0,
    )

    # When the typical Powertools handler processes them
    failures = typical_handler(event)["batchItemFailures"]

    # Then it fails about as many records as the transform rejects (it is a fair comparison, not a strawman)
    verdicts = transform_records(records, pii_key=BENCH_PII_KEY, ingested_at=datetime(2024, 5, 2, tzinfo=UTC))
    rejected = sum(not isinstance(verdict, Clean) for verdict in verdicts)
    assert 0 < len(failures) <= rejected


def test_bench_refuses_an_empty_run() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        run_bench(records=0)
