"""The runner's emulation of AWS: the event source mapping's error handling and the schedule's clock."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakewatch.domain import tables
from lakewatch.local import aws as local_aws
from lakewatch.local.runner import (
    GIL_SLICE_SECONDS,
    ArrivalWatermark,
    EventSourceMapping,
    HourlySchedule,
    LocalRunError,
    read_event_lines,
    sequence_number,
    short_gil_slices,
)

POISON = b"poison"


class _Function:
    """A handler stand-in: raises when its batch holds the poison record, else reports `item_failures`."""

    def __init__(self, item_failures: set[bytes] | None = None, fail_times: int = 10**9) -> None:
        self.item_failures = item_failures or set()
        self.fail_times = fail_times
        self.batches: list[list[bytes]] = []
        self.processed: list[bytes] = []

    def __call__(self, _function: str, event: dict, _context: local_aws.LambdaContext) -> dict:
        import base64

        records = [(r["kinesis"]["sequenceNumber"], base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]
        self.batches.append([data for _, data in records])
        if any(data == POISON for _, data in records):
            raise RuntimeError("poison")
        failed = [sequence for sequence, data in records if data in self.item_failures and self.fail_times > 0]
        if failed:
            self.fail_times -= 1
            first = next(index for index, (sequence, _) in enumerate(records) if sequence == failed[0])
            self.processed.extend(data for _, data in records[:first])
            return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
        self.processed.extend(data for _, data in records)
        return {"batchItemFailures": []}


def _batch(payloads: list[bytes]) -> list[tuple[str, bytes]]:
    return [(sequence_number(index), payload) for index, payload in enumerate(payloads)]


def test_a_poison_record_is_bisected_out_alone_and_its_neighbours_go_through() -> None:
    payloads = [f"ok-{index}".encode() for index in range(100)]
    payloads[37] = POISON
    function = _Function()
    mapping = EventSourceMapping(invoke=function, max_retries=3)

    mapping.deliver("transform", _batch(payloads), local_aws.EVENTS_RAW_STREAM)

    assert sorted(function.processed) == sorted(payload for payload in payloads if payload != POISON)
    assert len(mapping.on_failure) == 1
    info = mapping.on_failure[0]["KinesisBatchInfo"]
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == sequence_number(37)
    # Splitting is free; the one-record batch is then retried max_retries times.
    assert mapping.on_failure[0]["requestContext"]["approximateInvokeCount"] == 4
    assert mapping.on_failure_counts() == {"transform": 1}


def test_the_on_failure_record_has_the_shape_lambda_sends_to_sqs() -> None:
    function = _Function()
    mapping = EventSourceMapping(invoke=function, max_retries=0)

    mapping.deliver("job_monitor", _batch([POISON]), local_aws.JOB_RUNS_STREAM)

    (record,) = mapping.on_failure
    assert set(record) == {"requestContext", "responseContext", "version", "timestamp", "KinesisBatchInfo"}
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["functionArn"].endswith(":function:job_monitor")
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert set(record["KinesisBatchInfo"]) == {
        "shardId",
        "startSequenceNumber",
        "endSequenceNumber",
        "approximateArrivalOfFirstRecord",
        "approximateArrivalOfLastRecord",
        "batchSize",
        "streamArn",
    }
    assert record["KinesisBatchInfo"]["streamArn"] == local_aws.stream_arn(local_aws.JOB_RUNS_STREAM)
    assert record["KinesisBatchInfo"]["shardId"] == local_aws.SHARD_ID


def test_partial_batch_responses_retry_from_the_first_failure_then_go_to_on_failure() -> None:
    payloads = [b"a", b"b", b"c", b"d"]
    function = _Function(item_failures={b"c"})
    mapping = EventSourceMapping(invoke=function, max_retries=2)

    mapping.deliver("transform", _batch(payloads), local_aws.EVENTS_RAW_STREAM)

    assert function.batches == [payloads, [b"c", b"d"], [b"c", b"d"]]
    (record,) = mapping.on_failure
    assert record["KinesisBatchInfo"]["batchSize"] == 2
    assert "functionError" not in record["responseContext"]


def test_a_transient_item_failure_heals_on_retry() -> None:
    function = _Function(item_failures={b"b"}, fail_times=1)
    mapping = EventSourceMapping(invoke=function, max_retries=3)

    mapping.deliver("transform", _batch([b"a", b"b", b"c"]), local_aws.EVENTS_RAW_STREAM)

    assert mapping.on_failure == []
    assert function.processed == [b"a", b"b", b"c"]


NOW = datetime(2024, 6, 10, 12, tzinfo=UTC)


def test_the_watermark_never_moves_back() -> None:
    watermark = ArrivalWatermark(NOW)
    watermark.observe(datetime(2024, 6, 5, tzinfo=UTC))
    watermark.observe(datetime(2024, 6, 1, tzinfo=UTC))  # a redelivered old run
    assert watermark.value == datetime(2024, 6, 5, tzinfo=UTC)
    assert watermark.first == datetime(2024, 6, 5, tzinfo=UTC)


def test_the_watermark_stays_inside_the_accepted_range() -> None:
    watermark = ArrivalWatermark(NOW)
    watermark.observe(datetime(1900, 1, 1, tzinfo=UTC))
    assert watermark.value is None, "a time before the lake's range must not start the clock"
    watermark.observe(datetime(2024, 6, 9, tzinfo=UTC))
    watermark.observe(datetime(2030, 1, 1, tzinfo=UTC))
    assert watermark.value == tables.accepted_event_times(NOW)[1]


def test_the_hourly_schedule_fires_each_whole_hour_once() -> None:
    schedule = HourlySchedule()
    start = datetime(2024, 6, 9, 2, 40, tzinfo=UTC)
    first = list(schedule.due(start, start + timedelta(hours=2)))
    again = list(schedule.due(start, start + timedelta(hours=2)))
    later = list(schedule.due(start, start + timedelta(hours=3)))
    assert first == [datetime(2024, 6, 9, 3, tzinfo=UTC), datetime(2024, 6, 9, 4, tzinfo=UTC)]
    assert again == []
    assert later == [datetime(2024, 6, 9, 5, tzinfo=UTC)]


def test_the_schedule_waits_for_a_clock() -> None:
    assert list(HourlySchedule().due(None, None)) == []


def test_quarantine_rows_are_counted_per_source_including_job_monitor(tmp_path: Path) -> None:
    from lakewatch.local.runner import _export_quarantine

    class _Aws:
        @staticmethod
        def quarantine_objects():
            yield "quarantine/stream/dt=2024-06-09/a.jsonl", b'{"reason": "invalid_json"}\n{"reason": "too_large"}\n'
            yield "quarantine/job_monitor/dt=2024-06-09/b.jsonl", b'{"reason": "transform_error"}\n'

    counts = _export_quarantine(_Aws(), tmp_path / "quarantine")

    assert counts == {"stream": 2, "job_monitor": 1}
    assert (tmp_path / "quarantine" / "job_monitor" / "dt=2024-06-09" / "b.jsonl").exists()


def test_short_gil_slices_hold_for_the_block_and_are_restored_even_when_it_fails() -> None:
    before = sys.getswitchinterval()
    with pytest.raises(RuntimeError), short_gil_slices():
        assert sys.getswitchinterval() == pytest.approx(GIL_SLICE_SECONDS)
        raise RuntimeError("a step failed")
    assert sys.getswitchinterval() == before


def test_an_events_file_saved_with_a_utf8_byte_order_mark_keeps_its_first_record_whole(tmp_path: Path) -> None:
    # Given a JSON-lines file as Windows editors save UTF-8: a byte-order mark before the first line
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'\xef\xbb\xbf{"event_type": "sale"}\r\n{"event_type": "job_run"}\r\n')

    # Then the mark belongs to the file, not to the first record
    assert read_event_lines(events) == ([b'{"event_type": "sale"}', b'{"event_type": "job_run"}'], 0)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_an_events_file_in_utf16_or_utf32_is_a_one_line_error(tmp_path: Path, encoding: str) -> None:
    # Given JSON lines saved as UTF-16 (what Windows PowerShell's `>` writes) or UTF-32, with their byte-order mark
    events = tmp_path / "events.jsonl"
    events.write_bytes('{"event_type": "sale"}\n'.encode(encoding))

    # Then the run stops with a one-line error instead of quarantining every line as invalid JSON
    with pytest.raises(LocalRunError, match="UTF-8"):
        read_event_lines(events)


def _previous_run_outputs(out: Path) -> dict[str, bytes]:
    (out / "lake" / "sales").mkdir(parents=True)
    (out / "lake" / "sales" / "part.parquet").write_bytes(b"earlier")
    (out / "summary.json").write_bytes(b"{}")
    return {str(path.relative_to(out)): path.read_bytes() for path in out.rglob("*") if path.is_file()}


@pytest.mark.parametrize(
    ("aws_events", "message"),
    [
        ("a-file", "--aws-events is not a directory"),
        ("missing", "--aws-events is not a directory"),
        ("bad-tags", "tags.json: expected an object"),
        ("binary", "is not UTF-8 text"),
    ],
)
def test_a_bad_aws_events_dir_is_refused_before_the_previous_outputs_are_touched(
    tmp_path: Path, aws_events: str, message: str
) -> None:
    from lakewatch.local.runner import LocalRunOptions, local_run

    (tmp_path / "a-file").write_text("{}")
    (tmp_path / "bad-tags").mkdir()
    (tmp_path / "bad-tags" / "events.jsonl").write_text("")
    (tmp_path / "bad-tags" / "tags.json").write_text("[1]")
    (tmp_path / "binary").mkdir()
    (tmp_path / "binary" / "events.jsonl").write_bytes(b'{"a": "\xc4\x00"}\n')
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"{}\n")
    out = tmp_path / "out"
    before = _previous_run_outputs(out)

    with pytest.raises(LocalRunError, match=message):
        local_run(LocalRunOptions(events=events, out=out, aws_events=tmp_path / aws_events))

    assert {str(path.relative_to(out)): path.read_bytes() for path in out.rglob("*") if path.is_file()} == before


def test_a_new_run_removes_the_report_and_compaction_state_an_earlier_run_left(tmp_path: Path) -> None:
    from lakewatch.local.runner import prepare_out_dir

    (tmp_path / "report.html").write_text("drawn from the earlier lake")
    (tmp_path / "_compaction" / "sales").mkdir(parents=True)
    (tmp_path / "mine.txt").write_text("not lakewatch's")

    prepare_out_dir(tmp_path)

    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine.txt"]


def test_the_owned_outputs_name_the_report_and_the_compaction_area_as_their_modules_do() -> None:
    from glue_jobs.compact_partitions import COMPACTION_ROOT
    from lakewatch.local.runner import OWNED_OUTPUTS
    from lakewatch.report.build import REPORT_FILE

    assert {COMPACTION_ROOT, REPORT_FILE} <= set(OWNED_OUTPUTS)


def test_an_interrupted_run_leaves_its_logs_and_no_output_that_passes_for_a_finished_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakewatch.local import runner

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_run_saved_queries", interrupted)  # the lake and quarantine are written by then
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'{"not": "an event"}\n')
    out = tmp_path / "out"

    with pytest.raises(KeyboardInterrupt):
        runner.local_run(runner.LocalRunOptions(events=events, out=out, now=datetime(2024, 7, 1, tzinfo=UTC)))

    assert sorted(path.name for path in out.iterdir()) == [runner.LAMBDA_LOGS]


def test_ctrl_c_cancels_the_running_spark_jobs_and_keeps_their_jvm_log_off_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from types import SimpleNamespace

    from lakewatch.local.runner import LocalSpark

    cancelled: list[str] = []
    session = SimpleNamespace(sparkContext=SimpleNamespace(cancelAllJobs=lambda: cancelled.append("all")))
    monkeypatch.setattr(LocalSpark, "_create", lambda _self: session)
    spark = LocalSpark(tmp_path / "spark.log")
    (tmp_path / "spark.log").write_text("WARN many lines of JVM output\n")

    # As in a run: the Glue thread's job (inside `session`) fails because the main thread's Ctrl-C cancelled it.
    with pytest.raises(KeyboardInterrupt), spark.session(), spark.jobs_cancelled_on_error():
        raise KeyboardInterrupt

    assert cancelled == ["all"]
    assert "JVM output" not in capfd.readouterr().err
