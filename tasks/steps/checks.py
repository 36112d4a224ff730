"""`check:<m>`: the exported module imports cleanly, alone, in a fresh process.

Static checks of the source (directives, syntax, declared imports) run at export,
where the student's lines are at hand (`tasks.steps.sources`); this step proves the
generated module loads with only its declared dependencies present, within a
timeout, without printing or exiting, and maps any traceback to source lines.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core import atomic, layout
from tasks.core.errors import CheckError
from tasks.core.places import place
from tasks.model.fields import Limits
from tasks.sandbox.spawn import run_child
from tasks.steps.export import source_place


@dataclass(frozen=True)
class CheckJob:
    """Everything `check:<m>` needs, as plain data."""

    root: str
    name: str
    source: str
    target: str
    lib: str
    stubs: tuple[str, ...]  # package namespaces to stub (no __init__ executed)
    records: dict[str, str]  # generated file (relative to root) -> its export record
    timeout: float
    limits: Limits | None = None  # of the student code (modules.yaml); None: the defaults

    @property
    def result_file(self) -> Path:
        return layout.at(self.root, layout.result("check", self.name))


_FOREIGN = ("site-packages", "dist-packages")


def foreign(path: Path) -> bool:
    """Is `path` installed code (numpy, pytest, the standard library of a venv), wherever the venv lives?"""
    parts = path.parts
    if any(p in _FOREIGN for p in parts):
        return True
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        try:
            path.relative_to(prefix)
            return True
        except ValueError:
            continue
    return False


def map_frames(root: Path, frames: list[list[Any]], records: dict[str, str]) -> list[str]:
    """Traceback frames as 'file:line' strings, generated files replaced by their sources.

    Installed code is left out even when the virtualenv lives inside the repository.
    """
    cache: dict[str, dict[str, Any]] = {}
    lines: list[str] = []
    for filename, lineno, func, text in frames:
        path = Path(filename)
        if not path.is_absolute():  # pytest reports paths relative to the child's working directory, the root
            path = root / path
        if foreign(path):
            continue
        try:
            rel = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            continue  # the standard library, numpy, the runner
        if rel.startswith("tasks/"):
            continue
        if rel in records:
            if rel not in cache:
                try:
                    cache[rel] = json.loads((root / records[rel]).read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    cache[rel] = {}
            place = source_place(cache[rel], lineno)
            if place is not None:
                lines.append(f"{place}: in {func}: {text}")
                continue
        lines.append(f"{rel}:{lineno}: in {func}: {text}")
    return lines


def _first_place(places: list[str], fallback: str) -> str:
    return places[-1].split(": in ")[0] if places else fallback


def describe(job: CheckJob, outcome_result: dict[str, Any] | None, timed_out: bool, output: str) -> str | None:
    """The error message for a failed import, or None if the import was clean."""
    root = Path(job.root)
    if timed_out:
        return (f"{place(job.source, 1, root=root)}: importing {job.target} did not finish within {job.timeout:g} s "
                "(an endless loop or a long computation at import time?); the process was killed. "
                "Move long-running code into a cell without '#| export'.")
    if outcome_result is None:
        return f"{place(job.source, 1, root=root)}: importing {job.target} crashed the interpreter:\n{output}"
    status = outcome_result["status"]
    places = map_frames(root, outcome_result.get("frames", []), job.records)
    where = _first_place(places, place(job.source, 1, root=root))
    trace = "\n".join(f"    {p}" for p in places)
    if status == "error":
        return (f"{where}: importing {job.target} raised {outcome_result['error']}\n"
                f"  traceback (most recent call last, source lines):\n{trace}")
    if status == "exit":
        return (f"{where}: {job.target} calls sys.exit({outcome_result['code']}) at import time; a library module "
                "must not stop the interpreter: raise an exception instead, or move the code out of '#| export' cells")
    if status == "printed":
        shown = outcome_result["output"].strip().splitlines()[:3]
        return (f"{where}: {job.target} prints at import time ({' / '.join(shown)!r}); a library module must be "
                "silent: move the print into a cell without '#| export'")
    return None


def check_import(job: CheckJob) -> dict[str, Any]:
    """Import the module in a sandbox; raise CheckError naming the source line on any problem."""
    root = Path(job.root)
    args = ["import", "--lib", job.lib, "--target", job.target]
    for stub in job.stubs:
        args += ["--stub", stub]
    outcome = run_child(root, args, job.timeout, limits=job.limits)
    message = describe(job, outcome.result, outcome.timed_out, outcome.output)
    if outcome.tampered:  # importing the module changed or deleted course files: restored, and it fails
        message = "\n".join([f"{job.source}:1: importing {job.target} changed course files; each was restored:",
                              *(f"  {t}" for t in outcome.tampered), *([message] if message else [])])
    result = {"module": job.name, "status": "failed" if message else "passed", "message": message,
              "import_seconds": (outcome.result or {}).get("seconds")}
    atomic.write_text(job.result_file, json.dumps(result, indent=1))
    if message:
        raise CheckError(message)
    return {"import_seconds": result["import_seconds"]}
