"""A student tree's progress from its sources: how many of each module's shipped stubs are written.

The release record (`.student/release.json`) lists each module's stub lines; a stub still
present in the source is not written yet. `doit wheel` in a student tree refuses a
course that still has stubs (`require_done`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tasks.core import layout
from tasks.core.errors import ReleaseError
from tasks.steps.regions import unwritten


def read_record(root: Path) -> dict[str, Any]:
    """The release record of a student tree ({} in the instructor's repository)."""
    path = layout.at(root, layout.STUDENT_RECORD)
    if not path.exists():
        return {}
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return {}


def require_done(root_dir: str) -> dict[str, Any]:
    """Refuse a wheel while any module of a student tree has stubs left."""
    root = Path(root_dir)
    from tasks.model.manifest import read_manifest

    problems = []
    shipped = read_record(root).get("modules", {})
    for name in (m.name for m in read_manifest(root).modules if m.name in shipped):  # course order
        entry = shipped[name]
        left, line = unwritten(root, entry["source"], entry["stubs"])
        if left:
            problems.append(f"{entry['source']}:{line}: {name} is not done: {left} of {len(entry['stubs'])} "
                            "stubs not written yet")
    if problems:
        msg = "\n".join(problems) + "\nthe wheel is built from a finished course only: write these, then `doit wheel`"
        raise ReleaseError(msg)
    return {"done": True}
