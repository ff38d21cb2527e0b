"""The macro expander produces what the Grafana Athena data source sends to Athena.

The expected texts are the plugin's own test cases (`pkg/athena/macros_test.go` of grafana/athena-datasource),
plus the plugin SDK's argument parsing and interpolation rules the panels rely on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from lakewatch.dashboards.macros import MacroError, QueryContext, apply_variables, expand, expand_macros, go_float

RANGE = QueryContext(time_from=datetime(2021, 6, 23, 0, 0, tzinfo=UTC), time_to=datetime(2021, 6, 23, 1, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("$__timeGroup(starttime, '1m')", "FROM_UNIXTIME(FLOOR(TO_UNIXTIME(starttime)/60)*60)"),
        ("$__timeGroup(starttime, '1m', 'yyyy-MM-dd HH:mm:ss')",
         "FROM_UNIXTIME(FLOOR(TO_UNIXTIME(TIMESTAMP starttime)/60)*60)"),
        ("$__timeGroup(starttime, '1m', 'yyyy-MM-dd'T'HH:mm:ss''Z')",
         "FROM_UNIXTIME(FLOOR(TO_UNIXTIME(parse_datetime(starttime,'yyyy-MM-dd'T'HH:mm:ss''Z'))/60)*60)"),
        ("$__parseTime(starttime, 'yyyy-MM-dd HH:mm:ss')", "TIMESTAMP starttime"),
        ("$__timeFilter(starttime)",
         "starttime BETWEEN TIMESTAMP '2021-06-23 00:00:00' AND TIMESTAMP '2021-06-23 01:00:00'"),
        ("$__timeFilter(starttime, 'yyyy-MM-dd HH:mm:ss')",
         "TIMESTAMP starttime BETWEEN TIMESTAMP '2021-06-23 00:00:00' AND TIMESTAMP '2021-06-23 01:00:00'"),
        ("$__timeFilter(starttime, 'yyyy-MM-dd''T''HH:mm:ss''+0000')",
         "parse_datetime(starttime,'yyyy-MM-dd''T''HH:mm:ss''+0000') BETWEEN TIMESTAMP '2021-06-23 00:00:00' "
         "AND TIMESTAMP '2021-06-23 01:00:00'"),
        ("$__rawTimeFrom('yyyy/MM/dd/HH/mm/ss')", "'2021/06/23/00/00/00'"),
        ("$__timeFrom()", "TIMESTAMP '2021-06-23 00:00:00'"),
        ("$__rawTimeTo('yyyy/MM/dd/HH/mm/ss')", "'2021/06/23/01/00/00'"),
        ("$__timeTo()", "TIMESTAMP '2021-06-23 01:00:00'"),
        ("$__unixEpochFilter(time)", "time BETWEEN 1624406400 AND 1624410000"),
        ("$__unixEpochGroup(time, 5m)", "FROM_UNIXTIME(FLOOR(time/300)*300)"),
    ],
)  # fmt: skip
def test_the_plugins_own_cases(sql: str, expected: str) -> None:
    assert expand_macros(sql, RANGE) == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # No argument, an empty one, or none at all: the plugin's default format, quotes kept (a string literal).
        ("$__rawTimeFrom()", "'2021-06-23 00:00:00'"),
        ("$__rawTimeTo", "'2021-06-23 01:00:00'"),
        ("dt BETWEEN $__rawTimeFrom('yyyy-MM-dd') AND $__rawTimeTo('yyyy-MM-dd')",
         "dt BETWEEN '2021-06-23' AND '2021-06-23'"),
        ("$__dateFilter(day)", "day BETWEEN date '2021-06-23' AND date '2021-06-23'"),
        # Day intervals: Go's %v of 86400 and of 30 days (exponent form from a million on).
        ("$__timeGroup(t, '1d')", "FROM_UNIXTIME(FLOOR(TO_UNIXTIME(t)/86400)*86400)"),
        ("$__timeGroup(t, '30d')", "FROM_UNIXTIME(FLOOR(TO_UNIXTIME(t)/2.592e+06)*2.592e+06)"),
        ("$__timeGroup(t, '1h30m')", "FROM_UNIXTIME(FLOOR(TO_UNIXTIME(t)/5400)*5400)"),
        # Arguments are split on top-level commas only, and trimmed.
        ("$__timeFilter( coalesce(a, b) )",
         "coalesce(a, b) BETWEEN TIMESTAMP '2021-06-23 00:00:00' AND TIMESTAMP '2021-06-23 01:00:00'"),
        # Java-style patterns become Go layouts by toolbox's first-match replacements.
        ("$__rawTimeFrom('EEEE d MMM yyyy hh:mm a')", "'Wednesday 23 Jun 2021 12:00 am'"),
        # The SDK's defaults.
        ("$__interval $__interval_ms", "1m 60000"),
    ],
)  # fmt: skip
def test_forms_the_panels_use(sql: str, expected: str) -> None:
    assert expand_macros(sql, RANGE) == expected


def test_the_bounds_are_utc_whatever_zone_the_range_is_given_in() -> None:
    paris = timezone(timedelta(hours=2))
    paris = QueryContext(
        time_from=datetime(2021, 6, 23, 4, 0, tzinfo=paris), time_to=datetime(2021, 6, 23, 5, 0, tzinfo=paris)
    )
    assert (
        expand_macros("$__timeTo() $__rawTimeFrom()", paris) == "TIMESTAMP '2021-06-23 03:00:00' '2021-06-23 02:00:00'"
    )


@pytest.mark.parametrize("sql", ["$__timeGroup()", "$__timeGroup(t)", "$__dateFilter(a, b)", "$__timeFilter(t"])
def test_what_the_plugin_refuses_is_refused(sql: str) -> None:
    with pytest.raises(MacroError):
        expand_macros(sql, RANGE)


def test_a_bad_interval_is_refused() -> None:
    with pytest.raises(MacroError, match="interval"):
        expand_macros("$__timeGroup(t, 'soon')", RANGE)


def test_go_float_matches_go_percent_v() -> None:
    assert [go_float(value) for value in (60.0, 0.5, 604800.0, 1e6, 1e-5)] == ["60", "0.5", "604800", "1e+06", "1e-05"]


def test_variables_single_values_raw_or_as_a_quoted_sql_string() -> None:
    variables = {"client": "O'Brien & Co", "unit": "60"}
    sql = "client = ${client:sqlstring} AND d / ${unit} AND d / $unit"
    assert apply_variables(sql, variables) == "client = 'O''Brien & Co' AND d / 60 AND d / 60"


def test_an_undefined_variable_is_an_error_not_a_silent_literal() -> None:
    with pytest.raises(MacroError, match=r"\$job"):
        apply_variables("job = ${job:sqlstring}", {"client": "acme"})


def test_macros_are_not_mistaken_for_variables() -> None:
    context = QueryContext(RANGE.time_from, RANGE.time_to, variables={"unit": "60"})
    assert expand("$__timeTo() / ${unit}", context) == "TIMESTAMP '2021-06-23 01:00:00' / 60"
