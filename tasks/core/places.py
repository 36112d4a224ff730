"""Places in sources: the one representation, and the one printer every message and coverage line uses.

A place is a `Place(path, line, col, cell)`. In a percent `.py` source `line` is the file's
line and `cell` is 0; in an `.ipynb` source `cell` is the cell as Jupyter numbers it (1-based,
every cell counted, markdown included) and `line` counts within that cell. Printed:

    modules/01_tensor/tensor.py:12          a percent source (`:col` appended when known)
    lessons/lesson.ipynb:cell 7:3           an .ipynb source: cell 7, line 3 of the cell
    lessons/lesson.ipynb:cell 7:3:12        ... column 12

A `.py` source whose paired notebook (`tasks.core.layout.paired_notebook`) is beside it also
names the notebook cell, so a student working in Jupyter finds the line there too:

    modules/03_layers/layers.py:280 (layers.ipynb:cell 12:4)

`cell_lines` is the one rule for a notebook cell's lines, shared with the scanner (`tasks.steps.sources`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core import layout

# jupytext's percent cell markers (jupytext.cell_reader.DoublePercentScriptCellReader, 1.16-1.19)
_MARKER = re.compile(r"^\s*#\s*%%(%*)\s(.*)$")
_MARKER_ALONE = re.compile(r"^\s*#\s*(%%|<codecell>|In\[[0-9 ]*\]:?)\s*$")
_PRINTED = re.compile(r"^(?P<path>.+?)(?::cell (?P<cell>\d+))?:(?P<line>\d+)(?::(?P<col>\d+))?$")
# (notebook, mtime_ns, size, source mtime_ns, size) -> per cell of the source: (first line, line count)
_pairs: dict[tuple[str, int, int, int, int], tuple[tuple[int, int], ...]] = {}


@dataclass(frozen=True)
class Place:
    """Where something is in a source (see the module docstring)."""

    path: str
    line: int
    col: int = 0
    cell: int = 0  # 0: not in a notebook cell

    @property
    def file(self) -> str:
        """What comes before the line: 'path', or 'path:cell K' in a notebook."""
        return f"{self.path}:cell {self.cell}" if self.cell else self.path

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" + (f":{self.col}" if self.col else "")


def place(path: str, line: int, col: int = 0, cell: int = 0) -> str:
    """The printed place (`Place.__str__`)."""
    return str(Place(path, line, col, cell))


def start(path: str) -> Place:
    """The first line of a source, for a problem with the file as a whole (cell 1 of a notebook)."""
    return Place(path, 1, 0, 1 if path.endswith(".ipynb") else 0)


def parse(text: str) -> Place | None:
    """A printed place back into its parts (None if `text` is not one)."""
    m = _PRINTED.match(text)
    if m is None:
        return None
    return Place(m.group("path"), int(m.group("line")), int(m.group("col") or 0), int(m.group("cell") or 0))


def cell_lines(cell: Any) -> tuple[str, ...]:
    """The lines of a notebook cell's source (a string or a list of strings)."""
    src = cell.get("source", "") if isinstance(cell, dict) else ""
    body = "".join(src) if isinstance(src, list) else str(src)
    return tuple(body.split("\n"))


def _cells_of_pair(source: Path, notebook: Path) -> tuple[tuple[int, int], ...]:
    """Per cell of the percent source: (first body line, line count); () unless the notebook's cells match."""
    try:
        s, n = source.stat(), notebook.stat()
    except OSError:
        return ()
    key = (str(notebook.resolve()), n.st_mtime_ns, n.st_size, s.st_mtime_ns, s.st_size)
    if key not in _pairs:
        _pairs.clear()  # one entry per pair is enough: a message names a handful of places
        _pairs[key] = _read_pair(source, notebook)
    return _pairs[key]


def percent_cells(text: str) -> tuple[int, ...]:
    """The first body line of each cell of a percent source, as jupytext splits it (cells start at '# %%').

    Kept free of jupytext so a message can be printed without importing it; a test holds it to
    jupytext's own reader (`tasks.tools.percent`) on every course source.
    """
    lines = text.split("\n")
    i = 0
    if lines and lines[0].rstrip() == "# ---":  # a jupytext header: notebook metadata, not a cell
        i = next((k + 1 for k in range(1, len(lines)) if lines[k].rstrip() == "# ---"), 0)
        i += 1 if i and i < len(lines) and not lines[i].strip() else 0  # and the blank line after it
    firsts: list[int] = []
    markers = [k for k in range(i, len(lines)) if _MARKER.match(lines[k]) or _MARKER_ALONE.match(lines[k])]
    # lines before the first marker are a cell of their own, even blank ones
    if (markers and markers[0] > i) or (not markers and any(t.strip() for t in lines[i:])):
        firsts.append(i + 1)
    firsts += [k + 2 for k in markers]
    return tuple(firsts)


def _read_pair(source: Path, notebook: Path) -> tuple[tuple[int, int], ...]:
    try:
        text = source.read_bytes().decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
        nb_cells = json.loads(notebook.read_text(encoding="utf-8-sig"))["cells"]
        firsts = percent_cells(text)
    except (OSError, ValueError, KeyError, TypeError):  # an unreadable pair: the .py place alone is still right
        return ()
    if not isinstance(nb_cells, list) or len(nb_cells) != len(firsts):
        return ()  # the notebook holds other cells: it is synced at the next run, then the cells are named
    return tuple((first, len(cell_lines(c))) for first, c in zip(firsts, nb_cells, strict=True))


def in_notebook(path: str, line: int, root: Path | str | None = None) -> Place | None:
    """The paired notebook's cell and line of line `line` of the percent source `path` (None: no such pair)."""
    if not path.endswith(".py"):
        return None
    base = Path(root or os.getcwd())
    notebook = layout.paired_notebook(path)
    if not (base / notebook).is_file():
        return None
    for number, (first, count) in enumerate(_cells_of_pair(base / path, base / notebook), start=1):
        if first <= line < first + count:
            return Place(notebook, line - first + 1, 0, number)
    return None


def shown(where: Place, root: Path | str | None = None) -> str:
    """The printed place, with the paired notebook's cell after a `.py` one: 'x.py:280 (x.ipynb:cell 12:4)'."""
    twin = None if where.cell else in_notebook(where.path, where.line, root)
    if twin is None:
        return str(where)
    return f"{where} ({Place(Path(twin.path).name, twin.line, 0, twin.cell)})"
