"""Export one course module: jupytext source -> package module, through nbdev's own machinery.

The source is validated first (directives, syntax, imports: `tasks.steps.sources`), so a
problem is reported at the line the student edits and the previous good export
stays in place. The module is written only when its bytes change (early cutoff),
atomically. A generated file edited by hand is saved aside before it is replaced.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core import atomic, layout, output
from tasks.core.errors import SourceError, join
from tasks.core.places import Place, shown
from tasks.sandbox import spawn
from tasks.steps.regions import is_marker_line, solution_regions
from tasks.steps.sources import (
    Cell,
    check_code,
    check_directives,
    check_imports,
    check_requirements,
    check_separators,
    decode,
    external_imports,
    percent_notebook,
    scan,
)
from tasks.tools import nbdev, percent

HEADER = re.compile(r"^# %% .* #(?P<id>[0-9a-f]{8}(?:-\d+)?)$")


@dataclass(frozen=True)
class ExportJob:
    """Everything an export needs, as plain data (picklable for `doit -n`)."""

    root: str
    name: str
    source: str
    target: str
    lib: str
    package: str
    depends: dict[str, str]  # dependency name -> target
    targets: dict[str, str]  # every manifest target -> module name
    sources: dict[str, str] = field(default_factory=dict)  # dependency name -> its source
    dependants: dict[str, str] = field(default_factory=dict)  # modules built on this one -> their sources
    requires: tuple[str, ...] | None = None  # [project].dependencies; None: third-party imports not checked

    @property
    def output(self) -> Path:
        return module_path(Path(self.root) / self.lib, self.target)

    @property
    def record(self) -> Path:
        """What the export last wrote (digest, source line map), beside the state DB."""
        return layout.at(self.root, layout.export_record(self.name))


def module_path(lib_dir: Path, target: str) -> Path:
    """Where the module `target` (dotted) lives under `lib_dir`."""
    return lib_dir.joinpath(*target.split(".")).with_suffix(".py")


def cell_id(kind: str, source: str) -> str:
    """A cell id derived from its content.

    jupytext assigns random ids on each read and nbdev writes the id into the
    generated file; a content hash keeps the exported bytes stable when prose
    elsewhere in the source changes.
    """
    return hashlib.sha1(f"{kind}\0{source}".encode()).hexdigest()[:8]


_SPACED = re.compile(r"^[ \t]*#[ \t]*\|[ \t]*(?P<name>[^\s:]+)[ \t]*:?[ \t]*(?P<value>.*?)[ \t]*$")


def canonical_directives(src: str) -> str:
    """A cell's source with its leading directives spelled one way ('#|export ' -> '#| export').

    nbdev reads them alike; the cell id derived from the source must not tell them apart.
    """
    lines = src.split("\n")
    for i, text in enumerate(lines):
        m = _SPACED.match(text)
        if not m:
            if text.strip():
                break
            continue
        lines[i] = f"#| {m.group('name')}" + (f" {m.group('value')}" if m.group("value") else "")
    return "\n".join(lines)


def _stable_ids(data: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, int] = {}
    for cell in data["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        ident = cell_id(cell["cell_type"], canonical_directives(src))
        n = seen.get(ident, 0)
        seen[ident] = n + 1
        cell["id"] = ident if n == 0 else f"{ident}-{n}"
    return data


def _notebook(text: str, is_ipynb: bool, path: str = "<source>") -> dict[str, Any]:
    if not is_ipynb:
        return _stable_ids(percent_notebook(text, path)[0])
    jupytext = percent.jupytext()

    nb = jupytext.reads(text, fmt={"extension": ".ipynb"})
    data: dict[str, Any] = json.loads(jupytext.writes(nb, fmt="ipynb"))
    return _stable_ids(data)


def _shown(path: Path) -> str:
    """`path` as the user knows it: relative to the working directory (the repository) when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def read_notebook(source: Path) -> dict[str, Any]:
    """A source (`.py` percent or `.ipynb`) as a notebook dict with stable cell ids."""
    shown = _shown(source)
    text = decode(source.read_bytes(), shown)
    return _notebook(text, source.suffix == ".ipynb", shown)


def _line_map(rendered: str, nb_data: dict[str, Any], cells: list[Cell]) -> list[list[int]]:
    """[generated line, source line(, cell)] per generated cell (lines inside a cell follow on).

    nbdev strips the cell's leading directive and blank lines and writes the rest
    verbatim after a '# %% <path> #<id>' header. In a notebook the source line counts
    within the cell, whose number comes third.
    """
    kept: dict[str, tuple[list[int], list[int]]] = {}  # cell id -> (source line of each written line, [cell])
    nb_cells = nb_data["cells"]
    if len(nb_cells) == len(cells):
        for nbc, cell in zip(nb_cells, cells, strict=True):
            first, code = cell.code()
            kept[nbc["id"]] = ([first + n for n, t in enumerate(code.split("\n")) if not is_marker_line(t)],
                               [cell.number] if cell.in_notebook else [])
    pairs: list[list[int]] = []
    for i, text in enumerate(rendered.split("\n"), start=1):
        m = HEADER.match(text)
        if m and m.group("id") in kept:
            lines, extra = kept[m.group("id")]
            # a new pair wherever a dropped marker line makes the source skip ahead
            pairs += [[i + 1 + k, src, *extra] for k, src in enumerate(lines) if k == 0 or src != lines[k - 1] + 1]
    return pairs


def installed_providers(root: str) -> dict[str, list[str]]:
    """importlib.metadata.packages_distributions(), kept under build/ while no folder on sys.path changes.

    Reading every installed distribution's metadata costs ~0.1 s per export run; installing or
    removing a package adds or removes its .dist-info folder, which changes its folder's mtime.
    """
    import importlib.metadata

    stamps = []
    for entry in sys.path:
        try:
            stamps.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            continue
    key = hashlib.sha256(json.dumps(stamps).encode()).hexdigest()
    kept = layout.at(root, layout.PROVIDERS)
    try:
        data = json.loads(kept.read_text(encoding="utf-8"))
        if data["key"] == key and isinstance(data["providers"], dict):
            return {str(k): [str(d) for d in v] for k, v in data["providers"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    providers = {mod: list(dists) for mod, dists in importlib.metadata.packages_distributions().items()}
    atomic.write_text(kept, json.dumps({"key": key, "providers": providers}))
    return providers


@functools.lru_cache(maxsize=8)
def provided_imports(requires: tuple[str, ...], root: str) -> tuple[frozenset[str], dict[str, list[str]]]:
    """Import names the requirements provide (installed ones by their metadata), and who provides what."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    declared = set()
    for req in requires:
        try:
            declared.add(canonicalize_name(Requirement(req).name))
        except InvalidRequirement:
            declared.add(canonicalize_name(req.split(";")[0].strip()))
    providers = installed_providers(root)
    allowed = {d.replace("-", "_") for d in declared}
    allowed |= {mod for mod, dists in providers.items() if any(canonicalize_name(d) in declared for d in dists)}
    return frozenset(allowed), providers


def drop_markers(nb_data: dict[str, Any], cells: list[Cell]) -> None:
    """Remove solution marker lines from the exported cells: they never reach the package."""
    if len(nb_data["cells"]) != len(cells):
        return
    for nbc, cell in zip(nb_data["cells"], cells, strict=True):
        if not cell.exported:
            continue
        src = "".join(nbc["source"]) if isinstance(nbc["source"], list) else nbc["source"]
        lines = src.split("\n")
        if any(is_marker_line(t) for t in lines):
            nbc["source"] = "\n".join(t for t in lines if not is_marker_line(t))


def validate(job: ExportJob, text: str) -> tuple[dict[str, Any], list[Cell]]:
    """Check the source `text` before exporting it; raise SourceError with every problem.

    Returns the notebook export renders and its cells: the very cells that were checked.
    """
    rel = job.source
    is_ipynb = rel.endswith(".ipynb")
    try:
        if is_ipynb:
            cells = scan(text, rel)
            problems = [p for c in cells for p in check_separators("\n".join(c.lines), rel, c.number)]
            if not problems:
                nb_data = _notebook(text, True, rel)
        else:
            problems = check_separators(text, rel)
            if not problems:
                data, cells = percent_notebook(text, rel)
                nb_data = _stable_ids(data)
    except SourceError:
        raise
    except ValueError as exc:  # jupytext refuses a coding cookie other than utf-8 (found by tests/tasks/test_fuzz.py)
        line = next((i for i, ln in enumerate(text.split("\n")[:2], 1) if "coding" in ln), 1)
        msg = f"{rel}:{line}: jupytext cannot read the source: {exc}; remove the coding line (sources are UTF-8)"
        raise SourceError(msg) from None
    if problems:
        raise SourceError(join(problems))
    expected = job.target.split(".", 1)[1]
    problems = check_directives(cells, rel, expected)
    code_problems, imports = check_code(cells, rel, job.package)
    problems += code_problems
    problems += check_imports(imports, rel, job.name, job.package, job.depends, job.targets, job.dependants)
    if not problems:
        from tasks.steps.provides import check_provided

        problems += check_provided(Path(job.root), job.name, rel, job.target, cells, job.package, imports,
                                   job.depends, job.dependants, job.sources)
    if job.requires is not None:
        allowed, providers = provided_imports(job.requires, job.root)
        problems += check_requirements(external_imports(cells, rel, job.package), rel, job.name, set(allowed), providers)
    message = join(problems)
    try:
        solution_regions(cells, rel)
    except SourceError as exc:  # misplaced markers, listed after the other problems
        message = f"{message}\n{exc}" if message else str(exc)
    if message:
        raise SourceError(message)
    return nb_data, cells


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_record(job: ExportJob) -> dict[str, Any]:
    try:
        record: dict[str, Any] = json.loads(job.record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    # a record of the wrong shape counts as absent (the module is exported again), never a crash
    ok = isinstance(record, dict) and isinstance(record.get("sha256"), str) and \
        isinstance(record.get("stat"), (list, type(None))) and isinstance(record.get("lines", []), list) and \
        all(isinstance(p, list) and len(p) in (2, 3) and all(type(x) is int for x in p) for p in record.get("lines", []))
    return record if ok else {}


def hand_edited(job: ExportJob) -> bool:
    """Does the generated file differ from what the export last wrote?"""
    record = read_record(job)
    out = job.output
    if not record or not out.exists():
        return False
    if record.get("target", job.target) != job.target:
        return False  # the record is of another file: the module's target changed (two modules swapped targets)
    st = out.stat()
    if [st.st_size, st.st_mtime_ns] == record.get("stat"):
        return False
    # "previous": an export interrupted between writing the file and its record wrote either
    return _digest(out.read_bytes()) not in (record.get("sha256"), record.get("previous"))


def intact(job: ExportJob) -> bool:
    """doit `uptodate` check: False when the output is missing or was edited by hand."""
    return job.output.exists() and not hand_edited(job)


def _save_aside(job: ExportJob) -> Path:
    out = job.output
    stamp = time.strftime("%Y%m%dT%H%M%S")
    base = layout.at(job.root, layout.HAND_EDITS) / Path(job.lib).name / out.relative_to(Path(job.root) / job.lib)
    aside, n = base.with_suffix(f".{stamp}.py"), 1
    while aside.exists():  # two edits within a second: keep both
        n += 1
        aside = base.with_suffix(f".{stamp}-{n}.py")
    atomic.write_bytes(aside, out.read_bytes())
    return aside


def export(job: ExportJob) -> dict[str, Any]:
    """Validate and export one module; returns what doit records about it."""
    root = Path(job.root)
    # checks and tests usually follow an export: the warm worker's imports (~0.4 s), and the first test run's
    # set-up, overlap this one (unless dodo.py started them already)
    spawn.prestart(Path(job.root))
    # read once: what is validated is exactly what is exported
    text = decode((root / job.source).read_bytes(), job.source)
    nb_data, cells = validate(job, text)
    if hand_edited(job):
        aside = _save_aside(job)
        output.warn(f"{job.output.relative_to(root)} was edited by hand; your edit is saved in "
                    f"{aside.relative_to(root)}. Edit {job.source} instead: the file is regenerated from it.")
        job.output.unlink()
    drop_markers(nb_data, cells)
    rendered = nbdev.render(nb_data, root / job.source, job.target, root / job.lib)
    data = rendered.encode("utf-8")
    lines = _line_map(rendered, nb_data, cells)
    previous = read_record(job).get("sha256")
    if previous != _digest(data):
        # announce the new bytes before writing them, so that an interruption between the two
        # writes is not taken for a hand edit by the next run
        pending = {"sha256": _digest(data), "previous": previous, "stat": None, "source": job.source, "lines": lines,
                   "output": job.output.relative_to(root).as_posix(), "target": job.target}
        atomic.write_bytes(job.record, json.dumps(pending, indent=1).encode())
    wrote = atomic.write_if_changed(job.output, data)
    st = job.output.stat()
    record = {"sha256": _digest(data), "stat": [st.st_size, st.st_mtime_ns], "source": job.source, "lines": lines,
              "output": job.output.relative_to(root).as_posix(), "target": job.target}
    atomic.write_if_changed(job.record, json.dumps(record, indent=1).encode())
    return {"sha256": record["sha256"], "written": wrote}


def _pair(record: dict[str, Any], generated_line: int) -> list[int] | None:
    best: list[int] | None = None
    for pair in record.get("lines", []):
        if pair[0] <= generated_line:
            best = pair
    return best


def source_line(record: dict[str, Any], generated_line: int) -> int | None:
    """Map a line of the generated module back to its source line (None outside exported cells).

    In a notebook source the line counts within its cell (`source_place` names the cell).
    """
    best = _pair(record, generated_line)
    return None if best is None else best[1] + generated_line - best[0]


def source_at(record: dict[str, Any], generated_line: int) -> Place | None:
    """The source place of a generated line, its cell named in a notebook (None outside exported cells)."""
    best = _pair(record, generated_line)
    if best is None:
        return None
    return Place(record["source"], best[1] + generated_line - best[0], 0, best[2] if len(best) > 2 else 0)


def source_place(record: dict[str, Any], generated_line: int, root: Path | str | None = None) -> str | None:
    """`source_at` as messages print it (`tasks.core.places.shown`: the paired notebook's cell too)."""
    at = source_at(record, generated_line)
    return None if at is None else shown(at, root)
