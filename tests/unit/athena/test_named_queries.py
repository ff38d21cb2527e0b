"""The `athena/*.sql` files as Athena and the CDK see them: present, headed, valid, partition-pruned."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from lakewatch.domain.tables import CATALOG_TABLES
from lakewatch.local.queries import (
    ATHENA_DIR,
    NamedQuery,
    QueryResult,
    connect_lake,
    load_named_queries,
    parse_named_query,
    run_named_queries,
    to_duckdb_sql,
)
from tests.conftest import REPO_ROOT

#: The saved-query contract (docs/tables.md, "Saved queries"): every name, and the columns each must start with, in
#: order. Analysts and saved dashboards rely on these names and column positions.
CONTRACT_COLUMNS = {
    "top_products": ("product", "units", "revenue"),
    "store_performance": ("store", "orders", "revenue", "avg_basket"),
    "peak_hours": ("hour", "orders", "revenue"),
    "daily_revenue": ("dt", "channel", "orders", "revenue"),
    "returning_customers": ("customers", "returning_customers", "returning_share"),
    "job_failures": ("client", "job_name", "runs", "failed_runs", "failure_rate", "failed_cost_usd", "total_cost_usd"),
    "failure_cost_by_month": (
        "month", "runs", "failed_runs", "total_cost_usd", "failed_cost_usd", "failed_data_gb",
    ),
    "duration_outliers": (
        "client", "job_name", "run_id", "started_at", "duration_seconds", "baseline_seconds", "ratio",
    ),
    "overdue_clients": ("client", "job_name", "last_run_at", "hours_since_last_run"),
    "duration_mom_change": ("client", "month", "avg_duration_seconds", "prev_month_avg_seconds", "pct_change"),
    "forecast_vs_actual": (
        "series", "series_key", "target_hour", "horizon", "yhat", "yhat_lo", "yhat_hi", "actual", "error",
        "in_interval",
    ),
}  # fmt: skip
LAKE_TABLES = set(CATALOG_TABLES)
QUERIES = load_named_queries()


def _by_name(query: NamedQuery) -> str:
    return query.name


def test_every_named_query_of_the_contract_has_a_file():
    assert [query.name for query in QUERIES] == sorted(CONTRACT_COLUMNS)


def test_the_default_directory_is_the_repository_athena_folder():
    assert ATHENA_DIR == REPO_ROOT / "athena"


@pytest.mark.parametrize("query", QUERIES, ids=_by_name)
def test_header_names_the_query_and_says_what_and_when(query: NamedQuery):
    assert query.sql.startswith(f"-- name: {query.name}\n")
    assert query.purpose.endswith(".")
    assert len(query.purpose.split()) >= 8
    assert query.window


@pytest.mark.parametrize("dialect", ["athena", "trino"])
@pytest.mark.parametrize("query", QUERIES, ids=_by_name)
def test_sql_parses_as_athena_engine_v3(query: NamedQuery, dialect: str):
    statements = sqlglot.parse(query.sql, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    assert len(statements) == 1
    assert isinstance(statements[0], exp.Query)


@pytest.mark.parametrize("query", QUERIES, ids=_by_name)
def test_lake_tables_are_unqualified_so_the_named_query_database_applies(query: NamedQuery):
    tree = sqlglot.parse_one(query.sql, read="athena")
    cte_names = {cte.alias for cte in tree.find_all(exp.CTE)}
    tables = [table for table in tree.find_all(exp.Table) if table.name not in cte_names]
    assert {table.name for table in tables} <= LAKE_TABLES
    assert tables
    assert all(not table.db and not table.catalog for table in tables)


@pytest.mark.parametrize("query", QUERIES, ids=_by_name)
def test_every_lake_table_read_is_pruned_on_dt_relative_to_current_date(query: NamedQuery):
    # Given every SELECT that reads a lake table directly
    tree = sqlglot.parse_one(query.sql, read="athena")
    lake_selects = [
        select
        for select in tree.find_all(exp.Select)
        if select.args.get("from_") is not None  # a constants row such as duration_outliers' `rule` reads nothing
        and any(table.name in LAKE_TABLES for table in select.args["from_"].find_all(exp.Table))
        and not select.args["from_"].find(exp.Subquery)
    ]
    assert lake_selects
    for select in lake_selects:
        where = select.args.get("where")
        # Then its WHERE bounds dt from below by a date derived from current_date (what Athena prunes on)
        assert where is not None
        lower_bounds = [
            comparison
            for comparison in where.find_all(exp.GT, exp.GTE)
            if isinstance(comparison.this, exp.Column)
            and comparison.this.name == "dt"
            and comparison.expression.find(exp.CurrentDate)
        ]
        assert lower_bounds, f"{query.name}: no dt lower bound in {where.sql()}"


@pytest.fixture(scope="module")
def empty_lake_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("empty")


@pytest.fixture(scope="module")
def empty_lake_results(empty_lake_out: Path) -> dict[str, QueryResult]:
    """Every query run on a lake with no files at all (a fresh deployment, or a local run with one table)."""
    return run_named_queries(empty_lake_out / "lake", datetime(2024, 6, 15, tzinfo=UTC), empty_lake_out / "queries")


@pytest.mark.parametrize("query", QUERIES, ids=_by_name)
def test_contract_columns_come_first_in_order(query: NamedQuery, empty_lake_results: dict[str, QueryResult]):
    expected = CONTRACT_COLUMNS[query.name]
    assert empty_lake_results[query.name].columns[: len(expected)] == expected


def test_an_empty_lake_answers_every_query_without_rows(empty_lake_results, empty_lake_out: Path):
    # Then each answers (only the whole-population ratio has a row, with nothing to divide)
    assert {name: result.rows for name, result in empty_lake_results.items() if result.rows} == {
        "returning_customers": [(0, 0, None)]
    }
    assert len(list((empty_lake_out / "queries").glob("*.csv"))) == len(CONTRACT_COLUMNS)


def test_dt_is_text_in_the_local_views_as_in_the_glue_catalog(tmp_path: Path):
    from lakewatch.domain.tables import SALES
    from lakewatch.local.lake import write_rows
    from tests.unit.athena.factories import sale

    # Given one sale on disk (hive path dt=2024-06-10, which DuckDB would otherwise read as a DATE)
    lake_root = tmp_path / "lake"
    write_rows(SALES, [sale("s1", datetime(2024, 6, 10, 9), items=[("tea", 2.0, 1)])], lake_root, file_name="p")
    connection = connect_lake(lake_root)
    # Then dt is VARCHAR in both the populated and the empty view
    types = {
        table: dict(connection.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall())["dt"]
        for table in ("sales", "job_runs")
    }
    assert types == {"sales": "VARCHAR", "job_runs": "VARCHAR"}
    assert connection.execute("SELECT dt, event_id FROM sales").fetchall() == [("2024-06-10", "s1")]


def test_clock_functions_are_pinned_to_now_in_utc():
    # Given a "now" with an offset: 01:30 at +02:00 is 23:30 UTC on the day before, and the lake's dates are UTC
    now = datetime(2024, 6, 15, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    sql = "SELECT current_date AS d, current_timestamp AS ts, now() AS n, date_format(current_date, '%Y-%m-%d') AS dt"
    # When translated and run on DuckDB
    row = duckdb.sql(to_duckdb_sql(sql, now)).fetchone()
    # Then every clock reads now, in UTC
    assert row == (
        datetime(2024, 6, 14).date(),
        datetime(2024, 6, 14, 23, 30),
        datetime(2024, 6, 14, 23, 30),
        "2024-06-14",
    )


def test_a_clock_that_cannot_be_pinned_is_refused():
    with pytest.raises(ValueError, match="current_date or current_timestamp"):
        to_duckdb_sql("SELECT localtimestamp", datetime(2024, 6, 15, tzinfo=UTC))


def test_more_than_one_statement_is_refused():
    with pytest.raises(ValueError, match="exactly one"):
        to_duckdb_sql("SELECT 1; SELECT 2", datetime(2024, 6, 15, tzinfo=UTC))


def test_header_must_be_complete_and_name_its_file():
    with pytest.raises(ValueError, match="-- window:"):
        parse_named_query("q", "-- name: q\n-- purpose: Something useful for analysts.\nSELECT 1")
    with pytest.raises(ValueError, match="file name"):
        parse_named_query("q", "-- name: other\n-- purpose: x.\n-- window: all\nSELECT 1")


def test_loader_reads_every_sql_file_of_a_directory(tmp_path: Path):
    (tmp_path / "b.sql").write_text("-- name: b\n-- purpose: Bee.\n-- window: all\nSELECT 1 FROM sales WHERE dt > ''")
    (tmp_path / "a.sql").write_text("-- name: a\n-- purpose: Ay.\n-- window: last 30 days\nSELECT 2")
    (tmp_path / "notes.txt").write_text("not a query")
    assert [(query.name, query.purpose, query.window) for query in load_named_queries(tmp_path)] == [
        ("a", "Ay.", "last 30 days"),
        ("b", "Bee.", "all"),
    ]
    with pytest.raises(FileNotFoundError):
        load_named_queries(tmp_path / "missing")


def test_the_cdk_can_load_the_queries_with_the_standard_library_only():
    # Given a fresh interpreter (the CDK app's environment has no DuckDB, pyarrow or sqlglot)
    code = (
        "import sys; from lakewatch.local.queries import load_named_queries; "
        "queries = load_named_queries(); "
        "heavy = sorted(m for m in ('duckdb', 'pyarrow', 'sqlglot') if m in sys.modules); "
        "print(len(queries), heavy)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert completed.stdout.strip() == f"{len(CONTRACT_COLUMNS)} []"
