"""jupytext's percent reader, driven so that every cell keeps the line it starts on.

jupytext gives cells without positions; the source checks need them. This runs
jupytext's own converter with its own cell reader, recording where each read
starts, so the cells are exactly jupytext's (checked against jupytext 1.16-1.19).

`jupytext()` imports jupytext for the build: without its Jupyter contents managers, which
import tornado and asyncio (~0.1 s of every edit's export) and serve only a Jupyter server.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

CHECKED = ">=1.16,<2"
FORMAT = {"extension": ".py", "format_name": "percent", "comment_magics": False}
# jupytext's optional parts that the build never uses: its __init__ takes an ImportError of each as "absent"
SERVER_PARTS = ("jupytext.sync_contentsmanager", "jupytext.async_contentsmanager")


def jupytext() -> ModuleType:
    """The jupytext package, imported without its contents managers (each stays importable by name)."""
    if "jupytext" not in sys.modules:
        blocked = [name for name in SERVER_PARTS if name not in sys.modules]
        for name in blocked:
            sys.modules[name] = None  # type: ignore[assignment]  # import machinery: "import X" raises ImportError
        try:
            import jupytext  # noqa: F401 - kept in sys.modules
        finally:
            for name in blocked:
                if sys.modules.get(name, 0) is None:
                    del sys.modules[name]
    return sys.modules["jupytext"]


@dataclass(frozen=True)
class Located:
    """One jupytext cell: its notebook dict, and the 1-based lines of its marker (0: none) and first body line."""

    cell: dict[str, Any]
    marker_line: int
    first_line: int


class OtherFormat(ValueError):
    """The file's jupytext header declares a format other than percent."""


def read_percent(text: str) -> tuple[dict[str, Any], list[Located]]:
    """The notebook jupytext reads from percent `text` (as a dict), and its cells located."""
    import json

    jupytext_ = jupytext()
    from jupytext.formats import long_form_one_format, read_format_from_metadata, rearrange_jupytext_metadata
    from jupytext.jupytext import TextNotebookConverter

    declared = read_format_from_metadata(text, ".py")
    if declared not in (None, "percent"):
        raise OtherFormat(declared)
    conv = TextNotebookConverter(long_form_one_format(dict(FORMAT)), None)
    total = len(text.splitlines())
    starts: list[tuple[int, int]] = []
    base = conv.implementation.cell_reader_class

    class Recording(base):  # type: ignore[misc, valid-type]
        def read(self, lines: list[str]) -> Any:
            cell, pos = super().read(lines)
            start = total - len(lines)
            marked = bool(self.start_code_re.match(lines[0]) or self.alternative_start_code_re.match(lines[0]))
            starts.append((start + 1 if marked else 0, start + 1 + (1 if marked else 0)))
            return cell, pos

    conv.implementation = copy.copy(conv.implementation)
    conv.implementation.cell_reader_class = Recording
    nb = conv.reads(text)
    rearrange_jupytext_metadata(nb.metadata)
    data: dict[str, Any] = json.loads(jupytext_.writes(nb, fmt="ipynb"))
    header = len(data["cells"]) - len(starts)  # a raw cell jupytext makes from root-level metadata
    located = [Located(c, 0, 1) for c in data["cells"][:header]]
    located += [Located(c, m, f) for c, (m, f) in zip(data["cells"][header:], starts, strict=True)]
    return data, located
