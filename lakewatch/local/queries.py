"""The Athena named queries run on the local lake with DuckDB (loading the files is `lakewatch.athena_sql`).

Importing this module needs only the standard library; running a query imports DuckDB and sqlglot lazily.

Locally the Athena SQL is translated by sqlglot (Athena/Trino dialect -> DuckDB) with the clock pinned: the
`current_date` / `current_timestamp` nodes of the parsed query are replaced by literals of `now`, so a query is
answered as Athena would have answered it at that instant. The SQL text itself is never patched: a construct
sqlglot cannot translate faithfully is rewritten in the `.sql` file to one that both engines agree on.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Loading the query files lives in `lakewatch.athena_sql` (the CDK app uses it too); re-exported for callers here.
from lakewatch.athena_sql import ATHENA_DIR, HEADER_FIELDS, NamedQuery, load_named_queries, parse_named_query

__all__ = [
    "ATHENA_DIR",
    "HEADER_FIELDS",
    "NamedQuery",
    "QueryResult",
    "connect_lake",
    "load_named_queries",
    "parse_named_query",
    "run_named_queries",
    "run_query",
    "to_duckdb_sql",
    "write_csv",
]

if TYPE_CHECKING:
    import duckdb
    from sqlglot import exp

#: sqlglot's name for Athena engine v3 SQL (Trino for queries).
SOURCE_DIALECT = "athena"


@dataclass(frozen=True, slots=True)
class QueryResult:
    """The answer to one named query: column names in order, and rows as tuples of Python values."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def to_duckdb_sql(sql: str, now: datetime) -> str:
    """Translate one Athena query into DuckDB SQL, with `current_date` / `current_timestamp` pinned to `now`.

    Raises when sqlglot reports a construct it cannot express in DuckDB, or when the query reads a clock this
    function does not pin: a silently mistranslated query would be worse than none.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ErrorLevel

    statements = sqlglot.parse(sql, read=SOURCE_DIALECT)
    if len(statements) != 1 or statements[0] is None:
        raise ValueError(f"expected exactly one SQL statement, found {len(statements)}")
    instant = _as_utc_naive(now)
    pinned = {
        exp.CurrentDate: exp.cast(exp.Literal.string(instant.date().isoformat()), exp.DataType.Type.DATE),
        exp.CurrentTimestamp: exp.cast(
            exp.Literal.string(instant.isoformat(sep=" ", timespec="microseconds")), exp.DataType.Type.TIMESTAMP
        ),
    }

    def pin(node: exp.Expression) -> exp.Expression:
        replacement = pinned.get(type(node))
        if replacement is not None:
            return replacement.copy()
        if isinstance(node, _unpinned_clocks()):
            raise ValueError(f"{node.sql(dialect=SOURCE_DIALECT)}: use current_date or current_timestamp instead")
        return node

    return statements[0].transform(pin).sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)


def _unpinned_clocks() -> tuple[type[exp.Expression], ...]:
    from sqlglot import exp

    names = ("CurrentTime", "CurrentDatetime", "Localtime", "Localtimestamp", "CurrentTimestampLTZ", "UnixSeconds")
    return tuple(getattr(exp, name) for name in names if hasattr(exp, name))


def _as_utc_naive(now: datetime) -> datetime:
    """Lake timestamps are naive UTC; a naive `now` is taken to be UTC already."""
    return now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now


def connect_lake(lake_root: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per lake table over its Parquet files, as Athena's catalog sees them.

    `dt` is read as text (as the Glue partition column is a string), not the date DuckDB would infer. A table
    with no files yet is still a view with the right columns, so every query runs on a partial lake.
    """
    import duckdb
    import pyarrow as pa

    from lakewatch.domain.tables import CATALOG_TABLES, PARTITION_KEY

    connection = duckdb.connect(":memory:")
    connection.execute("SET TimeZone = 'UTC'")
    for table in CATALOG_TABLES.values():
        table_dir = lake_root.parent / table.prefix
        columns = ", ".join(f'"{name}"' for name in (*table.column_names, PARTITION_KEY))
        if any(table_dir.glob(f"{PARTITION_KEY}=*/*.parquet")):
            pattern = _sql_string(str(table_dir / f"{PARTITION_KEY}=*" / "*.parquet"))
            connection.execute(
                f'CREATE VIEW "{table.name}" AS SELECT {columns} FROM read_parquet({pattern}, '  # noqa: S608
                f"hive_partitioning = true, hive_types = {{'{PARTITION_KEY}': 'VARCHAR'}})"
            )
        else:
            empty = table.arrow_schema().append(pa.field(PARTITION_KEY, pa.string())).empty_table()
            connection.register(f"{table.name}_empty", empty)
            connection.execute(f'CREATE VIEW "{table.name}" AS SELECT {columns} FROM "{table.name}_empty"')  # noqa: S608
    return connection


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def run_query(connection: duckdb.DuckDBPyConnection, query: NamedQuery, now: datetime) -> QueryResult:
    cursor = connection.execute(to_duckdb_sql(query.sql, now))
    columns = tuple(description[0] for description in cursor.description)
    return QueryResult(name=query.name, columns=columns, rows=cursor.fetchall())


def run_named_queries(
    lake_root: Path,
    now: datetime,
    out_dir: Path | None = None,
    *,
    queries: Sequence[NamedQuery] | None = None,
) -> dict[str, QueryResult]:
    """Run every named query on the local lake as of `now`; with `out_dir`, also write `<name>.csv` each."""
    selected = load_named_queries() if queries is None else queries
    connection = connect_lake(lake_root)
    try:
        results = {query.name: run_query(connection, query, now) for query in selected}
    finally:
        connection.close()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for result in results.values():
            write_csv(result, out_dir / f"{result.name}.csv")
    return results


#: What makes a spreadsheet read a cell as a formula (OWASP's list for CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    """A cell's text. Text starting like a formula gets a leading apostrophe (a spreadsheet then shows it as text;
    names are stored as sent, so a product called `=HYPERLINK(...)` is possible); numbers are never changed."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_STARTS) else value
    return str(value)


def write_csv(result: QueryResult, path: Path) -> None:
    """CSV as the Athena console downloads it (a header row, empty cells for nulls), but safe to open in a
    spreadsheet: see `_csv_cell`."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(result.columns)
        writer.writerows([_csv_cell(value) for value in row] for row in result.rows)
