"""The build's errors: one base class, one subclass per stage.

Every message names a place (`path:line:col` or `path:line`) and says how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True, order=True)
class Problem:
    """One problem at one place in a file."""

    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        from tasks.core.places import place  # an .ipynb line is shown as its cell and the line within it

        return f"{place(self.path, self.line, self.col)}: {self.message}"


def join(problems: list[Problem]) -> str:
    """Render problems, one per line, sorted by place."""
    return "\n".join(str(p) for p in sorted(problems))
