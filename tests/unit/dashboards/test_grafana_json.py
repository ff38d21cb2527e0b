"""The Grafana dashboard definitions are sound: unique panel ids, a grid where no two panels overlap, every
variable a query uses defined, every panel and variable on the lakewatch Athena data source, the SQL of each
panel the SQL file's, and the committed JSON files current."""

from __future__ import annotations

import itertools
import json
import re

import pytest

from lakewatch.dashboards.definitions import DASHBOARDS
from lakewatch.dashboards.grafana import DATASOURCE, GRAFANA_DIR, dashboard_json, investigation_path
from lakewatch.dashboards.model import GRID_COLUMNS, SQL_DIR, Dashboard

MODELS = {dashboard.name: dashboard_json(dashboard) for dashboard in DASHBOARDS}
#: Grafana's built-in variables (`$__timeFilter` and the other macros are the data source's, not variables).
_VARIABLE_USE = re.compile(r"\$\{(?!__)(\w+)(?::\w+)?\}|\$(?!__)([A-Za-z_]\w*)")


@pytest.fixture(params=DASHBOARDS, ids=lambda dashboard: dashboard.name)
def dashboard(request: pytest.FixtureRequest) -> Dashboard:
    return request.param


def test_four_dashboards_one_per_audience() -> None:
    assert [dashboard.name for dashboard in DASHBOARDS] == [
        "sales", "batch_client_investigation", "batch_monitoring", "job_cost"
    ]  # fmt: skip
    assert len({dashboard.uid for dashboard in DASHBOARDS}) == len(DASHBOARDS)


def test_panel_ids_are_unique(dashboard: Dashboard) -> None:
    ids = [panel["id"] for panel in MODELS[dashboard.name]["panels"]]
    assert len(ids) == len(set(ids))


def test_grid_positions_fit_and_never_overlap(dashboard: Dashboard) -> None:
    boxes = [panel["gridPos"] for panel in MODELS[dashboard.name]["panels"]]
    for box in boxes:
        assert box["x"] >= 0 and box["y"] >= 0 and box["w"] > 0 and box["h"] > 0
        assert box["x"] + box["w"] <= GRID_COLUMNS
    for first, second in itertools.combinations(boxes, 2):
        apart = (
            first["x"] + first["w"] <= second["x"]
            or second["x"] + second["w"] <= first["x"]
            or first["y"] + first["h"] <= second["y"]
            or second["y"] + second["h"] <= first["y"]
        )
        assert apart, (first, second)


def test_every_variable_used_is_defined(dashboard: Dashboard) -> None:
    model = MODELS[dashboard.name]
    defined = {variable["name"] for variable in model["templating"]["list"]}
    texts = [panel["title"] for panel in model["panels"]] + [panel["description"] for panel in model["panels"]]
    texts += [target["rawSQL"] for panel in model["panels"] for target in panel["targets"]]
    texts += [variable.get("definition", "") for variable in model["templating"]["list"]]
    used = {name for text in texts for match in _VARIABLE_USE.finditer(text) for name in match.groups() if name}
    assert used <= defined, used - defined


def test_a_variable_is_only_used_by_queries_after_it(dashboard: Dashboard) -> None:
    # Grafana resolves variables in order: a query variable may only depend on the ones before it.
    variables = MODELS[dashboard.name]["templating"]["list"]
    for index, variable in enumerate(variables):
        used = {name for match in _VARIABLE_USE.finditer(variable.get("definition", "")) for name in match.groups()}
        assert used - {None} <= {earlier["name"] for earlier in variables[:index]}


def test_every_panel_and_query_variable_uses_the_athena_data_source(dashboard: Dashboard) -> None:
    model = MODELS[dashboard.name]
    for panel in model["panels"]:
        assert panel["datasource"] == DATASOURCE
        assert [target["datasource"] for target in panel["targets"]] == [DATASOURCE]
    for variable in model["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE


def test_each_panels_sql_is_its_file_with_includes_resolved(dashboard: Dashboard) -> None:
    files = {path.stem for path in (SQL_DIR / dashboard.name).glob("*.sql")}
    used = {panel.name for panel in dashboard.panels} | {variable.sql_name for variable in dashboard.variables}
    assert files == used - {v.sql_name for v in dashboard.variables if v.options}, "an SQL file no panel uses"
    for panel, model in zip(dashboard.panels, MODELS[dashboard.name]["panels"], strict=True):
        assert model["targets"][0]["rawSQL"] == dashboard.sql(panel)


def test_the_time_range_picker_drives_every_panel(dashboard: Dashboard) -> None:
    for panel in MODELS[dashboard.name]["panels"]:
        assert re.search(r"\$__(rawTimeFrom|rawTimeTo|timeFrom|timeTo|timeFilter)\(", panel["targets"][0]["rawSQL"])


def test_the_committed_json_is_generated_from_the_definitions() -> None:
    # `python -m lakewatch.dashboards` regenerates them.
    for name, model in MODELS.items():
        committed = json.loads((GRAFANA_DIR / f"{name}.json").read_text(encoding="utf-8"))
        assert committed == model, f"dashboards/grafana/{name}.json is stale"


def test_investigation_links_preset_client_and_job() -> None:
    assert investigation_path("O'Brien & Co", "nightly sales") == (
        "/d/lakewatch-batch-client?var-client=O%27Brien+%26+Co&var-job=nightly+sales"
    )


def test_a_band_fills_down_to_a_series_grafana_can_find_by_its_display_name() -> None:
    # Grafana's `custom.fillBelowTo` names the other series as it is displayed (its label once overridden).
    bands = []
    for dashboard in DASHBOARDS:
        for panel in MODELS[dashboard.name]["panels"]:
            names = {
                override["matcher"]["options"]: next(
                    (p["value"] for p in override["properties"] if p["id"] == "displayName"),
                    override["matcher"]["options"],
                )
                for override in panel["fieldConfig"]["overrides"]
            }
            for override in panel["fieldConfig"]["overrides"]:
                for prop in override["properties"]:
                    if prop["id"] == "custom.fillBelowTo":
                        bands.append((panel["title"], override["matcher"]["options"], prop["value"]))
                        assert prop["value"] in names.values()
    assert bands == [("Orders per hour: actual vs forecast", "forecast_high", "80% interval, low")]
    [forecast_panel] = [panel for panel in MODELS["sales"]["panels"] if panel["title"] == bands[0][0]]
    edges = {
        override["matcher"]["options"]
        for override in forecast_panel["fieldConfig"]["overrides"]
        if {"id": "custom.lineWidth", "value": 0} in override["properties"]
    }
    assert edges == {"forecast_low", "forecast_high"}  # the band's edges draw no line of their own
