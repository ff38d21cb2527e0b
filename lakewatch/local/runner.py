"""`local-run`: replay events through the real handlers against moto, then build and query the local lake.

The replay follows what AWS does, step by step:

1. events-raw: the file's lines, in order, in batches of `batch_size` (the transform's event source
   mapping batch size), handed to the `transform` handler as Kinesis events. A partial batch response is
   retried from its first failed record, as the mapping does, up to `max_retries`; what still fails goes
   to `dead_letters.jsonl` (the on-failure destination), never nowhere.
2. sales-clean / job-runs-clean: read back from the moto streams after every batch. Job runs go to the
   `job_monitor` handler in batches, and the hourly `overdue_check` schedule fires at every hour of the
   replayed period (before each job-run batch, every tick up to that batch's first run end; after the
   replay, every tick up to `--now`).
3. Firehose: moto's never reads Kinesis nor writes Parquet, so the runner writes the clean records as
   Parquet with the Glue table's schema into `lake/<table>/dt=…/`.
4. Glue: the POS CSV job's own code runs on local Spark.
5. Athena: every named query in `athena/` runs on DuckDB over the Parquet.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from lakewatch.domain.tables import JOB_RUNS, SALES, TABLES
from lakewatch.local import aws as local_aws
from lakewatch.local.lake import parse_clean_timestamp, write_rows

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDAS_DIR = REPO_ROOT / "lambdas"
ATHENA_DIR = REPO_ROOT / "athena"
#: The transform's event source mapping batch size in the default stage config.
DEFAULT_BATCH_SIZE = 100
DEFAULT_MAX_RETRIES = 3
SCHEDULE_INTERVAL = timedelta(hours=1)
#: Outputs `local-run` owns under --out and replaces on every run (nothing else there is touched).
OWNED_OUTPUTS = (
    "lake",
    "quarantine",
    "queries",
    "alerts.jsonl",
    "dead_letters.jsonl",
    "lambda-logs.jsonl",
    "summary.json",
)

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


@dataclass
class RunReport:
    """What happened to every input, written to `summary.json` and shown by `demo`."""

    now: str
    input_records: int = 0
    blank_lines_skipped: int = 0
    transform_batches: int = 0
    clean_records: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    dead_lettered: int = 0
    lake_rows: dict[str, int] = field(default_factory=dict)
    lake_files: dict[str, int] = field(default_factory=dict)
    pos_csv: dict[str, Any] | None = None
    job_monitor_batches: int = 0
    schedule_ticks: int = 0
    #: Invocations and seconds spent per Lambda function (moto calls included).
    invocations: dict[str, int] = field(default_factory=dict)
    function_seconds: dict[str, float] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)
    queries: dict[str, int] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def accounted_stream_records(self) -> int:
        """Input records that ended in a clean stream, quarantine or the dead-letter file."""
        stream_quarantined = self.quarantined.get("stream", 0)
        return sum(self.clean_records.values()) + stream_quarantined + self.dead_lettered


def read_event_lines(path: Path) -> tuple[list[bytes], int]:
    """The payloads of EVENTS.jsonl, as bytes, in order; empty lines cannot be Kinesis records and are counted."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise LocalRunError(f"events file not found: {path}") from None
    except IsADirectoryError:
        raise LocalRunError(f"events path is a directory, expected a JSON-lines file: {path}") from None
    except OSError as error:
        raise LocalRunError(f"cannot read events file {path}: {error.strerror}") from None
    lines = content.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    payloads = [line.removesuffix(b"\r") for line in lines]
    kept = [payload for payload in payloads if payload]
    return kept, len(payloads) - len(kept)


def local_run(options: LocalRunOptions, progress: Progress | None = None) -> RunReport:
    """Run the whole pipeline locally; see the module docstring for the steps."""
    now = (options.now or datetime.now(UTC)).astimezone(UTC)
    if options.pos_csv is not None and not options.pos_csv.is_dir():
        raise LocalRunError(f"--pos-csv is not a directory: {options.pos_csv}")
    payloads, blank_lines = read_event_lines(options.events)
    out = options.out
    _reset_outputs(out)

    report = RunReport(now=now.isoformat(), input_records=len(payloads), blank_lines_skipped=blank_lines)
    lake_root = out / "lake"
    quarantine_dir = out / "quarantine"
    notify = progress or (lambda _step, _done, _total: None)

    with local_aws.LocalAws(pii_key=options.pii_key) as aws:
        handlers = _import_handlers()
        replay = _Replay(aws=aws, handlers=handlers, options=options, report=report, now=now, notify=notify)
        started = time.perf_counter()
        with _lambda_output_to(out / "lambda-logs.jsonl"):
            replay.run(payloads)
        report.step_seconds["stream replay"] = time.perf_counter() - started

        started = time.perf_counter()
        for table_name, rows in replay.clean_rows.items():
            written = _write_lake(TABLES[table_name], rows, lake_root)
            report.lake_rows[table_name] = sum(written.values())
            report.lake_files[table_name] = len(written)
        report.step_seconds["lake write (Firehose)"] = time.perf_counter() - started

        report.quarantined["stream"] = _export_quarantine(aws, quarantine_dir)
        alerts = aws.drain_published()
        _write_jsonl(out / "alerts.jsonl", alerts)
        report.alerts = dict(Counter(str(line["attributes"].get("alert_type", "unknown")) for line in alerts))
        if replay.dead_letters:
            _write_jsonl(out / "dead_letters.jsonl", replay.dead_letters)
        report.dead_lettered = sum(len(letter["sequence_numbers"]) for letter in replay.dead_letters)

    if options.pos_csv is not None:
        started = time.perf_counter()
        notify("POS CSV Glue job (local Spark)", 0, 1)
        report.pos_csv = _run_pos_csv(options, lake_root, quarantine_dir / "pos_csv", ingested_at=now)
        report.quarantined["pos_csv"] = int(report.pos_csv.get("quarantined_total", 0))
        notify("POS CSV Glue job (local Spark)", 1, 1)
        report.step_seconds["POS CSV Glue job"] = time.perf_counter() - started

    started = time.perf_counter()
    notify("Athena named queries (DuckDB)", 0, 1)
    from lakewatch.local.queries import run_named_queries

    results = run_named_queries(lake_root, now, out / "queries")
    report.queries = {name: _row_count(result) for name, result in results.items()}
    notify("Athena named queries (DuckDB)", 1, 1)
    report.step_seconds["named queries"] = time.perf_counter() - started

    report.outputs = {
        "lake": str(lake_root),
        "quarantine": str(quarantine_dir),
        "alerts": str(out / "alerts.jsonl"),
        "queries": str(out / "queries"),
        "lambda logs": str(out / "lambda-logs.jsonl"),
        "summary": str(out / "summary.json"),
    }
    (out / "summary.json").write_bytes(orjson.dumps(asdict(report), option=orjson.OPT_INDENT_2))
    return report


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
        self.dead_letters: list[dict[str, Any]] = []
        self._sales_tail = aws.tail(local_aws.SALES_STREAM)
        self._job_runs_tail = aws.tail(local_aws.JOB_RUNS_STREAM)
        self._next_tick: datetime | None = None
        self._sequence = 0

    def run(self, payloads: list[bytes]) -> None:
        batch_size = self.options.batch_size
        total = len(payloads)
        for start in range(0, total, batch_size):
            batch = [(self._next_sequence_number(), payload) for payload in payloads[start : start + batch_size]]
            self._invoke_with_retries("transform", batch, local_aws.EVENTS_RAW_STREAM)
            self.report.transform_batches += 1
            self._collect_clean_records()
            self.notify("stream replay", min(start + batch_size, total), total)
        self._fire_ticks_until(self.now)

    def _next_sequence_number(self) -> str:
        self._sequence += 1
        return f"{49_000_000_000_000_000_000 + self._sequence:d}"

    def _collect_clean_records(self) -> None:
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
        first_run_end = min(_parse_clean_timestamp(row["ended_at"]) for row in rows)
        self._fire_ticks_until(first_run_end)
        for start in range(0, len(job_run_records), self.options.batch_size):
            chunk = job_run_records[start : start + self.options.batch_size]
            batch = [(record["SequenceNumber"], record["Data"]) for record in chunk]
            self._invoke_with_retries("job_monitor", batch, local_aws.JOB_RUNS_STREAM)
            self.report.job_monitor_batches += 1

    def _fire_ticks_until(self, until: datetime) -> None:
        """Fire the hourly overdue_check schedule at every whole hour up to `until` (at most `--now`)."""
        until = min(until, self.now)
        if self._next_tick is None:
            if not self.clean_rows[JOB_RUNS.name]:
                return
            first_end = min(_parse_clean_timestamp(row["ended_at"]) for row in self.clean_rows[JOB_RUNS.name])
            self._next_tick = first_end.replace(minute=0, second=0, microsecond=0) + SCHEDULE_INTERVAL
        handler = self.handlers["overdue_check"]
        while self._next_tick <= until:
            event = local_aws.scheduled_event(self._next_tick.strftime("%Y-%m-%dT%H:%M:%SZ"))
            self._timed("overdue_check", handler, event, local_aws.LambdaContext(function_name="overdue_check"))
            self.report.schedule_ticks += 1
            self._next_tick += SCHEDULE_INTERVAL

    def _timed(self, function: str, handler: Callable[..., Any], event: dict, context: local_aws.LambdaContext) -> Any:
        started = time.perf_counter()
        try:
            return handler(event, context)
        finally:
            report = self.report
            report.invocations[function] = report.invocations.get(function, 0) + 1
            report.function_seconds[function] = (
                report.function_seconds.get(function, 0.0) + time.perf_counter() - started
            )

    def _invoke_with_retries(self, function: str, batch: list[tuple[str, bytes]], stream_name: str) -> None:
        """Invoke like an event source mapping: retry from the first failure, then dead-letter the rest."""
        handler = self.handlers[function]
        pending = batch
        error = ""
        for attempt in range(self.options.max_retries + 1):
            event = local_aws.kinesis_event(pending, stream_name=stream_name, arrival_epoch=time.time())
            context = local_aws.LambdaContext(
                function_name=function, aws_request_id=f"local-{function}-{pending[0][0]}-{attempt}"
            )
            try:
                response = self._timed(function, handler, event, context) or {}
            except Exception as exc:  # an invocation error is what the mapping retries
                error = f"{type(exc).__name__}: {exc}"
                continue
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
            if not failed:
                return
            first_failed = next(index for index, (sequence, _) in enumerate(pending) if sequence in failed)
            pending = pending[first_failed:]
            error = f"{len(failed)} batch item failure(s)"
        self.dead_letters.append(
            {
                "function": function,
                "source_stream": stream_name,
                "sequence_numbers": [sequence for sequence, _ in pending],
                "attempts": self.options.max_retries + 1,
                "error": error,
            }
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


def _write_lake(table: Any, rows: list[dict[str, Any]], lake_root: Path) -> dict[str, int]:
    if not rows:
        return {}
    return write_rows(table, rows, lake_root, file_name="part-00000-firehose")


def _export_quarantine(aws: local_aws.LocalAws, quarantine_dir: Path) -> int:
    """Copy the quarantine objects out of moto's S3, keeping their keys; return the row count."""
    rows = 0
    for key, body in aws.quarantine_objects():
        target = quarantine_dir / key.removeprefix("quarantine/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        rows += sum(1 for line in body.splitlines() if line.strip())
    return rows


def _run_pos_csv(options: LocalRunOptions, lake_root: Path, quarantine_dir: Path, ingested_at: datetime) -> dict:
    from glue_jobs.pos_csv_etl import run_local
    from lakewatch.local.spark import local_spark_session

    spark = local_spark_session()
    counts = run_local(
        spark,
        options.pos_csv,
        lake_root,
        quarantine_dir,
        pii_key=options.pii_key.encode(),
        ingested_at=ingested_at,
    )
    return dict(counts)


@contextmanager
def _lambda_output_to(path: Path) -> Iterator[None]:
    """Send the handlers' stdout (Powertools JSON logs and EMF metrics) to a file, as CloudWatch would.

    EMF is printed to `sys.stdout` at flush time; the Powertools logger bound its handler to the stream it
    found at import, so that handler is pointed at the file too, and both are restored afterwards.
    """
    from lambda_common.observability import logger

    handler = logger.registered_handler
    with path.open("a", encoding="utf-8") as sink, redirect_stdout(sink):
        previous = handler.setStream(sink) if isinstance(handler, logging.StreamHandler) else None
        try:
            yield
        finally:
            if previous is not None:
                handler.setStream(previous)


def _reset_outputs(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise LocalRunError(f"--out exists and is not a directory: {out}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LocalRunError(f"cannot create --out directory {out}: {error.strerror}") from None
    for name in OWNED_OUTPUTS:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _write_jsonl(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))


def _parse_clean_timestamp(text: str) -> datetime:
    return parse_clean_timestamp(text).replace(tzinfo=UTC)


def _row_count(result: Any) -> int:
    rows = getattr(result, "rows", result)
    return len(rows)
