"""How the test tree is laid out: fixtures come from conftest files by name,
helpers from tests/support/ by import."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    return [
        (node.lineno, node.module or "")
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    ]


def test_no_module_imports_helpers_from_a_conftest() -> None:
    offenders = [
        f"{path.relative_to(TESTS)}:{line}"
        for path in TESTS.rglob("*.py")
        for line, module in _imports(path)
        if module == "conftest" or module.endswith(".conftest")
    ]
    assert offenders == [], "move the helper to tests/support/ and import it from there"


def test_only_conftest_files_import_fixtures() -> None:
    # An unused-looking import kept for pytest to find a fixture belongs in a conftest.
    offenders = [
        f"{path.relative_to(TESTS)}:{number}"
        for path in TESTS.rglob("test_*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.startswith("from ") and "noqa: F401" in line
    ]
    assert offenders == [], "import the fixture in the directory's conftest.py instead"
