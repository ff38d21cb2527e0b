"""Production code (CDK app, Lambdas, Glue jobs) never imports the local runner.

`lakewatch.local` pulls in moto, DuckDB, pyarrow and Spark helpers and emulates AWS; if a stack or a handler
imported it, a change to the emulation could change what is deployed. Checked statically on the source, so an
import hidden in a function body counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.infrastructure.conftest import REPO_ROOT

LOCAL_RUNNER = "lakewatch.local"
PRODUCTION_SOURCES = ("app.py", "stacks", "lambdas", "glue_jobs")


def imported_modules(source: str) -> set[str]:
    """Every module an `import` or `from ... import` statement names, anywhere in the file."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def production_files() -> list[Path]:
    files: list[Path] = []
    for entry in PRODUCTION_SOURCES:
        path = REPO_ROOT / entry
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return files


def test_the_boundary_check_sees_every_import_form() -> None:
    source = "import lakewatch.local.runner\nfrom lakewatch import local\ndef f():\n    from lakewatch.local import x\n"
    assert {"lakewatch.local.runner", "lakewatch.local", "lakewatch.local.x"} <= imported_modules(source)


@pytest.mark.parametrize("path", production_files(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_production_code_does_not_import_the_local_runner(path: Path) -> None:
    offending = sorted(
        module
        for module in imported_modules(path.read_text(encoding="utf-8"))
        if module == LOCAL_RUNNER or module.startswith(f"{LOCAL_RUNNER}.")
    )
    assert offending == []
