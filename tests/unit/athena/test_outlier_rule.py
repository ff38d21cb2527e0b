"""`athena/duration_outliers.sql` applies job_monitor's outlier rule with baseline.py's numbers, never its own."""

from __future__ import annotations

import re

import pytest

from lakewatch.domain import baseline
from lakewatch.local.queries import load_named_queries

SQL = next(query.sql for query in load_named_queries() if query.name == "duration_outliers")


def _rule_value(name: str) -> float:
    """The number the SQL's `rule` row names `name` (`<number> AS <name>`)."""
    [value] = re.findall(rf"(\d+(?:\.\d+)?) AS {name}\b", SQL)
    return float(value)


@pytest.mark.parametrize(
    ("sql_name", "constant"),
    [
        ("ratio_threshold", baseline.RATIO_THRESHOLD),
        ("mad_k", baseline.MAD_K),
        ("mad_to_sigma", baseline.MAD_TO_SIGMA),
        ("absolute_floor_seconds", baseline.ABSOLUTE_FLOOR_SECONDS),
        ("min_history", baseline.MIN_HISTORY),
    ],
)
def test_the_sql_rule_row_holds_baseline_py_numbers(sql_name: str, constant: float) -> None:
    assert _rule_value(sql_name) == constant


def test_the_sql_history_window_is_the_baseline_window() -> None:
    [preceding] = re.findall(r"ROWS BETWEEN (\d+) PRECEDING AND 1 PRECEDING", SQL)
    assert int(preceding) == baseline.BASELINE_WINDOW


def test_every_threshold_is_applied_through_the_rule_row_not_a_literal() -> None:
    # The WHERE clause names each threshold, so a number changed in `rule` changes the verdict.
    where = SQL[SQL.index("CROSS JOIN rule") :]
    for name in ("min_history", "ratio_threshold", "mad_k", "mad_to_sigma", "absolute_floor_seconds"):
        assert re.search(rf"\b{name}\b", where), name
    assert not re.search(r"(>=|\*)\s*\d", where), "a literal threshold in the WHERE clause"


def test_the_header_states_the_same_ratio() -> None:
    assert f"at least {baseline.RATIO_THRESHOLD:g} times" in SQL.splitlines()[1]
