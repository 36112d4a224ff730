"""`check:<m>`: the exported module imports cleanly, alone, in a fresh process.

Static checks of the source (directives, syntax, declared imports) run at export,
where the student's lines are at hand (`tasks.steps.sources`); this step proves the
generated module loads with only its declared dependencies present, within a
timeout, without printing or exiting, and maps any traceback to source lines.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tasks.core import atomic, layout
from tasks.core.errors import CheckError
from tasks.core.places import start
from tasks.model.fields import Limits
from tasks.sandbox import warm
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
        if filename.startswith("<"):
            continue  # '<frozen runpy>', '<string>'
        path = Path(filename)
        if not path.is_absolute():  # pytest reports paths relative to the child's working directory, the root
            path = root / path
        if foreign(path):
            continue
        try:
            rel = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            continue  # the standard library, numpy, the runner
        if rel.startswith("tasks/") or _THIRD_PARTY.intersection(PurePosixPath(rel).parts):
            continue  # the build system; a virtualenv inside the repository (the README's own setup)
        if rel in records:
            if rel not in cache:
                try:
                    cache[rel] = json.loads((root / records[rel]).read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    cache[rel] = {}
            place = source_place(cache[rel], lineno, root)
            if place is not None:
                lines.append(f"{place}: in {func}: {text}")
                continue
        lines.append(f"{rel}:{lineno}: in {func}: {text}")
    return lines


_THIRD_PARTY = frozenset({"site-packages", "dist-packages", ".venv", "venv", ".tox", ".nox"})
# faulthandler's lines: '  File "/path/x.py", line 12 in name', most recent call first
_DUMPED = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+) in (?P<name>\S+)', re.MULTILINE)


def place_of(line: str) -> str:
    """'path:line' of a mapped frame ('path:line: in func: text')."""
    return line.split(": in ")[0]


def blame(places: list[str], own: str | None, sources: set[str]) -> str | None:
    """Where to send the student: the innermost frame in `own` (the source of the module under test),
    else the innermost frame outside the other modules' sources (a test file), else the innermost."""
    for test in (lambda p: own is not None and p.startswith(f"{own}:"),
                 lambda p: not any(p.startswith(f"{s}:") for s in sources)):
        for line in reversed(places):
            if test(line):
                return place_of(line)
    return place_of(places[-1]) if places else None


def record_sources(root: Path, records: dict[str, str]) -> dict[str, str]:
    """Generated file -> the source it is exported from, for the files with a readable record."""
    out: dict[str, str] = {}
    for generated, record in records.items():
        try:
            out[generated] = json.loads((root / record).read_text(encoding="utf-8"))["source"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def read_stack(path: Path) -> list[list[Any]]:
    """The frames of a faulthandler dump as [file, line, function, ''], innermost last ([] when none)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    # one block per thread; the runner's parent watchdog is a thread too: the deepest stack is the run's
    blocks = re.split(r"^(?:Current thread|Thread) 0x", text, flags=re.MULTILINE)
    first = max(blocks, key=lambda b: len(_DUMPED.findall(b)), default="")
    import linecache

    return [[m.group("path"), int(m.group("line")), m.group("name"),
             linecache.getline(m.group("path"), int(m.group("line"))).strip()] for m in _DUMPED.finditer(first)][::-1]


def _first_place(places: list[str], fallback: str, own: str | None = None, sources: set[str] | None = None) -> str:
    return blame(places, own, sources or set()) or fallback


def describe(job: CheckJob, outcome_result: dict[str, Any] | None, timed_out: bool, output: str) -> str | None:
    """The error message for a failed import, or None if the import was clean."""
    root = Path(job.root)
    if timed_out:
        frames = read_stack(layout.at(root, layout.stack_dump("check", job.name)))
        places = map_frames(root, frames, job.records)
        own = [p for p in places if p.startswith(f"{job.source}:")]
        if own:
            trace = "\n".join(f"    {p}" for p in places[-6:])
            return (f"{place_of(own[-1])}: importing {job.target} did not finish within {job.timeout:g} s; it was "
                    "running this line when it was stopped (an endless loop, or a long computation at import time?), "
                    "and the process was killed. Move long-running code into a cell without '#| export'.\n"
                    f"  stack (most recent call last, source lines):\n{trace}")
        return (f"{start(job.source)}: importing {job.target} did not finish within {job.timeout:g} s "
                "(an endless loop or a long computation at import time?); the process was killed. "
                "Move long-running code into a cell without '#| export'.")
    if outcome_result is None:
        return f"{start(job.source)}: importing {job.target} crashed the interpreter:\n{output}"
    status = outcome_result["status"]
    places = map_frames(root, outcome_result.get("frames", []), job.records)
    where = _first_place(places, str(start(job.source)), job.source,
                         set(record_sources(root, job.records).values()))
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


def dump_after(timeout: float) -> float:
    """When a child dumps its stack: shortly before the parent kills it at `timeout`."""
    return round(max(timeout - min(1.0, timeout * 0.2), 0.1), 2)


def check_import(job: CheckJob) -> dict[str, Any]:
    """Import the module in a sandbox; raise CheckError naming the source line on any problem."""
    root = Path(job.root)
    args = ["import", "--lib", job.lib, "--target", job.target]
    for stub in job.stubs:
        args += ["--stub", stub]
    stack = layout.at(root, layout.stack_dump("check", job.name))
    stack.parent.mkdir(parents=True, exist_ok=True)
    stack.unlink(missing_ok=True)
    args += ["--stack", str(stack), "--stack-after", f"{dump_after(job.timeout):g}"]
    outcome = run_child(root, args, job.timeout, limits=job.limits)
    message = describe(job, outcome.result, outcome.timed_out, outcome.output)
    if outcome.tampered:  # importing the module changed or deleted course files: restored, and it fails
        message = "\n".join([f"{job.source}:1: importing {job.target} changed course files; each was restored:",
                              *(f"  {t}" for t in outcome.tampered), *([message] if message else [])])
    result = {"module": job.name, "status": "failed" if message else "passed", "message": message,
              "import_seconds": (outcome.result or {}).get("seconds"), "sandbox": warm.mode()}
    atomic.write_text(job.result_file, json.dumps(result, indent=1))
    if message:
        raise CheckError(message)
    return {"import_seconds": result["import_seconds"]}
