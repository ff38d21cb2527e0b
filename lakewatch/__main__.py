"""The local command line: `python -m lakewatch local-run | demo | report | bench | redrive | forecast-backtest`.

Every error the user can cause is one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from lakewatch.domain.reasons import Reason


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (plus the usual exit code 2) ending with where to look,
    instead of a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def _iso_datetime(text: str) -> datetime:
    """An ISO-8601 date-time as aware UTC (naive means UTC), inside the range the lake can hold."""
    from lakewatch.domain import tables

    try:
        # RFC 3339 allows a lower-case "z" as UTC, as the transform does; fromisoformat takes neither case.
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in {"Z", "z"} else text)
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        tables.accepted_event_times(value)  # the replay's clock must have an accepted range after it
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 date-time: {text!r}") from None
    except OverflowError:
        raise argparse.ArgumentTypeError(f"out of range: {text!r}") from None
    if value < tables.EARLIEST_EVENT_TIME:
        raise argparse.ArgumentTypeError(
            f"before {tables.EARLIEST_EVENT_TIME.date().isoformat()}, the first day the lake accepts: {text!r}"
        )
    return value


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _out_dir(text: str) -> Path:
    """An output directory: an empty argument is refused rather than read as the current directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a directory, got an empty path")
    return Path(text)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def _add_command(commands: Any, name: str, summary: str) -> argparse.ArgumentParser:
    """A subcommand whose one-line summary is both its entry in the command list and the opening of its --help."""
    return commands.add_parser(name, help=summary, description=summary[:1].upper() + summary[1:] + ".")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m lakewatch", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    local_run = _add_command(commands, "local-run", "replay events through the real handlers, offline")
    local_run.add_argument("--events", type=Path, required=True, help="JSON lines, one Kinesis record payload each")
    local_run.add_argument("--pos-csv", type=Path, help="directory of store point-of-sale CSV drops")
    local_run.add_argument("--out", type=_out_dir, required=True, help="output directory (lakewatch outputs replaced)")
    local_run.add_argument("--now", type=_iso_datetime, help="the clock for windows and schedules (default: now)")
    local_run.add_argument("--batch-size", type=_positive_int, default=100, help="records per Lambda invocation")
    local_run.add_argument(
        "--events-format",
        choices=("json", "base64"),
        default="json",
        help="json: one payload per line (default); base64: each line one record's bytes, e.g. a KPL aggregate",
    )
    local_run.add_argument(
        "--aws-events",
        type=Path,
        help="directory of EventBridge job state changes (events.jsonl) and GetJobRun answers, for job_events",
    )

    demo = _add_command(commands, "demo", "generate realistic synthetic data, run it, show what it found")
    demo.add_argument("--out", type=_out_dir, default=Path("out/demo"), help="output directory (default: out/demo)")
    demo.add_argument("--seed", type=int, default=2024, help="random seed of the synthetic data")
    demo.add_argument("--clients", type=_positive_int, default=100, help="clients running daily batches")
    demo.add_argument("--days", type=_positive_int, default=60, help="days of job-run history")

    report = _add_command(commands, "report", "the four dashboards over a local lake, as one offline report.html")
    report.add_argument("--lake", type=Path, required=True, help="the lake directory of a local-run (OUT/lake)")
    report.add_argument("--out", type=_out_dir, required=True, help="directory to write report.html into")
    report.add_argument("--now", type=_iso_datetime, help="end of the dashboards' ranges (default: the lake's latest)")
    report.add_argument("--client", help="client to open the client investigation on (default: the most alerted)")
    report.add_argument("--job", help="job of --client (default: its first job in the range)")

    redrive = _add_command(
        commands, "redrive", "re-submit on-failure batches and quarantine rows of a local-run output that now pass"
    )
    redrive.add_argument("--out", type=_out_dir, required=True, help="a local-run output directory")
    redrive.add_argument(
        "--source", choices=("all", "on-failure", "quarantine"), default="all", help="what to re-drive (default: all)"
    )
    redrive.add_argument(
        "--reason", action="append", choices=[str(reason) for reason in Reason], help="quarantine reason (repeatable)"
    )
    redrive.add_argument("--since", type=_iso_date, help="first day quarantined (YYYY-MM-DD, UTC)")
    redrive.add_argument("--until", type=_iso_date, help="last day quarantined (YYYY-MM-DD, UTC)")
    redrive.add_argument("--dry-run", action="store_true", help="count what would be re-submitted; change nothing")

    backtest = _add_command(
        commands, "forecast-backtest", "replay the hourly forecasts over a local lake and score them against baselines"
    )
    backtest.add_argument("--lake", type=_out_dir, required=True, help="a lake directory (local-run's OUT/lake)")
    backtest.add_argument("--now", type=_iso_datetime, help="last origin (default: the last hour of data)")

    bench = _add_command(commands, "bench", "transform throughput against the base64+orjson floor")
    bench.add_argument("--records", type=_positive_int, default=20_000, help="records to transform (default: 20000)")
    bench.add_argument("--batch-size", type=_positive_int, default=100, help="records per Lambda batch (default: 100)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from lakewatch.local.runner import LocalRunError

    commands = {
        "local-run": _local_run,
        "redrive": _redrive,
        "report": _report,
        "forecast-backtest": _forecast_backtest,
        "demo": _demo,
        "bench": _bench,
    }
    try:
        return commands[args.command](args)
    except LocalRunError as error:
        print(f"lakewatch: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lakewatch: interrupted", file=sys.stderr)
        return 130
    except OSError as error:
        # The machine said no (a full disk, a path that is a file, a permission): one line naming the path.
        where = f": {error.filename}" if error.filename else ""
        print(f"lakewatch: error: {error.strerror or error}{where}", file=sys.stderr)
        return 2


def _demo(args: argparse.Namespace) -> int:
    from lakewatch.domain import tables
    from lakewatch.local.demo import DEMO_NOW, run_demo
    from lakewatch.local.runner import LocalRunError

    # The demo's history ends on DEMO_NOW's day; a run before the lake's first accepted day would be quarantined
    # (and the demo's checks fail), one before year 1 cannot be dated at all.
    max_days = (DEMO_NOW.date() - tables.EARLIEST_EVENT_TIME.date()).days + 1
    if args.days > max_days:
        raise LocalRunError(
            f"--days {args.days} reaches back before {tables.EARLIEST_EVENT_TIME.date()}, the first day the lake "
            f"accepts: use at most {max_days}"
        )
    return run_demo(out=args.out, seed=args.seed, clients=args.clients, days=args.days)


def _bench(args: argparse.Namespace) -> int:
    from lakewatch.local.bench import run_bench

    print(orjson.dumps(run_bench(records=args.records, batch_size=args.batch_size)).decode())
    return 0


def _local_run(args: argparse.Namespace) -> int:
    from lakewatch.local.runner import LocalRunOptions, local_run

    report = local_run(
        LocalRunOptions(
            events=args.events,
            out=args.out,
            pos_csv=args.pos_csv,
            now=args.now,
            batch_size=args.batch_size,
            events_format=args.events_format,
            aws_events=args.aws_events,
        )
    )
    print(summary_line(report, args.out))
    return 0


def _report(args: argparse.Namespace) -> int:
    from lakewatch.report.build import ReportError, ReportOptions, build_report

    if args.job and not args.client:
        print("lakewatch: error: --job needs --client", file=sys.stderr)
        return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"lakewatch: error: --out exists and is not a directory: {args.out}", file=sys.stderr)
        return 2
    try:
        path = build_report(ReportOptions(lake=args.lake, out=args.out, now=args.now, client=args.client, job=args.job))
    except ReportError as error:
        print(f"lakewatch: error: {error}", file=sys.stderr)
        return 2
    print(path)
    return 0


def _forecast_backtest(args: argparse.Namespace) -> int:
    from lakewatch.local.forecasting import backtest_report

    if not args.lake.is_dir():
        print(f"lakewatch: error: --lake is not a directory: {args.lake}", file=sys.stderr)
        return 2
    print("\n".join(backtest_report(args.lake, args.now)))
    return 0


def _redrive(args: argparse.Namespace) -> int:
    from lakewatch.local.redrive import LocalRedriveOptions, redrive_local

    if args.since and args.until and args.since > args.until:
        print(f"lakewatch: error: --since {args.since} is after --until {args.until}", file=sys.stderr)
        return 2
    if args.source == "on-failure" and (args.reason or args.since or args.until):
        # They select quarantine rows only: silently ignored, they would make the report look filtered.
        print(
            "lakewatch: error: --reason, --since and --until select quarantine rows, not on-failure batches",
            file=sys.stderr,
        )
        return 2
    report = redrive_local(
        LocalRedriveOptions(
            out=args.out,
            on_failure=args.source in {"all", "on-failure"},
            quarantine=args.source in {"all", "quarantine"},
            reasons=tuple(args.reason) if args.reason else None,
            since=args.since,
            until=args.until,
            dry_run=args.dry_run,
        )
    )
    print(orjson.dumps(report.to_json()).decode())
    return 0


def summary_line(report: Any, out: Path) -> str:
    """The one-paragraph summary: where every input went, and whether the stream side adds up."""
    accounting = report.accounting
    lake = " + ".join(f"{count} {table}" for table, count in sorted(accounting.lake_rows.items()))
    quarantined = accounting.quarantine_rows.get("stream", 0)
    on_failure = accounting.on_failure_records.get("transform", 0)
    check = "adds up" if accounting.balanced else f"DOES NOT add up ({accounting.stream_accounted} accounted)"
    parts = [
        f"lakewatch: {accounting.input_lines} input lines = {lake} lake rows + {quarantined} quarantined "
        f"+ {on_failure} on-failure ({check})"
    ]
    if report.pos_csv is not None:
        parts.append(
            f"POS CSV: {accounting.pos_csv_lake_rows} sales lake rows, "
            f"{accounting.quarantine_rows.get('pos_csv', 0)} quarantined"
        )
    monitor = accounting.quarantine_rows.get("job_monitor", 0), accounting.on_failure_records.get("job_monitor", 0)
    if any(monitor):
        parts.append(f"job_monitor: {monitor[0]} quarantined, {monitor[1]} on-failure")
    forecasts = sum(int(summary.get("forecasts", 0)) for summary in getattr(report, "forecasts", {}).values())
    if forecasts:
        parts.append(f"{forecasts} forecasts")
    parts.append(f"{sum(report.alerts.values())} alerts; {len(report.queries)} queries")
    parts.append(f"{report.records_per_second:,.0f} records/s; outputs in {out}")
    return "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
