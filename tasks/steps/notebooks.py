"""Student notebooks: each source as an `.ipynb` under build/notebooks/."""

from __future__ import annotations

import json
from pathlib import Path

from tasks.core import atomic


def write_notebook(root: str, source: str, dest: str) -> bool:
    """Convert `source` to a notebook at `dest` (stable cell ids); write only if it changes."""
    from tasks.steps.export import read_notebook

    nb = read_notebook(Path(root) / source)
    nb.setdefault("metadata", {}).pop("jupytext", None)
    data = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    atomic.write_if_changed(Path(root) / dest, data.encode("utf-8"))
    return True
