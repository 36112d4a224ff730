"""Course sources: split a percent file into cells with line numbers, and validate its directives.

This is a cheap scanner (no jupytext, no nbdev) so that the checks stay fast and
point at the exact lines a student edits.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Literal

from tasks.core.errors import Problem, SourceError
from tasks.core.places import cell_lines
from tasks.core.text import BadEncoding, closest, parents, utf8

CellKind = Literal["code", "markdown", "raw"]

_MARKER = re.compile(r"^# %%(?P<rest>.*)$")
_DIRECTIVE = re.compile(r"^\s*#\s*\|\s*(?P<name>[^\s:]+)\s*:?\s?(?P<value>.*?)\s*$")
# comment lines that look like an nbdev directive missing its '|'
_NEAR_DIRECTIVE = re.compile(r"^\s*#\s*(?P<name>export[a-z]*|default_exp|exporti|hide)\b\s*(?P<value>.*)$", re.I)
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
    """One cell of a source file; `first_line` is the 1-based line of its first body line."""

    kind: CellKind
    marker_line: int  # line of the '# %%' marker, 0 when the cell precedes any marker
    first_line: int
    lines: tuple[str, ...]

    @property
    def directives(self) -> list[tuple[int, str, str]]:
        """Leading `#| name value` lines as (line, name, value), as nbdev reads them."""
        out: list[tuple[int, str, str]] = []
        for i, text in enumerate(self.lines):
            m = _DIRECTIVE.match(text)
            if m:
                out.append((self.first_line + i, m.group("name"), m.group("value")))
            elif text.strip():
                break
        return out

    @property
    def exported(self) -> bool:
        return self.kind == "code" and any(name in EXPORTS for _, name, _ in self.directives)

    def code(self) -> tuple[int, str]:
        """The cell's code after its leading directive and blank lines, with its first line number."""
        i = 0
        while i < len(self.lines) and (not self.lines[i].strip() or _DIRECTIVE.match(self.lines[i])):
            i += 1
        return self.first_line + i, "\n".join(self.lines[i:])


def decode(raw: bytes, path: str) -> str:
    """Source bytes -> text: UTF-8 (a BOM is dropped), CRLF/CR line endings become LF."""
    try:
        text = utf8(raw)
    except BadEncoding as exc:
        msg = f"{path}:{exc.line}: not valid UTF-8 (byte {exc.byte:#04x}); save the file as UTF-8 in your editor"
        raise SourceError(msg) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _cells_from_ipynb(text: str, path: str) -> list[Cell]:
    try:
        nb = json.loads(text)
        raw_cells = nb["cells"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"{path}:1: not a valid notebook ({exc}); re-save it from Jupyter") from None
    cells: list[Cell] = []
    start = 0
    for i, c in enumerate(raw_cells):
        lines = cell_lines(c)
        kind = c.get("cell_type", "code")
        # notebooks have no source lines: number them across cells; `place` prints them as cell:line
        cells.append(Cell(kind if kind in ("code", "markdown", "raw") else "raw", i + 1, start + 1, lines))
        start += len(lines)
    return cells


def scan(text: str, path: str = "<source>") -> list[Cell]:
    """Split a jupytext percent file into cells (an `.ipynb` when `path` ends with it)."""
    if path.endswith(".ipynb"):
        return _cells_from_ipynb(text, path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    cells: list[Cell] = []
    start, kind, marker = 0, "code", 0
    # a jupytext YAML header ('# ---' ... '# ---') is notebook metadata, not a cell
    if lines and lines[0].strip() == "# ---":
        for j in range(1, len(lines)):
            if lines[j].strip() == "# ---":
                start = j + 1
                break

    def close(end: int) -> None:
        body = lines[start:end]
        while body and not body[-1].strip():
            body.pop()
        if marker or any(s.strip() for s in body):
            cells.append(Cell(kind, marker, start + 1, tuple(body)))  # type: ignore[arg-type]

    for i in range(start, len(lines)):
        m = _MARKER.match(lines[i])
        if m:
            close(i)
            rest = m.group("rest")
            kind = "markdown" if "[markdown]" in rest or "[md]" in rest else "raw" if "[raw]" in rest else "code"
            start, marker = i + 1, i + 1
    close(len(lines))
    return cells


def _suggest(word: str, choices: list[str]) -> str:
    return closest(word.lower(), choices) or ""


def check_directives(cells: list[Cell], path: str, expected_exp: str) -> list[Problem]:
    """default_exp present once and equal to the target; no typos, no targeted exports."""
    problems: list[Problem] = []
    found: list[tuple[int, str]] = []
    for cell in cells:
        if cell.kind != "code":
            continue
        leading = {line for line, _, _ in cell.directives}
        for i, text in enumerate(cell.lines):
            line = cell.first_line + i
            m = _DIRECTIVE.match(text)
            if m and line in leading:
                name, value = m.group("name"), m.group("value")
                if name == "default_exp":
                    found.append((line, value))
                elif name in EXPORTS and value:
                    problems.append(Problem(path, line, 0, (
                        f"'#| {name} {value}' exports to another module; every module exports to its own "
                        f"target only: write '#| {name}' and move the code to the module that owns {value!r}")))
                elif name not in KNOWN_DIRECTIVES:
                    guess = _suggest(name, sorted(KNOWN_DIRECTIVES))
                    hint = f"; did you mean '#| {guess}'?" if guess else "; nbdev ignores it"
                    problems.append(Problem(path, line, 0, f"unknown directive '#| {name}'{hint}"))
            elif m and m.group("name") in EXPORTS + ("default_exp",):
                problems.append(Problem(path, line, 0, (
                    f"'#| {m.group('name')}' must be on the cell's first lines, before any code; "
                    "nbdev ignores it here: move it to the top of the cell")))
            else:
                near = _NEAR_DIRECTIVE.match(text)
                if near and not m and i < 3:
                    name = near.group("name").lower()
                    name = name if name in KNOWN_DIRECTIVES else _suggest(name, list(EXPORTS + ("default_exp",)))
                    fixed = f"#| {name}" + (f" {near.group('value')}" if near.group("value") else "")
                    problems.append(Problem(path, line, 0, (
                        f"'{text.strip()}' is not an nbdev directive, so nbdev silently ignores it; "
                        f"did you mean '{fixed}'?")))
    if not found:
        problems.append(Problem(path, 1, 0, (
            f"no '#| default_exp' directive; add a code cell with '#| default_exp {expected_exp}' near the top")))
    for line, _ in found[1:]:
        problems.append(Problem(path, line, 0, (
            f"second '#| default_exp' (the first is at line {found[0][0]}); a module exports to one target: "
            "remove this one")))
    if found and found[0][1] != expected_exp:
        problems.append(Problem(path, found[0][0], 0, (
            f"'#| default_exp {found[0][1]}' does not match the manifest target; "
            f"write '#| default_exp {expected_exp}' (or change 'target' in modules.yaml)")))
    return problems


@dataclass(frozen=True)
class Import:
    """A package import found in exported code: `from module import names` or `import module`."""

    line: int
    module: str  # absolute dotted module
    names: tuple[str, ...] = ()


def check_code(cells: list[Cell], path: str, package: str) -> tuple[list[Problem], list[Import]]:
    """Exported cells compile and have no relative imports; return their package imports."""
    problems: list[Problem] = []
    imports: list[Import] = []
    for cell in cells:
        if not cell.exported:
            continue
        first, code = cell.code()
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            line = first + (exc.lineno or 1) - 1
            problems.append(Problem(path, line, exc.offset or 0, f"syntax error in an exported cell: {exc.msg}; correct the code here "
                                                                 "(the last good export is kept until then)"))
            continue
        for node in ast.walk(tree):
            line = first + getattr(node, "lineno", 1) - 1
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    dots = "." * node.level + (node.module or "")
                    problems.append(Problem(path, line, 0, (
                        f"relative import 'from {dots} import ...'; write the absolute form "
                        f"'from {package}.<module> import ...' (nbdev makes it relative on export)")))
                elif node.module and (node.module == package or node.module.startswith(package + ".")):
                    imports.append(Import(line, node.module, tuple(a.name for a in node.names)))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == package or alias.name.startswith(package + "."):
                        imports.append(Import(line, alias.name))
    return problems, imports


def check_imports(imports: list[Import], path: str, name: str, package: str, depends: dict[str, str],
                  targets: dict[str, str]) -> list[Problem]:
    """Every package import is a manifest module that `name` declares as a dependency.

    `depends` maps dependency name -> target; `targets` maps every manifest target -> module name.
    """
    problems: list[Problem] = []
    packages = {p for t in targets for p in parents(t)}

    def need(mod: str, line: int) -> None:
        dep = targets[mod]
        if dep == name:
            problems.append(Problem(path, line, 0, f"{name} imports itself ({mod}); remove the import"))
        elif dep not in depends:
            problems.append(Problem(path, line, 0, (
                f"{name} imports {mod} but does not depend on {dep}; add {dep!r} to the 'depends' of "
                f"{name!r} in modules.yaml, or remove the import")))

    for imp in imports:
        mod = imp.module
        if mod in targets:
            need(mod, imp.line)
        elif mod in packages and imp.names:
            for child in imp.names:
                if f"{mod}.{child}" in targets:
                    need(f"{mod}.{child}", imp.line)
                else:
                    problems.append(Problem(path, imp.line, 0, (
                        f"{name} imports {child!r} from the package {mod!r}, which imports every module "
                        f"(including {name}); import it from the module that defines it, "
                        f"e.g. 'from {package}.core.tensor import Tensor'")))
        elif mod in packages:
            problems.append(Problem(path, imp.line, 0, (
                f"{name} imports the package {mod!r}, which imports every module (including {name}); "
                f"import the modules it needs, e.g. 'from {package}.core.tensor import Tensor'")))
        else:
            guess = closest(mod, targets)
            hint = f"; did you mean {guess!r}?" if guess else "; check the name against the targets in modules.yaml"
            problems.append(Problem(path, imp.line, 0, (
                f"{name} imports {mod}, which no module in modules.yaml produces{hint}")))
    return problems
