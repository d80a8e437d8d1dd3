"""The tree shows the architecture: cocmail/core decides and does no IO; the shell
around it does the IO. These tests read the source, so they fail the moment a core
module imports the shell (store, config, app, ...) or an IO library."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import cocmail

PACKAGE = Path(cocmail.__file__).parent
CORE = PACKAGE / "core"

# Standard-library and third-party modules that read or write the world, or the clock.
IO_MODULES = {
    "os", "sys", "io", "pathlib", "shutil", "tempfile", "glob", "socket", "ssl", "select",
    "selectors", "asyncio", "threading", "multiprocessing", "subprocess", "signal", "time",
    "sqlite3", "sqlite_utils", "smtplib", "imaplib", "imapclient", "aiosmtpd", "http",
    "urllib", "requests", "msal", "google", "logging", "tomllib", "fcntl", "ctypes",
    "importlib", "jinja2", "openpyxl",
}
ALLOWED_IO_NAMES = {("io", "StringIO")}  # an in-memory buffer for the CSV writer


def _imports(path: Path) -> list[tuple[int, str, str | None]]:
    """(level, module, first imported name) for every import, top level or in functions."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(0, a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                out.append((node.level, node.module or "", a.name))
    return out


def test_core_imports_no_shell_module() -> None:
    bad = []
    for path in sorted(CORE.glob("*.py")):
        for level, module, _name in _imports(path):
            if level >= 2 or (level == 0 and module.startswith("cocmail")
                              and not module.startswith("cocmail.core")):
                bad.append(f"{path.name}: {'.' * level}{module}")
    assert bad == []


def test_core_imports_no_io_module() -> None:
    bad = []
    for path in sorted(CORE.glob("*.py")):
        for level, module, name in _imports(path):
            top = module.split(".")[0]
            if level == 0 and top in IO_MODULES and (top, name) not in ALLOWED_IO_NAMES:
                bad.append(f"{path.name}: {module}")
    assert bad == []


def test_core_reads_no_clock() -> None:
    """The time arrives in Env.now; a core module asking the clock itself could not be
    tested on a frozen clock."""
    bad = [f"{p.name}: {needle}" for p in sorted(CORE.glob("*.py"))
           for needle in ("datetime.now(", ".utcnow(", "date.today(", "time.time(")
           if needle in p.read_text()]
    assert bad == []


def test_importing_the_core_loads_no_shell_module() -> None:
    """Checked in a fresh interpreter, as a newcomer would with `python -c`."""
    code = ("import sys, cocmail.core, pkgutil, importlib\n"
            "for m in pkgutil.iter_modules(cocmail.core.__path__):\n"
            "    importlib.import_module('cocmail.core.' + m.name)\n"
            "shell = sorted(n for n in sys.modules if n.startswith('cocmail.')\n"
            "               and not n.startswith('cocmail.core'))\n"
            "io = sorted(n for n in ('sqlite3', 'sqlite_utils', 'smtplib', 'imapclient',\n"
            "                        'aiosmtpd', 'socket', 'jinja2') if n in sys.modules)\n"
            "print(shell, io)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    # socket may come in through the email package (email.utils); nothing else may.
    assert out in ("[] []", "[] ['socket']")


def _module_graph() -> dict[str, set[str]]:
    """Top-level (import-time) imports between cocmail modules."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                deps.add(target)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("cocmail")}
        graph[name] = {d for d in deps if d != name}
    return graph


def test_no_import_circles() -> None:
    graph = _module_graph()
    known = set(graph)
    circles = []

    def visit(node: str, path: list[str]) -> None:
        for dep in sorted(graph.get(node, ())):
            if dep not in known:
                continue
            if dep in path:
                circles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in done:
                visit(dep, path + [dep])
        done.add(node)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    assert circles == []


# SQL as it is written in cocmail: a keyword, then what only SQL puts after it.
_SQL = re.compile(r"\b(?:SELECT\s+(?:DISTINCT\s+)?[\w*().,\s]+?\s+FROM\s+\w"
                  r"|SELECT\s+(?:1|count|max|min|coalesce|value)\b"
                  r"|INSERT\s+(?:OR\s+\w+\s+)?INTO\s+\w|UPDATE\s+\w+\s+SET\s"
                  r"|DELETE\s+FROM\s+\w|CREATE\s+(?:UNIQUE\s+)?(?:TABLE|INDEX)\s"
                  r"|PRAGMA\s+\w|BEGIN\s+(?:IMMEDIATE|EXCLUSIVE|DEFERRED)\b|ROLLBACK\b)")
STORE = PACKAGE / "store"  # the package: connection, migrations, one module per table family


def _sql_literals(path: Path) -> list[int]:
    """Line numbers of string constants (f-string parts included) that hold SQL."""
    return sorted({node.lineno for node in ast.walk(ast.parse(path.read_text(), str(path)))
                   if isinstance(node, ast.Constant) and isinstance(node.value, str)
                   and _SQL.search(node.value)})


def test_no_sql_outside_the_store() -> None:
    """Every statement lives under cocmail/store/ (the schema in store/migrations.py): the
    rest of the shell calls named store functions, so a reader finds all SQL in one
    package and an index change in one place."""
    bad = [f"{path.relative_to(PACKAGE.parent)}:{line}"
           for path in sorted(PACKAGE.rglob("*.py")) if STORE not in path.parents
           for line in _sql_literals(path)]
    assert bad == []


def test_the_sql_check_sees_sql() -> None:
    """The check above finds what it looks for, and leaves IMAP's SELECT alone."""
    assert _SQL.search("SELECT id, raw FROM outbox ORDER BY id")
    assert _SQL.search("SELECT 1 FROM digests WHERE week=?")
    assert _SQL.search("INSERT OR IGNORE INTO digests(week) VALUES (?)")
    assert _SQL.search("UPDATE inbound SET raw=NULL")
    assert _SQL.search("PRAGMA integrity_check")
    assert not _SQL.search("A catch-up costs a SELECT and a SEARCH, so when in doubt, look.")
    assert _sql_literals(STORE / "cases.py")


def test_a_store_function_takes_the_connection_first() -> None:
    """`conn` first, always, in every table family (store/cases.py, inbound.py ...): a
    transaction handed in last (or as a keyword), or a `conn | None` that ran two code
    paths, were spellings the one big Store class had. Store itself holds the connection
    and takes none."""
    import importlib
    import inspect

    from cocmail.store import Store

    wrong = [f"Store.{name}" for name, method in inspect.getmembers(Store, inspect.isfunction)
             if any(p.name in ("conn", "c") or str(p.annotation).endswith("Connection")
                    for p in inspect.signature(method).parameters.values())]
    for path in sorted(STORE.glob("*.py")):
        if path.stem in ("__init__", "connection", "migrations"):
            continue
        module = importlib.import_module(f"cocmail.store.{path.stem}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__ or name.startswith("_"):
                continue
            first = next(iter(inspect.signature(fn).parameters.values()), None)
            if first is None or first.name != "conn" or "Connection" not in str(first.annotation):
                wrong.append(f"{path.stem}.{name}")
    assert wrong == []


def test_the_store_reads_no_clock_and_draws_no_randomness() -> None:
    """The store is given the time (`now`, `at`) by its callers, as the core is: a row
    stamped by the store's own clock could not be tested on a frozen clock. (The lock
    waits measure durations on time.monotonic, which tells no time of day.)"""
    needles = ("datetime.now(", ".utcnow(", "utcnow", "date.today(", "time.time(",
               "import random", "from random", "import secrets", "from secrets", "urandom",
               "uuid")
    bad = [f"{p.relative_to(PACKAGE.parent)}: {needle}" for p in sorted(STORE.rglob("*.py"))
           for needle in needles if needle in p.read_text()]
    assert bad == []
