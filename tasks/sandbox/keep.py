"""Student code cannot silently destroy the course: sources and tests are checked around every child run.

Before a child runs, each course file (everything outside build/ and hidden folders that
a course is made of: .py, .ipynb, .yaml, .toml, ...) has a copy under build/state/originals/
(refreshed when the file changed since). After the child, a file whose bytes differ or that is
gone is restored from its copy; what the child left is kept beside the copy (nothing is
lost, not even an editor's save that raced the run), and the caller says which test did it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from tasks.core import atomic, layout

SUFFIXES = (".py", ".ipynb", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".json", ".txt", ".md")
SKIP = (layout.BUILD, "__pycache__", "node_modules", "venv")

Stamp = tuple[int, int, int]  # size, mtime_ns, inode


def stamp(path: str) -> Stamp | None:
    """A file's stamp, or None when it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def _scan(root: str) -> dict[str, Stamp]:
    """Every course file, by its path relative to `root` ('/'-separated), with its stamp: one scandir per folder and
    one stat per file, in plain strings (this runs around every child)."""
    found: dict[str, Stamp] = {}
    stack = [(root, "")]
    while stack:
        here, prefix = stack.pop()
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name in SKIP:
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
                        stack.append((entry.path, f"{prefix}{name}/"))
                elif name.endswith(SUFFIXES) and entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    found[prefix + name] = (st.st_size, st.st_mtime_ns, st.st_ino)
            except OSError:
                continue
    return found


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class Keeper:
    """Copies of the course files, and what they were before a child ran."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = layout.at(root, layout.SOURCE_COPIES)
        self.index_path = self.store / "index.json"
        self.before: dict[str, Stamp] = {}
        self.digests: dict[str, str] = {}

    def _index(self) -> dict[str, list[object]]:
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def snapshot(self) -> None:
        """Stamp every course file; copy the ones whose copy is missing or older."""
        index = self._index()
        changed = False
        for rel, found in _scan(str(self.root)).items():
            self.before[rel] = found
            known = index.get(rel)
            if isinstance(known, list) and len(known) == 2 and known[0] == list(found):
                self.digests[rel] = str(known[1])
                continue
            path = self.root / rel
            digest = _digest(path)
            if digest is None:
                continue
            copy = self.store / "files" / rel
            try:
                copy.parent.mkdir(parents=True, exist_ok=True)
                atomic.write_bytes(copy, path.read_bytes())
            except OSError:
                continue  # no room for a copy: this file cannot be restored, but is still checked
            index[rel] = [list(found), digest]
            self.digests[rel] = digest
            changed = True
        if changed:
            try:
                atomic.write_text(self.index_path, json.dumps(index, separators=(",", ":")))
            except OSError:
                pass

    def restore(self) -> list[tuple[str, str]]:
        """Put back every course file the child changed or deleted: [(path, 'changed'|'deleted')]."""
        done: list[tuple[str, str]] = []
        for rel, before in sorted(self.before.items()):
            now = stamp(os.path.join(self.root, rel))
            if now == before:
                continue
            path = self.root / rel
            if now is not None and _digest(path) == self.digests.get(rel):
                continue  # touched, same bytes
            copy = self.store / "files" / rel
            if not copy.is_file() or _digest(copy) != self.digests.get(rel):
                continue
            what = "deleted" if now is None else "changed"
            if now is not None:  # keep what the child wrote, in case it was an editor's save after all
                aside = self.store / "replaced" / f"{rel}.{time.strftime('%Y%m%dT%H%M%S')}"
                aside.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, aside)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_bytes(path, copy.read_bytes())
            done.append((rel, what))
        return done


RECORDS = (layout.RESULTS, layout.PASSED)  # what decides a task's verdict, as the build wrote it
STATE_DB = layout.STATE_DB

Mark = tuple[int, int, int, int]  # size, mtime_ns, inode, ctime_ns (a write cannot set the ctime back)


def _marks(top: str, prefix: str, out: dict[str, Mark]) -> None:
    """Every file below `top` (a directory), by its path `prefix/...`: one scandir and one stat per entry, as
    this runs around every child (a 1000-module course has some 6000 records)."""
    try:
        entries = list(os.scandir(top))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                _marks(entry.path, f"{prefix}/{entry.name}", out)
                continue
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        out[f"{prefix}/{entry.name}"] = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


class Records:
    """The build's own records of verdicts: result files, passed records, the state DB.

    Student code of one module must not write another's verdict (a forged `passed` for a module
    that failed, found by the grader as the build's word). Nothing of the build writes them while a
    child runs (the parent waits for it), so a changed or new record is the child's: it is deleted
    (it counts as absent, so its task runs again), and the task fails saying which file.
    Only for a run that executes its tasks in this process: under `doit -n` other workers write
    their records meanwhile, so nothing could be told apart (see the README).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.before: dict[str, Mark] = {}

    def _now(self) -> dict[str, Mark]:
        out: dict[str, Mark] = {}
        for rel in RECORDS:
            _marks(str(layout.at(self.root, rel)), rel, out)
        try:
            st = os.stat(layout.at(self.root, STATE_DB))
            out[STATE_DB] = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
        except OSError:
            pass
        return out

    def snapshot(self) -> None:
        self.before = self._now()

    def stamps(self) -> dict[str, list[int]]:
        """The records as the child's test watch wants them (size, mtime_ns, inode), to name the test."""
        return {rel: list(mark[:3]) for rel, mark in self.before.items()}

    def check(self) -> list[tuple[str, str]]:
        """[(path, 'changed')] for every record the child changed or made, removed (the state DB is only
        reported: it is doit's, open in this process). A deleted record forges nothing (its task runs again),
        and may be the user's `rm` in another terminal: it is not blamed on the child."""
        now = self._now()
        done = []
        for rel, mark in now.items():
            if mark == self.before.get(rel):
                continue
            if rel != STATE_DB:
                with contextlib.suppress(OSError):
                    os.unlink(layout.at(self.root, rel))
            done.append((rel, "changed"))
        return sorted(done)
