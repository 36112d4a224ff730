"""The plain records of grading (picklable, cheap to import: the task creators make them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["dir", "zip", "tar"]


@dataclass(frozen=True)
class Submission:
    student: str
    path: str  # absolute: the folder or the archive
    kind: Kind


@dataclass(frozen=True)
class Limits:
    """Per-submission limits (the reliability issue's limits, applied to the whole run)."""

    wall: float = 900.0  # seconds for the whole submission
    cpu: int = 1800  # CPU seconds, per process
    memory: int = 4 << 30  # address space, per process
    file_size: int = 64 << 20  # largest file it can write
    processes: int = 256  # processes at once (cgroup, or RLIMIT_NPROC for a non-root uid)
    open_files: int = 1024
    output: int = 1 << 20  # bytes of the run's own output kept


@dataclass(frozen=True)
class Unit:
    """One graded item of every submission (a module, or an integration/system test file), and what decides it.

    Its grade is reused while its key holds: the digest of `files` (the instructor's files of this item
    alone: a module's unit tests, a suite's test file), of the student's sources of `reach`, and of the
    instructor files every item shares (`GradeJob.common`).
    """

    item: str  # module name, or 'integration:<t>' / 'system:<t>'
    kind: Literal["module", "integration", "system"]
    reach: tuple[str, ...]  # the modules whose sources it runs (itself, its dependencies, what its tests import)
    needs: tuple[str, ...]  # the modules that must pass before it is tested (a module's dependencies, a suite's reach)
    files: tuple[str, ...]  # the instructor's files that are this item's alone
    digest: str  # of `files`


@dataclass(frozen=True)
class GradeJob:
    """Everything needed to grade one submission, as plain data (picklable for a pool or Dask)."""

    root: str  # the instructor's repository
    submission: Submission
    modules: tuple[tuple[str, str, str], ...]  # (name, source, package-relative target), course order
    key: str  # what the grade was made from (tasks.plan.grade)
    files: tuple[str, ...]  # the instructor's files copied into the scratch tree (module sources excluded)
    build_system: str  # the folder holding the grader's own `tasks` package, copied in as tasks/
    system_files: tuple[str, ...]  # its files, 'tasks/...'
    limits: Limits = field(default_factory=Limits)
    units: tuple[Unit, ...] = ()  # modules in course order, then the suites
    common: str = ""  # the digest of what every unit shares: the other instructor files, the build system, the limits

    @property
    def student(self) -> str:
        return self.submission.student

    @property
    def sources(self) -> dict[str, str]:
        return {name: source for name, source, _ in self.modules}


@dataclass(frozen=True)
class BookSpec:
    """What the gradebook task needs, as plain data."""

    root: str
    students: tuple[str, ...]
    modules: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...]  # (entry name, reason)
    test_files: tuple[str, ...]
    grading: Any  # tasks.model.grading.Grading
