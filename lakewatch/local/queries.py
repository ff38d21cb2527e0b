"""The Athena named queries: loaded from `athena/*.sql` for CDK, and run on the local lake with DuckDB.

Loading is standard-library only, because the CDK app imports it to create one `AWS::Athena::NamedQuery` per
file and its environment has no DuckDB, pyarrow or sqlglot. Running imports those lazily.

Locally the Athena SQL is translated by sqlglot (Athena/Trino dialect -> DuckDB) with the clock pinned: the
`current_date` / `current_timestamp` nodes of the parsed query are replaced by literals of `now`, so a query is
answered as Athena would have answered it at that instant. The SQL text itself is never patched: a construct
sqlglot cannot translate faithfully is rewritten in the `.sql` file to one that both engines agree on.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    from sqlglot import exp

#: The repository's `athena/` folder, wherever the process was started from.
ATHENA_DIR = Path(__file__).resolve().parents[2] / "athena"
HEADER_FIELDS = ("name", "purpose", "window")
#: sqlglot's name for Athena engine v3 SQL (Trino for queries).
SOURCE_DIALECT = "athena"
_HEADER_LINE = re.compile(r"^--\s*(?P<key>[a-z_]+):\s*(?P<value>.+?)\s*$")


@dataclass(frozen=True, slots=True)
class NamedQuery:
    """One `athena/<name>.sql` file: what the Athena console shows and what it runs."""

    name: str
    purpose: str
    window: str
    #: The whole file, header included, so the console shows the purpose next to the SQL.
    sql: str


@dataclass(frozen=True, slots=True)
class QueryResult:
    """The answer to one named query: column names in order, and rows as tuples of Python values."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def load_named_queries(directory: Path = ATHENA_DIR) -> list[NamedQuery]:
    """Every `*.sql` file of `directory`, sorted by name; the header must name the file it is in."""
    queries = [
        parse_named_query(path.stem, path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.sql"))
    ]
    if not queries:
        raise FileNotFoundError(f"no named queries (*.sql) in {directory}")
    return queries


def parse_named_query(name: str, text: str) -> NamedQuery:
    """Read the `-- name:`, `-- purpose:`, `-- window:` header of one query file."""
    header: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        match = _HEADER_LINE.match(line)
        if match and match["key"] in HEADER_FIELDS:
            header.setdefault(match["key"], match["value"])
    missing = [field for field in HEADER_FIELDS if field not in header]
    if missing:
        raise ValueError(f"{name}.sql: header lacks {', '.join(f'-- {field}:' for field in missing)}")
    if header["name"] != name:
        raise ValueError(f"{name}.sql: header names it {header['name']!r}; the file name is the query's name")
    return NamedQuery(name=name, purpose=header["purpose"], window=header["window"], sql=text)


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

    from lakewatch.domain.tables import PARTITION_KEY, TABLES

    connection = duckdb.connect(":memory:")
    connection.execute("SET TimeZone = 'UTC'")
    for table in TABLES.values():
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


def write_csv(result: QueryResult, path: Path) -> None:
    """CSV as the Athena console downloads it: a header row, empty cells for nulls."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(result.columns)
        writer.writerows(["" if value is None else str(value) for value in row] for row in result.rows)
