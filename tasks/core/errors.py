"""The build's errors: one base class, one subclass per stage.

Every message names a place (`path:line:col`, `path:line`, or in a notebook `path:cell K:line`:
`tasks.core.places`) and says how to fix it.
"""

from __future__ import annotations

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
