"""The tests and the bench scripts share testsupport/ and never import each other; the
wheel an operator installs carries none of it."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported(path: Path) -> set[str]:
    """Top-level package of every import in `path`, however deeply nested the statement."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_tests_bench_and_testsupport_do_not_import_each_other() -> None:
    wrong = [f"{p.relative_to(ROOT)} imports {other}"
             for folder, forbidden in (("tests", {"bench"}), ("bench", {"tests"}),
                                       ("testsupport", {"tests", "bench"}))
             for p in sorted((ROOT / folder).glob("*.py"))
             for other in sorted(_imported(p) & forbidden)]
    assert wrong == []


def test_the_wheel_ships_no_test_support() -> None:
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(p == "cocmail" or p.startswith("cocmail.") for p in setup["packages"])
