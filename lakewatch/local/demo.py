"""`python -m lakewatch demo`: generate a café chain's sales and 100 clients' batch runs, run the whole
pipeline offline, and show what an analyst and an on-call engineer would look at, checked against what
was planted in the data.
"""

from __future__ import annotations

import csv
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from lakewatch.domain import pii
from lakewatch.local import aws_events, synthetic
from lakewatch.local.forecasting import print_headline as print_forecast_headline
from lakewatch.local.runner import (
    SPARK_LOG,
    LocalRunOptions,
    LocalSpark,
    RunReport,
    local_run,
    prepare_out_dir,
    short_gil_slices,
)
from lakewatch.report.build import REPORT_FILE, ReportOptions, build_report

#: The demo's simulated "now": a fixed instant so the demo shows the same findings on every machine. The
#: generated data ends on this day; at noon every healthy client's batch of the day has finished.
DEMO_NOW = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
SALES_DAYS = 45
POS_CSV_DAYS = 14
#: Stores whose tills stream to Kinesis, and café stores that still drop CSV files from their tills.
STREAMING_STORES = ("Leeds", "London Camden")
CSV_STORES = ("Chesterfield", "Uppingham")
#: Shown at the end of the demo; LAKE is replaced by the demo's lake directory.
_QUERY_HINT = (
    '.venv/bin/python -c "import duckdb; print(duckdb.sql(\\"SELECT store, count(*) AS sales '
    "FROM read_parquet('LAKE/sales/*/*.parquet', hive_partitioning=true) GROUP BY ALL\\\"))\""
)


def run_demo(*, out: Path, seed: int, clients: int, days: int, console: Console | None = None) -> int:
    console = console or Console()
    started = time.perf_counter()
    console.print(Rule("[bold]lakewatch demo[/]: the whole pipeline on synthetic data, AWS emulated in-process"))

    end = DEMO_NOW.date() + timedelta(days=1)  # generators cover [start, start + days)
    inputs = out / "input"
    shutil.rmtree(inputs, ignore_errors=True)  # a previous demo's drops would be replayed too
    prepare_out_dir(out)
    # The JVM boots (and warms Spark SQL up) on the other core while the data is generated; the POS Glue job
    # is the first to need it. Short GIL slices from here on: its thread talks to the JVM meanwhile.
    with short_gil_slices():
        spark = LocalSpark(out / SPARK_LOG)
        spark.start_in_background()
        with console.status("Generating synthetic data…"):
            sales = synthetic.generate_sales(
                start=end - timedelta(days=SALES_DAYS), days=SALES_DAYS, seed=seed, stores=STREAMING_STORES
            )
            job_runs = synthetic.generate_job_runs(
                start=end - timedelta(days=days), days=days, clients=clients, seed=seed
            )
            pos = synthetic.generate_pos_csv(
                start=end - timedelta(days=POS_CSV_DAYS), days=POS_CSV_DAYS, stores=CSV_STORES, seed=seed
            )
            # As base64 lines, so that a few sales can arrive KPL-aggregated; plus a morning of AWS job state changes.
            events_file = inputs / "events.b64"
            inputs.mkdir(parents=True, exist_ok=True)
            events_file.write_text(
                "\n".join(aws_events.demo_base64_events(synthetic.to_jsonl_lines(sales, job_runs))) + "\n"
            )
            aws_job_events = aws_events.demo_aws_events(DEMO_NOW)
            aws_dir = aws_job_events.write(inputs / "aws-events")
            pos_dir = synthetic.write_pos_files(inputs / "pos", pos.files)
        _print_inputs(
            console,
            sales=sales.manifest,
            job_runs=job_runs.manifest,
            pos=pos.manifest,
            aws_job_events=aws_job_events,
            events_file=events_file,
            pos_dir=pos_dir,
        )

        with Progress(
            TextColumn("[bold blue]{task.description:<32}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            tasks: dict[str, Any] = {}

            def on_progress(step: str, done: int, total: int) -> None:
                if step not in tasks:
                    tasks[step] = progress.add_task(step, total=total)
                progress.update(tasks[step], completed=done, total=total)

            report = local_run(
                LocalRunOptions(
                    events=events_file,
                    out=out,
                    pos_csv=pos_dir,
                    now=DEMO_NOW,
                    events_format="base64",
                    aws_events=aws_dir,
                ),
                progress=on_progress,
                spark=spark,
            )

    queries = {path.stem: _read_csv(path) for path in sorted((out / "queries").glob("*.csv"))}
    alerts = [orjson.loads(line) for line in (out / "alerts.jsonl").read_bytes().splitlines() if line]
    _print_accounting(console, report)
    _print_analyst_view(console, queries)
    _print_on_call_view(console, queries, alerts)
    leak_check = _LeakCheck([*sales.manifest.pii_strings, *job_runs.manifest.pii_strings, *pos.manifest.pii_strings])
    # The outputs written so far are searched for leaks while the report is drawn (its DuckDB queries leave the
    # GIL free most of that time); the report itself is searched once written.
    written = [path for path in _output_files(out) if path != out / REPORT_FILE]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="leak-check") as checker:
        earlier_leaks = checker.submit(leak_check, written)
        with console.status("Drawing the dashboards…"):
            report_path = build_report(ReportOptions(lake=out / "lake", out=out, now=DEMO_NOW))
        leaks = [*earlier_leaks.result(), *leak_check([report_path])]
    print_forecast_headline(console, report.forecasts, out / "lake")
    checks_passed = _print_checks(
        console,
        report,
        alerts=alerts,
        sales=sales.manifest,
        job_runs=job_runs.manifest,
        pos=pos.manifest,
        aws_job_events=aws_job_events,
        leaks=leaks,
    )
    _print_outputs(console, out, report, time.perf_counter() - started, report_path=report_path)
    return 0 if checks_passed else 1


# ------------------------------------------------------------------------------------------------ sections
def _print_inputs(
    console: Console,
    *,
    sales: Any,
    job_runs: Any,
    pos: Any,
    aws_job_events: aws_events.DemoAwsEvents,
    events_file: Path,
    pos_dir: Path,
) -> None:
    table = Table(box=box.SIMPLE_HEAD, title="Synthetic input", title_justify="left", show_edge=False)
    table.add_column("stream / drop")
    table.add_column("what", overflow="fold")
    table.add_column("planted trouble", overflow="fold")
    table.add_row(
        "sales events → Kinesis",
        f"{sales.valid_sales:,} sales over {sales.days} days: web + tills in {', '.join(sales.stores)}",
        f"{sum(sales.quarantine_by_reason.values())} malformed records, {sales.duplicate_lines} redeliveries, "
        "card numbers and names",
    )
    table.add_row(
        "job runs → Kinesis",
        f"{job_runs.runs:,} daily batch runs of {job_runs.clients} clients over {job_runs.days} days",
        f"{len(job_runs.failed_run_ids)} failures, {len(job_runs.spikes)} duration spikes, "
        f"{len(job_runs.stopped)} clients that stopped, {job_runs.duplicate_lines} redeliveries",
    )
    table.add_row(
        "AWS job state changes → EventBridge",
        f"{aws_job_events.runs} Glue, Step Functions, Batch and EMR Serverless runs on the last morning",
        f"{len(aws_job_events.failed_run_ids)} failed or aborted, {aws_job_events.duplicate_deliveries} delivered "
        "twice; a few sales arrive KPL-aggregated",
    )
    table.add_row(
        "till CSV drops → S3 landing/",
        f"{pos.files} files, {pos.valid_rows:,} sales from {', '.join(pos.stores)} over {pos.days} days",
        f"{sum(pos.quarantine_by_reason.values())} bad rows, {pos.blank_lines} blank lines, "
        f"{len(pos.redropped)} re-dropped file",
    )
    console.print(table)
    console.print(f"  inputs written to [cyan]{events_file}[/] and [cyan]{pos_dir}/[/]\n")


def _print_accounting(console: Console, report: RunReport) -> None:
    table = Table(box=box.SIMPLE_HEAD, title="Where every record went", title_justify="left", show_edge=False)
    table.add_column("outcome")
    table.add_column("records", justify="right")
    for table_name, count in sorted(report.clean_records.items()):
        table.add_row(f"lake/{table_name} (via clean stream → Firehose)", f"{count:,}")
    if report.pos_csv:
        table.add_row("lake/sales (via POS CSV Glue job)", f"{report.pos_csv.get('sales_written', 0):,}")
    quarantine_rows = _quarantine_reasons(Path(report.outputs["quarantine"]))
    for (source, reason), count in sorted(quarantine_rows.items()):
        table.add_row(f"quarantine/{source}: [yellow]{reason}[/]", f"{count:,}")
    for function, count in sorted(report.on_failure.items()):
        table.add_row(f"on-failure destination of {function}", f"{count:,}")
    console.print(table)
    accounting = report.accounting
    mark = "[green]✓[/]" if accounting.balanced else "[red]✗[/]"
    console.print(
        f"  {mark} {accounting.input_lines:,} stream records in, {accounting.stream_accounted:,} accounted for "
        "(lake + stream quarantine + transform on-failure); redeliveries are stored and counted once by every "
        f"query; replayed at {report.records_per_second:,.0f} records/s\n"
    )


def _print_analyst_view(console: Console, queries: dict[str, list[dict[str, str]]]) -> None:
    console.print(Rule("[bold]Analyst view[/] (Athena named queries, last 30 days)"))
    top = _table("top_products", ["product", "units", "revenue"], queries.get("top_products", [])[:8])
    stores = _table(
        "store_performance", ["store", "orders", "revenue", "avg_basket"], queries.get("store_performance", [])
    )
    console.print(Group(top, stores))
    returning = queries.get("returning_customers", [{}])
    if returning:
        row = returning[0]
        console.print(
            f"  returning_customers: {row.get('returning_customers', '?')} of {row.get('customers', '?')} "
            f"customers bought on two or more days (share {_number(row.get('returning_share'), 3)})\n"
        )


def _print_on_call_view(console: Console, queries: dict[str, list[dict[str, str]]], alerts: list[dict]) -> None:
    console.print(Rule("[bold]On-call view[/] (SNS alerts + job named queries)"))
    by_type: dict[str, list[dict]] = {}
    for alert in alerts:
        if alert.get("topic") == "alerts":
            by_type.setdefault(alert["attributes"].get("alert_type", "?"), []).append(alert)
    summary = Table(box=box.SIMPLE_HEAD, title="alerts.jsonl", title_justify="left", show_edge=False)
    summary.add_column("alert_type")
    summary.add_column("severity")
    summary.add_column("count", justify="right")
    summary.add_column("example subject", overflow="fold")
    for alert_type, items in sorted(by_type.items()):
        summary.add_row(alert_type, items[0]["attributes"].get("severity", "?"), str(len(items)), items[0]["subject"])
    console.print(summary)
    worst = sorted(
        queries.get("job_failures", []), key=lambda row: (-float(row.get("failed_cost_usd") or 0), row["client"])
    )[:5]
    console.print(
        _table(
            "job_failures: costliest failing jobs",
            ["client", "job_name", "runs", "failed_runs", "failure_rate", "failed_cost_usd"],
            worst,
        )
    )
    outliers = sorted(queries.get("duration_outliers", []), key=lambda row: -float(row.get("ratio") or 0))[:5]
    console.print(
        _table(
            "duration_outliers: biggest recent spikes",
            ["client", "job_name", "started_at", "duration_seconds", "baseline_seconds", "ratio"],
            outliers,
        )
    )
    console.print(
        _table(
            "overdue_clients",
            ["client", "job_name", "last_run_at", "hours_since_last_run"],
            queries.get("overdue_clients", []),
        )
    )


def _print_checks(
    console: Console,
    report: RunReport,
    *,
    alerts: list[dict],
    sales: Any,
    job_runs: Any,
    pos: Any,
    aws_job_events: aws_events.DemoAwsEvents,
    leaks: list[str],
) -> bool:
    """Compare what the pipeline found with what the generator planted; the demo fails if they disagree."""
    console.print(Rule("[bold]Checks[/] (pipeline findings vs what was planted)"))
    alerted: dict[str, list[dict]] = {}
    for alert in alerts:
        alerted.setdefault(alert["attributes"].get("alert_type", "?"), []).append(alert["message"])
    failed_alerted = sorted(message.get("run_id") for message in alerted.get("job_failed", []))
    outlier_alerted = {message.get("run_id") for message in alerted.get("duration_outlier", [])}
    overdue_alerted = sorted((m.get("client"), m.get("job_name")) for m in alerted.get("run_overdue", []))
    stopped = sorted((item.client, item.job_name) for item in job_runs.stopped)
    spikes = set(job_runs.spike_run_ids)
    pos_written = (report.pos_csv or {}).get("sales_written")
    checks = [
        (
            "one job_failed alert per failed or timed-out run (AWS job events included)",
            failed_alerted == sorted([*job_runs.failed_run_ids, *aws_job_events.failed_run_ids]),
            f"{len(failed_alerted)} alerts / {len(job_runs.failed_run_ids) + len(aws_job_events.failed_run_ids)} "
            "failed runs",
        ),
        (
            "a duration_outlier alert for every planted spike, none elsewhere",
            outlier_alerted == spikes,
            f"{len(outlier_alerted & spikes)}/{len(spikes)} spikes, {len(outlier_alerted - spikes)} false alarms",
        ),
        (
            "one run_overdue alert per stopped client/job",
            overdue_alerted == stopped,
            f"{len(overdue_alerted)} alerts / {len(stopped)} stopped",
        ),
        (
            "lake rows: every distinct valid sale and run, plus redeliveries",
            report.clean_records.get("sales", 0) == sales.valid_sales + sales.duplicate_lines
            and report.clean_records.get("job_runs", 0)
            == job_runs.runs + job_runs.duplicate_lines + aws_job_events.runs + aws_job_events.duplicate_deliveries,
            f"{report.clean_records.get('sales', 0):,} sales, {report.clean_records.get('job_runs', 0):,} runs",
        ),
        (
            "POS CSV: every distinct valid row stored once",
            pos_written == pos.valid_rows,
            f"{pos_written} / {pos.valid_rows} rows",
        ),
        (
            "no card number, customer name, id or e-mail anywhere under the output",
            not leaks,
            f"{len(leaks)} leaks" + (f": {leaks[:3]}" if leaks else ""),
        ),
    ]
    for label, passed, detail in checks:
        mark = "[green]✓[/]" if passed else "[red]✗[/]"
        console.print(f"  {mark} {label}  [dim]({detail})[/]")
    console.print()
    return all(passed for _, passed, _ in checks)


def _print_outputs(console: Console, out: Path, report: RunReport, seconds: float, *, report_path: Path) -> None:
    lines = Text()
    lines.append(f"  {'dashboards':<12}", style="bold")
    lines.append(f"{report_path}", style="bold cyan")
    lines.append("  (open it in a browser: sales, client investigation, monitoring, job cost)\n")
    for label, path in report.outputs.items():
        lines.append(f"  {label:<12}", style="bold")
        lines.append(f"{path}\n", style="cyan")
    steps = ", ".join(f"{step} {duration:.1f}s" for step, duration in report.step_seconds.items())
    query_hint = _QUERY_HINT.replace("LAKE", str(out / "lake"))
    body = Group(
        lines,
        Text(
            f"Ran in {seconds:.0f}s ({steps}; the POS job runs beside the replay, compaction beside the forecasts).\n",
            style="dim",
        ),
        Text("Query the local lake yourself:", style="bold"),
        Text(f"  {query_hint}\n", style="cyan"),
        Text("On AWS the same SQL files are saved queries in the lakewatch Athena workgroup:", style="bold"),
        Text("  Athena console → Query editor → workgroup 'lakewatch' → Saved queries", style="cyan"),
    )
    console.print(Panel(body, title="Outputs", title_align="left", border_style="green"))


# ------------------------------------------------------------------------------------------------ helpers
def _table(title: str, columns: list[str], rows: list[dict[str, str]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", show_edge=False)
    for column in columns:
        numeric = bool(rows) and _is_number(rows[0].get(column))
        table.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(_number(row.get(column)) for column in columns))
    if not rows:
        table.add_row(*(["—"] * len(columns)))
    return table


def _is_number(value: str | None) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _number(value: str | None, digits: int = 2) -> str:
    if value in (None, ""):
        return "—"
    if not _is_number(value):
        return str(value)
    number = float(value)  # type: ignore[arg-type]
    if number.is_integer() and "." not in str(value):
        return f"{int(number):,}"
    return f"{number:,.{digits}f}"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _quarantine_reasons(quarantine_dir: Path) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for path in quarantine_dir.rglob("*.jsonl"):
        source = path.relative_to(quarantine_dir).parts[0]
        for line in path.read_bytes().splitlines():
            if line.strip():
                key = (source, orjson.loads(line).get("reason", "?"))
                counts[key] = counts.get(key, 0) + 1
    return counts


def _output_files(out: Path) -> list[Path]:
    """Every file under `out` but the demo's generated inputs."""
    return [path for path in out.rglob("*") if path.is_file() and "input" not in path.relative_to(out).parts]


class _LeakCheck:
    """Finds the planted secrets in files, as "<secret> in <file>".

    Each file is searched once for all secrets (`_any_of`, built once per check); only a file that holds one is
    searched secret by secret, to name them. (Searching every file for each of the ~11,000 secrets took 13 s of
    the demo.) A Parquet file is searched in its decoded form (`_readable_bytes`): its compressed pages hide nearly
    every string from a byte search. A card number is also looked for as its bare digits, the form a leak that
    dropped the separators would take.
    """

    def __init__(self, secrets: list[str]) -> None:
        self.needles = sorted({needle.encode() for secret in secrets if secret for needle in _needles(secret)})
        self.any_needle = _any_of(self.needles) if self.needles else None

    def __call__(self, files: list[Path]) -> list[str]:
        if self.any_needle is None:
            return []
        leaks = []
        for path in files:
            content = _readable_bytes(path)
            if self.any_needle.search(content):
                leaks.extend(f"{needle.decode()} in {path}" for needle in self.needles if needle in content)
        return leaks


def _needles(secret: str) -> tuple[str, ...]:
    """What to look for of one secret: itself, and a card number's digits alone."""
    if pii.mask_text(secret) == pii.CARD_MASK:
        digits = "".join(char for char in secret if char.isdigit())
        if digits != secret:
            return secret, digits
    return (secret,)


def _readable_bytes(path: Path) -> bytes:
    """A file's bytes as a search should see them: a Parquet file rewritten without compression or dictionaries
    (every string value then stands whole in the bytes, nested ones included); any other file (or a file named
    .parquet that is none) as it is, followed by its JSON escapes undone when it has some."""
    if path.suffix == ".parquet":
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError):
            return path.read_bytes()
        plain = pa.BufferOutputStream()
        pq.write_table(table, plain, compression="none", use_dictionary=False)
        return plain.getvalue().to_pybytes()
    content = path.read_bytes()
    if content.find(b"\\u") >= 0:  # JSON that escaped non-ASCII text (report.html's data does): search it unescaped too
        content += b"\n" + _JSON_ESCAPE.sub(_unescaped, content)
    return content


#: A JSON escape of one UTF-16 code unit: a backslash, `u` and four hex digits.
_JSON_ESCAPE = re.compile(rb"\\u([0-9a-fA-F]{4})")


def _unescaped(match: re.Match[bytes]) -> bytes:
    return chr(int(match[1], 16)).encode("utf-8", "surrogatepass")


def _pii_leaks(out: Path, secrets: list[str]) -> list[str]:
    """Every planted secret found in an output file (the inputs aside), as "<secret> in <file>"."""
    return _LeakCheck(secrets)(_output_files(out))


def _any_of(needles: list[bytes]) -> re.Pattern[bytes]:
    """A regex matching any of `needles`, shaped as their trie, so the regex engine tries every needle at a
    position in one descent instead of one alternative after another."""
    trie: dict[int | None, dict] = {}
    for needle in needles:
        node = trie
        for byte in needle:
            node = node.setdefault(byte, {})
        node[None] = {}  # a needle ends here

    def pattern(node: dict[int | None, dict]) -> bytes:
        branches = [re.escape(bytes([byte])) + pattern(child) for byte, child in node.items() if byte is not None]
        if None in node:
            return b"(?:" + b"|".join(branches) + b")?" if branches else b""
        return branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"

    return re.compile(pattern(trie))
