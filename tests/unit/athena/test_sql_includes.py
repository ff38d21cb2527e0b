"""`-- include:` fragments (`lakewatch.athena_sql.expand_includes`), and the rules they exist for: each piece of
shared SQL is written in one file of the repository, and what the console and the local runner get is one
self-contained statement."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from lakewatch.athena_sql import SHARED_SQL_DIR, IncludeError, expand_includes, load_named_queries
from lakewatch.dashboards.definitions import DASHBOARDS
from lakewatch.dashboards.model import Variable
from tests.conftest import REPO_ROOT

#: Folders of the checkout that are not the project's own files (tools, caches, synth output).
_NOT_PROJECT = {".git", ".venv", "node_modules", ".build", "cdk.out", ".ruff_cache", ".pytest_cache"}
SAVED_QUERIES = load_named_queries()
PANEL_SQL = [
    (f"{dashboard.name}/{item.name}", dashboard.sql(item))
    for dashboard in DASHBOARDS
    for item in (*dashboard.variables, *dashboard.panels)
    if not (isinstance(item, Variable) and item.options)
]


def _fragments(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / f"{name}.sql").write_text(text, encoding="utf-8")
    return tmp_path


def _project_sql_files() -> list[Path]:
    """Every `.sql` file of the checkout, tools' and caches' folders left out (not walked, not followed)."""
    found = []
    for folder, subfolders, files in os.walk(REPO_ROOT):
        subfolders[:] = [name for name in subfolders if name not in _NOT_PROJECT]
        found += [Path(folder) / name for name in files if name.endswith(".sql")]
    return sorted(found)


# ------------------------------------------------------------------------------------------- the expander
def test_an_include_line_is_replaced_by_the_fragment_without_its_trailing_newline(tmp_path: Path) -> None:
    fragments = _fragments(tmp_path, a="-- why a\na AS (SELECT 1 AS x)\n")
    assert expand_includes("WITH\n-- include: a\nSELECT x FROM a\n", fragments) == (
        "WITH\n-- why a\na AS (SELECT 1 AS x)\nSELECT x FROM a\n"
    )


def test_a_fragment_may_include_another(tmp_path: Path) -> None:
    fragments = _fragments(tmp_path, a="a AS (SELECT 1 AS x)", b="-- include: a\n,\nb AS (SELECT x FROM a)\n")
    assert expand_includes("WITH\n-- include: b\nSELECT x FROM b", fragments) == (
        "WITH\na AS (SELECT 1 AS x)\n,\nb AS (SELECT x FROM a)\nSELECT x FROM b"
    )


@pytest.mark.parametrize("line", ["-- include:", "-- include:   ", "--include: Bad-Name", "  -- include: a b"])
def test_an_include_that_names_no_fragment_is_a_clear_error(tmp_path: Path, line: str) -> None:
    fragments = _fragments(tmp_path, a="a AS (SELECT 1 AS x)")
    with pytest.raises(IncludeError, match=r"q\.sql: .* names no fragment"):
        expand_includes(f"WITH\n{line}\nSELECT 1", fragments, source="q.sql")


def test_an_include_of_a_missing_fragment_names_it_and_the_ones_there_are(tmp_path: Path) -> None:
    fragments = _fragments(tmp_path, a="a AS (SELECT 1 AS x)")
    with pytest.raises(FileNotFoundError, match=r"q\.sql: -- include: missing: .*\(fragments: a\)"):
        expand_includes("WITH\n-- include: missing\nSELECT 1", fragments, source="q.sql")


def test_a_fragment_included_twice_in_one_statement_is_refused(tmp_path: Path) -> None:
    fragments = _fragments(tmp_path, a="a AS (SELECT 1 AS x)")
    with pytest.raises(IncludeError, match="'a' is included twice"):
        expand_includes("WITH\n-- include: a\n,\n-- include: a\nSELECT 1", fragments)


def test_a_fragment_included_again_through_another_is_refused(tmp_path: Path) -> None:
    # Its CTE would be defined twice in one WITH list, which Athena rejects.
    fragments = _fragments(tmp_path, a="a AS (SELECT 1 AS x)", b="-- include: a\n,\nb AS (SELECT x FROM a)")
    with pytest.raises(IncludeError, match="'a' is included twice"):
        expand_includes("WITH\n-- include: a\n,\n-- include: b\nSELECT 1", fragments)


def test_an_include_cycle_is_refused_and_named(tmp_path: Path) -> None:
    fragments = _fragments(tmp_path, a="-- include: b\n", b="-- include: c\n", c="-- include: a\n")
    with pytest.raises(IncludeError, match="include cycle a -> b -> c -> a"):
        expand_includes("-- include: a\n", fragments)


def test_a_fragment_that_includes_itself_is_a_cycle(tmp_path: Path) -> None:
    fragments = _fragments(tmp_path, a="-- include: a\n")
    with pytest.raises(IncludeError, match="include cycle a -> a"):
        expand_includes("-- include: a\n", fragments)


def test_a_saved_query_keeps_its_header_first_and_has_its_includes_expanded(tmp_path: Path) -> None:
    athena = tmp_path / "athena"
    athena.mkdir()
    (athena / "q.sql").write_text(
        "-- name: q\n-- purpose: A query that counts things once.\n-- window: last 30 days\n"
        "WITH\n-- include: a\nSELECT x FROM a\n",
        encoding="utf-8",
    )
    fragments = _fragments(tmp_path, a="a AS (SELECT 1 AS x)\n")
    [query] = load_named_queries(athena, fragments)
    assert (query.name, query.purpose, query.window) == ("q", "A query that counts things once.", "last 30 days")
    assert query.sql == (
        "-- name: q\n-- purpose: A query that counts things once.\n-- window: last 30 days\n"
        "WITH\na AS (SELECT 1 AS x)\nSELECT x FROM a\n"
    )


# ------------------------------------------------------------------------------------------- the repository
@pytest.mark.parametrize(("name", "sql"), [(query.name, query.sql) for query in SAVED_QUERIES])
def test_a_saved_query_is_one_self_contained_statement_without_grafana_macros(name: str, sql: str) -> None:
    # What the Athena console shows: no include left to resolve, no dashboard-only fragment pulled in.
    assert not re.search(r"^\s*--\s*include:", sql, re.MULTILINE), name
    assert "$__" not in sql
    assert "${" not in sql


@pytest.mark.parametrize(("name", "sql"), PANEL_SQL)
def test_a_panel_has_every_include_expanded(name: str, sql: str) -> None:
    assert not re.search(r"^\s*--\s*include:", sql, re.MULTILINE), name


def test_every_fragment_is_included_somewhere() -> None:
    includers = [*(path.read_text(encoding="utf-8") for path in _project_sql_files())]
    included = {name for text in includers for name in re.findall(r"^\s*--\s*include:\s*(\S+)", text, re.MULTILINE)}
    assert {path.stem for path in SHARED_SQL_DIR.glob("*.sql")} == included


#: Each line is the heart of one piece of shared SQL; whitespace is collapsed before looking for it.
SINGLE_SOURCES = {
    "the outlier rule's numbers": r"1\.4826 AS mad_to_sigma",
    "the median of the history": r"element_at\(recent_durations, CAST\(ceil\(cardinality\(recent_durations\)",
    "the median absolute deviation": r"\) / 2 AS mad_seconds",
    "one report per run (the latest)": r"row_number\(\) OVER \( ?PARTITION BY [a-z_, ]*\brun_id ORDER BY ingested_at",
    "one delivery per sale": r"row_number\(\) OVER \( ?PARTITION BY event_id ORDER BY ingested_at",
    "a basket's item lines, unnested by position": r"items\[line_number\]\.product",
}


@pytest.mark.parametrize("what", SINGLE_SOURCES)
def test_shared_sql_is_written_in_exactly_one_sql_file_of_the_repository(what: str) -> None:
    pattern = re.compile(SINGLE_SOURCES[what])
    holders = [
        path.relative_to(REPO_ROOT).as_posix()
        for path in _project_sql_files()
        if pattern.search(re.sub(r"\s+", " ", path.read_text(encoding="utf-8")))
    ]
    assert len(holders) == 1, f"{what} is written in {holders}: include the fragment instead"
    assert holders[0].startswith("sql/shared/")
