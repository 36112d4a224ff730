"""`notebooks:<m>`: each source paired with a notebook beside it, through jupytext's own pairing.

The notebook (`modules/03_layers/layers.ipynb` for `layers.py`) carries the standard
`jupytext.formats` metadata, so Jupyter with jupytext keeps the two in sync live; this
step does the same sync in the build, and never loses an edit made in either file:

- notebook edited since the last sync: the source is rewritten from it (then exported, tested);
- source edited: the notebook's inputs are updated, its outputs and cell metadata kept
  (jupytext's `combine_inputs_with_outputs`, as `jupytext --update` does);
- both edited: nothing is overwritten, the notebook is copied aside and the step fails
  naming both files and how to settle it.

The paired notebooks are student work, never committed, wherever a course keeps its sources:
each folder that holds one gets a `.gitignore` the build writes and owns (it names itself and
the folder's paired notebooks, so `git status` stays clean for any layout). One the build did not
write (without `IGNORE_MARK` on its first line) is never changed; the step says what to add.

What "since the last sync" means is a record of both files' digests under build/state/
(`tasks.core.layout.sync_record`). An interrupted sync converges: when the two files
already say the same thing, the next run only writes the record.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core import atomic, layout, output
from tasks.core.errors import SourceError
from tasks.sandbox import spawn
from tasks.steps.sources import decode
from tasks.tools import percent

# what the paired notebook's metadata says: the pair, and no notebook or cell metadata in the
# source (so that the .py a student or jupytext writes has no YAML header and clean '# %%' lines)
PAIRING = {"formats": "ipynb,py:percent", "notebook_metadata_filter": "-all", "cell_metadata_filter": "-all"}
PERCENT = {"extension": ".py", "format_name": "percent", "comment_magics": False}
IGNORE = ".gitignore"
IGNORE_MARK = "# written by the build (doit notebooks): the notebooks paired with the sources here are student"


@dataclass(frozen=True)
class NotebookJob:
    """One module's pair, as plain data (paths relative to `root`)."""

    root: str
    name: str
    source: str
    notebook: str
    beside: tuple[str, ...] = ()  # file names of every paired notebook in the notebook's folder (this one too)

    def at(self, rel: str) -> Path:
        return layout.at(self.root, rel)

    @property
    def record(self) -> Path:
        return self.at(layout.sync_record(self.name))


def ignore_file(job: NotebookJob) -> str:
    """The `.gitignore` beside the paired notebook (relative to root)."""
    folder = Path(job.notebook).parent.as_posix()
    return IGNORE if folder in ("", ".") else f"{folder}/{IGNORE}"


def ignore_text(job: NotebookJob) -> bytes:
    """What the build's `.gitignore` beside the notebooks says: itself and the folder's paired notebooks."""
    names = sorted(set(job.beside) | {Path(job.notebook).name})
    lines = [IGNORE_MARK, "# work, kept in sync with them and never committed. Remove the first line to own this file.",
             f"/{IGNORE}", *(f"/{n}" for n in names)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def ignored(job: NotebookJob) -> bool:
    """Is the folder's `.gitignore` as the build writes it, or one the build leaves alone (not its own)?"""
    try:
        data = job.at(ignore_file(job)).read_bytes()
    except OSError:
        return False
    return data == ignore_text(job) or not data.startswith(IGNORE_MARK.encode())


def ensure_ignored(job: NotebookJob) -> None:
    """Write the build's `.gitignore` beside the notebook (if absent or its own); else say what to add."""
    path = job.at(ignore_file(job))
    try:
        data: bytes | None = path.read_bytes()
    except OSError:
        data = None
    if data is None or data.startswith(IGNORE_MARK.encode()):
        atomic.write_if_changed(path, ignore_text(job))
        return
    name = Path(job.notebook).name
    rules = {line.strip() for line in data.decode("utf-8", "replace").splitlines()}
    if not rules & {name, f"/{name}", "*.ipynb", "/*.ipynb"}:
        output.warn(f"{job.notebook} is a paired notebook (student work, never committed), but {ignore_file(job)} "
                    f"is not the build's, so it is left as it is: add the line '/{name}' to it")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_record(job: NotebookJob) -> dict[str, str]:
    try:
        data = json.loads(job.record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def _write_record(job: NotebookJob, source: bytes, notebook: bytes) -> None:
    record = {"source": digest(source), "notebook": digest(notebook)}
    atomic.write_if_changed(job.record, json.dumps(record, indent=1).encode())


def synced(job: NotebookJob) -> bool:
    """doit `uptodate` check: both files are as the last sync left them, and the notebook is gitignored."""
    if not ignored(job):
        return False
    record = _read_record(job)
    try:
        return (record.get("source") == digest(job.at(job.source).read_bytes())
                and record.get("notebook") == digest(job.at(job.notebook).read_bytes()))
    except OSError:
        return False


def parse_notebook(data: bytes, rel: str) -> Any:
    """Notebook bytes -> a jupytext notebook; anything else is a SourceError naming the file."""
    jupytext = percent.jupytext()

    try:
        nb = json.loads(data.decode("utf-8-sig"))
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
            raise ValueError("no 'cells' list: this JSON is not a notebook")
        return jupytext.reads(json.dumps(nb), fmt="ipynb")
    except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = (f"{rel}:1: not a valid notebook ({reason}); nothing was synced and no file was changed. "
               f"Fix it (Jupyter's File > Revert, or your editor's undo), or move it away and run doit: "
               f"a fresh notebook is paired from the source")
        raise SourceError(msg) from None


def as_source(nb: Any) -> str:
    """The percent text of a notebook, exactly as jupytext writes the paired source."""
    jupytext = percent.jupytext()

    text: str = jupytext.writes(nb, fmt=dict(PERCENT))
    return text


def _paired(nb: Any) -> bool:
    meta = nb.metadata.get("jupytext", {})
    return isinstance(meta, dict) and all(meta.get(k) == v for k, v in PAIRING.items())


def _pair(nb: Any) -> Any:
    meta = nb.metadata.get("jupytext")
    nb.metadata["jupytext"] = {**(meta if isinstance(meta, dict) else {}), **PAIRING}
    return nb


def _ipynb(nb: Any) -> bytes:
    jupytext = percent.jupytext()

    text: str = jupytext.writes(nb, fmt="ipynb")
    return (text if text.endswith("\n") else text + "\n").encode("utf-8")


def from_source(text: str, old: Any | None) -> Any:
    """The notebook for source `text`: the old notebook's outputs and cell metadata kept where cells match."""
    jupytext = percent.jupytext()
    from jupytext.combine import combine_inputs_with_outputs

    new = jupytext.reads(text, fmt=dict(PERCENT))
    if old is not None:
        new = combine_inputs_with_outputs(new, old, fmt=dict(PERCENT))
    else:
        new.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return _pair(new)


def save_aside(job: NotebookJob, data: bytes) -> str:
    """Copy the notebook's bytes under build/notebooks/aside/ (once per distinct version); return where."""
    folder = job.at(layout.NOTEBOOK_ASIDE)
    for kept in sorted(folder.glob(f"{job.name}.*.ipynb")) if folder.is_dir() else []:
        if digest(kept.read_bytes()) == digest(data):
            return kept.relative_to(Path(job.root)).as_posix()
    stamp, n = time.strftime("%Y%m%dT%H%M%S"), 1
    rel = layout.notebook_aside(job.name, stamp)
    while job.at(rel).exists():  # two conflicts within a second: keep both
        n += 1
        rel = layout.notebook_aside(job.name, f"{stamp}-{n}")
    atomic.write_bytes(job.at(rel), data)
    return rel


def conflict(job: NotebookJob, aside: str) -> str:
    return (f"{job.notebook} and {job.source} were both edited since they were last synced; nothing was "
            f"overwritten. The notebook's version is saved in {aside}. Keep one: to keep the source, delete "
            f"{job.notebook} and run doit (a fresh notebook is paired; its outputs are in the saved copy); to "
            f"keep the notebook, run 'jupytext --to py:percent {job.notebook}' (it writes {job.source}), then doit")


def sync(job: NotebookJob) -> dict[str, Any]:
    """Bring the source and its paired notebook together (see the module docstring)."""
    source, notebook = job.at(job.source), job.at(job.notebook)
    if job.source.endswith(".ipynb"):
        return {"sync": "the source is a notebook"}
    ensure_ignored(job)
    # an edit: export, checks and tests follow; the warm worker's imports overlap this run's from here on
    spawn.prestart(Path(job.root))
    s_bytes = source.read_bytes()
    s_text = decode(s_bytes, job.source)
    if not notebook.exists():
        data = _ipynb(from_source(s_text, None))
        atomic.write_bytes(notebook, data)
        _write_record(job, s_bytes, data)
        return {"sync": "created"}
    n_bytes = notebook.read_bytes()
    record = _read_record(job)
    s_changed, n_changed = record.get("source") != digest(s_bytes), record.get("notebook") != digest(n_bytes)
    if not (s_changed or n_changed):
        return {"sync": "unchanged"}
    nb = parse_notebook(n_bytes, job.notebook)
    paired = _paired(nb)
    if not paired:
        output.warn(f"{job.notebook} had lost its jupytext pairing metadata (saved by a tool that drops it?); "
                    f"it is paired with {job.source} again")
    n_text = as_source(nb)
    if n_text == s_text:  # already agree (an interrupted sync, or an edit of outputs or metadata only)
        if not paired:
            n_bytes = _ipynb(_pair(nb))
            atomic.write_bytes(notebook, n_bytes)
        _write_record(job, s_bytes, n_bytes)
        return {"sync": "agree"}
    if s_changed and n_changed:
        raise SourceError(conflict(job, save_aside(job, n_bytes)))
    if n_changed:
        new_source = n_text.encode("utf-8")
        atomic.write_bytes(source, new_source)
        if not paired:
            n_bytes = _ipynb(_pair(nb))
            atomic.write_bytes(notebook, n_bytes)
        _write_record(job, new_source, n_bytes)
        output.emit("note", f"{job.notebook} -> {job.source}: the notebook's edit is now in the source")
        return {"sync": "notebook -> source"}
    data = _ipynb(from_source(s_text, nb))
    atomic.write_bytes(notebook, data)
    _write_record(job, s_bytes, data)
    return {"sync": "source -> notebook"}
