"""job_monitor's outlier rule in SQL is written once, in the fragment `sql/shared/outlier_verdicts.sql`, with
baseline.py's numbers, never its own; the saved query and the dashboards both include that fragment."""

from __future__ import annotations

import re

import pytest

from lakewatch.athena_sql import SHARED_SQL_DIR, expand_includes
from lakewatch.dashboards.definitions import BATCH_MONITORING
from lakewatch.dashboards.model import load_sql
from lakewatch.domain import baseline
from lakewatch.local.queries import load_named_queries

FRAGMENT = (SHARED_SQL_DIR / "outlier_verdicts.sql").read_text(encoding="utf-8")
SAVED_QUERY = next(query.sql for query in load_named_queries() if query.name == "duration_outliers")
PANEL = load_sql(BATCH_MONITORING.name, "far_above_baseline")
#: The fragment as its includers receive it (it includes the run de-duplication).
EXPANDED = expand_includes(FRAGMENT)


def _rule_value(name: str) -> float:
    """The number the fragment's `rule` row names `name` (`<number> AS <name>`)."""
    [value] = re.findall(rf"(\d+(?:\.\d+)?) AS {name}\b", FRAGMENT)
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
    [preceding] = re.findall(r"ROWS BETWEEN (\d+) PRECEDING AND 1 PRECEDING", FRAGMENT)
    assert int(preceding) == baseline.BASELINE_WINDOW


def test_every_threshold_is_applied_through_the_rule_row_not_a_literal() -> None:
    # The verdict names each threshold, so a number changed in `rule` changes the verdict.
    verdict = FRAGMENT[FRAGMENT.index("run_verdicts AS (") :]
    verdict = re.sub(r"--[^\n]*", "", verdict)
    for name in ("min_history", "ratio_threshold", "mad_k", "mad_to_sigma", "absolute_floor_seconds"):
        assert re.search(rf"\b{name}\b", verdict), name
    assert not re.search(r"(>=|\*)\s*\d", verdict), "a literal threshold in the verdict"


@pytest.mark.parametrize("sql", [SAVED_QUERY, PANEL], ids=["saved query", "dashboard panel"])
def test_the_saved_query_and_the_dashboards_judge_with_the_fragment(sql: str) -> None:
    assert EXPANDED in sql
    assert sql.count("AS mad_seconds") == 1


def test_the_saved_query_selects_the_fragments_verdict_not_its_own() -> None:
    after_fragment = SAVED_QUERY[SAVED_QUERY.index(EXPANDED) + len(EXPANDED) :]
    assert "WHERE is_outlier" in after_fragment
    assert not re.search(r"\b(ratio_threshold|mad_k|mad_to_sigma|absolute_floor_seconds)\b", after_fragment)


def test_the_header_states_the_same_ratio() -> None:
    assert f"at least {baseline.RATIO_THRESHOLD:g} times" in SAVED_QUERY.splitlines()[1]
    assert f"at least {baseline.RATIO_THRESHOLD:g}x" in FRAGMENT
