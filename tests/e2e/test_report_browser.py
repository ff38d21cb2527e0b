"""`report.html` opened in a real headless browser (Debian's `chromium`): no console or script error, every chart
drawn (a canvas holding pixels), and a screenshot saved under out/tests/report/ for a person to look at.

`.ci/run` installs chromium when it is missing; elsewhere the test is skipped with the reason (and `make test`
says so up front). On CI (CI=true) a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lakewatch.dashboards.definitions import DASHBOARDS
from lakewatch.report.build import ERROR_HOOK, ReportOptions, build_report
from tests.unit.dashboards.lake import RANGE_TO, write_lake

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = REPO_ROOT / "out" / "tests" / "report"
BROWSERS = ("chromium", "chromium-browser")


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    message = "chromium is not installed (apt-get install chromium; .ci/run installs it): browser test not run"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    return build_report(ReportOptions(lake=write_lake(out / "lake"), out=out, now=RANGE_TO))


def _chromium(report: Path, *extra: str, profile: Path) -> subprocess.CompletedProcess[str]:
    command = [
        _browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000",
        "--window-size=1400,4200", *extra, report.as_uri(),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=True)


def test_the_report_draws_every_chart_without_an_error(report: Path, tmp_path: Path) -> None:
    dom = _chromium(report, "--dump-dom", profile=tmp_path / "profile")
    html_tag = re.search(r"<html[^>]*>", dom.stdout)[0]
    body_tag = re.search(r"<body[^>]*>", dom.stdout)[0]
    assert "data-errors" not in html_tag, html_tag
    assert 'data-ready="true"' in body_tag, "the drawing script did not finish"
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    canvases = re.findall(r"<canvas[^>]*>", dom.stdout)
    charts = int(re.search(r'data-charts="(\d+)"', body_tag)[1])
    # Every time series, bar chart and heatmap of the four dashboards (stats and tables are HTML); the lake fills
    # each of them.
    drawn_kinds = {"timeseries", "barchart", "matrix"}
    assert charts == len(canvases) == sum(panel.kind in drawn_kinds for d in DASHBOARDS for panel in d.panels)
    assert all('data-drawn="true"' in canvas for canvas in canvases), canvases


def test_a_screenshot_of_the_report(report: Path, tmp_path: Path) -> None:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    screenshot = SCREENSHOT_DIR / "report.png"
    screenshot.unlink(missing_ok=True)
    _chromium(report, f"--screenshot={screenshot}", profile=tmp_path / "profile")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 50_000  # a page of charts, not a blank one


def test_the_page_keeps_a_script_error_where_the_test_looks(tmp_path: Path) -> None:
    # The check above would see a failing chart: a page with the report's error hook and a throwing script.
    page = tmp_path / "broken.html"
    page.write_text(f"<html><head><script>{ERROR_HOOK}</script></head><body><script>throw new Error('boom')"
                    "</script></body></html>")  # fmt: skip
    dom = _chromium(page, "--dump-dom", profile=tmp_path / "profile")
    assert "boom" in re.search(r"<html[^>]*>", dom.stdout)[0]


#: Names the lake legitimately stores (client, job, store, product and error text are kept as sent), each
#: written to run script if the page ever let it, or to end the page's data early.
HOSTILE_NAMES = (
    "<!--<script>",  # inside a <script> element this opens the "double escaped" state: its </script> no longer ends it
    "<script>document.documentElement.dataset.pwned='script'</script>",
    "<img src=x onerror=\"document.documentElement.dataset.pwned='img'\">",
    "javascript:document.documentElement.dataset.pwned='url'",
    'O\'Brien "Q" \\ 50%_off ${x} [[y]] a,b|c',
    "$__timeTo() co",  # the Athena plugin's macros run over the SQL after the variables are put in
    "\u202eevil\u200b \U0001f600",
)


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datetime import datetime

    from lakewatch.domain.tables import JOB_RUNS, SALES
    from lakewatch.local.lake import write_rows
    from tests.unit.athena.factories import job_run, sale

    out = tmp_path_factory.mktemp("hostile-report")
    lake = write_lake(out / "lake")
    runs, sales = [], []
    for index, name in enumerate(HOSTILE_NAMES):
        run = job_run(name, name, datetime(2024, 6, 15, 2, index), 60, status="FAILED", run_id=f"hostile-{index}")
        runs.append({**run, "error_message": name})
        sales.append(sale(f"hostile-{index}", datetime(2024, 6, 10, 10, index), store=name, items=[(name, 9.0, 50)]))
    write_rows(JOB_RUNS, runs, lake, file_name="part-hostile")
    write_rows(SALES, sales, lake, file_name="part-hostile")
    return build_report(ReportOptions(lake=lake, out=out, now=RANGE_TO))


def test_hostile_names_are_shown_as_text_and_never_run_or_break_the_page(hostile_report: Path, tmp_path: Path) -> None:
    dom = _chromium(hostile_report, "--dump-dom", profile=tmp_path / "profile")
    html_tag = re.search(r"<html[^>]*>", dom.stdout)[0]
    body_tag = re.search(r"<body[^>]*>", dom.stdout)[0]
    assert "data-pwned" not in html_tag, html_tag
    assert "data-errors" not in html_tag, html_tag
    assert 'data-ready="true"' in body_tag, "the drawing script did not finish"
    # The failed-runs table shows each name as the text it is (escaped in the DOM), in a cell of its own.
    for name in HOSTILE_NAMES:
        assert f"<td>{html.escape(name, quote=False)}</td>" in dom.stdout, name


def test_a_right_to_left_name_reverses_only_itself_in_the_client_job_picker(hostile_report: Path) -> None:
    # "\u202e" (right-to-left override) reorders what follows it up to the end of its paragraph; the picker's
    # "client / job" text keeps each name in a bidi isolate so the job after a client so named reads the right
    # way round.
    name = html.escape(HOSTILE_NAMES[-1], quote=False)
    assert f">\u2068{name}\u2069 / \u2068{name}\u2069</option>" in hostile_report.read_text(encoding="utf-8")
