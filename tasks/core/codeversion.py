"""What a step's result depends on in the build system's own code, derived from its imports.

A task re-runs when the code that shapes its output changes. That code is the module
holding the task's action and every `tasks` module it imports, transitively (at the
top level or inside functions; imports under `if TYPE_CHECKING:` do not run and are
left out). Nothing is listed by hand, so a new helper module cannot be forgotten.
"""

from __future__ import annotations

import ast
import hashlib
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


@cache
def imports_of(dotted: str) -> frozenset[str]:
    """The `tasks` modules that `dotted` imports directly (those that exist as files)."""
    path = module_file(dotted)
    if path is None:
        return frozenset()
    names = {n for n in _imported(ast.parse(path.read_bytes(), str(path))) if module_file(n)}
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
    return digest.hexdigest()
