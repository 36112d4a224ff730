"""The schema of `report.json` (schema_version 1): versioned TypedDicts.

`schema_version` changes when a field changes meaning or disappears; adding a
field keeps the version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypedDict

if TYPE_CHECKING:
    from tasks.reports.picture import Status

SCHEMA_VERSION: Literal[1] = 1

class StageReport(TypedDict):
    status: Status
    message: str | None  # the task's error message (file:line first), when it failed
    place: str | None  # "path:line" the message points at, the module's source preferred
    seconds: float | None  # how long the task took when it last ran


class CoverageReport(TypedDict):
    percent: float
    statements: int
    file: str  # the exported file measured
    missing: list[int]  # its lines not run by the unit tests
    source: str | None  # the file the student edits
    missing_source: list[int]  # the same lines, as lines of `source`


ProgressState = Literal["todo", "in progress", "done", "failing", "waiting"]


class ProgressReport(TypedDict):
    """A module's progress in a student tree (`tasks.reports.status.progress`)."""

    state: ProgressState
    label: str  # "todo", "in progress (2 of 5)", "done", "failing", "waiting for tensor"
    written: int | None  # stubs written, of `regions`
    regions: int | None
    waiting_for: str | None
    place: str | None  # a stub left, or the failing line


class ModuleReport(TypedDict):
    name: str
    number: int
    source: str
    target: str
    depends: list[str]
    tests: list[str]
    status: Status  # failed > blocked > stale > not built > passed
    blocked_by: list[str]  # failed modules it depends on, transitively
    export: StageReport
    check: StageReport
    test: StageReport
    tests_passed: int | None
    tests_failed: int | None  # failed + errors
    tests_skipped: int | None
    coverage: CoverageReport | None
    exported_names: list[str]
    source_lines: int | None
    exported_lines: int | None
    duration: float | None  # export + check + test, last run, seconds
    progress: ProgressReport | None  # in a student tree only


class SuiteReport(TypedDict):
    kind: Literal["integration", "system"]
    task: str
    path: str
    status: Status
    passed: int | None
    failed: int | None
    skipped: int | None
    seconds: float | None
    message: str | None
    place: str | None


class WheelReport(TypedDict):
    file: str
    size: int
    sha256: str


class TimingReport(TypedDict):
    task: str
    status: str  # passed, failed, blocked
    seconds: float
    finished: str  # ISO 8601, UTC


class FailureReport(TypedDict):
    task: str
    module: str | None
    place: str | None
    hint: str
    message: str


class Summary(TypedDict):
    modules: int
    passed: int
    failed: int
    blocked: int
    stale: int
    not_built: int


class ProgressSummary(TypedDict):
    done: int
    modules: int
    next: str | None
    line: str  # "5 of 15 done; next: dense"


class Report(TypedDict):
    schema_version: Literal[1]
    generated: str
    package: str
    summary: Summary
    first_failure: FailureReport | None
    modules: list[ModuleReport]
    integration: list[SuiteReport]
    system: list[SuiteReport]
    wheels: list[WheelReport]
    timings: list[TimingReport]
    mermaid: str
    progress: ProgressSummary | None  # in a student tree only
