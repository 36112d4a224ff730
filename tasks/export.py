"""Export one course module: jupytext source -> package module, through nbdev's own machinery."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from tasks.atomic import write_if_changed


def _cell_ids(cells: list[dict[str, Any]]) -> None:
    """Give cells ids derived from their content.

    jupytext assigns random ids on each read, and nbdev writes the id into the
    generated file; a content hash keeps the exported bytes stable when prose
    elsewhere in the source changes (early cutoff).
    """
    seen: dict[str, int] = {}
    for cell in cells:
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        digest = hashlib.sha1(f"{cell['cell_type']}\0{src}".encode()).hexdigest()[:8]
        n = seen.get(digest, 0)
        seen[digest] = n + 1
        cell["id"] = digest if n == 0 else f"{digest}-{n}"


def read_notebook(source: Path) -> dict[str, Any]:
    """Read a percent `.py` or an `.ipynb` source as a notebook dict with stable cell ids."""
    import jupytext

    text = source.read_text(encoding="utf-8-sig")
    if source.suffix == ".ipynb":
        nb = jupytext.reads(text, fmt="ipynb")
    else:
        nb = jupytext.reads(text.replace("\r\n", "\n"), fmt="py:percent", config=None)
    data: dict[str, Any] = json.loads(jupytext.writes(nb, fmt="ipynb"))
    _cell_ids(data["cells"])
    return data


def render_module(source: Path, target: str, lib_dir: Path) -> bytes:
    """Run nbdev's export of `source` into `lib_dir`; return the generated file's path.

    The module is first written under a temporary name beside its final place,
    so nbdev computes the same relative imports and header paths.
    """
    from fastcore.nbio import dict2nb
    from nbdev.export import ExportModuleProc
    from nbdev.maker import ModuleMaker
    from nbdev.process import NBProcessor

    nb = dict2nb(read_notebook(source))
    proc = ExportModuleProc()
    NBProcessor(nb=nb, procs=[proc]).process()
    maker = ModuleMaker(dest=lib_dir, name=target, nb_path=source, is_new=True)
    final = Path(maker.fname)
    tmp = final.with_name(f".{final.stem}.{os.getpid()}.tmp.py")
    maker.fname = tmp
    maker.nb_path = None  # no docs URL lookup: that would read nbdev config files
    try:
        maker.make(proc.modules["#"], proc.in_all["#"], lib_path=lib_dir / target.split(".")[0])
        return tmp.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)


def export_module(source: Path, target: str, lib_dir: Path) -> bool:
    """Export `source` to its place under `lib_dir`; write only if the bytes change."""
    data = render_module(source, target, lib_dir)
    return write_if_changed(module_path(lib_dir, target), data)


def module_path(lib_dir: Path, target: str) -> Path:
    """Where the module `target` (dotted) lives under `lib_dir`."""
    return lib_dir.joinpath(*target.split(".")).with_suffix(".py")
