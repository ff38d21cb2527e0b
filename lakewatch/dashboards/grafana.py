"""The dashboards as Grafana dashboard JSON (schema of Grafana 10/11), every panel on the Athena data source.

Plain dictionaries rather than a builder library: the JSON model is what Grafana stores and what its HTTP API
and file provisioning take, and the few panel kinds used here need no more. `python -m lakewatch.dashboards`
writes `dashboards/grafana/<name>.json` (for import into a self-hosted Grafana; a test keeps them current);
the CDK provisioning sends the same JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from lakewatch.dashboards.definitions import BATCH_CLIENT_INVESTIGATION, DASHBOARDS
from lakewatch.dashboards.model import Dashboard, Panel, Series, Variable

#: The data source plugin, and the uid the provisioning gives the lakewatch Athena data source (self-hosted
#: Grafana: the provisioning file in the README uses it too).
DATASOURCE_TYPE = "grafana-athena-datasource"
DATASOURCE_UID = "lakewatch-athena"
DATASOURCE = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
#: The plugin's query formats (`FormatOptions` in its types.ts).
FORMAT_TIME_SERIES = 0
FORMAT_TABLE = 1
_DEFAULT_CONNECTION = {"region": "__default", "catalog": "__default", "database": "__default"}
GRAFANA_DIR = Path(__file__).resolve().parents[2] / "dashboards" / "grafana"
SCHEMA_VERSION = 39


def investigation_path(client: str | None = None, job: str | None = None, **extra: str) -> str:
    """The client investigation dashboard's path, preset to a client and job (alert links use it)."""
    query = {f"var-{name}": value for name, value in (("client", client), ("job", job)) if value is not None}
    query.update(extra)
    return f"/d/{BATCH_CLIENT_INVESTIGATION.uid}" + (f"?{urlencode(query)}" if query else "")


#: Table cells linking a client job to its investigation (Grafana data-link variables, the range kept). The
#: names are percent-encoded as query values: Grafana otherwise encodes a data link with `encodeURI`, which keeps
#: `&`, `#`, `+` and `=`, so a client named `a&b` would open client `a`.
_INVESTIGATION_LINK = (
    f"/d/{BATCH_CLIENT_INVESTIGATION.uid}?var-client=${{__data.fields.client:percentencode}}"
    "&var-job=${__data.fields.job_name:percentencode}&${__url_time_range}"
)


def _target(sql: str, *, time_series: bool) -> dict[str, Any]:
    return {
        "refId": "A",
        "datasource": DATASOURCE,
        "rawSQL": sql,
        "format": FORMAT_TIME_SERIES if time_series else FORMAT_TABLE,
        "connectionArgs": dict(_DEFAULT_CONNECTION),
    }


def _override(panel: Panel, name: str, series: Series) -> dict[str, Any]:
    properties: list[dict[str, Any]] = []
    if series.label:
        properties.append({"id": "displayName", "value": series.label})
    if series.unit:
        properties.append({"id": "unit", "value": series.unit})
    if series.color:
        properties.append({"id": "color", "value": {"mode": "fixed", "fixedColor": series.color}})
    if series.points:
        properties += [
            {"id": "custom.drawStyle", "value": "points"},
            {"id": "custom.pointSize", "value": 12},
            {"id": "custom.stacking", "value": {"mode": "none", "group": "A"}},
        ]
    if series.dashed:
        properties.append({"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}})
    if series.fill_below_to:
        # Grafana finds the other series by its display name, so a label given to it is what is named here.
        properties += [
            {"id": "custom.fillBelowTo", "value": panel.display_name(series.fill_below_to)},
            {"id": "custom.fillOpacity", "value": 20},
        ]
    if name in panel.band_edges():
        properties.append({"id": "custom.lineWidth", "value": 0})
    return {"matcher": {"id": "byName", "options": name}, "properties": properties}


def _panel_options(panel: Panel) -> tuple[str, dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(Grafana panel type, options, fieldConfig.defaults.custom, transformations) of a panel kind."""
    legend = {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []}
    if panel.kind == "timeseries":
        stacking = {"mode": "normal" if panel.stacked else "none", "group": "A"}
        custom = {"drawStyle": "line", "lineWidth": 2, "fillOpacity": 20 if panel.stacked else 0,
                  "showPoints": "auto", "spanNulls": False, "stacking": stacking}  # fmt: skip
        return "timeseries", {"legend": legend, "tooltip": {"mode": "multi", "sort": "none"}}, custom, []
    if panel.kind == "barchart":
        options = {"xField": panel.category, "orientation": "horizontal" if panel.horizontal else "vertical",
                   "stacking": "normal" if panel.stacked else "none", "showValue": "auto", "legend": legend,
                   "tooltip": {"mode": "multi", "sort": "none"}, "xTickLabelMaxLength": 30}  # fmt: skip
        return "barchart", options, {"fillOpacity": 80, "lineWidth": 1}, []
    if panel.kind == "stat":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "/.*/", "values": False},
            "textMode": "value_and_name",
            "colorMode": "none",
            "graphMode": "none",
            "justifyMode": "auto",
        }
        return "stat", options, {}, []
    if panel.kind == "matrix":
        assert panel.matrix is not None
        column, row, value = panel.matrix
        matrix = {"id": "groupingToMatrix", "options": {"columnField": column, "rowField": row, "valueField": value}}
        custom = {"cellOptions": {"type": "color-background", "mode": "gradient"}, "align": "center"}
        return "table", {"showHeader": True, "cellHeight": "sm"}, custom, [matrix]
    return "table", {"showHeader": True, "cellHeight": "sm"}, {"filterable": True}, []


def panel_json(dashboard: Dashboard, panel: Panel, panel_id: int, grid: dict[str, int]) -> dict[str, Any]:
    panel_type, options, custom, transformations = _panel_options(panel)
    defaults: dict[str, Any] = {"unit": panel.unit, "custom": custom, "color": {"mode": "palette-classic"}}
    if panel.kind == "matrix":
        defaults["color"] = {"mode": "continuous-GrYlRd"}
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    overrides = [_override(panel, name, series) for name, series in panel.series.items()]
    if panel.links_to_investigation:
        overrides.append({
            "matcher": {"id": "byName", "options": "client"},
            "properties": [{"id": "links", "value": [{"title": "Investigate this client job",
                                                      "url": _INVESTIGATION_LINK}]}],
        })  # fmt: skip
    return {
        "id": panel_id,
        "type": panel_type,
        "title": panel.title,
        "description": panel.description,
        "gridPos": grid,
        "datasource": DATASOURCE,
        "targets": [_target(dashboard.sql(panel), time_series=panel.is_time_series)],
        "fieldConfig": {"defaults": defaults, "overrides": overrides},
        "options": options,
        "transformations": transformations,
    }


def variable_json(dashboard: Dashboard, variable: Variable) -> dict[str, Any]:
    base = {"name": variable.name, "label": variable.label, "hide": 0, "multi": False, "includeAll": False}
    if variable.options is not None:
        options = [
            {"text": text, "value": value, "selected": index == 0}
            for index, (text, value) in enumerate(variable.options)
        ]
        first = options[0]
        return {
            **base,
            # Only the options (Grafana versions with the setting, grafana/scenes#956; others ignore it): the panels
            # still never put the value into SQL unquoted, as a link may carry any text in `var-<name>`.
            "allowCustomValue": False,
            "type": "custom",
            "query": ",".join(f"{text} : {value}" for text, value in variable.options),
            "options": options,
            "current": {"text": first["text"], "value": first["value"], "selected": True},
        }
    sql = dashboard.sql(variable)
    return {
        **base,
        "type": "query",
        "datasource": DATASOURCE,
        "query": _target(sql, time_series=False),
        "definition": sql,
        "refresh": 2,  # on time range change: the choices are the clients/jobs that ran in the range
        "sort": 1,
        "current": {},
        "options": [],
    }


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    """The Grafana dashboard model: ids in reading order, grid positions from the definition's layout."""
    panels = [panel_json(dashboard, panel, index, grid) for index, (panel, grid) in enumerate(dashboard.grid(), 1)]
    links = [
        {"title": other.title, "type": "link", "url": f"/d/{other.uid}", "keepTime": True, "targetBlank": False}
        for other in DASHBOARDS
        if other is not dashboard
    ]
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["lakewatch", dashboard.audience],
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": f"now-{dashboard.default_range_days}d", "to": "now"},
        "refresh": "",
        "templating": {"list": [variable_json(dashboard, variable) for variable in dashboard.variables]},
        "links": links,
        "panels": panels,
    }


def render_all(directory: Path = GRAFANA_DIR) -> list[Path]:
    """Write `<name>.json` for every dashboard (sorted keys, stable bytes); returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for dashboard in DASHBOARDS:
        path = directory / f"{dashboard.name}.json"
        path.write_text(json.dumps(dashboard_json(dashboard), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
