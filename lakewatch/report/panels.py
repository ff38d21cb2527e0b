"""Run dashboard panels on the local lake: the panel SQL, expanded as Grafana's Athena data source expands it,
translated to DuckDB and answered over the lake's Parquet files (as the saved queries are run locally)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from lakewatch.dashboards.macros import QueryContext, expand
from lakewatch.dashboards.model import Dashboard, Panel, Variable
from lakewatch.local.queries import QueryResult, to_duckdb_sql

if TYPE_CHECKING:
    import duckdb


def athena_sql(dashboard: Dashboard, panel: Panel | Variable, context: QueryContext) -> str:
    """The SQL Athena would receive for this panel from Grafana, for this time range and these variables."""
    return expand(dashboard.sql(panel), context)


def run_panel(
    connection: duckdb.DuckDBPyConnection, dashboard: Dashboard, panel: Panel | Variable, context: QueryContext
) -> QueryResult:
    """One panel's answer, times as naive UTC (the lake's convention). The clock `to_duckdb_sql` pins is the
    range's end, though no panel reads `current_date`."""
    import pyarrow as pa

    now: datetime = context.time_to
    table = connection.execute(to_duckdb_sql(athena_sql(dashboard, panel, context), now)).to_arrow_table()
    # `$__timeGroup` gives a zoned timestamp (FROM_UNIXTIME); read as naive UTC without DuckDB's pytz conversion.
    columns = [
        column.cast(pa.timestamp(column.type.unit)) if pa.types.is_timestamp(column.type) and column.type.tz else column
        for column in table.columns
    ]
    rows = [tuple(row.values()) for row in pa.table(columns, names=table.column_names).to_pylist()]
    return QueryResult(name=f"{dashboard.name}/{panel.name}", columns=tuple(table.column_names), rows=rows)
