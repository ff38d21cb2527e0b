"""The SQL files as Athena runs them: the saved queries `athena/<name>.sql`, and the `-- include:` fragments that
saved queries and dashboard panels share.

Both the CDK app (one `AWS::Athena::NamedQuery` per saved query) and the local runner (which runs the same SQL on
DuckDB) load the queries through this module, so production infrastructure never imports the local runner. The
dashboards (`lakewatch.dashboards.model`) expand their panels' includes with the same `expand_includes`.
Standard library only: the CDK environment has no DuckDB, pyarrow or sqlglot. Not part of the domain package
shipped to Lambda and Glue, which never read SQL files.

**Includes.** A line `-- include: <name>` stands for `sql/shared/<name>.sql`: one or more common table
expressions (no `WITH`, no trailing comma) that several statements share, such as one report per run or the
outlier rule's median and MAD, so each is written once. The line stands where those CTEs belong in the includer's
`WITH` list (a following CTE starts with a comma line). A fragment may include others. What Athena, Grafana and
the local runner receive is one self-contained statement with every fragment inlined; the comment lines at the
top of a fragment travel with it, so the console shows why the CTEs are there. A fragment included twice in one
statement (directly or through another fragment) is refused rather than expanded once: its CTEs would be defined
twice, and silently dropping the second copy would hide which includer relied on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_REPOSITORY = Path(__file__).resolve().parents[1]
#: The repository's `athena/` folder, wherever the process was started from.
ATHENA_DIR = _REPOSITORY / "athena"
#: Where every `-- include:` fragment lives, whichever statement includes it.
SHARED_SQL_DIR = _REPOSITORY / "sql" / "shared"
HEADER_FIELDS = ("name", "purpose", "window")
_HEADER_LINE = re.compile(r"^--\s*(?P<key>[a-z_]+):\s*(?P<value>.+?)\s*$")
#: Any comment line that means to include something, so that a misspelt or empty name is an error, not a comment.
_INCLUDE_LINE = re.compile(r"^[ \t]*--[ \t]*include:(?P<name>.*)$", re.MULTILINE)
_FRAGMENT_NAME = re.compile(r"[a-z0-9_]+")


class IncludeError(ValueError):
    """An `-- include:` line that cannot be expanded: no fragment named, included twice, or a cycle."""


def expand_includes(text: str, fragments_dir: Path = SHARED_SQL_DIR, *, source: str = "the statement") -> str:
    """The SQL with every `-- include: <name>` line replaced by `<fragments_dir>/<name>.sql` (without its trailing
    newline), fragments' own includes expanded too. `source` names the includer in error messages."""
    return _expand(text, fragments_dir, source=source, chain=(), included=set())


def _expand(text: str, fragments_dir: Path, *, source: str, chain: tuple[str, ...], included: set[str]) -> str:
    def include(match: re.Match[str]) -> str:
        name = match["name"].strip()
        if not _FRAGMENT_NAME.fullmatch(name):
            raise IncludeError(f"{source}: {match[0].strip()!r} names no fragment (expected -- include: <name>)")
        if name in chain:
            cycle = " -> ".join((*chain, name))
            raise IncludeError(f"{source}: include cycle {cycle}")
        if name in included:
            raise IncludeError(f"{source}: fragment {name!r} is included twice in one statement")
        path = fragments_dir / f"{name}.sql"
        if not path.is_file():
            known = ", ".join(sorted(fragment.stem for fragment in fragments_dir.glob("*.sql"))) or "none"
            raise FileNotFoundError(f"{source}: -- include: {name}: no {path} (fragments: {known})")
        included.add(name)
        fragment = path.read_text(encoding="utf-8").rstrip("\n")
        return _expand(fragment, fragments_dir, source=f"{name}.sql", chain=(*chain, name), included=included)

    return _INCLUDE_LINE.sub(include, text)


@dataclass(frozen=True, slots=True)
class NamedQuery:
    """One `athena/<name>.sql` file: what the Athena console shows and what it runs."""

    name: str
    purpose: str
    window: str
    #: The whole file, header included (the console shows the purpose next to the SQL), includes expanded: one
    #: self-contained statement, the same text in the console and on the local runner.
    sql: str


def load_named_queries(directory: Path = ATHENA_DIR, fragments_dir: Path = SHARED_SQL_DIR) -> list[NamedQuery]:
    """Every `*.sql` file of `directory`, sorted by name; the header must name the file it is in."""
    queries = [
        parse_named_query(path.stem, path.read_text(encoding="utf-8"), fragments_dir)
        for path in sorted(directory.glob("*.sql"))
    ]
    if not queries:
        raise FileNotFoundError(f"no named queries (*.sql) in {directory}")
    return queries


def parse_named_query(name: str, text: str, fragments_dir: Path = SHARED_SQL_DIR) -> NamedQuery:
    """Read the `-- name:`, `-- purpose:`, `-- window:` header of one query file and expand its includes."""
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
    sql = expand_includes(text, fragments_dir, source=f"{name}.sql")
    return NamedQuery(name=name, purpose=header["purpose"], window=header["window"], sql=sql)
