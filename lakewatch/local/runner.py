"""`local-run`: replay events through the real handlers against moto, then build and query the local lake.

The replay follows what AWS does, step by step:

1. events-raw: the file's lines, in order, in batches of `batch_size` (the transform's event source
   mapping batch size), handed to the `transform` handler as Kinesis events. The mapping's error handling is
   emulated (`EventSourceMapping`): a partial batch response is retried from its first failed record; a
   function error bisects the batch (`BisectBatchOnFunctionError`) so a poison record ends alone; what
   still fails after `max_retries` goes to `dead_letters.jsonl` as the on-failure destination's invocation
   records (metadata only, as SQS receives them), never nowhere.
2. sales-clean / job-runs-clean: read back from the moto streams after every batch. Job runs go to the
   `job_monitor` handler in batches. The hourly `overdue_check` schedule is driven by an arrival watermark
   (`ArrivalWatermark`, the latest run end seen so far): from the first job-run batch on, before each
   job-run batch every whole hour up to the watermark fires, so late or redelivered old runs never hold the
   clock back; after the replay, every hour up to `--now`.
3. Firehose: moto's never reads Kinesis nor writes Parquet, so the runner writes the clean records as
   Parquet with the Glue table's schema into `lake/<table>/dt=…/`.
4. Glue: the POS CSV job's own code runs on local Spark, beside the replay (on AWS it runs on its own
   schedule, reads only `landing/` and writes its own files; here it uses the core the single-threaded replay
   leaves free), then the daily compaction job's protocol runs once per replayed day and table, as its
   schedule would, beside step 5.
5. Forecasts: the hourly and weekly forecast schedules replayed over the lake (`forecasting.py`): the series
   are read before compaction starts, then the schedule is replayed in Python while compaction runs on the JVM.
6. Athena: every named query in `athena/` runs on DuckDB over the Parquet.

Accounting (`Accounting`, in `summary.json` and the printed summary): every non-blank input line is one
Kinesis record and ends exactly once as a lake row (a redelivered line is its own row; queries de-duplicate
on event_id), a quarantine row of source `stream`, or an on-failure record of the transform.
"""

from __future__ import annotations

import codecs
import importlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, redirect_stdout
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from lakewatch.domain import tables
from lakewatch.domain.tables import JOB_RUNS, SALES, TABLES
from lakewatch.local import aws as local_aws
from lakewatch.local import aws_events
from lakewatch.local.lake import write_rows

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDAS_DIR = REPO_ROOT / "lambdas"
ATHENA_DIR = REPO_ROOT / "athena"
#: The transform's event source mapping batch size in the default stage config.
DEFAULT_BATCH_SIZE = 100
DEFAULT_MAX_RETRIES = 3
SCHEDULE_INTERVAL = timedelta(hours=1)
#: Sequence numbers the replay gives events-raw records: the input line's index (blank lines skipped) added
#: to this base, so `redrive` finds an on-failure record's lines in the events file again.
SEQUENCE_NUMBER_BASE = 49_000_000_000_000_000_000
DEAD_LETTERS_FILE = "dead_letters.jsonl"
SUMMARY_FILE = "summary.json"
#: Where the JVM's own output goes (Spark stays quiet in the terminal unless a Spark step fails).
SPARK_LOG = "spark.log"
LAMBDA_LOGS = "lambda-logs.jsonl"
#: The run's logs: an interrupted or failed run keeps them (they say how far it got), and only them.
RUN_LOGS = (LAMBDA_LOGS, SPARK_LOG)
#: Outputs `local-run` owns under --out and replaces on every run (nothing else there is touched): its own, the
#: compaction protocol's working area (`compact_partitions.COMPACTION_ROOT`), what `redrive` adds to a run and
#: the report `demo` and `report` draw from its lake, which would otherwise outlive the lake it was drawn from.
OWNED_OUTPUTS = (
    "lake",
    "quarantine",
    "queries",
    "redrive",
    "_compaction",
    "report.html",
    "alerts.jsonl",
    DEAD_LETTERS_FILE,
    *RUN_LOGS,
    SUMMARY_FILE,
)

#: The longest a thread keeps the GIL while another waits for it, during a run. The Glue jobs' driver thread talks
#: to the JVM through py4j, thousands of round trips a run, and needs the GIL back after each one while the
#: replay or the forecasts keep it busy: with Python's default 5 ms slices a round trip took 1.8 ms beside a
#: busy thread instead of 0.7 ms alone, with 1 ms slices 1.0 ms.
GIL_SLICE_SECONDS = 0.001

Progress = Callable[[str, int, int], None]


class LocalRunError(Exception):
    """A problem with the user's input, reported as one line by the CLI."""


@dataclass
class LocalRunOptions:
    events: Path
    out: Path
    pos_csv: Path | None = None
    now: datetime | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    max_retries: int = DEFAULT_MAX_RETRIES
    pii_key: str = local_aws.LOCAL_PII_KEY
    #: `json` (one payload per line) or `base64` (each line the base64 of one record's bytes, e.g. a KPL aggregate).
    events_format: str = "json"
    #: A directory of EventBridge job state changes for `job_events` (`lakewatch/local/aws_events.py`).
    aws_events: Path | None = None


@dataclass
class Accounting:
    """Where every input went; `balanced` says the stream side adds up.

    Stream: `input_lines` (non-blank lines, one Kinesis record each; a redelivered line counts again) =
    `lake_rows` (clean records of both tables, a redelivery is its own row) + `quarantine_rows["stream"]` +
    `on_failure_records["transform"]`, a valid KPL aggregate counting as the user records it holds. Clean job
    runs are consumed a second time by `job_monitor`, whose own
    quarantine rows (source `job_monitor`) and on-failure records are reported beside it: they do not remove a
    run from the lake. POS CSV, as its job counts: `pos_csv_lines` = `pos_csv_lake_rows` + `quarantine_rows
    ["pos_csv"]` + `pos_csv_blank_lines` + `pos_csv_header_lines` (a spreadsheet's header, also repeated mid-file) +
    `pos_csv_duplicates_dropped` (a re-dropped file's rows are dropped).
    """

    input_lines: int = 0
    lake_rows: dict[str, int] = field(default_factory=dict)
    quarantine_rows: dict[str, int] = field(default_factory=dict)
    on_failure_records: dict[str, int] = field(default_factory=dict)
    pos_csv_lines: int = 0
    pos_csv_lake_rows: int = 0
    pos_csv_blank_lines: int = 0
    pos_csv_header_lines: int = 0
    pos_csv_duplicates_dropped: int = 0

    @property
    def stream_lake_rows(self) -> int:
        return sum(self.lake_rows.values())

    @property
    def stream_accounted(self) -> int:
        return (
            self.stream_lake_rows + self.quarantine_rows.get("stream", 0) + self.on_failure_records.get("transform", 0)
        )

    @property
    def balanced(self) -> bool:
        return self.stream_accounted == self.input_lines


@dataclass
class RunReport:
    """What happened to every input, written to `summary.json` and shown by `demo`."""

    now: str
    events_file: str = ""
    #: `--events-format` of `events_file`: how `redrive` reads a line back as the record it was.
    events_format: str = "json"
    input_records: int = 0
    blank_lines_skipped: int = 0
    transform_batches: int = 0
    clean_records: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    #: Records the event source mappings sent to the on-failure destination, per function.
    on_failure: dict[str, int] = field(default_factory=dict)
    lake_rows: dict[str, int] = field(default_factory=dict)
    lake_files: dict[str, int] = field(default_factory=dict)
    pos_csv: dict[str, Any] | None = None
    compaction: dict[str, int] = field(default_factory=dict)
    job_monitor_batches: int = 0
    schedule_ticks: int = 0
    #: Invocations and seconds spent per Lambda function (moto calls included).
    invocations: dict[str, int] = field(default_factory=dict)
    function_seconds: dict[str, float] = field(default_factory=dict)
    #: Input lines replayed per second of stream replay (transform, clean streams, job_monitor, schedule).
    records_per_second: float = 0.0
    alerts: dict[str, int] = field(default_factory=dict)
    #: Per forecast series: forecasts written, models trained, breach alerts, backtest MASE (`forecasting.py`).
    forecasts: dict[str, Any] = field(default_factory=dict)
    queries: dict[str, int] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    accounting: Accounting = field(default_factory=Accounting)
    outputs: dict[str, str] = field(default_factory=dict)
    #: Input records that are valid KPL aggregates, and the user records they hold.
    kpl_aggregates: int = 0
    kpl_user_records: int = 0
    #: What became of each `--aws-events` EventBridge event (`put` ones are among `input_records`).
    aws_events: dict[str, int] = field(default_factory=dict)

    @property
    def dead_lettered(self) -> int:
        """Transform on-failure records: input lines that reached neither the lake nor quarantine."""
        return self.on_failure.get("transform", 0)

    @property
    def accounted_stream_records(self) -> int:
        """Input records that ended in a clean stream, quarantine or the on-failure destination."""
        return self.accounting.stream_accounted

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["accounting"] |= {
            "stream_lake_rows": self.accounting.stream_lake_rows,
            "stream_accounted": self.accounting.stream_accounted,
            "balanced": self.accounting.balanced,
        }
        return document


def read_event_lines(path: Path) -> tuple[list[bytes], int]:
    """The payloads of EVENTS.jsonl, as bytes, in order; empty lines cannot be Kinesis records and are counted.

    A UTF-8 byte-order mark (Windows editors write one) marks the file, so it is not kept as part of the first
    record; a UTF-16 or UTF-32 file (Windows PowerShell's `>` writes UTF-16) is a one-line error, since every one
    of its lines would otherwise be quarantined as invalid JSON.
    """
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise LocalRunError(f"events file not found: {path}") from None
    except IsADirectoryError:
        raise LocalRunError(f"events path is a directory, expected a JSON-lines file: {path}") from None
    except OSError as error:
        raise LocalRunError(f"cannot read events file {path}: {error.strerror}") from None
    if content.startswith(_WIDE_BYTE_ORDER_MARKS):
        raise LocalRunError(
            f"events file {path} is UTF-16 or UTF-32 text (it starts with a byte-order mark): save it as UTF-8"
        )
    lines = content.removeprefix(codecs.BOM_UTF8).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    payloads = [line.removesuffix(b"\r") for line in lines]
    kept = [payload for payload in payloads if payload]
    return kept, len(payloads) - len(kept)


#: Byte-order marks of the encodings an events file must not be in (UTF-32 LE's begins with UTF-16 LE's).
_WIDE_BYTE_ORDER_MARKS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)


def sequence_number(index: int) -> str:
    """The events-raw sequence number of the `index`-th (0-based) non-blank input line."""
    return f"{SEQUENCE_NUMBER_BASE + index + 1:d}"


def line_index(sequence: str) -> int:
    """Inverse of `sequence_number`."""
    return int(sequence) - SEQUENCE_NUMBER_BASE - 1


def local_run(
    options: LocalRunOptions, progress: Progress | None = None, *, spark: LocalSpark | None = None
) -> RunReport:
    """Run the whole pipeline locally; see the module docstring for the steps.

    `spark`: a session the caller started ahead (`LocalSpark.start_in_background`, logging to `SPARK_LOG` under
    `--out`), so that the JVM boots while the caller still prepares the inputs; by default the run starts its own.
    """
    now = (options.now or datetime.now(UTC)).astimezone(UTC)
    _check_input_dirs(options)
    payloads, blank_lines = _read_payloads(options)
    kpl_counts = aws_events.count_kpl(payloads)
    out = options.out
    # A caller's session already writes its log here: that log is this run's, so it stays.
    prepare_out_dir(out, keep=(SPARK_LOG,) if spark is not None and spark.log_path == out / SPARK_LOG else ())

    report = RunReport(
        now=now.isoformat(),
        events_file=str(options.events.resolve()),
        events_format=options.events_format,
        input_records=len(payloads),
        blank_lines_skipped=blank_lines,
        kpl_aggregates=kpl_counts.aggregates,
        kpl_user_records=kpl_counts.user_records,
    )
    notify = progress or (lambda _step, _done, _total: None)

    try:
        with short_gil_slices():
            _run_steps(options, report, now=now, payloads=payloads, notify=notify, spark=spark)
    except BaseException:
        # Ctrl-C or a failure part way: a lake, quarantine or query results without their summary would pass for
        # a finished run's (and `report` would draw one); only the logs stay, to say how far it got.
        remove_owned_outputs(out, keep=RUN_LOGS)
        raise
    report.accounting = _accounting(report)
    report.outputs = {
        "lake": str(out / "lake"),
        "quarantine": str(out / "quarantine"),
        "alerts": str(out / "alerts.jsonl"),
        "queries": str(out / "queries"),
        "lambda logs": str(out / "lambda-logs.jsonl"),
        "summary": str(out / SUMMARY_FILE),
    }
    # Written last and whole (renamed into place): its presence says the run finished.
    partial = out / f".{SUMMARY_FILE}.partial"
    partial.write_bytes(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2))
    partial.replace(out / SUMMARY_FILE)
    return report


@contextmanager
def short_gil_slices(seconds: float = GIL_SLICE_SECONDS) -> Iterator[None]:
    """Python's thread switch interval set to `seconds` for the block (see `GIL_SLICE_SECONDS`), then restored."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _run_steps(
    options: LocalRunOptions,
    report: RunReport,
    *,
    now: datetime,
    payloads: list[bytes],
    notify: Progress,
    spark: LocalSpark | None,
) -> None:
    """The steps of the module docstring, each writing its outputs under --out and its figures into `report`."""
    out = options.out
    lake_root = out / "lake"
    quarantine_dir = out / "quarantine"
    if spark is None:
        spark = LocalSpark(out / SPARK_LOG)
        if options.pos_csv is not None:
            spark.start_in_background()  # the JVM boots while the emulated AWS is set up and the replay runs
    # The Glue jobs run on the core the single-threaded Python steps leave free: the POS job beside the replay,
    # the compaction beside the forecasts.
    # On Ctrl-C or a failure, Spark's jobs are cancelled before the pool waits for its thread.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="glue") as glue, spark.jobs_cancelled_on_error():
        pos_job: Future[dict] | None = None
        if options.pos_csv is not None:
            pos_job = glue.submit(
                _run_pos_csv, spark, options, lake_root, quarantine_dir / "pos_csv", ingested_at=now, notify=notify
            )
        with local_aws.LocalAws(pii_key=options.pii_key) as aws:
            handlers = _import_handlers()
            _serve_clean_streams(aws)
            _serve_baselines_table(aws)
            replay = _Replay(aws=aws, handlers=handlers, options=options, report=report, now=now, notify=notify)
            started = time.perf_counter()
            with _lambda_output_to(out / LAMBDA_LOGS):
                if options.aws_events is not None:
                    payloads = _with_aws_job_events(aws, options.aws_events, payloads, report)
                replay.run(payloads)
            replay_seconds = time.perf_counter() - started
            report.step_seconds["stream replay"] = replay_seconds
            report.records_per_second = round(len(payloads) / replay_seconds, 1) if replay_seconds > 0 else 0.0

            _write_replayed_lake(replay, lake_root, report)

            _export_replay(aws, replay, out, quarantine_dir, report)

        if pos_job is not None:
            started = time.perf_counter()
            report.pos_csv = pos_job.result()
            report.quarantined["pos_csv"] = int(report.pos_csv.get("quarantined_total", 0))
            report.step_seconds["POS CSV Glue job (after the replay)"] = time.perf_counter() - started

        from lakewatch.local.forecasting import read_forecast_history, run_forecast_step

        # The forecasts read their series before compaction rewrites any partition (the rows are the same
        # before and after it; the files are not, and a reader must never list a file that is then deleted),
        # then replay their schedule in Python while the compaction runs on the JVM.
        history = read_forecast_history(lake_root, now)
        report.step_seconds["daily compaction"] = 0.0  # the summary lists the steps in pipeline order
        compaction = glue.submit(_compact_replayed_days, spark, lake_root, now, report, notify)
        run_forecast_step(lake_root, now, out / "alerts.jsonl", report, notify, history=history)
        compaction.result()

    _run_saved_queries(lake_root, now, out / "queries", report, notify)


def _export_replay(aws: Any, replay: _Replay, out: Path, quarantine_dir: Path, report: RunReport) -> None:
    """What the replay left in the emulated AWS: quarantine objects, published alerts, on-failure records."""
    report.quarantined.update(_export_quarantine(aws, quarantine_dir))
    alerts = aws.drain_published()
    _write_jsonl(out / "alerts.jsonl", alerts)
    report.alerts = dict(Counter(str(line["attributes"].get("alert_type", "unknown")) for line in alerts))
    if replay.mapping.on_failure:
        _write_jsonl(out / DEAD_LETTERS_FILE, replay.mapping.on_failure)
    report.on_failure = replay.mapping.on_failure_counts()


def _write_replayed_lake(replay: _Replay, lake_root: Path, report: RunReport) -> None:
    """What Firehose does with the clean streams: Parquet files in the tables' partitions."""
    started = time.perf_counter()
    for table_name, rows in replay.clean_rows.items():
        written = _write_lake(TABLES[table_name], rows, lake_root)
        report.lake_rows[table_name] = sum(written.values())
        report.lake_files[table_name] = len(written)
    report.step_seconds["lake write (Firehose)"] = time.perf_counter() - started


def _compact_replayed_days(
    spark: LocalSpark, lake_root: Path, now: datetime, report: RunReport, notify: Progress
) -> None:
    """Compaction once per replayed day and table, as its daily schedule would run it."""
    started = time.perf_counter()
    days = replayed_days(lake_root, now)
    for done, day in enumerate(days):
        notify("daily compaction (local Spark)", done, len(days))
        for table in TABLES.values():
            status = _compact(spark, lake_root, table, day)
            report.compaction[status] = report.compaction.get(status, 0) + 1
    notify("daily compaction (local Spark)", len(days), len(days))
    report.step_seconds["daily compaction"] = time.perf_counter() - started


def _run_saved_queries(lake_root: Path, now: datetime, out: Path, report: RunReport, notify: Progress) -> None:
    """Every saved query on DuckDB over the local lake, one CSV each under `out`."""
    started = time.perf_counter()
    notify("Athena named queries (DuckDB)", 0, 1)
    from lakewatch.local.queries import run_named_queries

    results = run_named_queries(lake_root, now, out)
    report.queries = {name: _row_count(result) for name, result in results.items()}
    notify("Athena named queries (DuckDB)", 1, 1)
    report.step_seconds["named queries"] = time.perf_counter() - started


#: Redriven records are numbered from here on, far past any input line, so they never collide with one.
REDRIVE_FIRST_INDEX = 10**15


def replay_redriven(out: Path, payloads: list[bytes], *, now: datetime, run_number: int) -> RunReport:
    """Replay re-driven records through the handlers into an existing `local-run` output directory.

    As on AWS, a re-drive adds to what is there: lake rows land in new Firehose files, quarantine rows in new
    objects, alerts and on-failure records are appended. The hourly schedule is not replayed again, and each
    re-drive starts a fresh moto (its job_monitor state is the re-driven runs only). Runs are numbered so
    their files and sequence numbers never collide.
    """
    report = RunReport(now=now.isoformat(), input_records=len(payloads))
    options = LocalRunOptions(events=out / SUMMARY_FILE, out=out, now=now)
    with local_aws.LocalAws(pii_key=options.pii_key) as aws:
        replay = _Replay(
            aws=aws, handlers=_import_handlers(), options=options, report=report, now=now, notify=lambda *_: None
        )
        _serve_clean_streams(aws)
        _serve_baselines_table(aws)
        with _lambda_output_to(out / "lambda-logs.jsonl"):
            replay.run(payloads, first_index=REDRIVE_FIRST_INDEX * run_number, schedule=False)
        for table_name, rows in replay.clean_rows.items():
            if rows:
                written = write_rows(TABLES[table_name], rows, out / "lake", file_name=f"part-redrive-{run_number}")
                report.lake_rows[table_name] = sum(written.values())
        report.quarantined.update(_export_quarantine(aws, out / "quarantine"))
        with (out / "alerts.jsonl").open("ab") as alerts:
            alerts.writelines(orjson.dumps(line) + b"\n" for line in aws.drain_published())
        with (out / DEAD_LETTERS_FILE).open("ab") as letters:
            letters.writelines(orjson.dumps(line) + b"\n" for line in replay.mapping.on_failure)
        report.on_failure = replay.mapping.on_failure_counts()
    report.accounting = _accounting(report)
    return report


def _check_input_dirs(options: LocalRunOptions) -> None:
    """Refuse input directories that cannot be read before --out is touched: a typo in an input must not cost the
    user the previous run's outputs, nor leave a new, half-filled --out behind."""
    if options.pos_csv is not None and not options.pos_csv.is_dir():
        raise LocalRunError(f"--pos-csv is not a directory: {options.pos_csv}")
    if options.aws_events is not None:
        if not options.aws_events.is_dir():
            raise LocalRunError(f"--aws-events is not a directory: {options.aws_events}")
        try:  # the replay reads them again, inside the emulated AWS; here only to find a bad file early
            aws_events.AwsEvents.read(options.aws_events)
            aws_events.read_tags(options.aws_events / aws_events.TAGS_FILE)
        except UnicodeDecodeError as error:
            raise LocalRunError(
                f"--aws-events: a file in {options.aws_events} is not UTF-8 text ({error.reason} at byte {error.start})"
            ) from None
        except (OSError, ValueError) as error:
            raise LocalRunError(f"--aws-events: {error}") from None


def _read_payloads(options: LocalRunOptions) -> tuple[list[bytes], int]:
    """The records of `--events` in `--events-format`, and the blank lines skipped."""
    payloads, blank_lines = read_event_lines(options.events)
    if options.events_format == "base64":
        try:
            payloads = aws_events.decode_base64_lines(payloads)
        except ValueError as error:
            raise LocalRunError(str(error)) from None
    return payloads, blank_lines


def _with_aws_job_events(
    aws: local_aws.LocalAws, directory: Path, payloads: list[bytes], report: RunReport
) -> list[bytes]:
    """The stream's payloads with the job runs `job_events` makes of DIR's EventBridge events, in time order."""
    try:
        replayed = aws_events.replay_aws_events(
            directory, kinesis=aws.kinesis, events_raw_stream=local_aws.EVENTS_RAW_STREAM
        )
    except (OSError, ValueError) as error:
        raise LocalRunError(f"--aws-events: {error}") from None
    report.aws_events = dict(replayed.verdicts)
    report.input_records += len(replayed.payloads)
    return aws_events.merge_by_time(payloads, replayed.payloads)


def _accounting(report: RunReport) -> Accounting:
    pos = report.pos_csv or {}
    return Accounting(
        input_lines=report.input_records - report.kpl_aggregates + report.kpl_user_records,
        lake_rows={table: report.clean_records.get(table, 0) for table in TABLES},
        quarantine_rows=dict(report.quarantined),
        on_failure_records=dict(report.on_failure),
        pos_csv_lines=int(pos.get("lines_read", 0)),
        pos_csv_lake_rows=int(pos.get("sales_written", 0)),
        pos_csv_blank_lines=int(pos.get("blank_lines", 0)),
        pos_csv_header_lines=int(pos.get("header_lines", 0)),
        pos_csv_duplicates_dropped=int(pos.get("duplicates_dropped", 0)),
    )


def replayed_days(lake_root: Path, now: datetime) -> list[str]:
    """The days the daily jobs ran for: from the lake's first partition to the day before `now`."""
    first = min(
        (
            path.name.removeprefix(f"{tables.PARTITION_KEY}=")
            for table in TABLES.values()
            for path in (lake_root / table.name).glob(f"{tables.PARTITION_KEY}=*")
        ),
        default=None,
    )
    if first is None:
        return []
    day, last = datetime.strptime(first, tables.PARTITION_DATE_FORMAT).date(), (now - timedelta(days=1)).date()
    days = []
    while day <= last:
        days.append(day.strftime(tables.PARTITION_DATE_FORMAT))
        day += timedelta(days=1)
    return days


class ArrivalWatermark:
    """The schedule's clock: the latest job-run end seen so far in arrival order, never moving back.

    Only job runs move it: the overdue check is about them, and sales come from other producers (tills, web
    shops) whose clocks and delays are their own; one till dated two weeks ahead would otherwise page every
    client. (The transform bounds each event against its own ingestion time, which a replay that ingests a
    whole file at once cannot reproduce.)

    Times after the accepted range (`tables.accepted_event_times` of the replay's `now`) are clamped to its
    end; times before it are not events the lake can hold (they are quarantined by the transform) and are
    ignored rather than clamped, so one bogus record can neither start the clock years early nor stop it.
    """

    def __init__(self, now: datetime) -> None:
        self.earliest, self.latest = tables.accepted_event_times(now)
        self.value: datetime | None = None
        self.first: datetime | None = None

    def observe(self, moment: datetime) -> None:
        if moment < self.earliest:
            return
        moment = min(moment, self.latest)
        if self.value is None:
            self.first = moment
            self.value = moment
        elif moment > self.value:
            self.value = moment


class HourlySchedule:
    """An EventBridge `rate(1 hour)` rule: fires at each whole hour after the watermark's first value."""

    def __init__(self) -> None:
        self.next_tick: datetime | None = None

    def due(self, start: datetime | None, until: datetime | None) -> Iterator[datetime]:
        """Every tick up to `until`, each once over the life of the schedule."""
        if start is None or until is None:
            return
        if self.next_tick is None:
            self.next_tick = start.replace(minute=0, second=0, microsecond=0) + SCHEDULE_INTERVAL
        while self.next_tick <= until:
            tick = self.next_tick
            self.next_tick += SCHEDULE_INTERVAL
            yield tick


class EventSourceMapping:
    """The error handling of a Kinesis event source mapping, as the lakewatch stacks configure it.

    - A batch item failure response: the batch is retried from the first failed record (`ReportBatchItemFailures`),
      each retry consuming one of `max_retries`.
    - A function error: with `BisectBatchOnFunctionError` the batch is split in two and each half invoked on its
      own; splitting does not consume the retry budget, so a poison record ends alone in a one-record batch,
      which is retried `max_retries` times, and its neighbours go through.
    - Retries exhausted: an invocation record goes to the on-failure destination, shaped as Lambda sends it to
      SQS (metadata only: `KinesisBatchInfo` names the shard and the sequence-number range, never the data).
    """

    def __init__(self, *, invoke: Callable[[str, dict, local_aws.LambdaContext], Any], max_retries: int) -> None:
        self._invoke = invoke
        self.max_retries = max_retries
        self.on_failure: list[dict[str, Any]] = []

    def deliver(self, function: str, batch: list[tuple[str, bytes]], stream_name: str) -> None:
        self._deliver(function, batch, stream_name, self.max_retries)

    def on_failure_counts(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for message in self.on_failure:
            function = message["requestContext"]["functionArn"].rsplit(":", 1)[-1]
            counts[function] += message["KinesisBatchInfo"]["batchSize"]
        return dict(counts)

    def _deliver(self, function: str, batch: list[tuple[str, bytes]], stream_name: str, retries_left: int) -> None:
        pending = batch
        invocations = 0
        while True:
            invocations += 1
            arrival = time.time()
            event = local_aws.kinesis_event(pending, stream_name=stream_name, arrival_epoch=arrival)
            context = local_aws.LambdaContext(
                function_name=function, aws_request_id=f"local-{function}-{pending[0][0]}-{invocations}"
            )
            try:
                response = self._invoke(function, event, context) or {}
            except Exception:  # a function error, whatever its type, is what the mapping bisects and retries
                if len(pending) > 1:
                    half = len(pending) // 2
                    self._deliver(function, pending[:half], stream_name, retries_left)
                    self._deliver(function, pending[half:], stream_name, retries_left)
                    return
                function_error = True
            else:
                failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
                if not failed:
                    return
                first_failed = next(index for index, (sequence, _) in enumerate(pending) if sequence in failed)
                pending = pending[first_failed:]
                function_error = False
            if retries_left == 0:
                self.on_failure.append(
                    on_failure_record(
                        function=function,
                        stream_name=stream_name,
                        batch=pending,
                        invocations=invocations,
                        function_error=function_error,
                        arrival_epoch=arrival,
                        request_id=context.aws_request_id,
                    )
                )
                return
            retries_left -= 1


def on_failure_record(
    *,
    function: str,
    stream_name: str,
    batch: list[tuple[str, bytes]],
    invocations: int,
    function_error: bool,
    arrival_epoch: float,
    request_id: str,
) -> dict[str, Any]:
    """The invocation record Lambda sends to an SQS on-failure destination for a Kinesis batch it gave up on."""
    arrival = datetime.fromtimestamp(arrival_epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if function_error:
        response_context["functionError"] = "Unhandled"
    return {
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"arn:aws:lambda:{local_aws.REGION}:{local_aws.ACCOUNT_ID}:function:{function}",
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": invocations,
        },
        "responseContext": response_context,
        "version": "1.0",
        "timestamp": arrival,
        "KinesisBatchInfo": {
            "shardId": local_aws.SHARD_ID,
            "startSequenceNumber": batch[0][0],
            "endSequenceNumber": batch[-1][0],
            "approximateArrivalOfFirstRecord": arrival,
            "approximateArrivalOfLastRecord": arrival,
            "batchSize": len(batch),
            "streamArn": local_aws.stream_arn(stream_name),
        },
    }


class _Replay:
    """The streaming half of the pipeline: events-raw → transform → clean streams → job_monitor."""

    def __init__(
        self,
        *,
        aws: local_aws.LocalAws,
        handlers: dict[str, Callable[..., Any]],
        options: LocalRunOptions,
        report: RunReport,
        now: datetime,
        notify: Progress,
    ) -> None:
        self.aws = aws
        self.handlers = handlers
        self.options = options
        self.report = report
        self.now = now
        self.notify = notify
        self.clean_rows: dict[str, list[dict[str, Any]]] = {SALES.name: [], JOB_RUNS.name: []}
        self.mapping = EventSourceMapping(invoke=self._timed, max_retries=options.max_retries)
        self.watermark = ArrivalWatermark(now)
        self.schedule = HourlySchedule()
        self._schedule_start: datetime | None = None
        self._sales_tail = aws.tail(local_aws.SALES_STREAM)
        self._job_runs_tail = aws.tail(local_aws.JOB_RUNS_STREAM)

    def run(self, payloads: list[bytes], *, first_index: int = 0, schedule: bool = True) -> None:
        """Replay `payloads` as events-raw records numbered from `first_index`; `schedule` fires the hourly check."""
        batch_size = self.options.batch_size
        total = len(payloads)
        for start in range(0, total, batch_size):
            batch = [
                (sequence_number(first_index + start + offset), payload)
                for offset, payload in enumerate(payloads[start : start + batch_size])
            ]
            self.mapping.deliver("transform", batch, local_aws.EVENTS_RAW_STREAM)
            self.report.transform_batches += 1
            self._collect_clean_records(schedule=schedule)
            self.notify("stream replay", min(start + batch_size, total), total)
        if schedule:
            self._fire_ticks_until(self.now)

    def _collect_clean_records(self, *, schedule: bool = True) -> None:
        for record in self._sales_tail.read_new():
            self.clean_rows[SALES.name].append(orjson.loads(record["Data"]))
            self.report.clean_records[SALES.name] = self.report.clean_records.get(SALES.name, 0) + 1
        job_run_records = self._job_runs_tail.read_new()
        if not job_run_records:
            return
        self.report.clean_records[JOB_RUNS.name] = self.report.clean_records.get(JOB_RUNS.name, 0) + len(
            job_run_records
        )
        rows = [orjson.loads(record["Data"]) for record in job_run_records]
        self.clean_rows[JOB_RUNS.name].extend(rows)
        # The schedule keeps firing while these runs are in flight: up to the latest time seen before them.
        if schedule:
            self._fire_ticks_until(self.watermark.value)
        for row in rows:
            self.watermark.observe(tables.parse_clean_utc(row["ended_at"]))
        if self._schedule_start is None:
            # Before the first job run the check has nothing to read: its ticks would change nothing.
            self._schedule_start = self.watermark.value
        for start in range(0, len(job_run_records), self.options.batch_size):
            chunk = job_run_records[start : start + self.options.batch_size]
            batch = [(record["SequenceNumber"], record["Data"]) for record in chunk]
            self.mapping.deliver("job_monitor", batch, local_aws.JOB_RUNS_STREAM)
            self.report.job_monitor_batches += 1

    def _fire_ticks_until(self, until: datetime | None) -> None:
        """Fire the hourly overdue_check schedule at every whole hour up to `until` (at most `--now`)."""
        handler = self.handlers["overdue_check"]
        for tick in self.schedule.due(self._schedule_start, min(until, self.now) if until else None):
            event = local_aws.scheduled_event(tick.strftime("%Y-%m-%dT%H:%M:%SZ"))
            self._timed("overdue_check", event, local_aws.LambdaContext(function_name="overdue_check"), handler)
            self.report.schedule_ticks += 1

    def _timed(
        self,
        function: str,
        event: dict,
        context: local_aws.LambdaContext,
        handler: Callable[..., Any] | None = None,
    ) -> Any:
        started = time.perf_counter()
        try:
            return (handler or self.handlers[function])(event, context)
        finally:
            report = self.report
            report.invocations[function] = report.invocations.get(function, 0) + 1
            report.function_seconds[function] = (
                report.function_seconds.get(function, 0.0) + time.perf_counter() - started
            )


def _import_handlers() -> dict[str, Callable[..., Any]]:
    """Import the Lambda handlers exactly as Lambda does: from the `lambdas/` asset root."""
    if str(LAMBDAS_DIR) not in sys.path:
        sys.path.insert(0, str(LAMBDAS_DIR))
    functions = ("transform", "job_monitor", "overdue_check")
    modules = {name: importlib.import_module(f"{name}.handler") for name in functions}
    for module in modules.values():
        # Each run is a fresh "execution environment": settings, clients and the PII key are re-read.
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", "") == module.__name__:
                value.cache_clear()
    return {name: module.handler for name, module in modules.items()}


def _serve_clean_streams(aws: local_aws.LocalAws) -> None:
    """Answer the transform's PutRecords to the clean streams in process (see `aws.CleanStreams`)."""
    from transform import handler as transform_handler

    aws.clean_streams.attach(transform_handler.dependencies().kinesis)


def _serve_baselines_table(aws: local_aws.LocalAws) -> None:
    """Answer job_monitor's and overdue_check's DynamoDB calls in process (see `dynamodb.LocalTable`)."""
    from job_monitor import handler as job_monitor_handler
    from overdue_check import handler as overdue_check_handler

    for dependencies in (job_monitor_handler.dependencies(), overdue_check_handler.dependencies()):
        aws.baselines_table.attach(dependencies.dynamodb)


def _write_lake(table: Any, rows: list[dict[str, Any]], lake_root: Path) -> dict[str, int]:
    if not rows:
        return {}
    return write_rows(table, rows, lake_root, file_name="part-00000-firehose")


def _export_quarantine(aws: local_aws.LocalAws, quarantine_dir: Path) -> dict[str, int]:
    """Copy the quarantine objects out of moto's S3, keeping their keys; return rows per source.

    The source is the key's first segment under the prefix (`quarantine/<source>/dt=…/…`): `stream` for the
    transform, `job_monitor` for runs it could not process.
    """
    rows: Counter[str] = Counter()
    prefix = f"{tables.QUARANTINE_ROOT}/"
    for key, body in aws.quarantine_objects():
        relative = key.removeprefix(prefix)
        target = quarantine_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        rows[relative.split("/", 1)[0]] += sum(1 for line in body.splitlines() if line.strip())
    return dict(rows)


class LocalSpark:
    """The local SparkSession, started on first use (or ahead of it, in the background), with the JVM's output
    kept out of the user's terminal.

    Spark's WARN lines and progress bars go to `spark.log` under --out; when a Spark step fails, that log is
    shown on stderr before the error propagates.
    """

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._session: Any = None
        self._starting: threading.Thread | None = None
        self._start_error: BaseException | None = None
        self._cancelled = False

    def start_in_background(self) -> None:
        """Start the session on another thread, so that the JVM boots on the other core while the caller goes
        on (the stream replay is single-threaded Python); `session()` waits for it."""

        def start() -> None:
            try:
                session = self._create()
                # Spark SQL initialises on a session's first query (~9 s of JVM CPU measured on two cores): let
                # that happen here too, off the replay's core, instead of inside the first Glue job.
                session.range(1).count()
                self._session = session
            except BaseException as error:  # re-raised by session(), where the user sees spark.log with it
                self._start_error = error

        self._starting = threading.Thread(target=start, name="spark-start", daemon=True)
        self._starting.start()

    def _create(self) -> Any:
        from lakewatch.local.spark import local_spark_session

        return local_spark_session(jvm_log=self.log_path)

    @contextmanager
    def jobs_cancelled_on_error(self) -> Iterator[None]:
        """Cancel the session's running jobs when the block raises (Ctrl-C included), so that a thread waiting on
        one returns at once instead of finishing it; the log of a job cancelled so is not shown."""
        try:
            yield
        except BaseException:
            self._cancelled = True
            if self._session is not None:
                self._session.sparkContext.cancelAllJobs()
            raise

    @contextmanager
    def session(self) -> Iterator[Any]:
        with _stderr_to(self.log_path, show_on_failure=lambda: not self._cancelled):
            if self._starting is not None:
                self._starting.join()
                self._starting = None
                if self._start_error is not None:
                    raise self._start_error
            if self._session is None:
                self._session = self._create()
            yield self._session


@contextmanager
def _stderr_to(path: Path, *, show_on_failure: Callable[[], bool] = lambda: True) -> Iterator[None]:
    """Redirect file descriptor 2 (the JVM writes there directly) to `path`; replay it on stderr on failure (unless
    `show_on_failure` says no: a job the user cancelled)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            if show_on_failure():
                sys.stderr.write(path.read_text(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _run_pos_csv(
    spark: LocalSpark,
    options: LocalRunOptions,
    lake_root: Path,
    quarantine_dir: Path,
    *,
    ingested_at: datetime,
    notify: Progress,
) -> dict:
    from glue_jobs.pos_csv_etl import run_local

    notify("POS CSV Glue job (local Spark)", 0, 1)
    with spark.session() as session:
        counts = run_local(
            session,
            options.pos_csv,
            lake_root,
            quarantine_dir,
            pii_key=options.pii_key.encode(),
            ingested_at=ingested_at,
        )
    notify("POS CSV Glue job (local Spark)", 1, 1)
    return dict(counts)


def _compact(spark: LocalSpark, lake_root: Path, table: tables.LakeTable, dt: str) -> str:
    """The daily compaction job for one table and day; Spark starts only if a partition has files to merge."""
    from glue_jobs.compact_partitions import LocalStore, compact_partition, partition_data_files

    store = LocalStore(lake_root.parent)
    prefix = table.partition_prefix(dt)
    if len(partition_data_files(store.list(prefix), prefix)) <= 1:
        return "nothing_to_do"
    with spark.session() as session:
        return str(compact_partition(session, store, table, dt)["status"])


@contextmanager
def _lambda_output_to(path: Path) -> Iterator[None]:
    """Send the handlers' stdout (Powertools JSON logs and EMF metrics) to a file, as CloudWatch would.

    EMF is printed to `sys.stdout` at flush time; the Powertools logger bound its handler to the stream it
    found at import, so that handler is pointed at the file too, and both are restored afterwards.
    """
    from lambda_common.observability import logger

    handler = logger.registered_handler
    with path.open("a", encoding="utf-8") as sink, redirect_stdout(sink):
        # Swapped, not `setStream`: that flushes the stream found at import, which a test's captured (then
        # closed) stdout may be by now.
        previous = handler.stream if isinstance(handler, logging.StreamHandler) else None
        if previous is not None:
            handler.stream = sink
        try:
            yield
        finally:
            if previous is not None:
                handler.flush()
                handler.stream = previous


def prepare_out_dir(out: Path, *, keep: tuple[str, ...] = ()) -> None:
    """Create --out if needed and remove the outputs `local-run` owns there, but those named in `keep`; one-line
    errors, never a traceback."""
    if out.exists() and not out.is_dir():
        raise LocalRunError(f"--out exists and is not a directory: {out}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out, prefix=".lakewatch-write-check-")  # noqa: SIM115
        probe.close()
        remove_owned_outputs(out, keep=keep)
    except OSError as error:
        raise LocalRunError(f"cannot write into --out {out}: {error.strerror}") from None


def remove_owned_outputs(out: Path, *, keep: tuple[str, ...] = ()) -> None:
    """Remove what `local-run` owns under `out` (`OWNED_OUTPUTS`), but those named in `keep`."""
    for name in OWNED_OUTPUTS:
        if name in keep:
            continue
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _write_jsonl(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))


def _row_count(result: Any) -> int:
    rows = getattr(result, "rows", result)
    return len(rows)
