"""What a step's result depends on in the build system's own code, derived from its imports.

A task re-runs when the code that shapes its output changes. That code is the module
holding the task's action and every `tasks` module it imports, transitively (at the
top level or inside functions; imports under `if TYPE_CHECKING:` do not run and are
left out). Nothing is listed by hand, so a new helper module cannot be forgotten.

Parsing the build system's modules (86 of them) costs ~0.2 s of every doit start; `keep_in(file)` keeps
each module's imports by the digest of its bytes (build/state), so a start parses only what changed.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import marshal
import os
from functools import cache
from pathlib import Path

PACKAGE = "tasks"
HERE = Path(__file__).resolve().parent.parent  # the tasks/ folder


def module_file(dotted: str) -> Path | None:
    """The file of a `tasks...` module or package, or None if there is none."""
    parts = dotted.split(".")
    if parts[0] != PACKAGE:
        return None
    base = HERE.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # `from tasks.core import atomic`
        stack.extend(ast.iter_child_nodes(node))
    return {name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}


_kept: dict[str, list[str]] = {}  # md5 of a module's bytes -> the `tasks` names it imports
_store: list[Path] = []  # where _kept is kept, once keep_in() was called
_new: list[str] = []  # digests parsed since _kept was read


def keep_in(store: Path) -> None:
    """Keep the parsed imports in `store` across processes (a marshal file; unreadable: parsed again)."""
    _store[:] = [store]
    try:
        data = marshal.loads(store.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return
    if isinstance(data, dict):
        _kept.update({k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, list)})


def _save() -> None:
    if not _store or not _new:
        return
    store = _store[0]
    tmp = store.with_name(f"{store.name}.{os.getpid()}.tmp")
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(marshal.dumps(_kept))
        os.replace(tmp, store)
        _new.clear()
    except OSError:  # a cache: without it the next start parses again (a read-only build/: nothing to remove)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _imports(path: Path) -> set[str]:
    data = path.read_bytes()
    key = hashlib.md5(data).hexdigest()
    if key not in _kept:
        _kept[key] = sorted(_imported(ast.parse(data, str(path))))
        _new.append(key)
    return set(_kept[key])


@cache
def imports_of(dotted: str) -> frozenset[str]:
    """The `tasks` modules that `dotted` imports directly (those that exist as files)."""
    path = module_file(dotted)
    if path is None:
        return frozenset()
    names = {n for n in _imports(path) if module_file(n)}
    # importing a.b.c runs the __init__ of a and a.b too
    for name in list(names):
        parts = name.split(".")
        names.update(".".join(parts[:i]) for i in range(1, len(parts)))
    names.discard(dotted)
    return frozenset(names)


@cache
def reach(entry: str) -> tuple[str, ...]:
    """`entry` and every `tasks` module it imports, transitively, sorted."""
    parts = entry.split(".")
    seen = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}  # importing a.b.c runs a and a.b too
    todo = sorted(seen)
    while todo:
        for name in imports_of(todo.pop()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return tuple(sorted(n for n in seen if module_file(n)))


@cache
def code_version(entry: str) -> str:
    """A digest of the code of `entry` (a dotted `tasks` module) and all it imports."""
    digest = hashlib.md5()
    for name in reach(entry):
        path = module_file(name)
        assert path is not None
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    _save()
    return digest.hexdigest()
