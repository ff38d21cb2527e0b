"""The local report: one self-contained page, the same figures as the panels' answers, its scripts the pinned ones."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from lakewatch.__main__ import main
from lakewatch.dashboards.definitions import DASHBOARDS, SALES
from lakewatch.local.queries import QueryResult
from lakewatch.report.build import HERE, VENDORED, ReportOptions, build_report
from lakewatch.report.figures import figure
from tests.unit.dashboards.lake import RANGE_TO, write_lake


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    return build_report(ReportOptions(lake=write_lake(out / "lake"), out=out, now=RANGE_TO))


def _data(report: Path) -> dict:
    text = report.read_text(encoding="utf-8")
    payload = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.DOTALL)[1]
    return json.loads(payload)


def test_the_page_loads_nothing_from_outside(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text)
    assert "sourceMappingURL" not in text


def test_every_dashboard_and_panel_is_in_the_page(report: Path) -> None:
    data = _data(report)
    assert [dashboard["name"] for dashboard in data["dashboards"]] == [dashboard.name for dashboard in DASHBOARDS]
    for dashboard, model in zip(DASHBOARDS, data["dashboards"], strict=True):
        assert [panel["name"] for panel in model["panels"]] == [panel.name for panel in dashboard.panels]
        for panel in model["panels"]:
            assert f'id="{dashboard.name}--{panel["name"]}"' in report.read_text(encoding="utf-8")


def test_the_client_investigation_opens_on_the_jobs_worth_a_look(report: Path) -> None:
    # globex has outliers (and failed in the last day), umbrella failed in the last day.
    presets = _data(report)["investigation"]["presets"]
    assert presets == [{"client": "globex", "job": "nightly_sales"}, {"client": "umbrella", "job": "weekly_export"}]
    investigation = _data(report)["dashboards"][1]
    duration = next(panel for panel in investigation["panels"] if panel["name"] == "duration")
    outliers = {
        key: [v for v in fig["series"][2]["values"] if v is not None] for key, fig in duration["variants"].items()
    }
    assert outliers["0|0"] == [83.33, 46.67]  # minutes
    assert outliers["0|1"] == [1.39, 0.78]  # hours


def test_a_long_time_series_becomes_one_series_per_value_gaps_zero_when_stacked() -> None:
    panel = next(panel for panel in SALES.panels if panel.name == "revenue_by_outlet")
    result = QueryResult("x", ("time", "outlet", "revenue"), [
        (datetime(2024, 6, 3), "Soho", Decimal("3.00")),
        (datetime(2024, 6, 5), "Camden", Decimal("2.00")),
        (datetime(2024, 6, 5), "Soho", Decimal("1.50")),
    ])  # fmt: skip
    drawn = figure(panel, result)
    assert drawn["labels"] == ["2024-06-03", "2024-06-05"]
    assert [(series["name"], series["values"]) for series in drawn["series"]] == [
        ("Soho", [3.0, 1.5]), ("Camden", [0, 2.0])
    ]  # fmt: skip


def test_an_empty_answer_is_no_data() -> None:
    assert figure(SALES.panels[1], QueryResult("x", ("time", "outlet", "revenue"), []))["empty"] is True


@pytest.mark.parametrize(("name", "version", "file_name", "sha256"), VENDORED)
def test_the_inlined_scripts_are_the_pinned_versions(name: str, version: str, file_name: str, sha256: str) -> None:
    data = (HERE / "vendor" / file_name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha256
    assert f"{name} v{version}".encode() in data[:200]


def test_the_command_line_writes_the_report_and_prints_its_path(tmp_path: Path, capsys) -> None:
    lake = write_lake(tmp_path / "lake")
    assert main(["report", "--lake", str(lake), "--out", str(tmp_path / "r"), "--now", "2024-06-15T12:00:00Z",
                 "--client", "acme"]) == 0  # fmt: skip
    assert capsys.readouterr().out.strip() == str(tmp_path / "r" / "report.html")
    assert _data(tmp_path / "r" / "report.html")["investigation"]["presets"][0] == {
        "client": "acme", "job": "nightly_sales"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lake", "{tmp}/missing"], "no lake directory"),
        (["--lake", "{tmp}/lake", "--client", "nobody"], "client 'nobody' has no run in the range"),
        (["--lake", "{tmp}/lake", "--job", "x"], "--job needs --client"),
    ],
)
def test_command_line_errors_are_one_line(tmp_path: Path, capsys, argv: list[str], message: str) -> None:
    write_lake(tmp_path / "lake")
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    assert main(["report", *args, "--out", str(tmp_path / "r"), "--now", "2024-06-15T12:00:00Z"]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_a_lake_with_sales_only_still_gives_every_dashboard(tmp_path: Path) -> None:
    from lakewatch.domain.tables import SALES as SALES_TABLE
    from lakewatch.local.lake import write_rows
    from tests.unit.dashboards.lake import sales

    write_rows(SALES_TABLE, sales()[0], tmp_path / "lake", file_name="part-00000")
    data = _data(build_report(ReportOptions(lake=tmp_path / "lake", out=tmp_path, now=RANGE_TO)))
    assert data["investigation"]["presets"] == []
    job_cost = data["dashboards"][3]
    assert all(variant["empty"] for panel in job_cost["panels"] for variant in panel["variants"].values())


def test_an_empty_lake_is_a_one_line_error(tmp_path: Path) -> None:
    from lakewatch.report.build import ReportError

    (tmp_path / "lake").mkdir()
    with pytest.raises(ReportError, match="no sales and no job runs"):
        build_report(ReportOptions(lake=tmp_path / "lake", out=tmp_path))


def test_the_forecast_interval_is_drawn_as_a_band_between_its_bounds(report: Path) -> None:
    sales = _data(report)["dashboards"][0]
    panel = next(panel for panel in sales["panels"] if panel["name"] == "orders_vs_forecast")
    drawn = panel["variants"][""]
    names = [series["name"] for series in drawn["series"]]
    assert names == ["orders", "forecast (1 h ahead)", "80% interval, low", "80% interval, high"]
    # The upper bound fills down to the lower one (Chart.js fills to a dataset by its index); nothing else fills.
    assert [series["fill_to"] for series in drawn["series"]] == [None, None, None, 2]
    assert [series["band_edge"] for series in drawn["series"]] == [False, False, True, True]  # no line of their own
    at_nine = drawn["labels"].index("2024-06-12 09:00")
    assert [series["values"][at_nine] for series in drawn["series"]] == [1, 1.4, 0.5, 2.8]


def test_a_job_whose_runs_took_no_time_neither_breaks_the_page_nor_shows_an_infinite_change(tmp_path: Path) -> None:
    # A run may last 0 s (started_at = ended_at). Last month's average of 0 s makes the month-over-month change a
    # division by zero: Athena and DuckDB answer Infinity (or NaN), which JSON cannot hold.
    from datetime import timedelta

    from lakewatch.domain.tables import JOB_RUNS
    from lakewatch.local.lake import write_rows
    from tests.unit.athena.factories import job_run

    runs = [job_run("zeroco", "instant", datetime(2024, 5, 20) + timedelta(days=day), 0) for day in range(5)]
    runs += [job_run("zeroco", "instant", datetime(2024, 6, 2) + timedelta(days=day), 60) for day in range(5)]
    runs.append(job_run("zeroco", "instant", datetime(2024, 6, 14, 23), 30, status="FAILED", run_id="failed"))
    write_rows(JOB_RUNS, runs, tmp_path / "lake", file_name="part-00000")
    page = build_report(ReportOptions(lake=tmp_path / "lake", out=tmp_path, now=RANGE_TO))
    [investigation] = [d for d in _data(page)["dashboards"] if d["name"] == "batch_client_investigation"]
    [mom] = [panel for panel in investigation["panels"] if panel["name"] == "mom_change"]
    tables = [variant for variant in mom["variants"].values()]
    assert tables and all(row[-1] is None for table in tables for row in table["rows"]), tables


def test_a_value_json_cannot_hold_is_drawn_as_a_gap_not_a_failed_page() -> None:
    # Any panel answering Infinity or NaN (Athena's double division by zero) must not stop the page being written.
    [panel] = [panel for panel in SALES.panels if panel.name == "store_performance"]
    result = QueryResult("p", ("outlet", "orders", "revenue", "avg_basket"),
                         [("Camden", 1, float("inf"), float("nan")), ("Soho", 2, Decimal("3.50"), -0.0)])  # fmt: skip
    drawn = json.loads(json.dumps(figure(panel, result), allow_nan=False))
    assert [series["values"] for series in drawn["series"]] == [[1, 2], [None, 3.5], [None, -0.0]]
