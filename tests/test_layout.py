"""The tree shows the architecture: cocmail/core decides and does no IO; the shell
around it does the IO. These tests read the source, so they fail the moment a core
module imports the shell (store, config, app, ...) or an IO library."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def _imports(path: Path, source: str | None = None) -> list[tuple[int, str, str | None]]:
    """(level, module, first imported name) for every import, top level or in functions."""
    out = []
    text = path.read_text() if source is None else source
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            out += [(0, a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                out.append((node.level, node.module or "", a.name))
    return out


def _absolute(path: Path, level: int, module: str) -> str:
    """The absolute module name an import in `path` names: a relative import is resolved
    from the file's own package, so `..workflow` inside core/mail_commands is
    `cocmail.core.workflow` (core) and `...store` is `cocmail.store` (shell)."""
    if level == 0:
        return module
    package = list(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    base = package[:len(package) - (level - 1)] if level - 1 <= len(package) else []
    return ".".join(base + ([module] if module else []))


def _shell_imports(path: Path, source: str | None = None) -> list[str]:
    """Each import, in the core module at `path`, of a cocmail module outside cocmail.core."""
    bad = []
    for level, module, _name in _imports(path, source):
        name = _absolute(path, level, module)
        if name.split(".")[0] == "cocmail" and not (
                name == "cocmail.core" or name.startswith("cocmail.core.")):
            bad.append(f"{path.relative_to(CORE)}: {'.' * level}{module}")
    return bad


def test_core_imports_no_shell_module() -> None:
    assert [bad for path in sorted(CORE.rglob("*.py")) for bad in _shell_imports(path)] == []


def test_the_shell_import_check_reaches_subpackages() -> None:
    """An import planted in core/mail_commands is resolved from that package: `..` is
    still the core, `...` is the shell."""
    path = CORE / "mail_commands" / "planted.py"
    assert _shell_imports(path, "from ..workflow import Refused\n") == []
    assert _shell_imports(path, "from . import values\n") == []
    assert _shell_imports(path, "from ...store import cases\n") == [
        "mail_commands/planted.py: ...store"]
    assert _shell_imports(path, "from ... import config\n") == ["mail_commands/planted.py: ..."]
    assert _shell_imports(path, "import cocmail.config\n") != []
    assert _shell_imports(CORE / "planted.py", "from ..store import cases\n") != []


def test_core_imports_no_io_module() -> None:
    bad = []
    for path in sorted(CORE.rglob("*.py")):
        for level, module, name in _imports(path):
            top = module.split(".")[0]
            if level == 0 and top in IO_MODULES and (top, name) not in ALLOWED_IO_NAMES:
                bad.append(f"{path.relative_to(CORE)}: {module}")
    assert bad == []


# Where nothing reads the wall clock or draws randomness: the core is given the time and
# its nonces (Env.now, Env.nonce), the store the time (by its caller), so both can be
# tested on a frozen clock with fixed Message-IDs.
DETERMINISTIC = ["cocmail/core", "cocmail/store"]
_CLOCK_METHODS = {"now", "utcnow", "today"}  # datetime.now(), date.today(), ...
_TIME_FUNCTIONS = {"time", "time_ns", "localtime", "gmtime", "ctime", "asctime"}  # time.*
_RANDOM_MODULES = {"secrets", "random"}
_RANDOM_NAMES = {"urandom", "getrandom", "uuid1", "uuid4", "SystemRandom"}
_SHELL_SOURCES = {"utcnow", "new_nonce"}  # cocmail/clock.py's and cocmail/nonces.py's


def _modules(where: str) -> list[Path]:
    base = PACKAGE.parent / where
    if base.is_dir():
        return sorted(base.rglob("*.py"))
    return [base.with_suffix(".py")] if base.with_suffix(".py").exists() else []


def _clock_names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(names bound to datetime's `datetime`/`date` classes or to the datetime module,
    names bound to the time module) in `tree`, aliases included: `env.now` is Env's
    attribute, `dt.now` after `from datetime import datetime as dt` is the wall clock."""
    classes, time_modules = {"datetime", "date"}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "datetime":
            classes |= {a.asname or a.name for a in node.names if a.name in ("datetime", "date")}
        elif isinstance(node, ast.Import):
            classes |= {a.asname or a.name for a in node.names if a.name == "datetime"}
            time_modules |= {a.asname or a.name for a in node.names if a.name == "time"}
    return classes, time_modules


def _reads_clock(node: ast.Attribute, classes: set[str], time_modules: set[str]) -> bool:
    """`datetime.now`, `date.today`, `dt.datetime.utcnow`, `time.time`, called or not."""
    value = node.value
    if node.attr in _CLOCK_METHODS:
        return (isinstance(value, ast.Name) and value.id in classes
                or isinstance(value, ast.Attribute) and value.attr in ("datetime", "date"))
    return (node.attr in _TIME_FUNCTIONS and isinstance(value, ast.Name)
            and value.id in time_modules)


def _nondeterminism(source: str) -> list[str]:
    """Each wall-clock read or random draw in `source`: the import of a random source,
    of the shell's clock or of a clock function from `time`, each call that reads either,
    and each reference to a clock method (`f = datetime.now`, `default_factory=date.today`)."""
    found = []
    tree = ast.parse(source)
    classes, time_modules = _clock_names(tree)
    called = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names
                      if a.name.split(".")[0] in _RANDOM_MODULES]
        elif isinstance(node, ast.ImportFrom):
            top = (node.module or "").split(".")[0]
            found += [f"from {node.module} import {a.name}" for a in node.names
                      if node.level == 0 and top in _RANDOM_MODULES
                      or node.level == 0 and node.module == "time" and a.name in _TIME_FUNCTIONS
                      or a.name in _RANDOM_NAMES | _SHELL_SOURCES]
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in _RANDOM_NAMES | _SHELL_SOURCES:
                found.append(f"{f.id}()")
            elif isinstance(f, ast.Attribute) and (
                    f.attr in _CLOCK_METHODS | _RANDOM_NAMES
                    or isinstance(f.value, ast.Name) and (
                        f.value.id == "time" and f.attr in _TIME_FUNCTIONS
                        or f.value.id in _RANDOM_MODULES)):
                found.append(f"{ast.unparse(f)}()")
                called.add(id(f))
    found += [ast.unparse(node) for node in ast.walk(tree)
              if isinstance(node, ast.Attribute) and id(node) not in called
              and _reads_clock(node, classes, time_modules)]
    return found


@pytest.mark.parametrize("where", DETERMINISTIC)
def test_reads_no_clock_and_draws_no_randomness(where: str) -> None:
    """The time arrives in Env.now (the store: as an argument) and nonces in Env.nonce; a
    module asking the clock or the OS's random source itself could not be tested on a
    frozen clock, nor give the same Message-IDs twice."""
    modules = _modules(where)
    assert modules, f"{where}: neither a package nor a module"
    bad = [f"{path.relative_to(PACKAGE.parent)}:{what}" for path in modules
           for what in _nondeterminism(path.read_text())]
    assert bad == []


def test_the_clock_and_randomness_check_sees_them() -> None:
    """Each way in is caught (planted here), and the look-alikes the core uses are not."""
    for planted in ("import secrets", "import random", "from random import choice",
                    "from os import urandom", "x = os.urandom(8)", "from uuid import uuid4",
                    "x = uuid.uuid4()", "x = secrets.token_hex()", "x = datetime.now(UTC)",
                    "x = datetime.utcnow()", "x = date.today()", "x = time.time()",
                    "from ..clock import utcnow", "x = utcnow()", "from .nonces import new_nonce",
                    "f = datetime.now", "from time import time as t", "from time import gmtime",
                    "from time import time_ns", "from time import localtime",
                    "at: datetime = field(default_factory=datetime.now)",
                    "from datetime import datetime as dt\nf = dt.now",
                    "from datetime import date as d\nf = d.today",
                    "import datetime as dtm\nf = dtm.datetime.utcnow",
                    "import time as tm\nf = tm.time"):
        assert _nondeterminism(planted), planted
    for innocent in ("x = env.now", "x = self.env.now", "x = time(9, 0)", "x = env.nonce()",
                     "from datetime import time\nx = time(9, 0)", "x = case.today",
                     "from .clock import iso, parse_iso", "x = time.monotonic()",
                     "def f(random_bytes): return random_bytes(12)"):
        assert _nondeterminism(innocent) == [], innocent


# A module a newcomer reads in one sitting, a class whose concerns fit in one head.
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 400


def _sizes(package: Path = PACKAGE) -> tuple[dict[str, int], dict[str, int]]:
    """(lines of every module, lines of every class as `module:Class`) under `package`."""
    modules, classes = {}, {}
    for path in sorted(package.rglob("*.py")):
        rel = str(path.relative_to(package.parent))
        text = path.read_text()
        modules[rel] = len(text.splitlines())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                classes[f"{rel}:{node.name}"] = (node.end_lineno or start) - start + 1
    return modules, classes


def _oversized(package: Path = PACKAGE) -> dict[str, int]:
    """Modules over MAX_MODULE_LINES and classes over MAX_CLASS_LINES, with their lines."""
    modules, classes = _sizes(package)
    return {**{k: n for k, n in modules.items() if n > MAX_MODULE_LINES},
            **{k: n for k, n in classes.items() if n > MAX_CLASS_LINES}}


def test_no_module_over_600_lines_and_no_class_over_400() -> None:
    assert _oversized() == {}


def test_the_size_check_sees_a_long_module_and_a_long_class(tmp_path: Path) -> None:
    """Planted: a module of 601 lines and a class of 401 are over; 600 and 400 are not."""
    package = tmp_path / "planted"
    package.mkdir()
    (package / "long.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    (package / "fits.py").write_text("x = 1\n" * MAX_MODULE_LINES)
    body = "    x = 1\n" * (MAX_CLASS_LINES - 1)
    (package / "long_class.py").write_text("@dataclass\nclass Long:\n" + body)
    (package / "fitting_class.py").write_text("class Fits:\n" + body)
    assert _oversized(package) == {"planted/long.py": MAX_MODULE_LINES + 1,
                                   "planted/long_class.py:Long": MAX_CLASS_LINES + 1}


def test_importing_the_core_loads_no_shell_module() -> None:
    """Checked in a fresh interpreter, as a newcomer would with `python -c`."""
    code = ("import sys, cocmail.core, pkgutil, importlib\n"
            "for m in pkgutil.walk_packages(cocmail.core.__path__, 'cocmail.core.'):\n"
            "    importlib.import_module(m.name)\n"
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


# Not table functions: the key store's own connections, and the sealed-value format.
_NOT_CONN_FIRST = {("keystore", "connect"), ("keystore", "read_only"),
                   ("sealed", "is_sealed"), ("sealed", "key_id_of"),
                   ("sealed", "unsealing_rows")}


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
            if (path.stem, name) in _NOT_CONN_FIRST:
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
