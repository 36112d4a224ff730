"""nbdev's export machinery, driven in-process for one notebook.

Checked against nbdev 2.3 and 3.3: `ExportModuleProc` collects the exported cells per
target ('#' is the default_exp one), `NBProcessor` runs it over a notebook made by
fastcore's `dict2nb`, and `ModuleMaker(dest, name, nb_path, is_new)` writes the module
to its `fname`, which is set to a private temporary name here. `nb_path = None` keeps
nbdev from reading its config files for a docs URL. tests/tasks/test_tools.py fails if
those fields change.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHECKED = ">=2.3.30,<4"


def render(nb_data: dict[str, Any], source: Path, target: str, lib_dir: Path) -> str:
    """The module nbdev writes for the exported cells of `nb_data` (its text; nothing is left on disk)."""
    from fastcore.nbio import dict2nb
    from nbdev.export import ExportModuleProc
    from nbdev.maker import ModuleMaker
    from nbdev.process import NBProcessor

    nb = dict2nb(nb_data)
    proc = ExportModuleProc()
    NBProcessor(nb=nb, procs=[proc]).process()
    maker = ModuleMaker(dest=lib_dir, name=target, nb_path=source, is_new=True)
    final = Path(maker.fname)
    # nbdev writes in place; give it a private name beside the final one, so that
    # its relative imports and header paths come out the same
    tmp = final.with_name(f".{final.stem}.{os.getpid()}.export.py")
    maker.fname = tmp
    maker.nb_path = None
    try:
        maker.make(proc.modules["#"], proc.in_all["#"], lib_path=lib_dir / target.split(".")[0])
        return tmp.read_text(encoding="utf-8")
    finally:
        tmp.unlink(missing_ok=True)
