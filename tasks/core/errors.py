"""The build's errors: one base class, one subclass per stage.

Every message names a place (`path:line:col`, `path:line`, or in a notebook `path:cell K:line`:
`tasks.core.places`) and says how to fix it.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from tasks.core.places import Place, shown


class BuildError(Exception):
    """A problem the user can fix; its message is shown as is, without a traceback."""


class ManifestError(BuildError):
    """modules.yaml is invalid."""


class SourceError(BuildError):
    """A module source cannot be exported as it stands."""


class CheckError(BuildError):
    """An exported module fails its checks."""


class AssemblyError(BuildError):
    """The package cannot be assembled from its modules."""


class ReleaseError(BuildError):
    """A release (wheel, verify, API compatibility) is refused."""


class EnvironmentFault(BuildError):
    """The machine, not the course, stops the run: a full disk, a read-only `build/`, a vanished state DB."""


class DiskFull(BaseException):
    """A full disk: the run stops at once with one message (a BaseException, so doit does not turn it into a
    task failure and carry on into the same wall with every other task)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path


FULL = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up"}
# what a full disk looks like when it comes back as text: sqlite's message, from doit's DB or coverage's data file
FULL_TEXT = ("No space left on device", "Disk quota exceeded", "database or disk is full")


def disk_full(exc: BaseException | str) -> bool:
    """Is `exc` (or a child's output) a full disk, however deep in an exception chain?"""
    if isinstance(exc, str):
        return any(text in exc for text in FULL_TEXT)
    seen: set[int] = set()
    here: BaseException | None = exc
    while here is not None and id(here) not in seen:
        seen.add(id(here))
        if isinstance(here, OSError) and here.errno in FULL or any(text in str(here) for text in FULL_TEXT):
            return True
        here = here.__cause__ or here.__context__
    return False


def full_disk_message(path: str, stopped: bool = True) -> str:
    """The one message of a run stopped by a full disk: which file, what happened, what to do
    (`stopped=False`: a `doit -n` worker's task, which cannot stop the run)."""
    return (f"{path} could not be written: the disk is full (No space left on device).{' doit stopped here;' * stopped} "
            "nothing was half-written and every earlier output is intact. Free some space on that disk "
            "(`doit clean` deletes what doit generated), then run doit again.")


def unwritable_message(path: str, exc: OSError) -> str:
    """`path` (a directory, shown with a trailing /) cannot be written: why, and the fix that fits the cause."""
    if exc.errno in FULL:
        return full_disk_message(path)
    if exc.errno == errno.EROFS:
        fix = (f"it is on a read-only file system: remount it read-write, or point {path} at a writable "
               "disk (a symlink), then run doit again.")
    else:
        fix = f"make it writable (chmod -R u+w {path.rstrip('/')}) or delete it, then run doit again."
    return f"{path} cannot be written ({exc.strerror}): doit keeps everything it generates there. {fix[0].upper()}{fix[1:]}"


@dataclass(frozen=True)
class Problem:
    """One problem at one place in a file (`cell`: the notebook cell `line` counts in; 0 outside notebooks)."""

    path: str
    line: int
    col: int
    message: str
    cell: int = 0

    @property
    def place(self) -> Place:
        return Place(self.path, self.line, self.col, self.cell)

    def __str__(self) -> str:
        return f"{shown(self.place)}: {self.message}"


def join(problems: list[Problem]) -> str:
    """Render problems, one per line, sorted by place."""
    return "\n".join(str(p) for p in sorted(problems, key=lambda p: (p.path, p.cell, p.line, p.col, p.message)))
