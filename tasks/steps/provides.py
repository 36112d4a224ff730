"""What a module provides to the modules built on it: its exported names, checked statically at export.

A dependant's `from <package>.<target> import Name` must find `Name` at the top level of an
exported cell of the module it imports from. Checked from both sides, on the sources only
(no import, no nbdev): when the importer is exported, and when the provider is exported
(a name deleted, or its cell lost `#| export`), so the student learns it at the edit, with
both places, instead of as an ImportError in a dependant's tests.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tasks.core import atomic, layout
from tasks.core.codeversion import code_version
from tasks.core.errors import Problem
from tasks.core.places import Place
from tasks.core.text import closest
from tasks.steps.sources import Cell, Import, check_code, decode, scan

WILDCARD = "*"  # `from x import *` or a module `__getattr__`: anything may be provided


@dataclass(frozen=True)
class Provided:
    """Top-level names of one source: bound in exported cells, and bound only in other code cells."""

    path: str
    exported: dict[str, int]  # name -> source line
    elsewhere: dict[str, int]
    cells: dict[str, int] = field(default_factory=dict)  # name -> the notebook cell its line counts in


def _bound(body: Iterable[ast.stmt], first: int) -> dict[str, int]:
    """Names a module body binds at its top level (descending into if/try/with), with source lines."""
    out: dict[str, int] = {}

    def add(name: str, node: ast.AST) -> None:
        out.setdefault(name, first + getattr(node, "lineno", 1) - 1)

    def targets(node: ast.expr) -> Iterable[ast.Name]:
        if isinstance(node, ast.Name):
            yield node
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                yield from targets(elt)
        elif isinstance(node, ast.Starred):
            yield from targets(node.value)

    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            add(WILDCARD if node.name == "__getattr__" else node.name, node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                for name in targets(target):
                    add(name.id, node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                add(alias.asname or alias.name.split(".")[0], node)
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for block in ("body", "orelse", "finalbody", "handlers"):
                for sub in getattr(node, block, []):
                    inner = sub.body if isinstance(sub, ast.ExceptHandler) else [sub]
                    for bound, line in _bound(inner, first).items():
                        out.setdefault(bound, line)
    return out


def provided(cells: list[Cell], path: str) -> Provided:
    """The names a source's exported cells bind, and those bound only in its other code cells."""
    exported: dict[str, int] = {}
    elsewhere: dict[str, int] = {}
    cell_of: dict[tuple[bool, str], int] = {}  # (exported?, name) -> the cell of its line (notebook sources)
    for cell in cells:
        if cell.kind != "code":
            continue
        first, code = cell.code()
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue  # reported by check_code for exported cells; scratch cells may be anything
        names = _bound(tree.body, first)
        into = exported if cell.exported else elsewhere
        for name, line in names.items():
            if name not in into:
                into[name] = line
                cell_of[(cell.exported, name)] = cell.at
    others = {n: ln for n, ln in elsewhere.items() if n not in exported}
    at = {n: cell_of[(False, n)] for n in others} | {n: cell_of[(True, n)] for n in exported}
    return Provided(path, exported, others, {n: c for n, c in at.items() if c})


def missing(importer: str, importer_path: str, imports: Iterable[Import], provider: str, target: str,
            names: Provided, at_provider: bool = False) -> list[Problem]:
    """A problem per name `importer` imports from `target` (module `provider`) that `names` lacks.

    `at_provider`: the check runs at the provider's export, so the problem is placed there when it can be.
    """
    if WILDCARD in names.exported:
        return []
    problems: list[Problem] = []
    for imp in imports:
        if imp.module != target:
            continue
        for name in imp.names:
            if name == WILDCARD or name in names.exported:
                continue
            imported = Place(importer_path, imp.line, 0, imp.cell)
            both = f"{importer} imports {name} from {provider} ({imported}); {provider} does not export it"
            if name in names.elsewhere:
                defined = Place(names.path, names.elsewhere[name], 0, names.cells.get(name, 0))
                where = defined if at_provider else imported
                problems.append(Problem(where.path, where.line, 0, (
                    f"{both} (defined at {defined} in a cell without '#| export'): "
                    "add '#| export' at the top of that cell"), where.cell))
            else:
                guess = closest(name, [n for n in names.exported if n != WILDCARD])
                hint = f"; did you mean {guess!r}?" if guess else ""
                problems.append(Problem(importer_path, imp.line, 0, (
                    f"{both} (there is no definition of {name} in {names.path}): "
                    f"restore it in {provider}, or change the import in {importer}{hint}"), imp.cell))
    return problems


def check_provided(root: Path, name: str, path: str, target: str, cells: list[Cell], package: str,
                   imports: list[Import], depends: Mapping[str, str], dependants: Mapping[str, str],
                   sources: Mapping[str, str]) -> list[Problem]:
    """Both sides of module `name`: what it imports from its dependencies, what its dependants import from it.

    `depends`: dependency name -> target; `dependants`: dependant name -> source path;
    `sources`: dependency name -> source path.
    """
    problems: list[Problem] = []
    for dep, dep_target in depends.items():
        dep_path = sources.get(dep)
        if dep_path is None or not any(imp.module == dep_target for imp in imports):
            continue
        dep_summary = summary(root, dep_path, package)
        if dep_summary is not None:
            problems += missing(name, path, imports, dep, dep_target, dep_summary[1])
    mine: Provided | None = None
    for other, other_path in dependants.items():
        other_summary = summary(root, other_path, package, mentions=target)
        if other_summary is None:
            continue
        mine = mine or provided(cells, path)
        problems += missing(other, other_path, other_summary[0], name, target, mine, at_provider=True)
    return problems


def summary(root: Path, rel: str, package: str, mentions: str = "") -> tuple[list[Import], Provided] | None:
    """Another source's package imports and provided names; None when it cannot be read, or does not name `mentions`.

    Kept in a record keyed by the source's bytes (and this code's version): reading a source
    through jupytext costs ~20 ms, and a middle module has a dozen dependants that rarely change.
    """
    try:
        data = (root / rel).read_bytes()
    except OSError:
        return None  # reported at the other module's own export
    if mentions and mentions.encode() not in data:
        return None  # cheap: most dependants of a root module do not name every module
    key = hashlib.sha256(b"\0".join([data, package.encode(), code_version(__name__).encode()])).hexdigest()
    record = layout.at(root, layout.provides_record(rel))
    try:
        kept = json.loads(record.read_text(encoding="utf-8"))
        if kept["key"] == key:
            return ([Import(**{**i, "names": tuple(i["names"])}) for i in kept["imports"]], Provided(**kept["provided"]))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        pass  # absent or of another shape: parsed again below
    try:
        cells = scan(decode(data, rel), rel)
    except Exception:  # noqa: BLE001 - the other module's own export reports its problems
        return None
    imports = check_code(cells, rel, package)[1]
    names = provided(cells, rel)
    # every field of both records, whatever they hold (the key changes with this code's version)
    atomic.write_text(record, json.dumps({"key": key, "imports": [dataclasses.asdict(i) for i in imports],
                                          "provided": dataclasses.asdict(names)}))
    return imports, names
