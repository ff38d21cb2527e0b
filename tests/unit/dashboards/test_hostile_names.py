"""Client and job names the pipeline stores as sent (the wire contract only asks that they are not blank) reach
the client investigation dashboard as Grafana variables: each panel must still answer for exactly that client
and job, whatever the name holds, with the variables interpolated as Grafana does it."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest

from lakewatch.dashboards.definitions import BATCH_CLIENT_INVESTIGATION, JOB_COST
from lakewatch.dashboards.grafana import _INVESTIGATION_LINK, investigation_path
from lakewatch.dashboards.macros import QueryContext, apply_variables
from lakewatch.domain.tables import JOB_RUNS
from lakewatch.local.lake import write_rows
from lakewatch.local.queries import connect_lake
from lakewatch.report.panels import run_panel
from tests.unit.athena.factories import job_run
from tests.unit.dashboards.lake import RANGE_FROM, RANGE_TO

#: Names a producer may legitimately send. Each pair is (client, job).
HOSTILE = (
    ('Big "Data" Ltd', 'load "daily"'),  # Grafana's sqlstring writes " as \" (a backslash Athena keeps)
    ("O'Brien \\ Sons", "back\\slash\\"),
    ("$__timeTo() co", "job $__timeFilter(ended_at)"),  # Grafana's macros run after the variables
    ("${job} [[client]] $client", "${client:sqlstring}"),
    ("50%_off, a|b", "a,b|c"),
    ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>"),
    ("\u202eevil\u200b", "emoji \U0001f600"),
    ("a&var-client=b#c", "x?y=z+w"),
)
#: Names a hostile name must not be confused with: differing by case or a trailing space only.
DECOYS = (('big "data" ltd', 'load "daily"'), ('Big "Data" Ltd ', 'load "daily"'))
DAY = datetime(2024, 6, 10, 3, 0)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory):
    rows = []
    for index, (client, job) in enumerate(HOSTILE):
        # index + 1 failed runs and one success, each named apart so no two collide.
        for run in range(index + 1):
            rows.append(
                job_run(client, job, DAY + timedelta(hours=run), 60, status="FAILED", run_id=f"h{index}-f{run}")
            )
        rows.append(job_run(client, job, DAY - timedelta(days=1), 60, run_id=f"h{index}-ok"))
    for index, (client, job) in enumerate(DECOYS):
        rows.append(job_run(client, job, DAY, 60, status="FAILED", run_id=f"decoy{index}"))
    root = tmp_path_factory.mktemp("hostile") / "lake"
    write_rows(JOB_RUNS, rows, root, file_name="part-00000")
    connection = connect_lake(root)
    yield connection
    connection.close()


def _answer(lake, name: str, variables: dict[str, str]) -> list[dict]:
    panel = next(item for item in (*BATCH_CLIENT_INVESTIGATION.panels, *BATCH_CLIENT_INVESTIGATION.variables)
                 if item.name == name)  # fmt: skip
    return run_panel(lake, BATCH_CLIENT_INVESTIGATION, panel, QueryContext(RANGE_FROM, RANGE_TO, variables=variables))


@pytest.mark.parametrize(("client", "job"), HOSTILE, ids=range(len(HOSTILE)))
def test_the_investigation_answers_for_exactly_that_client_and_job(lake, client: str, job: str) -> None:
    index = HOSTILE.index((client, job))
    variables = {"client": client, "job": job, "unit": "60"}
    assert _answer(lake, "job", variables).records() == [{"job_name": job}]
    assert _answer(lake, "failed_runs", variables).records() == [{"failed_runs": index + 1}]
    assert _answer(lake, "avg_data_processed", variables).rows[0][0] == pytest.approx(1.0)


def test_grafanas_sqlstring_format_is_what_grafana_writes() -> None:
    # Grafana's formatRegistry: ' doubled, " escaped with a backslash (which Athena, like Trino, keeps as is).
    assert apply_variables("${c:sqlstring}", {"c": 'O\'Brien "B"'}) == "'O''Brien \\\"B\\\"'"


@pytest.mark.parametrize(("client", "job"), HOSTILE, ids=range(len(HOSTILE)))
def test_the_link_from_a_table_row_opens_that_client_and_job(client: str, job: str) -> None:
    # Grafana fills a data link's ${__data.fields.<name>[:format]} and encodes the whole URL with encodeURI
    # unless the link names a format itself; the investigation dashboard must then read the same names back.
    url = expand_data_link(_INVESTIGATION_LINK, {"client": client, "job_name": job})
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert query["var-client"] == [client]
    assert query["var-job"] == [job]
    query = parse_qs(urlsplit(investigation_path(client, job)).query, keep_blank_values=True)
    assert (query["var-client"], query["var-job"]) == ([client], [job])


def expand_data_link(url: str, fields: dict[str, str]) -> str:
    """Grafana's data-link interpolation (`getLinksSupplier`: `replaceVariables(href, vars, UriEncode)`), for the
    field variables and the built-in range variable the lakewatch links use."""
    import re
    from urllib.parse import quote

    def replace(match: re.Match[str]) -> str:
        name, form = match["name"], match["format"]
        if name == "__url_time_range":
            return "from=1&to=2"
        value = fields[name.removeprefix("__data.fields.")]
        if form == "percentencode":
            return quote(value, safe="-_.~")  # encodeURIComponentStrict
        assert form is None, form
        return quote(value, safe="-_.~!*'();/?:@&=+$,#")  # encodeURIStrict: encodeURI, then !'()* escaped too

    return re.sub(r"\$\{(?P<name>[\w.]+)(?::(?P<format>\w+))?\}", replace, url)


@pytest.mark.parametrize("panel_name", ["cost_by_job", "data_processed_by_job", "duration_by_job"])
def test_client_jobs_whose_labels_read_alike_are_never_added_together(tmp_path, panel_name: str) -> None:
    # "Smith / Jones" + "etl" and "Smith" + "Jones / etl" are both labelled "Smith / Jones / etl": two jobs, two bars.
    runs = [
        job_run("Smith / Jones", "etl", DAY, 3600, cost_usd=10.0, data_processed_gb=10.0),
        job_run("Smith", "Jones / etl", DAY, 7200, cost_usd=20.0, data_processed_gb=20.0),
    ]
    write_rows(JOB_RUNS, runs, tmp_path / "lake", file_name="part-00000")
    connection = connect_lake(tmp_path / "lake")
    try:
        [panel] = [panel for panel in JOB_COST.panels if panel.name == panel_name]
        rows = run_panel(connection, JOB_COST, panel, QueryContext(RANGE_FROM, RANGE_TO)).records()
    finally:
        connection.close()
    assert [(row["job"], float(row["succeeded"])) for row in rows] == [
        ("Smith / Jones / etl", 2.0 if panel_name == "duration_by_job" else 20.0),
        ("Smith / Jones / etl", 1.0 if panel_name == "duration_by_job" else 10.0),
    ]


def test_the_unit_variable_from_a_link_cannot_add_sql(lake) -> None:
    # Grafana keeps a custom variable's value from the URL even when it is none of the options (grafana/scenes
    # #632, as the old variable system did), so `?var-unit=...` is text from whoever wrote the link.
    from lakewatch.report.panels import athena_sql

    injected = "(SELECT count(*) FROM job_runs)"
    client, job = HOSTILE[0]
    context = QueryContext(RANGE_FROM, RANGE_TO, variables={"client": client, "job": job, "unit": injected})
    for name in ("duration", "mom_change"):
        [panel] = [panel for panel in BATCH_CLIENT_INVESTIGATION.panels if panel.name == name]
        assert "SELECT count" not in athena_sql(BATCH_CLIENT_INVESTIGATION, panel, context)
        with pytest.raises(duckdb.ConversionException):  # Athena: INVALID_CAST_ARGUMENT
            run_panel(lake, BATCH_CLIENT_INVESTIGATION, panel, context)


def test_every_variable_reaches_sql_percent_encoded_inside_a_literal() -> None:
    # The one safe form for any text a variable (or a link's var-<name>) may carry: see lakewatch.dashboards.macros.
    import re

    from lakewatch.dashboards.definitions import DASHBOARDS

    safe = re.compile(r"url_decode\('\$\{\w+:percentencode\}'\)|CAST\('\$\{\w+:percentencode\}' AS double\)")
    for dashboard in DASHBOARDS:
        for item in (*dashboard.panels, *dashboard.variables):
            if getattr(item, "options", None):
                continue
            rest = safe.sub("", dashboard.sql(item))
            assert not re.search(r"\$(?!__)\{?\w|\[\[", rest), f"{dashboard.name}/{item.name}: {rest}"
