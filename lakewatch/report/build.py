"""`python -m lakewatch report`: the four dashboards, drawn from the same panel SQL over the local lake, as one
self-contained `report.html` that opens offline.

Each dashboard covers its default range (as Grafana opens it) up to `now`: by default the latest time in the
lake, so an old lake still shows its data. The client investigation is rendered for a few client jobs worth a
look (those with outliers or a failure in the last day, most first; or the one asked for), each in minutes and
in hours, and the page switches between them as Grafana's variables would.

Charts are drawn by Chart.js (with its matrix plugin for the hour x weekday heatmap), inlined from
`vendor/`: about 215 kB for canvas charts with hover tooltips, stacking, markers and a heatmap, where ECharts
is about 1 MB and Plotly 4 MB, and uPlot draws neither bars nor heatmaps without extra code.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lakewatch.dashboards.definitions import BATCH_CLIENT_INVESTIGATION, BATCH_MONITORING, DASHBOARDS
from lakewatch.dashboards.grafana import dashboard_json
from lakewatch.dashboards.macros import QueryContext
from lakewatch.dashboards.model import GRID_COLUMNS, Dashboard
from lakewatch.local.queries import connect_lake
from lakewatch.report.figures import figure
from lakewatch.report.panels import run_panel

HERE = Path(__file__).resolve().parent
#: The inlined scripts, pinned: name, version, file, SHA-256 (a test checks the files against these).
VENDORED = (
    ("Chart.js", "4.6.1", "chart-4.6.1.umd.min.js", "87364cc2b2a76a6684929e7d6b80b18a897794db38400caff1fcf1791c6925d2"),
    (
        "chartjs-chart-matrix",
        "3.1.0",
        "chartjs-chart-matrix-3.1.0.min.js",
        "7e0cafdcfed5636319fb779f209230d38b6a3703b4b5f462ecb501fc6008f661",
    ),
)
UNITS = (("minutes", "60"), ("hours", "3600"))
MAX_PRESETS = 8
REPORT_FILE = "report.html"
#: Pixel height of one Grafana grid row.
ROW_PIXELS = 30


class ReportError(ValueError):
    """The report cannot be made from this lake (one line for the user)."""


@dataclass(frozen=True, slots=True)
class ReportOptions:
    lake: Path
    out: Path
    now: datetime | None = None
    client: str | None = None
    job: str | None = None


def vendored_script(file_name: str, sha256: str) -> str:
    data = (HERE / "vendor" / file_name).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ReportError(f"vendor/{file_name} is not the pinned file")
    text = data.decode("utf-8")
    return "\n".join(line for line in text.splitlines() if not line.startswith("//# sourceMappingURL="))


def _latest_time(connection: Any) -> datetime:
    [(latest,)] = connection.execute(
        "SELECT max(t) FROM (SELECT max(event_time) AS t FROM sales UNION ALL SELECT max(ended_at) FROM job_runs)"
    ).fetchall()
    if latest is None:
        raise ReportError("the lake holds no sales and no job runs")
    return latest.replace(tzinfo=UTC)


def _range(dashboard: Dashboard, now: datetime) -> tuple[datetime, datetime]:
    return now - timedelta(days=dashboard.default_range_days), now


def _presets(connection: Any, now: datetime, options: ReportOptions) -> list[tuple[str, str]]:
    """Client jobs worth opening: the one asked for, then those with outliers, then the latest failures."""
    time_from, time_to = _range(BATCH_CLIENT_INVESTIGATION, now)
    context = QueryContext(time_from, time_to)
    found: list[tuple[str, str]] = []
    if options.client:
        job = options.job
        if job is None:
            variables = {"client": options.client}
            [job_variable] = [v for v in BATCH_CLIENT_INVESTIGATION.variables if v.name == "job"]
            jobs = run_panel(connection, BATCH_CLIENT_INVESTIGATION, job_variable, _with(context, variables)).rows
            if not jobs:
                raise ReportError(f"client {options.client!r} has no run in the range")
            job = jobs[0][0]
        found.append((options.client, job))
    for panel_name in ("far_above_baseline", "failed_last_24h", "failed_runs"):
        [panel] = [panel for panel in BATCH_MONITORING.panels if panel.name == panel_name]
        for row in run_panel(connection, BATCH_MONITORING, panel, context).records():
            found.append((row["client"], row["job_name"]))
    if not found:
        [client_variable, job_variable] = BATCH_CLIENT_INVESTIGATION.variables[:2]
        clients = run_panel(connection, BATCH_CLIENT_INVESTIGATION, client_variable, context).rows
        for (client,) in clients[:1]:
            jobs = run_panel(connection, BATCH_CLIENT_INVESTIGATION, job_variable, _with(context, {"client": client}))
            found.extend((client, job) for (job,) in jobs.rows[:1])
    return list(dict.fromkeys(found))[:MAX_PRESETS]


def _with(context: QueryContext, variables: dict[str, str]) -> QueryContext:
    return QueryContext(context.time_from, context.time_to, variables=variables)


def _dashboard_data(connection: Any, dashboard: Dashboard, now: datetime, presets: list[tuple[str, str]]) -> dict:
    time_from, time_to = _range(dashboard, now)
    if dashboard is BATCH_CLIENT_INVESTIGATION:
        states = {
            f"{index}|{unit_index}": {"client": client, "job": job, "unit": unit}
            for index, (client, job) in enumerate(presets)
            for unit_index, (_text, unit) in enumerate(UNITS)
        }
    else:
        states = {"": {}}
    model = dashboard_json(dashboard)
    panels = []
    for (panel, grid), panel_model in zip(dashboard.grid(), model["panels"], strict=True):
        uses_unit = "${unit" in dashboard.sql(panel)  # ${unit} or ${unit:<format>}
        variants: dict[str, Any] = {}
        for key, variables in states.items():
            if not uses_unit and key.endswith("|1"):
                variants[key] = variants[key[:-1] + "0"]  # the same answer in either unit
                continue
            result = run_panel(connection, dashboard, panel, QueryContext(time_from, time_to, variables=variables))
            variants[key] = figure(panel, result)
        panels.append(
            {"name": panel.name, "title": panel.title, "description": panel.description, "grid": grid,
             "id": panel_model["id"], "variants": variants}
        )  # fmt: skip
    return {
        "name": dashboard.name,
        "title": dashboard.title,
        "description": dashboard.description,
        "audience": dashboard.audience,
        "range": [time_from.strftime("%Y-%m-%d %H:%M"), time_to.strftime("%Y-%m-%d %H:%M")],
        "panels": panels,
    }


def collect(options: ReportOptions) -> dict[str, Any]:
    """Every panel of every dashboard answered over the lake: the report's data."""
    if not options.lake.is_dir():
        raise ReportError(f"no lake directory at {options.lake}")
    connection = connect_lake(options.lake)
    try:
        now = options.now.astimezone(UTC) if options.now else _latest_time(connection)
        presets = _presets(connection, now, options)
        dashboards = [_dashboard_data(connection, dashboard, now, presets) for dashboard in DASHBOARDS]
    finally:
        connection.close()
    return {
        "now": now.strftime("%Y-%m-%d %H:%M UTC"),
        "dashboards": dashboards,
        "investigation": {
            "presets": [{"client": client, "job": job} for client, job in presets],
            "units": [text for text, _value in UNITS],
        },
    }


def _panel_html(dashboard: dict[str, Any], panel: dict[str, Any]) -> str:
    grid = panel["grid"]
    element_id = f"{dashboard['name']}--{panel['name']}"
    style = f"grid-column: {grid['x'] + 1} / span {grid['w']}; grid-row: {grid['y'] + 1} / span {grid['h']};"
    description = html.escape(panel["description"])
    return (
        f'<section class="panel" style="{style}"><h3 id="{element_id}--title" title="{description}">'
        f"{html.escape(panel['title'])}</h3>"
        f'<div class="panel-body" id="{element_id}"></div></section>'
    )


def _isolated(name: str) -> str:
    """A stored name as option text, escaped and in a bidi isolate (FSI ... PDI): a name holding a right-to-left
    override would otherwise also reverse the " / job" after it (an option can hold no <bdi> element)."""
    return f"\u2068{html.escape(name)}\u2069"


def _variables_html(data: dict[str, Any]) -> str:
    presets = data["investigation"]["presets"]
    options = "".join(
        f'<option value="{index}">{_isolated(preset["client"])} / {_isolated(preset["job"])}</option>'
        for index, preset in enumerate(presets)
    )
    units = "".join(
        f'<option value="{index}">{html.escape(text)}</option>'
        for index, text in enumerate(data["investigation"]["units"])
    )
    return (
        f'<div class="variables"><label>client / job <select id="preset">{options}</select></label>'
        f'<label>unit <select id="unit">{units}</select></label></div>'
    )


def render_html(data: dict[str, Any]) -> str:
    """The page: one section per dashboard (the nav bar jumps between them), the data and scripts inlined."""
    nav = "".join(
        f'<a href="#{dashboard["name"]}">{html.escape(dashboard["title"].split("·")[-1].strip())}</a>'
        for dashboard in data["dashboards"]
    )
    sections = []
    for dashboard in data["dashboards"]:
        rows = max(panel["grid"]["y"] + panel["grid"]["h"] for panel in dashboard["panels"])
        variables = _variables_html(data) if dashboard["name"] == BATCH_CLIENT_INVESTIGATION.name else ""
        panels = "".join(_panel_html(dashboard, panel) for panel in dashboard["panels"])
        sections.append(
            f'<article class="dashboard" id="{dashboard["name"]}"><header><h2>{html.escape(dashboard["title"])}</h2>'
            f'<p class="meta">for {html.escape(dashboard["audience"])} · {dashboard["range"][0]} to '
            f"{dashboard['range'][1]} UTC</p><p>{html.escape(dashboard['description'])}</p>{variables}</header>"
            f'<div class="grid" style="grid-template-columns: repeat({GRID_COLUMNS}, 1fr); '
            f'grid-template-rows: repeat({rows}, {ROW_PIXELS}px);">{panels}</div></article>'
        )
    # Every "<" as its JSON escape: inside <script> a "</script>" would end the element early, and a "<!--" then
    # "<script>" (a client named so) would keep the real "</script>" from ending it; JSON.parse reads both back.
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    scripts = "\n".join(f"<script>{vendored_script(file, sha)}</script>" for _n, _v, file, sha in VENDORED)
    css = (HERE / "report.css").read_text(encoding="utf-8")
    script = (HERE / "report.js").read_text(encoding="utf-8")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>lakewatch report · {html.escape(data['now'])}</title><style>{css}</style>"
        f"<script>{ERROR_HOOK}</script></head><body>"
        f'<nav><strong>lakewatch</strong>{nav}<span class="now">as of {html.escape(data["now"])}</span></nav>'
        f"<main>{''.join(sections)}</main>"
        f'<script type="application/json" id="report-data">{payload}</script>{scripts}<script>{script}</script>'
        "</body></html>\n"
    )


#: First script of the page: any error (a script that fails to load, a chart that throws) is kept on <html>,
#: where a test, or a person with the inspector, finds it.
ERROR_HOOK = (
    "window.lakewatchErrors=[];function lakewatchError(m){window.lakewatchErrors.push(String(m));"
    "document.documentElement.setAttribute('data-errors',JSON.stringify(window.lakewatchErrors));}"
    "window.addEventListener('error',function(e){lakewatchError(e.message);});"
    "window.addEventListener('unhandledrejection',function(e){lakewatchError(e.reason);});"
    "(function(){var original=console.error;console.error=function(){lakewatchError("
    "Array.prototype.join.call(arguments,' '));original.apply(console,arguments);};})();"
)


def build_report(options: ReportOptions) -> Path:
    """Write `OUT/report.html`; returns its path."""
    page = render_html(collect(options))
    options.out.mkdir(parents=True, exist_ok=True)
    path = options.out / REPORT_FILE
    path.write_text(page, encoding="utf-8")
    return path
