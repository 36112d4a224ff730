"""`test:<m>`, `integration:<t>`, `system:<t>`: pytest in a sandboxed child, with coverage.

Each run leaves a JSON result under build/results/ (counts, durations, failures
with source lines, coverage of the module's exported file) for the reports.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tasks.core import atomic, layout, output
from tasks.core.errors import CheckError
from tasks.model.fields import Limits
from tasks.sandbox import bytecode, warm
from tasks.sandbox.spawn import run_child
from tasks.steps.checks import blame, dump_after, foreign, map_frames, read_stack, record_sources
from tasks.steps.export import source_at, source_line
from tasks.steps.regions import STUB_SAYS, unwritten

Kind = Literal["test", "integration", "system", "smoke"]


@dataclass(frozen=True)
class TestJob:
    """Everything a test task needs, as plain data."""

    root: str
    kind: Kind
    name: str  # module name, or the test file's stem
    files: tuple[str, ...]
    lib: str
    stubs: tuple[str, ...]  # empty: the assembled package is imported as users see it
    records: dict[str, str]  # generated file -> export record, to map tracebacks
    timeout: float
    cover: str | None = None  # generated file whose coverage is measured
    floor: float | None = None  # minimum coverage, percent
    import_package: str | None = None  # with no test files: import this package instead, and say so
    limits: Limits | None = None  # of the student code (modules.yaml); None: the defaults
    # in a student tree: (module, source, shipped stub lines) of each module the tests reach;
    # while any stub is left the tests are not run against it (the module is todo or waiting)
    pending: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    @property
    def result_file(self) -> Path:
        return layout.at(self.root, layout.result(self.kind, self.name))


def _map_coverage(job: TestJob, coverage: dict[str, Any]) -> dict[str, Any]:
    if not job.cover or job.cover not in job.records:
        return coverage
    try:
        record = json.loads((Path(job.root) / job.records[job.cover]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return coverage
    mapped = [n for n in (source_line(record, n) for n in coverage.get("missing", [])) if n is not None]
    return {**coverage, "source": record.get("source"), "missing_source": mapped,
            # where each missing line is, as messages print it (cell and line for a notebook source)
            "missing_places": [str(p) for p in (source_at(record, n) for n in coverage.get("missing", [])) if p]}


# a test file that does not compile: pytest shows the compiler's place as 'E     File "...", line N'
_SYNTAX = re.compile(r'^E\s+File "(?P<path>[^"]+)", line (?P<line>\d+)$.*?^E\s+(?P<error>\w*Error: .*)$',
                     re.MULTILINE | re.DOTALL)


def _rel(root: Path, path: str) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path


def _own(job: TestJob, sources: dict[str, str]) -> str | None:
    """The source of the module under test (unit tests only; a suite tests several)."""
    return sources.get(job.cover) if job.kind == "test" and job.cover else None


def _summary(job: TestJob, result: dict[str, Any]) -> str:
    root = Path(job.root)
    sources = record_sources(root, job.records)
    own = _own(job, sources)
    lines = []
    for failure in result.get("failures", [])[:5]:
        frames = [[p, n, failure["test"].split("::")[-1], m] for p, n, m in failure.get("entries", [])]
        places = map_frames(root, frames, job.records)
        crash = failure.get("crash") or []
        message = crash[2].splitlines()[0] if len(crash) > 2 and crash[2] else "failed"
        # never a place in installed code (pytest, numpy): then the test's own line
        loc = failure.get("location") or []
        if len(crash) > 1 and crash[0] and not foreign(Path(crash[0])):
            fallback = f"{crash[0]}:{crash[1]}"
        else:
            fallback = f"{loc[0]}:{loc[1]}" if len(loc) > 1 else failure["test"]
        where = blame(places, own, set(sources.values())) or fallback
        syntax = _SYNTAX.search(failure.get("text", ""))
        if syntax:
            where, message = f"{_rel(root, syntax.group('path'))}:{syntax.group('line')}", syntax.group("error")
            places = []
        if _is_stub(message):  # a stub a test reached: "not written yet" at its line, no traceback
            lines.append(f"{where}: {failure['test']}: {message.split('NotImplementedError: ', 1)[-1]}")
            continue
        lines.append(f"{where}: {failure['test']}: {message}")
        lines.extend(f"    {p}" for p in places[:-1][-3:])
    more = len(result.get("failures", [])) - 5
    if more > 0:
        lines.append(f"... and {more} more")
    return "\n".join(lines)


def _hung(job: TestJob, frames: list[list[Any]]) -> str | None:
    """The message for a run killed on timeout, from the stack it dumped: which test, and where it loops."""
    root = Path(job.root)
    test = next(((f[0], f[2]) for f in reversed(frames) if _rel(root, f[0]) in job.files), None)
    places = map_frames(root, frames, job.records)
    if test is None or not places:
        return None
    sources = record_sources(root, job.records)
    where = blame(places, _own(job, sources), set(sources.values()))
    trace = "\n".join(f"    {p}" for p in places[-6:])
    return (f"{where}: {job.kind}:{job.name}: {_rel(root, test[0])}::{test[1]} did not finish within "
            f"{job.timeout:g} s; it was running this line when it was stopped (an endless loop?), and the process "
            "group was killed. Raise 'timeout' in modules.yaml if it is just slow.\n"
            f"  stack (most recent call last, source lines):\n{trace}")


def _missing(coverage: dict[str, Any]) -> str:
    """The uncovered source lines: 'source lines [3, 4]', or their cells for a notebook source."""
    if str(coverage.get("source", "")).endswith(".ipynb"):
        return ", ".join(coverage.get("missing_places", [])[:10])
    return f"source lines {coverage.get('missing_source', [])[:10]}"


def not_written(job: TestJob) -> dict[str, Any] | None:
    """In a student tree: why the tests are not run yet (own stubs left, or a module they need), or None."""
    root = Path(job.root)
    for name, source, stubs in job.pending:
        left, line = unwritten(root, source, stubs)
        if not left:
            continue
        if job.kind == "test" and name == job.name:
            written = len(stubs) - left
            return {"state": "todo" if not written else "in progress", "written": written, "regions": len(stubs),
                    "place": f"{source}:{line}"}
        return {"state": "waiting", "waiting_for": name, "place": f"{source}:{line}"}
    return None


def _is_stub(message: str) -> bool:
    return "NotImplementedError" in message and STUB_SAYS in message


def _only_stubs(result: dict[str, Any]) -> bool:
    crashes = [(f.get("crash") or [None, None, ""])[2] or "" for f in result.get("failures", [])]
    return bool(crashes) and all(_is_stub(c.splitlines()[0] if c else "") for c in crashes)


def run_tests(job: TestJob) -> dict[str, Any]:
    """Run the job's test files; raise CheckError with the failures mapped to source lines."""
    root = Path(job.root)
    label = f"{job.kind}:{job.name}"
    student = not_written(job)
    if student is not None:  # todo and waiting are not failures: nothing is run against a stub
        note = {"status": "passed", "passed": 0, "failed": 0, "errors": 0, "skipped": 0, "student": student,
                "note": f"not run: {student['state']}"}
        atomic.write_text(job.result_file, json.dumps(note, indent=1))
        return {"student": student["state"]}
    if not job.files:
        result: dict[str, Any] = {"status": "passed", "passed": 0, "failed": 0, "errors": 0, "skipped": 0,
                                  "note": "no tests declared"}
        if job.import_package:
            return _import_only(job, result)
        atomic.write_text(job.result_file, json.dumps(result, indent=1))
        return {"passed": 0}
    args = ["pytest", "--lib", job.lib]
    for stub in job.stubs:
        args += ["--stub", stub]
    if job.cover:
        data_file = layout.at(root, layout.coverage_data(job.name))
        data_file.parent.mkdir(parents=True, exist_ok=True)
        args += ["--cover", job.cover, "--data-file", str(data_file)]
    stack = layout.at(root, layout.stack_dump(job.kind, job.name))
    stack.parent.mkdir(parents=True, exist_ok=True)
    stack.unlink(missing_ok=True)
    args += ["--stack", str(stack), "--stack-after", f"{dump_after(job.timeout):g}"]
    # an unchanged test file is not parsed and rewritten again (tasks.tools.pytestrewrite); not when the
    # code under test is untrusted (grading): a child could plant a rewritten test of another module
    if not bytecode.untrusted():
        args += ["--rewrites", str(layout.at(root, layout.PYTEST_REWRITES))]
        if job.cover:  # and coverage's parse of an unchanged source is not done again (nor trusted there)
            args += ["--parsed", str(layout.at(root, layout.COVERAGE_PARSED))]
    # a file that fails to collect fails alone: the other files' tests still run and are reported
    args += ["--", *job.files, "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors", "--no-header", "-o", "console_output_style=classic"]
    # third-party pytest plugins (hypothesis, benchmark...) cost ~0.5 s of start-up per run
    outcome = run_child(root, args, job.timeout, env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, limits=job.limits)
    result = dict(outcome.result or {})
    if "coverage" in result:
        result["coverage"] = _map_coverage(job, result["coverage"])
    message = None
    if outcome.timed_out:
        message = _hung(job, read_stack(stack)) or (
            f"{job.files[0]}:1: {label}: the tests did not finish within {job.timeout:g} s (a test that "
            "hangs?); the process group was killed. Raise 'timeout' in modules.yaml if they are just slow.")
    elif outcome.result is None:
        message = f"{job.files[0]}:1: {label}: pytest crashed before reporting:\n{outcome.output}"
    elif result["exit_code"] == 5:
        message = f"{job.files[0]}:1: {label}: no tests collected; name test functions 'test_*'"
    elif result["exit_code"] != 0:
        total = result["passed"] + result["failed"] + result["errors"]
        message = f"{label}: {result['failed'] + result['errors']} of {total} tests failed\n{_summary(job, result)}"
        if not _only_stubs(result):
            message += f"\n--- pytest output (trimmed) ---\n{outcome.output}"
    elif job.floor is not None and result.get("coverage", {}).get("percent", 100.0) < job.floor:
        percent = result["coverage"]["percent"]
        message = (f"{job.files[0]}:1: {label}: coverage of {job.cover} is {percent:.1f}%, "
                   f"{job.floor - percent:.1f} points below the floor of {job.floor:g}% set in modules.yaml; "
                   f"add tests for {_missing(result['coverage'])}")
    if outcome.tampered:  # student code changed or deleted course files: restored, and it fails the task
        tampered = "\n".join(f"  {t}" for t in outcome.tampered)
        message = (f"{job.files[0]}:1: {label}: the tests changed course files; each was restored:\n{tampered}"
                   + (f"\n{message}" if message else ""))
    result["status"] = "failed" if message else "passed"
    result["message"] = message
    result["sandbox"] = warm.mode()  # 'fork' of the warm worker, or 'spawn'ed interpreter
    atomic.write_text(job.result_file, json.dumps(result, indent=1))
    if message:
        raise CheckError(message)
    return {"passed": result["passed"], "coverage": result.get("coverage", {}).get("percent")}


def _import_only(job: TestJob, result: dict[str, Any]) -> dict[str, Any]:
    """No smoke tests: import the assembled package in a fresh process, and say there were none."""
    from tasks.steps.checks import CheckJob, describe

    root = Path(job.root)
    package = job.import_package or ""
    outcome = run_child(root, ["import", "--lib", job.lib, "--target", package], job.timeout)
    check = CheckJob(root=job.root, name=package, source=f"{job.lib}/{package}/__init__.py", target=package,
                     lib=job.lib, stubs=(), records=job.records, timeout=job.timeout)
    message = describe(check, outcome.result, outcome.timed_out, outcome.output)
    note = f"no smoke tests (tests/validation/ has no test_*.py); imported {package} only"
    result.update({"status": "failed" if message else "passed", "note": note, "message": message})
    atomic.write_text(job.result_file, json.dumps(result, indent=1))
    if message:
        raise CheckError(message)
    output.emit("note", f"{job.kind}: {note}")
    return {"passed": 0, "note": note}
