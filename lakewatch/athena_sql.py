"""The Athena named queries as files: `athena/<name>.sql`, each with a `-- name:`, `-- purpose:`, `-- window:` header.

Both the CDK app (one `AWS::Athena::NamedQuery` per file) and the local runner (which runs the same SQL on
DuckDB) load the queries through this module, so production infrastructure never imports the local runner.
Standard library only: the CDK environment has no DuckDB, pyarrow or sqlglot. Not part of the domain package
shipped to Lambda and Glue, which never read SQL files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: The repository's `athena/` folder, wherever the process was started from.
ATHENA_DIR = Path(__file__).resolve().parents[1] / "athena"
HEADER_FIELDS = ("name", "purpose", "window")
_HEADER_LINE = re.compile(r"^--\s*(?P<key>[a-z_]+):\s*(?P<value>.+?)\s*$")


@dataclass(frozen=True, slots=True)
class NamedQuery:
    """One `athena/<name>.sql` file: what the Athena console shows and what it runs."""

    name: str
    purpose: str
    window: str
    #: The whole file, header included, so the console shows the purpose next to the SQL.
    sql: str


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
