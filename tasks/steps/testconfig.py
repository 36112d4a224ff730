"""Every file that decides a test's outcome besides the test itself: conftest.py files, local helper
modules the tests import, and the pytest settings (issue 15, item 5).

A `tests/unit/conftest.py` that broke every unit test used to leave `doit` at "15 of 15 passed":
it was no dependency of any task. pytest reads conftest.py from the test's directory up to the
root, puts the first directory without `__init__.py` on sys.path (its "prepend" import mode), and
reads its settings from the first of pytest.ini, pyproject.toml, tox.ini, setup.cfg that has them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SETTINGS = ("pytest.ini", ".pytest.ini", "tox.ini", "setup.cfg")  # besides pyproject.toml's [tool.pytest...]
MAX_HELPERS = 200  # a bound on the walk through helpers that import helpers


def _conftests(root: Path, test: Path) -> list[Path]:
    out: list[Path] = []
    here = test.parent
    while True:
        if (here / "conftest.py").is_file():
            out.append(here / "conftest.py")
        if here == root or root not in here.parents:
            return out
        here = here.parent


def _basedir(test: Path, root: Path) -> Path:
    """The directory pytest puts on sys.path for `test`: the first one up without an __init__.py."""
    here = test.parent
    while (here / "__init__.py").is_file() and here != root:
        here = here.parent
    return here


def _local_imports(path: Path, base: Path, local: set[str]) -> list[Path]:
    """Modules of `base` (names in `local`) that the file at `path` imports."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return []  # pytest reports a test file that cannot be parsed
    found: list[Path] = []
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
        for name in names:
            top = name.split(".")[0]
            if top in local:
                found.append(base / f"{top}.py" if (base / f"{top}.py").is_file() else base / top / "__init__.py")
    return found


def test_inputs(root: Path, tests: Iterable[str]) -> list[str]:
    """Files besides `tests` (relative to `root`) that decide their outcome, relative, sorted."""
    root = root.resolve()
    out: set[Path] = set()
    listed: dict[Path, set[str]] = {}
    todo: list[tuple[Path, Path]] = []
    for rel in tests:
        test = root / rel
        for conftest in _conftests(root, test):
            out.add(conftest)
            todo.append((conftest, conftest.parent))
        todo.append((test, _basedir(test, root)))
    seen = 0
    while todo and seen < MAX_HELPERS:
        path, base = todo.pop()
        seen += 1
        if base not in listed:
            # only read a file when its directory has modules it could import: the common case reads nothing
            listed[base] = {p.stem for p in base.glob("*.py") if not p.stem.startswith(("test_", "conftest"))} | \
                {p.parent.name for p in base.glob("*/__init__.py")}
        if not listed[base]:
            continue
        for helper in _local_imports(path, base, listed[base]):
            if helper not in out and helper.is_file():
                out.add(helper)
                todo.append((helper, base))
    for name in SETTINGS:
        if (root / name).is_file():
            out.add(root / name)
    return sorted(p.relative_to(root).as_posix() for p in out if p.is_relative_to(root))


def pytest_settings(root: Path) -> Any:
    """pyproject.toml's [tool.pytest.ini_options] (pyproject.toml is not a file_dep: a version bump
    must not re-run every test; its pytest settings must)."""
    import tomllib

    try:
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a broken pyproject fails `doit wheel` with its message (tasks.steps.assemble)
    tool = data.get("tool")
    pytest = tool.get("pytest") if isinstance(tool, dict) else None
    return pytest if isinstance(pytest, dict) else None
