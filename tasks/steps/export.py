"""Export one course module: jupytext source -> package module, through nbdev's own machinery.

The source is validated first (directives, syntax, imports: `tasks.steps.sources`), so a
problem is reported at the line the student edits and the previous good export
stays in place. The module is written only when its bytes change (early cutoff),
atomically. A generated file edited by hand is saved aside before it is replaced.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core import atomic, layout, output
from tasks.core.errors import SourceError, join
from tasks.steps.regions import is_marker_line, solution_regions
from tasks.steps.sources import Cell, check_code, check_directives, check_imports, decode, scan
from tasks.tools import nbdev

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


def _notebook(text: str, is_ipynb: bool) -> dict[str, Any]:
    import jupytext

    fmt: dict[str, Any] = {"extension": ".ipynb"} if is_ipynb else \
        {"extension": ".py", "format_name": "percent", "comment_magics": False}
    nb = jupytext.reads(text, fmt=fmt)
    data: dict[str, Any] = json.loads(jupytext.writes(nb, fmt="ipynb"))
    seen: dict[str, int] = {}
    for cell in data["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        ident = cell_id(cell["cell_type"], src)
        n = seen.get(ident, 0)
        seen[ident] = n + 1
        cell["id"] = ident if n == 0 else f"{ident}-{n}"
    return data


def _shown(path: Path) -> str:
    """`path` as the user knows it: relative to the working directory (the repository) when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def read_notebook(source: Path) -> dict[str, Any]:
    """A source (`.py` percent or `.ipynb`) as a notebook dict with stable cell ids."""
    text = decode(source.read_bytes(), _shown(source))
    return _notebook(text, source.suffix == ".ipynb")


def _line_map(rendered: str, nb_data: dict[str, Any], cells: list[Cell]) -> list[list[int]]:
    """[generated line, source line] pairs: one per generated cell (lines inside a cell follow on).

    nbdev strips the cell's leading directive and blank lines and writes the rest
    verbatim after a '# %% <path> #<id>' header.
    """
    kept: dict[str, list[int]] = {}  # cell id -> the source line of each line nbdev writes
    nb_cells = nb_data["cells"]
    if len(nb_cells) == len(cells):
        for nbc, cell in zip(nb_cells, cells, strict=True):
            first, code = cell.code()
            kept[nbc["id"]] = [first + n for n, t in enumerate(code.split("\n")) if not is_marker_line(t)]
    pairs: list[list[int]] = []
    for i, text in enumerate(rendered.split("\n"), start=1):
        m = HEADER.match(text)
        if m and m.group("id") in kept:
            lines = kept[m.group("id")]
            # a new pair wherever a dropped marker line makes the source skip ahead
            pairs += [[i + 1 + k, src] for k, src in enumerate(lines) if k == 0 or src != lines[k - 1] + 1]
    return pairs


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


def validate(job: ExportJob, text: str) -> list[Cell]:
    """Check the source `text` before exporting it; raise SourceError with every problem."""
    rel = job.source
    cells = scan(text, rel)
    expected = job.target.split(".", 1)[1]
    problems = check_directives(cells, rel, expected)
    code_problems, imports = check_code(cells, rel, job.package)
    problems += code_problems
    problems += check_imports(imports, rel, job.name, job.package, job.depends, job.targets)
    message = join(problems)
    try:
        solution_regions(cells, rel)
    except SourceError as exc:  # misplaced markers, listed after the other problems
        message = f"{message}\n{exc}" if message else str(exc)
    if message:
        raise SourceError(message)
    return cells


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_record(job: ExportJob) -> dict[str, Any]:
    try:
        record: dict[str, Any] = json.loads(job.record.read_text(encoding="utf-8"))
        return record
    except (OSError, ValueError):
        return {}


def hand_edited(job: ExportJob) -> bool:
    """Does the generated file differ from what the export last wrote?"""
    record = read_record(job)
    out = job.output
    if not record or not out.exists():
        return False
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
    # read once: what is validated is exactly what is exported
    text = decode((root / job.source).read_bytes(), job.source)
    cells = validate(job, text)
    if hand_edited(job):
        aside = _save_aside(job)
        output.warn(f"{job.output.relative_to(root)} was edited by hand; your edit is saved in "
                    f"{aside.relative_to(root)}. Edit {job.source} instead: the file is regenerated from it.")
        job.output.unlink()
    nb_data = _notebook(text, job.source.endswith(".ipynb"))
    drop_markers(nb_data, cells)
    rendered = nbdev.render(nb_data, root / job.source, job.target, root / job.lib)
    data = rendered.encode("utf-8")
    lines = _line_map(rendered, nb_data, cells)
    previous = read_record(job).get("sha256")
    if previous != _digest(data):
        # announce the new bytes before writing them, so that an interruption between the two
        # writes is not taken for a hand edit by the next run
        pending = {"sha256": _digest(data), "previous": previous, "stat": None, "source": job.source, "lines": lines}
        atomic.write_bytes(job.record, json.dumps(pending, indent=1).encode())
    wrote = atomic.write_if_changed(job.output, data)
    st = job.output.stat()
    record = {"sha256": _digest(data), "stat": [st.st_size, st.st_mtime_ns], "source": job.source, "lines": lines}
    atomic.write_if_changed(job.record, json.dumps(record, indent=1).encode())
    return {"sha256": record["sha256"], "written": wrote}


def source_line(record: dict[str, Any], generated_line: int) -> int | None:
    """Map a line of the generated module back to its source line (None outside exported cells)."""
    best: list[int] | None = None
    for pair in record.get("lines", []):
        if pair[0] <= generated_line:
            best = pair
    return None if best is None else best[1] + generated_line - best[0]
