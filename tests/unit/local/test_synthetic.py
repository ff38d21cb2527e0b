"""The synthetic data generators: deterministic, true to the wire contract, and honest about what they plant.

The end-to-end tests and the demo assert exact outcomes from the manifests, so these tests check each manifest
against the data itself, without the transform: a wrong manifest would make every later assertion lie.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakewatch.domain import baseline, pii
from lakewatch.domain.basket import parse_basket, parse_price
from lakewatch.local import synthetic
from lakewatch.local.synthetic import (
    INSTANCE_TYPES,
    KIND_DUPLICATE,
    KIND_EVENT,
    KIND_LATE,
    KIND_REJECT,
    JobRunsDataset,
    PosCsvDataset,
    SalesDataset,
)

SALES_START = date(2024, 3, 25)  # spans the switch to British Summer Time on 31 March
SALES_DAYS = 8
JOBS_START = date(2024, 2, 1)
JOBS_DAYS = 50
JOBS_CLIENTS = 24
POS_STORES = ["Chesterfield", "Leeds", "Uppingham"]
SEED = 11

WIRE_SALE_FIELDS = {
    "event_type",
    "event_id",
    "event_time",
    "schema_version",
    "channel",
    "store",
    "order_id",
    "customer_id",
    "customer_name",
    "payment_method",
    "card_number",
    "items",
    "discount",
    "total_price",
    "currency",
}
WIRE_ITEM_FIELDS = {"product", "size", "flavour", "unit_price", "quantity"}
WIRE_JOB_RUN_FIELDS = {
    "event_type",
    "event_id",
    "event_time",
    "schema_version",
    "run_id",
    "client",
    "job_name",
    "status",
    "started_at",
    "ended_at",
    "duration_seconds",
    "data_processed_gb",
    "cost_usd",
    "instance_size",
    "error_message",
}


@pytest.fixture(scope="module")
def sales() -> SalesDataset:
    return synthetic.generate_sales(start=SALES_START, days=SALES_DAYS, seed=SEED)


@pytest.fixture(scope="module")
def jobs() -> JobRunsDataset:
    return synthetic.generate_job_runs(start=JOBS_START, days=JOBS_DAYS, clients=JOBS_CLIENTS, seed=SEED)


@pytest.fixture(scope="module")
def pos() -> PosCsvDataset:
    return synthetic.generate_pos_csv(start=SALES_START, days=4, stores=POS_STORES, seed=SEED)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _series(runs: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in sorted(runs, key=lambda run: _time(run["ended_at"])):
        grouped[(run["client"], run["job_name"])].append(run)
    return grouped


def _duration(run: dict[str, Any]) -> float:
    return (_time(run["ended_at"]) - _time(run["started_at"])).total_seconds()


# ------------------------------------------------------------------------------------------------ determinism


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(
    sales: SalesDataset, jobs: JobRunsDataset, pos: PosCsvDataset
) -> None:
    # Given the datasets of the fixtures, when each generator runs again with the same and with another seed
    again = synthetic.to_jsonl_lines(
        synthetic.generate_sales(start=SALES_START, days=SALES_DAYS, seed=SEED),
        synthetic.generate_job_runs(start=JOBS_START, days=JOBS_DAYS, clients=JOBS_CLIENTS, seed=SEED),
    )
    other = synthetic.generate_sales(start=SALES_START, days=SALES_DAYS, seed=SEED + 1)
    pos_again = synthetic.generate_pos_csv(start=SALES_START, days=4, stores=POS_STORES, seed=SEED)

    # Then the same seed reproduces every byte and the manifests; another seed changes the data
    assert again == synthetic.to_jsonl_lines(sales, jobs)
    assert pos_again.files == pos.files
    assert pos_again.manifest == pos.manifest
    assert synthetic.to_jsonl_lines(other) != synthetic.to_jsonl_lines(sales)


#: SHA-256 of the fixtures' replay lines (sales + job runs) and of their POS files. The generators promise the
#: same bytes for the same arguments on every machine and across refactors: a change here must be a deliberate
#: change of the generated data (say so in the commit), never a side effect of moving code or a random draw.
PINNED_EVENTS_SHA256 = "3c55f79884111a7183fec0461e6f37b1c67d614c18a9b632b5748367f87fa3dc"
PINNED_POS_SHA256 = "54a6a0dd4a10f32194c289800ad258727a93606da84995066bb67a7a3f46237a"


def test_generated_bytes_are_pinned(sales: SalesDataset, jobs: JobRunsDataset, pos: PosCsvDataset) -> None:
    events = hashlib.sha256(b"\n".join(synthetic.to_jsonl_lines(sales, jobs))).hexdigest()
    pos_files = hashlib.sha256(json.dumps(pos.files, sort_keys=True).encode()).hexdigest()
    assert (events, pos_files) == (PINNED_EVENTS_SHA256, PINNED_POS_SHA256)


# ------------------------------------------------------------------------------------------------ sales


def test_sales_manifest_counts_match_the_lines(sales: SalesDataset) -> None:
    # Given a sales dataset, when its lines are counted by kind
    kinds = Counter(line.kind for line in sales.lines)
    manifest = sales.manifest

    # Then every count in the manifest is what the lines hold
    assert kinds[KIND_EVENT] == manifest.valid_sales == len(sales.events) == manifest.summary.orders
    assert len({event["event_id"] for event in sales.events}) == manifest.valid_sales
    assert kinds[KIND_DUPLICATE] == manifest.duplicate_lines == len(manifest.duplicated_event_ids) > 0
    assert kinds[KIND_REJECT] == len(manifest.rejects) == sum(manifest.quarantine_by_reason.values())
    assert manifest.total_lines == len(sales.lines) == len(synthetic.to_jsonl_lines(sales))
    assert set(manifest.quarantine_by_reason) == {
        "invalid_json",
        "not_an_object",
        "unknown_event_type",
        "missing_field",
        "invalid_field",
        "total_mismatch",
        "too_large",
    }


def test_a_few_hundred_sales_a_day_from_every_store_and_the_web(sales: SalesDataset) -> None:
    # Given a week of sales, when they are counted per day and per store
    summary = sales.manifest.summary
    per_day = sales.manifest.valid_sales / SALES_DAYS

    # Then the volume is realistic and every channel sells
    assert 200 <= per_day <= 800
    assert set(summary.orders_by_store) == {*synthetic.DEFAULT_STORES, "web"}
    assert all(count > 0 for count in summary.orders_by_store.values())


def test_every_valid_sale_satisfies_the_wire_contract(sales: SalesDataset) -> None:
    for sale in sales.events:
        # Given a valid sale: only wire-contract names, required fields present
        assert set(sale) <= WIRE_SALE_FIELDS, sale
        assert sale["event_type"] == "sale"
        assert 1 <= len(sale["event_id"]) <= 64
        assert _time(sale["event_time"]).tzinfo is not None
        assert datetime.fromisoformat(sale["event_time"]).utcoffset() is not None
        assert sale["channel"] in {"web", "store"}
        assert sale["channel"] == "web" or sale["store"]
        assert sale["payment_method"].upper() in {"CARD", "CASH", "OTHER"}
        assert sale.get("currency", "GBP") == "GBP"
        assert sale["items"]
        for item in sale["items"]:
            assert set(item) <= WIRE_ITEM_FIELDS and {"product", "unit_price"} <= set(item)
            assert item["unit_price"] >= 0 and item.get("quantity", 1) >= 1
        # Then the total adds up within a penny
        gross = sum(item["unit_price"] * item.get("quantity", 1) for item in sale["items"])
        assert sale.get("discount", 0) >= 0
        assert abs(gross - sale.get("discount", 0) - sale["total_price"]) <= 0.01


def test_card_sales_carry_pii_that_the_manifest_lists(sales: SalesDataset) -> None:
    # Given the valid sales, when their PII fields are collected
    planted = set(sales.manifest.pii_strings)
    cards = [sale["card_number"] for sale in sales.events if "card_number" in sale]
    people = [sale[key] for sale in sales.events for key in ("customer_name", "customer_id") if key in sale]

    # Then card payments carry card numbers the PII masking recognises, and every one is in the manifest
    assert cards and all(sale["payment_method"].upper() == "CARD" for sale in sales.events if "card_number" in sale)
    assert all(pii.mask_text(card) == "[card]" for card in cards)
    assert set(cards) | set(people) <= planted


def test_sales_follow_opening_hours_rushes_and_returning_customers(sales: SalesDataset) -> None:
    # Given the valid sales, when they are bucketed by local hour
    store_hours: Counter[int] = Counter()
    web_hours: Counter[int] = Counter()
    for sale in sales.events:
        local = datetime.fromisoformat(sale["event_time"])
        if sale["channel"] == "store":
            assert 7 <= local.hour <= 18, sale["event_time"]
            if local.weekday() < 5:
                store_hours[local.hour] += 1
        else:
            moment = _time(sale["event_time"])
            web_hours[(moment + synthetic.uk_utc_offset(moment.date())).hour] += 1

    # Then stores peak in the morning rush, the web in the evening, and some customers come back
    assert store_hours.most_common(1)[0][0] in {8, 9}
    assert web_hours.most_common(1)[0][0] in {18, 19, 20, 21}
    summary = sales.manifest.summary
    assert 0 < summary.returning_customers < summary.customers


def test_store_times_switch_offset_with_british_summer_time(sales: SalesDataset) -> None:
    # Given sales before and after 31 March 2024, when their offsets are read
    offsets = {
        datetime.fromisoformat(sale["event_time"]).date() < date(2024, 3, 31): sale["event_time"][-6:]
        for sale in sales.events
        if sale["channel"] == "store"
    }
    # Then stores write GMT before the switch and BST after it
    assert offsets == {True: "+00:00", False: "+01:00"}


def test_planted_sales_rejects_are_what_their_reason_says(sales: SalesDataset) -> None:
    reject_lines = [line.data for line in sales.lines if line.kind == KIND_REJECT]
    for data, reject in zip(reject_lines, sales.manifest.rejects, strict=True):
        # Given a planted reject, when its bytes are inspected without the transform
        if reject.reason == "too_large":
            assert len(data) > synthetic.RECORD_LIMIT_BYTES
            continue
        try:
            decoded = json.loads(data)
        except ValueError:
            # Then only invalid_json fails to parse
            assert reject.reason == "invalid_json"
            continue
        assert reject.reason != "invalid_json"
        if reject.reason == "not_an_object":
            assert not isinstance(decoded, dict)
            continue
        assert isinstance(decoded, dict)
        assert decoded.get("event_id") == reject.event_id
        if reject.reason == "unknown_event_type":
            assert decoded["event_type"] not in {"sale", "job_run"}
        elif reject.reason == "missing_field":
            assert reject.field not in decoded
        elif reject.reason == "total_mismatch":
            gross = sum(item["unit_price"] * item.get("quantity", 1) for item in decoded["items"])
            assert abs(gross - decoded.get("discount", 0) - decoded["total_price"]) > 0.01
        else:
            assert reject.reason == "invalid_field"
            assert reject.field is not None
            head = reject.field.split("[")[0]
            assert head in decoded


def test_redelivered_sales_repeat_earlier_bytes_later_in_the_stream(sales: SalesDataset) -> None:
    # Given the replay order
    lines = synthetic.to_jsonl_lines(sales)
    first_seen: dict[bytes, int] = {}
    repeats = []
    for position, line in enumerate(lines):
        if line in first_seen:
            repeats.append(line)
        else:
            first_seen[line] = position

    # Then exactly the planted duplicates repeat, each after its original, and no line holds a newline
    repeated_ids = sorted(json.loads(line)["event_id"] for line in repeats)
    assert repeated_ids == sorted(sales.manifest.duplicated_event_ids)
    assert not any(b"\n" in line for line in lines)


# ------------------------------------------------------------------------------------------------ job runs


def test_job_runs_manifest_counts_match_the_runs(jobs: JobRunsDataset) -> None:
    manifest = jobs.manifest
    statuses = {run["run_id"]: run["status"].upper() for run in jobs.runs}
    kinds = Counter(line.kind for line in jobs.lines)

    assert manifest.runs == len(jobs.runs) == len(statuses)
    assert manifest.succeeded_runs == sum(1 for status in statuses.values() if status == "SUCCEEDED")
    assert set(manifest.failed_run_ids) == {run_id for run_id, s in statuses.items() if s != "SUCCEEDED"}
    assert set(manifest.timed_out_run_ids) == {run_id for run_id, s in statuses.items() if s == "TIMED_OUT"}
    assert manifest.timed_out_run_ids and len(manifest.failed_run_ids) > len(manifest.timed_out_run_ids)
    assert kinds[KIND_EVENT] + kinds[KIND_LATE] == manifest.runs
    assert kinds[KIND_LATE] == len(manifest.late) > 0
    assert kinds[KIND_DUPLICATE] == manifest.duplicate_lines == len(manifest.duplicated_run_ids) > 0
    assert manifest.total_lines == len(jobs.lines)
    assert sum(info.runs for info in manifest.series) == manifest.runs
    assert manifest.failed_cost_usd == pytest.approx(
        sum(run["cost_usd"] for run in jobs.runs if run["run_id"] in set(manifest.failed_run_ids))
    )
    assert len(manifest.client_names) == len(set(manifest.client_names)) == JOBS_CLIENTS


def test_every_job_run_satisfies_the_wire_contract(jobs: JobRunsDataset) -> None:
    for run in jobs.runs:
        assert set(run) <= WIRE_JOB_RUN_FIELDS, run
        assert run["event_type"] == "job_run" and 1 <= len(run["event_id"]) <= 64
        assert run["status"].upper() in {"SUCCEEDED", "FAILED", "TIMED_OUT"}
        duration = _duration(run)
        assert duration >= 0
        assert abs(run.get("duration_seconds", duration) - duration) <= 1
        assert run["data_processed_gb"] >= 0
        hourly_price = INSTANCE_TYPES[run["instance_size"]][0]
        assert run["cost_usd"] == pytest.approx(duration / 3600 * hourly_price, abs=1e-4)
        assert ("error_message" in run) == (run["status"].upper() != "SUCCEEDED")


def test_failures_carry_error_messages_some_with_pii_the_manifest_lists(jobs: JobRunsDataset) -> None:
    messages = [run["error_message"] for run in jobs.runs if "error_message" in run]
    planted = jobs.manifest.pii_strings

    assert any("@" in value for value in planted)
    assert any(re.fullmatch(r"[\d ]{16,19}", value) for value in planted)
    assert all(any(value in message for message in messages) for value in planted)
    assert all(pii.mask_text(value) != value for value in planted)


def test_every_spike_is_an_outlier_by_the_alert_rule_with_a_margin(jobs: JobRunsDataset) -> None:
    spikes = set(jobs.manifest.spike_run_ids)
    assert spikes
    for runs in _series(jobs.runs).values():
        history: list[baseline.HistoryEntry] = []
        for index, run in enumerate(runs):
            if run["run_id"] in spikes:
                # Given a planted spike: 14+ days of history and healthy runs on both sides
                assert _time(run["started_at"]) - _time(runs[0]["started_at"]) >= timedelta(days=14)
                for neighbour in (runs[index - 1], runs[index + 1]):
                    assert neighbour["status"].upper() == "SUCCEEDED" and neighbour["run_id"] not in spikes
                # Then the alert's own rule flags it against the baseline the job monitor would hold,
                verdict = baseline.judge(history[-baseline.BASELINE_WINDOW :], _duration(run))
                assert verdict.judged and verdict.is_outlier
                # clearly above the ratio threshold, and above the duration_outliers query's 3x too.
                assert verdict.ratio is not None and verdict.ratio >= baseline.RATIO_THRESHOLD * 1.25
                assert verdict.ratio >= 3
            elif run["status"].upper() == "SUCCEEDED":
                history.append(baseline.HistoryEntry(run["run_id"], run["ended_at"], _duration(run)))


def test_healthy_clients_grow_slowly_without_anything_like_a_spike(jobs: JobRunsDataset) -> None:
    healthy = set(jobs.manifest.healthy_clients)
    assert healthy
    for (client, _), runs in _series(jobs.runs).items():
        if client not in healthy:
            continue
        durations = [_duration(run) for run in runs]
        assert all(run["status"].upper() == "SUCCEEDED" for run in runs)
        # Day-to-day: never near the 3x of a spike against the recent median
        for index in range(7, len(durations)):
            assert durations[index] / statistics.median(durations[max(0, index - 20) : index]) < 1.6
        # Over the period: slower at the end than at the start (history accumulates)
        assert statistics.mean(durations[-7:]) > statistics.mean(durations[:7])


def test_stopped_clients_have_no_runs_after_their_stop_and_others_never_look_overdue(jobs: JobRunsDataset) -> None:
    period_end = datetime(JOBS_START.year, JOBS_START.month, JOBS_START.day, tzinfo=UTC) + timedelta(days=JOBS_DAYS)
    stopped = {(info.client, info.job_name): _time(info.last_ended_at) for info in jobs.manifest.stopped}
    assert stopped
    for key, runs in _series(jobs.runs).items():
        last_end = _time(runs[-1]["ended_at"])
        if key in stopped:
            # Then a stopped series ends where the manifest says, days before the end of the period
            assert last_end == stopped[key]
            assert period_end - last_end > timedelta(days=2)
            assert runs[-1]["status"].upper() == "SUCCEEDED"
        else:
            # Then every other series runs to the end, never leaving a gap the overdue check would flag
            assert period_end - last_end < timedelta(days=1)
            gaps = [_time(b["ended_at"]) - _time(a["ended_at"]) for a, b in itertools.pairwise(runs)]
            assert max(gaps) < synthetic.HEALTHY_MAX_GAP
    assert jobs.manifest.max_run_gap_seconds < synthetic.HEALTHY_MAX_GAP.total_seconds()


def test_late_runs_arrive_after_later_runs_without_making_their_series_overdue(jobs: JobRunsDataset) -> None:
    order = [json.loads(line)["run_id"] for line in synthetic.to_jsonl_lines(jobs)]
    ended = {run["run_id"]: _time(run["ended_at"]) for run in jobs.runs}
    by_series = _series(jobs.runs)
    previous_end = {
        run["run_id"]: _time(runs[index - 1]["ended_at"])
        for runs in by_series.values()
        for index, run in enumerate(runs)
        if index
    }
    for late in jobs.manifest.late:
        position = order.index(late.run_id)
        # Then something that ended after it was delivered before it
        assert any(ended[run_id] > ended[late.run_id] for run_id in order[:position])
        assert _time(late.arrives_at) > _time(late.ended_at)
        assert _time(late.arrives_at) - previous_end[late.run_id] < synthetic.HEALTHY_MAX_GAP


def test_a_failed_and_a_spike_run_are_among_the_redelivered(jobs: JobRunsDataset) -> None:
    duplicated = set(jobs.manifest.duplicated_run_ids)
    assert duplicated & set(jobs.manifest.failed_run_ids)
    assert duplicated & set(jobs.manifest.spike_run_ids)


def test_demo_sized_generation_is_quick_enough_to_stay_in_memory(tmp_path: Path) -> None:
    # Given a month of everything, when written as the runner's input
    lines = synthetic.to_jsonl_lines(
        synthetic.generate_sales(start=date(2024, 5, 1), days=3, seed=1),
        synthetic.generate_job_runs(start=date(2024, 5, 1), days=3, clients=3, seed=1),
    )
    path = synthetic.write_events_file(tmp_path / "events.jsonl", lines)
    # Then the file holds one payload per line, in order
    assert path.read_bytes().split(b"\n")[:-1] == lines


# ------------------------------------------------------------------------------------------------ POS CSV


def _csv_lines(pos: PosCsvDataset) -> list[tuple[str, int, str]]:
    return [
        (name, number, line)
        for name, text in pos.files.items()
        for number, line in enumerate(text.split("\n")[:-1], start=1)
    ]


def test_csv_rows_parse_into_seven_columns_and_files_are_named_like_the_tills(pos: PosCsvDataset) -> None:
    for name, _, line in _csv_lines(pos):
        assert re.fullmatch(r"[a-z_]+_\d{2}-\d{2}-\d{4}_\d{2}-\d{2}-\d{2}\.csv", name)
        if line:
            assert len(next(csv.reader(io.StringIO(line)))) == 7


def test_csv_manifest_accounts_for_every_line(pos: PosCsvDataset) -> None:
    manifest = pos.manifest
    lines = _csv_lines(pos)
    blank = sum(1 for _, _, line in lines if not line)

    assert manifest.files == len(pos.files)
    assert manifest.lines == len(lines)
    assert manifest.blank_lines == blank > 0
    assert manifest.lines == manifest.blank_lines + manifest.valid_rows + manifest.duplicate_rows + len(
        manifest.rejects
    )
    assert sum(manifest.quarantine_by_reason.values()) == len(manifest.rejects)
    (original, copy), *_ = manifest.redropped
    assert pos.files[original] == pos.files[copy]
    assert manifest.duplicate_rows == sum(1 for line in pos.files[copy].split("\n") if line)
    assert manifest.summary.orders == manifest.valid_rows


def test_valid_csv_rows_add_up_and_planted_rows_are_broken_as_described(pos: PosCsvDataset) -> None:
    planted = {(reject.file, reject.line_number): reject for reject in pos.manifest.rejects}
    for name, number, line in _csv_lines(pos):
        if not line:
            continue
        timestamp, _store, customer, basket, total, payment, card = next(csv.reader(io.StringIO(line)))
        reject = planted.get((name, number))
        if reject is None:
            # Given a valid row: a till timestamp, a readable basket that adds up, PII the manifest lists
            datetime.strptime(timestamp, "%d/%m/%Y %H:%M")
            gross = sum(item.unit_price * item.quantity for item in parse_basket(basket))
            assert gross == parse_price(total)
            assert payment in {"CARD", "CASH"} and bool(card) == (payment == "CARD")
            assert customer in pos.manifest.pii_strings
            assert not card or card in pos.manifest.pii_strings
        elif reject.field == "event_time":
            with pytest.raises(ValueError):
                datetime.strptime(timestamp, "%d/%m/%Y %H:%M")
        elif reject.field == "total_price" and reject.reason == "invalid_field":
            with pytest.raises(ValueError):
                parse_price(total)
        elif reject.field == "items":
            with pytest.raises(ValueError):
                parse_basket(basket)
        else:
            assert reject.reason == "total_mismatch"
            assert sum(item.unit_price * item.quantity for item in parse_basket(basket)) != parse_price(total)


def test_write_pos_files_writes_the_text_unchanged(pos: PosCsvDataset, tmp_path: Path) -> None:
    directory = synthetic.write_pos_files(tmp_path / "pos", pos.files)
    assert {path.name: path.read_text() for path in directory.iterdir()} == pos.files
