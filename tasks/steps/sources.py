"""Course sources: the cells jupytext reads, with line numbers, and the checks of their directives and code.

The cells are jupytext's own (`tasks.tools.percent`), and a cell's directives and
code are split as nbdev splits them, so what is checked is what is exported;
characters that would make jupytext count lines differently from an editor are refused.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from tasks.core.errors import Problem, SourceError
from tasks.core.places import Place, cell_lines, start
from tasks.core.text import BadEncoding, closest, closest_dotted, parents, utf8

CellKind = Literal["code", "markdown", "raw"]

# nbdev's reading (fastcore.nbio): a cell's leading block is its directive, cell-magic and blank lines
_LEADING = re.compile(r"^(\s*#\s*\||\s*%%\w+|\s*$)")
_MAGIC = re.compile(r"^\s*%%\w+")
_DIRECTIVE = re.compile(r"^\s*#\s*\|\s*(?P<name>[^\s:]+)\s*:?\s?(?P<value>.*?)\s*$")
# comment lines that look like an nbdev directive missing its '|'
_NEAR_DIRECTIVE = re.compile(r"^\s*#\s*(?P<name>export[a-z]*|default_exp|exporti|hide)\b\s*(?P<value>.*)$", re.I)
# characters str.splitlines() (so jupytext and nbdev) breaks lines at, and an editor does not
_SPLITLINES_ONLY = re.compile("[\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_SEPARATOR_NAMES = {"\v": "a vertical tab", "\f": "a form feed", "\x1c": "a file separator", "\x1d": "a group separator",
                    "\x1e": "a record separator", "\x85": "a next-line character", "\u2028": "a line separator",
                    "\u2029": "a paragraph separator"}
EXPORTS = ("export", "exporti", "exports")
# directives nbdev or Quarto understand; anything else is most likely a typo
KNOWN_DIRECTIVES = frozenset({
    "export", "exporti", "exports", "exportd", "default_exp", "hide", "eval", "echo", "output",
    "include", "code-fold", "code-summary", "label", "fig-cap", "fig-alt", "tbl-cap", "warning",
    "error", "filter_stream", "hide_line", "hide_input", "hide_output", "collapse_output",
    "collapse_input", "notest", "python", "lang", "file", "column", "layout-ncol", "output-location",
})


@dataclass(frozen=True)
class Cell:
    """One cell as jupytext reads it; `first_line` is the 1-based line of its first body line.

    In a notebook (`in_notebook`), lines count within the cell, as places print them (`tasks.core.places`).
    """

    kind: CellKind
    marker_line: int  # line of the cell marker, 0 when the cell precedes any marker
    first_line: int
    lines: tuple[str, ...]
    number: int = 0  # 1-based position in the notebook
    in_notebook: bool = False
    meta: tuple[tuple[str, str], ...] = ()  # directives set in the cell's metadata ('nbdev' key)

    @property
    def at(self) -> int:
        """The `cell` of a place in this cell: its number in a notebook, 0 in a percent source."""
        return self.number if self.in_notebook else 0

    @property
    def leading(self) -> int:
        """How many lines nbdev takes as the cell's leading block (directives, cell magics, blanks)."""
        i = 0
        while i < len(self.lines) and _LEADING.match(self.lines[i]):
            i += 1
        return i

    @property
    def directives(self) -> list[tuple[int, str, str]]:
        """The leading `#| name value` lines as (line, name, value), as nbdev reads them."""
        out: list[tuple[int, str, str]] = []
        for i, text in enumerate(self.lines[:self.leading]):
            m = _DIRECTIVE.match(text)
            if m:
                value = m.group("value")
                out.append((self.first_line + i, m.group("name"), "" if value == "true" else value))
        return out

    @property
    def exported(self) -> bool:
        names = {name for _, name, _ in self.directives} | {name for name, _ in self.meta}
        return self.kind == "code" and bool(names & set(EXPORTS))

    def code(self) -> tuple[int, str]:
        """The code nbdev writes for this cell (after its leading block), with its first line number."""
        i = self.leading
        return self.first_line + i, "\n".join(self.lines[i:])


def decode(raw: bytes, path: str) -> str:
    """Source bytes -> text: UTF-8 (a BOM is dropped), CRLF/CR line endings become LF."""
    try:
        text = utf8(raw)
    except BadEncoding as exc:
        msg = f"{path}:{exc.line}: not valid UTF-8 (byte {exc.byte:#04x}); save the file as UTF-8 in your editor"
        raise SourceError(msg) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def check_separators(text: str, path: str, cell: int = 0) -> list[Problem]:
    """Characters that split a line for jupytext and nbdev but not for an editor: refused, so lines agree."""
    problems: list[Problem] = []
    for m in _SPLITLINES_ONLY.finditer(text):
        start = text.rfind("\n", 0, m.start()) + 1
        line, col, ch = text.count("\n", 0, m.start()) + 1, m.start() - start + 1, m.group()
        problems.append(Problem(path, line, col, (
            f"{_SEPARATOR_NAMES[ch]} (U+{ord(ch):04X}): jupytext and nbdev start a new line at it and an editor "
            f"does not, so line numbers would disagree; delete it, or write it as the escape '\\x{ord(ch):02x}' "
            "inside a string" if ord(ch) < 0x100 else
            f"{_SEPARATOR_NAMES[ch]} (U+{ord(ch):04X}): jupytext and nbdev start a new line at it and an editor "
            f"does not, so line numbers would disagree; delete it, or write it as the escape '\\u{ord(ch):04x}' "
            "inside a string"), cell))
    return problems


def _nb_meta(cell: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    meta = (cell.get("metadata") or {}).get("nbdev") or {}
    return tuple((str(k), "" if v == "true" else str(v)) for k, v in meta.items()) if isinstance(meta, dict) else ()


def _cells_from_ipynb(text: str, path: str) -> list[Cell]:
    try:
        nb = json.loads(text)
        raw_cells = nb["cells"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"{path}:1: not a valid notebook ({exc}); re-save it from Jupyter") from None
    cells: list[Cell] = []
    for i, c in enumerate(raw_cells):
        kind = c.get("cell_type", "code")
        cells.append(Cell(kind if kind in ("code", "markdown", "raw") else "raw", i + 1, 1, cell_lines(c),
                          number=i + 1, in_notebook=True, meta=_nb_meta(c)))
    return cells


def percent_notebook(text: str, path: str) -> tuple[dict[str, Any], list[Cell]]:
    """A percent source read by jupytext: the notebook export renders, and its cells with their lines."""
    from tasks.tools.percent import OtherFormat, read_percent

    try:
        data, located = read_percent(text)
    except OtherFormat as exc:
        msg = f"{path}:1: the jupytext header declares the '{exc}' format; the build reads percent sources: remove it"
        raise SourceError(msg) from None
    except Exception as exc:  # noqa: BLE001 - jupytext/nbformat raise their own types for a bad header
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"{path}:1: jupytext cannot read this file ({first}); fix or remove the '# ---' header"
        raise SourceError(msg) from None
    cells: list[Cell] = []
    for i, loc in enumerate(located, start=1):
        src = loc.cell.get("source", "")
        body = "".join(src) if isinstance(src, list) else str(src)
        kind = loc.cell.get("cell_type", "code")
        cells.append(Cell(kind if kind in ("code", "markdown", "raw") else "raw", loc.marker_line, loc.first_line,
                          tuple(body.split("\n")), number=i, meta=_nb_meta(loc.cell)))
    return data, cells


def scan(text: str, path: str = "<source>") -> list[Cell]:
    """The cells of a source as jupytext reads them (an `.ipynb` when `path` ends with it)."""
    if path.endswith(".ipynb"):
        return _cells_from_ipynb(text, path)
    return percent_notebook(text, path)[1]


def _suggest(word: str, choices: list[str]) -> str:
    return closest(word.lower(), choices) or ""


def check_directives(cells: list[Cell], path: str, expected_exp: str) -> list[Problem]:
    """default_exp present once and equal to the target; no typos, no targeted exports, none nbdev ignores."""
    problems: list[Problem] = []
    found: list[tuple[int, int, str]] = []  # (cell, line, value)
    for cell in cells:
        if cell.kind != "code":
            continue
        here = cell.at
        leading = {line for line, _, _ in cell.directives}
        for line, name, value in [(ln, n, v) for ln, n, v in cell.directives] + [(0, n, v) for n, v in cell.meta]:
            where_line = line or cell.first_line
            if name == "default_exp":
                found.append((here, where_line, value))
            elif name in EXPORTS and value:
                problems.append(Problem(path, where_line, 0, (
                    f"'#| {name} {value}' exports to another module; every module exports to its own "
                    f"target only: write '#| {name}' and move the code to the module that owns {value!r}"), here))
            elif name not in KNOWN_DIRECTIVES:
                guess = _suggest(name, sorted(KNOWN_DIRECTIVES))
                hint = f"; did you mean '#| {guess}'?" if guess else "; nbdev ignores it"
                problems.append(Problem(path, where_line, 0, f"unknown directive '#| {name}'{hint}", here))
        for i, text in enumerate(cell.lines):
            line = cell.first_line + i
            m = _DIRECTIVE.match(text)
            if line in leading:
                continue
            if i < cell.leading and _MAGIC.match(text) and cell.exported:
                problems.append(Problem(path, line, 0, (
                    f"cell magic '{text.strip()}' in an exported cell: nbdev would copy it into the module, where it "
                    "is not Python; move it to a cell without '#| export'"), here))
            elif m and m.group("name") in EXPORTS and not m.group("value") and cell.exported:
                continue  # a redundant '#| export' inside an exported cell: nbdev exports it as a comment
            elif m and m.group("name") in EXPORTS + ("default_exp",):
                problems.append(Problem(path, line, 0, (
                    f"'#| {m.group('name')}' must be on the cell's first lines, before any code; "
                    "nbdev ignores it here: move it to the top of the cell"), here))
            else:
                near = _NEAR_DIRECTIVE.match(text)
                if near and not m and i < 3:
                    name = near.group("name").lower()
                    name = name if name in KNOWN_DIRECTIVES else _suggest(name, list(EXPORTS + ("default_exp",)))
                    fixed = f"#| {name}" + (f" {near.group('value')}" if near.group("value") else "")
                    problems.append(Problem(path, line, 0, (
                        f"'{text.strip()}' is not an nbdev directive, so nbdev silently ignores it; "
                        f"did you mean '{fixed}'?"), here))
    if not found:
        top = start(path)
        problems.append(Problem(path, top.line, 0, (
            f"no '#| default_exp' directive; add a code cell with '#| default_exp {expected_exp}' near the top"),
            top.cell))
    first = Place(path, found[0][1], 0, found[0][0]) if found else None
    at = (str(first).removeprefix(f"{path}:") if first and first.cell else f"line {first.line}") if first else ""
    for here, line, _ in found[1:]:
        problems.append(Problem(path, line, 0, (
            f"second '#| default_exp' (the first is at {at}); a module exports to one target: "
            "remove this one"), here))
    if found and found[0][2] != expected_exp:
        problems.append(Problem(path, found[0][1], 0, (
            f"'#| default_exp {found[0][2]}' does not match the manifest target; "
            f"write '#| default_exp {expected_exp}' (or change 'target' in modules.yaml)"), found[0][0]))
    return problems


@dataclass(frozen=True)
class Import:
    """An import found in exported code: `from module import names` or `import module`."""

    line: int
    module: str  # absolute dotted module
    names: tuple[str, ...] = ()
    cell: int = 0  # the notebook cell `line` counts in (0: a percent source)


def _exported_trees(cells: list[Cell], path: str, problems: list[Problem] | None) -> list[tuple[Cell, int, ast.Module]]:
    out: list[tuple[Cell, int, ast.Module]] = []
    for cell in cells:
        if not cell.exported:
            continue
        first, code = cell.code()
        try:
            out.append((cell, first, ast.parse(code)))
        except SyntaxError as exc:
            if problems is not None:
                line = first + (exc.lineno or 1) - 1
                problems.append(Problem(path, line, exc.offset or 0, (
                    f"syntax error in an exported cell: {exc.msg}; correct the code here "
                    "(the last good export is kept until then)"), cell.at))
    return out


def _guarded(tree: ast.Module) -> set[int]:
    """ids of imports inside `try: ... except ImportError` (optional dependencies) or `if TYPE_CHECKING:`."""
    found: set[int] = set()
    for node in ast.walk(tree):
        optional = isinstance(node, ast.Try) and any(
            h.type is None or any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError", "Exception")
                                  for n in ast.walk(h.type)) for h in node.handlers)
        checking = isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        if optional or checking:
            body = node.body if isinstance(node, (ast.Try, ast.If)) else []
            found.update(id(n) for b in body for n in ast.walk(b) if isinstance(n, (ast.Import, ast.ImportFrom)))
    return found


def check_code(cells: list[Cell], path: str, package: str) -> tuple[list[Problem], list[Import]]:
    """Exported cells compile and have no relative imports; return their package imports."""
    problems: list[Problem] = []
    imports: list[Import] = []
    for cell, first, tree in _exported_trees(cells, path, problems):
        here = cell.at
        for node in ast.walk(tree):
            line = first + getattr(node, "lineno", 1) - 1
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    dots = "." * node.level + (node.module or "")
                    problems.append(Problem(path, line, 0, (
                        f"relative import 'from {dots} import ...'; write the absolute form "
                        f"'from {package}.<module> import ...' (nbdev makes it relative on export)"), here))
                elif node.module and (node.module == package or node.module.startswith(package + ".")):
                    imports.append(Import(line, node.module, tuple(a.name for a in node.names), here))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == package or alias.name.startswith(package + "."):
                        imports.append(Import(line, alias.name, (), here))
    return problems, imports


def external_imports(cells: list[Cell], path: str, package: str) -> list[Import]:
    """Absolute imports of exported code outside the package (optional ones, in try/except ImportError, left out)."""
    found: list[Import] = []
    for cell, first, tree in _exported_trees(cells, path, None):
        guarded = _guarded(tree)
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            mods = [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for mod in mods:
                top = mod.split(".")[0]
                if top != package and top != "__future__":
                    found.append(Import(first + getattr(node, "lineno", 1) - 1, mod, (), cell.at))
    return found


def check_requirements(imports: list[Import], path: str, name: str, allowed: set[str],
                       providers: dict[str, list[str]]) -> list[Problem]:
    """Every third-party import is the standard library or declared in [project].dependencies.

    `allowed`: import names the declared dependencies provide; `providers`: import name ->
    installed distributions that provide it (to name the fix).
    """
    problems: list[Problem] = []
    for imp in imports:
        top = imp.module.split(".")[0]
        if top in sys.stdlib_module_names or top in allowed:
            continue
        dists = providers.get(top) or [top]
        problems.append(Problem(path, imp.line, 0, (
            f"{name} imports {top}, which is neither in the standard library, nor in the package, nor in "
            f"[project].dependencies of pyproject.toml; add {dists[0]!r} to dependencies there (the installed "
            "package would fail without it), or remove the import"), imp.cell))
    return problems


def check_imports(imports: list[Import], path: str, name: str, package: str, depends: dict[str, str],
                  targets: dict[str, str], dependants: Collection[str] = ()) -> list[Problem]:
    """Every package import is a manifest module that `name` declares as a dependency.

    `depends` maps dependency name -> target; `targets` maps every manifest target -> module name
    in course order; `dependants`: the modules built on `name` (transitively).
    """
    order = {mod: i for i, mod in enumerate(targets.values())}
    problems: list[Problem] = []
    packages = {p for t in targets for p in parents(t)}
    # an example for hints: a module this one may import, or else any module of the course
    example = next(iter(depends.values()), None) or next((t for t, n in targets.items() if n != name), package + ".<module>")

    def need(mod: str, imp: Import) -> None:
        dep = targets[mod]
        if dep == name:
            problems.append(Problem(path, imp.line, 0, f"{name} imports itself ({mod}); remove the import", imp.cell))
        elif dep in dependants:
            # declaring it would make a cycle: say what is wrong, not how to make it worse
            problems.append(Problem(path, imp.line, 0, (
                f"{name} imports {mod}, but {dep} is built on {name}; a module cannot import a later one: "
                f"move the code that needs {dep} into {dep} or a module after it"), imp.cell))
        elif dep not in depends and order.get(dep, -1) > order.get(name, len(order)):
            problems.append(Problem(path, imp.line, 0, (
                f"{name} imports {mod}, but {dep} comes after {name} in modules.yaml; a module cannot import "
                f"a later one: move the code that needs {dep} into {dep} or a module after it"), imp.cell))
        elif dep not in depends:
            problems.append(Problem(path, imp.line, 0, (
                f"{name} imports {mod} but does not depend on {dep}; add {dep!r} to the 'depends' of "
                f"{name!r} in modules.yaml, or remove the import"), imp.cell))

    for imp in imports:
        mod, here = imp.module, imp.cell
        if mod in targets:
            need(mod, imp)
        elif mod in packages and imp.names:
            for child in imp.names:
                if f"{mod}.{child}" in targets:
                    need(f"{mod}.{child}", imp)
                else:
                    problems.append(Problem(path, imp.line, 0, (
                        f"{name} imports {child!r} from the package {mod!r}, which imports every module "
                        f"(including {name}); import it from the module that defines it, "
                        f"e.g. 'from {example} import ...'"), here))
        elif mod in packages:
            problems.append(Problem(path, imp.line, 0, (
                f"{name} imports the package {mod!r}, which imports every module (including {name}); "
                f"import the modules it needs, e.g. 'from {example} import ...'"), here))
        else:
            guess = closest_dotted(mod, targets)
            hint = f"; did you mean {guess!r}?" if guess else "; check the name against the targets in modules.yaml"
            problems.append(Problem(path, imp.line, 0, (
                f"{name} imports {mod}, which no module in modules.yaml produces{hint}"), here))
    return problems
