"""Solution and hidden-test regions (nbgrader's markers) in the one source.

`### BEGIN SOLUTION` / `### END SOLUTION` mark, inside a function body of an exported
cell, what a student writes; `### BEGIN HIDDEN TESTS` / `### END HIDDEN TESTS` mark, in
a test file, tests the student does not get. Markers are plain comment lines (not a
pytest marker): they work the same in test files, sources and notebooks, and the
instructor build only has to drop them. This module finds and validates regions,
drops marker lines for the instructor export, and makes the student's text (stubs in
place of solutions, hidden tests removed). No heavy imports: export calls it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from tasks.core.errors import Problem, SourceError, join
from tasks.steps.sources import Cell

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
SOLUTION_MARKERS = (BEGIN_SOLUTION, END_SOLUTION)
HIDDEN_MARKERS = (BEGIN_HIDDEN, END_HIDDEN)
STUB_SAYS = "not written yet"
# anything that looks like a marker, spelled right or not (a markdown line's '# ' prefix included)
_LIKE = re.compile(r"^\s*(?:#\s*)*#+\s*(?P<kind>BEGIN|END)\s+(?P<what>SOLUTIONS?|HIDDEN(?:\s+TESTS?)?)\s*$", re.I)


@dataclass(frozen=True)
class Region:
    """One solution region: marker lines (1-based, in the source) and the function it is in."""

    begin: int
    end: int
    indent: str
    qualname: str


def marker(text: str) -> str | None:
    """The canonical marker a line is meant to be ('### BEGIN SOLUTION', ...), or None."""
    m = _LIKE.match(text)
    if not m:
        return None
    what = "SOLUTION" if m.group("what").upper().startswith("SOLUTION") else "HIDDEN TESTS"
    return f"### {m.group('kind').upper()} {what}"


def _spelled(text: str, canonical: str, path: str, line: int, cell: int = 0) -> list[Problem]:
    if text.strip() == canonical:
        return []
    return [Problem(path, line, 0, f"{text.strip()!r} is not a marker as written; did you mean '{canonical}'? "
                                   "(exactly that, on a line of its own)", cell)]


def _functions(code: str) -> dict[int, tuple[str, int]]:
    """Statement line (1-based in `code`) -> (qualname of its innermost function, column); '' at module level."""
    tree = ast.parse(code)
    found: dict[int, tuple[str, int]] = {}

    def visit(node: ast.AST, names: list[str], func: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                found.setdefault(child.lineno, (func, child.col_offset))
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = [*names, child.name]
                visit(child, [*inner, "<locals>"], ".".join(inner))
            elif isinstance(child, ast.ClassDef):
                visit(child, [*names, child.name], func)
            else:
                visit(child, names, func)

    visit(tree, [], "")
    return found


def _cell_regions(cell: Cell, path: str) -> tuple[list[Region], list[Problem]]:
    problems: list[Problem] = []
    spans: list[tuple[int, int, str]] = []
    opened: tuple[int, str] | None = None
    for i, text in enumerate(cell.lines):
        line, kind = cell.first_line + i, marker(text)
        if kind is None:
            continue
        if kind in HIDDEN_MARKERS:
            problems.append(Problem(path, line, 0, (
                f"'{kind}' in a source file; hidden-test regions belong in test files: move these tests to "
                "the module's test file, or mark a solution with '### BEGIN SOLUTION'"), cell.at))
            continue
        problems += _spelled(text, kind, path, line, cell.at)
        indent = text[:len(text) - len(text.lstrip())]
        if kind == BEGIN_SOLUTION:
            if opened:
                problems.append(Problem(path, line, 0, (
                    f"'{BEGIN_SOLUTION}' inside the solution region opened at line {opened[0]}; regions do not "
                    f"nest: close that one with '{END_SOLUTION}' first"), cell.at))
            else:
                opened = (line, indent)
        elif not opened:
            problems.append(Problem(path, line, 0, (
                f"'{END_SOLUTION}' without a '{BEGIN_SOLUTION}' above it in this cell; add the BEGIN marker "
                "or remove this line"), cell.at))
        else:
            if indent != opened[1]:
                problems.append(Problem(path, line, 0, (
                    f"'{END_SOLUTION}' is indented differently from its '{BEGIN_SOLUTION}' (line {opened[0]}); "
                    "indent both markers like the code they enclose"), cell.at))
            spans.append((opened[0], line, opened[1]))
            opened = None
    if opened:
        problems.append(Problem(path, opened[0], 0, (
            f"solution region not closed in its cell (it would span cells); add '{END_SOLUTION}' before the "
            "cell ends, at the same indentation"), cell.at))
    if problems or not spans:
        return [], problems
    first, code = cell.code()
    try:
        stmts = _functions(code)
    except SyntaxError:
        return [], []  # export reports the syntax error at its line
    regions: list[Region] = []
    for begin, end, indent in spans:
        inside = sorted((first + n - 1, *v) for n, v in stmts.items() if begin < first + n - 1 < end)
        if not inside:
            problems.append(Problem(path, begin, 0, (
                "empty solution region; put the code the student writes between the markers, "
                "or remove them"), cell.at))
            continue
        func, col = inside[0][1], inside[0][2]
        if not func:
            problems.append(Problem(path, begin, 0, (
                "a solution region must be inside a function body (this one is at module or class level, "
                "which runs at import time); put the markers inside the function whose body the student "
                "writes"), cell.at))
            continue
        if col != len(indent) or any(f != func and not f.startswith(func + ".") for _, f, _ in inside):
            problems.append(Problem(path, begin, 0, (
                f"the solution region does not sit in one function body ({func}); indent the markers like "
                "the first statement they enclose, and keep the region within that function"), cell.at))
            continue
        regions.append(Region(begin, end, indent, func))
    return regions, problems


def solution_regions(cells: list[Cell], path: str) -> list[Region]:
    """Every solution region of a source, validated; SourceError listing every misplaced marker."""
    problems: list[Problem] = []
    regions: list[Region] = []
    for cell in cells:
        if cell.exported:
            found, bad = _cell_regions(cell, path)
            regions += found
            problems += bad
            continue
        for i, text in enumerate(cell.lines):
            kind = marker(text)
            if kind:
                where = "a markdown cell" if cell.kind == "markdown" else "a cell without '#| export'"
                problems.append(Problem(path, cell.first_line + i, 0, (
                    f"'{kind}' in {where}; markers belong in exported code only: move the region into a "
                    "'#| export' cell, or remove the marker"), cell.at))
    if problems:
        raise SourceError(join(problems))
    return regions


def is_marker_line(text: str) -> bool:
    """A solution marker line (the instructor export drops these)."""
    return text.strip() in SOLUTION_MARKERS


def stub_line(indent: str, module: str, qualname: str, source: str) -> str:
    return f'{indent}raise NotImplementedError("{module}.{qualname}: {STUB_SAYS} (write it in {source})")'


def stub_source(text: str, regions: list[Region], module: str, source: str) -> tuple[str, list[str], list[int]]:
    """The student's text: each region (markers included) becomes one `raise NotImplementedError` line.

    Returns the text, the stub lines, and for each student line the source line it came from (0: a stub).
    """
    lines = text.split("\n")
    out: list[str] = []
    origin: list[int] = []
    stubs: list[str] = []
    by_begin = {r.begin: r for r in regions}
    i = 0
    while i < len(lines):
        r = by_begin.get(i + 1)
        if r is None:
            out.append(lines[i])
            origin.append(i + 1)
            i += 1
            continue
        stub = stub_line(r.indent, module, r.qualname, source)
        stubs.append(stub)
        out.append(stub)
        origin.append(0)
        i = r.end
    return "\n".join(out), stubs, origin


def remaining(text: str, stubs: list[str]) -> int:
    """How many of the shipped `stubs` are still in `text` (each counted as often as shipped)."""
    present = [ln.strip() for ln in text.split("\n")]
    left = 0
    for stub in stubs:
        s = stub.strip()
        if s in present:
            present.remove(s)
            left += 1
    return left


def strip_hidden(text: str, path: str) -> tuple[str, list[int], int]:
    """A test file without its hidden regions: (text, source line of each kept line, hidden tests removed)."""
    problems: list[Problem] = []
    lines = text.split("\n")
    kept: list[str] = []
    origin: list[int] = []
    opened = 0
    spans: list[tuple[int, int]] = []
    for n, line in enumerate(lines, start=1):
        kind = marker(line)
        if kind in SOLUTION_MARKERS:
            problems.append(Problem(path, n, 0, (
                f"'{kind}' in a test file; solution regions belong in exported cells of a module source; "
                f"to hide tests write '{BEGIN_HIDDEN}' / '{END_HIDDEN}'")))
        elif kind == BEGIN_HIDDEN:
            problems += _spelled(line, kind, path, n)
            if opened:
                problems.append(Problem(path, n, 0, (
                    f"'{BEGIN_HIDDEN}' inside the hidden region opened at line {opened}; regions do not nest: "
                    f"close that one with '{END_HIDDEN}' first")))
            else:
                opened = n
            continue
        elif kind == END_HIDDEN:
            problems += _spelled(line, kind, path, n)
            if not opened:
                problems.append(Problem(path, n, 0, (
                    f"'{END_HIDDEN}' without a '{BEGIN_HIDDEN}' above it; add the BEGIN marker or remove "
                    "this line")))
            else:
                spans.append((opened, n))
            opened = 0
            continue
        if not opened:
            kept.append(line)
            origin.append(n)
    if opened:
        problems.append(Problem(path, opened, 0, f"hidden region not closed; add '{END_HIDDEN}' after its tests"))
    if problems:
        raise SourceError(join(problems))
    hidden = 0
    try:
        tree = ast.parse(text)
        hidden = sum(1 for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                     and node.name.startswith("test") and any(b < node.lineno < e for b, e in spans))
        ast.parse("\n".join(kept))
    except SyntaxError as exc:
        msg = (f"{path}:{exc.lineno or 1}: the visible tests do not compile once the hidden regions are removed "
               f"({exc.msg}); make each hidden region hold whole tests")
        raise SourceError(msg) from None
    return "\n".join(kept), origin, hidden


def unwritten(root: Path, source: str, stubs: list[str] | tuple[str, ...]) -> tuple[int, int]:
    """(stubs left, first line of one) in `source`; a missing source counts as untouched."""
    try:
        text = (root / source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return len(stubs), 1
    left = remaining(text, list(stubs))
    wanted = {s.strip() for s in stubs}
    first = next((n for n, t in enumerate(text.split("\n"), start=1) if t.strip() in wanted), 1)
    return left, first
