"""What is checked for the Lambda Python (3.13) while the test suite itself runs on CPython 3.11.

The domain package and the handlers run on Glue 5.0 and in this suite (3.11) and on Lambda (3.13). Syntax
newer than 3.11 is caught by ruff (`target-version = "py311"`) and by running the tests; what 3.13 no
longer has is caught here: the standard-library modules it removed (PEP 594) and the one 3.12 removed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from stacks.lambda_runtime import LAMBDA_PYTHON_VERSION
from tests.infrastructure.conftest import REPO_ROOT

#: Removed from the standard library by Python 3.12 (distutils) and 3.13 (PEP 594's dead batteries, lib2to3).
REMOVED_BY_3_13 = frozenset(
    {
        "aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "distutils", "imghdr", "lib2to3", "mailcap", "msilib",
        "nis", "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib",
    }
)  # fmt: skip
LAMBDA_SOURCES = ("lambdas", "lakewatch/domain")


def top_level_imports(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def lambda_files() -> list[Path]:
    return sorted(path for folder in LAMBDA_SOURCES for path in (REPO_ROOT / folder).rglob("*.py"))


def test_the_lambdas_run_on_python_3_13() -> None:
    assert LAMBDA_PYTHON_VERSION == "3.13"


@pytest.mark.parametrize("path", lambda_files(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_code_shipped_to_lambda_imports_nothing_python_3_13_removed(path: Path) -> None:
    assert top_level_imports(path.read_text(encoding="utf-8")) & REMOVED_BY_3_13 == set()
