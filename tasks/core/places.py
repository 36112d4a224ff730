"""Places in sources, as every message and coverage line prints them.

A percent source is `path:line`. A notebook has no source lines, so the build numbers the
lines of an `.ipynb` source one after another across its cells (cell 1's lines first, then
cell 2's, ...: a "notebook line"), which keeps every line distinct in line maps and
tracebacks; `place` turns a notebook line back into the cell and the line within it:

    lesson.ipynb:cell 7:3        cell 7 as Jupyter numbers it (1-based, every cell counted), line 3
    lesson.ipynb:cell 7:3:12     ... column 12

`cell_lines` is the one rule for a cell's lines, shared with the scanner (`tasks.steps.sources`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_tables: dict[tuple[str, int, int], tuple[int, ...]] = {}  # (file, mtime_ns, size) -> cell line counts


def cell_lines(cell: Any) -> tuple[str, ...]:
    """The lines of a notebook cell's source (a string or a list of strings)."""
    src = cell.get("source", "") if isinstance(cell, dict) else ""
    body = "".join(src) if isinstance(src, list) else str(src)
    return tuple(body.split("\n"))


def cell_table(text: str) -> tuple[int, ...]:
    """How many lines each cell of a notebook has; () when `text` is not a notebook."""
    try:
        cells = json.loads(text)["cells"]
        return tuple(len(cell_lines(c)) for c in cells)
    except (ValueError, KeyError, TypeError):
        return ()


def _table(path: Path) -> tuple[int, ...]:
    try:
        st = path.stat()
    except OSError:
        return ()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _tables:
        try:
            _tables[key] = cell_table(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError):
            return ()
    return _tables[key]


def cell_of(table: Sequence[int], line: int) -> tuple[int, int] | None:
    """Notebook line -> (cell, line within it), both 1-based; None past the last cell."""
    start = 0
    for number, count in enumerate(table, start=1):
        if line <= start + count:
            return number, line - start
        start += count
    return None


def place(path: str, line: int, col: int = 0, root: Path | str | None = None,
          table: Sequence[int] | None = None) -> str:
    """`path:line[:col]`; for an `.ipynb` source `path:cell K:L[:col]` (its cells read from `root/path`)."""
    tail = f":{col}" if col else ""
    if not path.endswith(".ipynb"):
        return f"{path}:{line}{tail}"
    if table is None:
        table = _table(Path(root or os.getcwd()) / path)
    found = cell_of(table, line)
    if found is None:  # not a notebook any more (or no such line): the plain number is all there is
        return f"{path}:{line}{tail}"
    return f"{path}:cell {found[0]}:{found[1]}{tail}"
