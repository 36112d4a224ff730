"""The one status model: each module's and test file's state, and why, read from what the build left.

Nothing is re-run. The sources of truth, per task:
- doit's state DB (`tasks.tools.doitdb`): a task listed there last succeeded; it is *stale*
  when one of the files it depended on has changed since (the same test doit makes);
- the result files of `check`/`test`/suites: counts, coverage, messages;
- the timings file written by the console reporter (`tasks.reports.console`):
  how long each task took and which ones last failed or were blocked.

The console table, the HTML and Markdown pages and report.json all read this module;
`reason()` is the one place that decides why a module is not passing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from tasks.core import layout
from tasks.core.layout import STAGES
from tasks.reports.schema import (
    CoverageReport,
    FailureReport,
    ModuleReport,
    ProgressReport,
    ProgressState,
    ProgressSummary,
    StageReport,
    SuiteReport,
)

if TYPE_CHECKING:  # tasks.reports.picture is imported by the actions only
    from tasks.reports.picture import Status

# a notebook source's place names the cell (tasks.core.places): 'lesson.ipynb:cell 7:3'
PLACE = re.compile(r"^\s*(?P<path>[\w.\-/]+\.(?:py|ipynb|yaml|toml)):(?P<line>(?:cell \d+:)?\d+)\b", re.MULTILINE)


@dataclass(frozen=True)
class Entry:
    """What the report needs to know about one module from the manifest."""

    name: str
    number: int
    source: str
    target: str = ""
    generated: str = ""
    depends: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportJob:
    """Everything `report` and `graph` need, as plain data."""

    root: str
    package: str
    entries: tuple[Entry, ...]
    targets: tuple[tuple[str, str], ...]  # (target, module name), to find the suites


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


_COUNTS = ("passed", "failed", "errors", "skipped")


def read_result(path: Path) -> dict[str, Any] | None:
    """A check/test result file, or None when it is missing or not of the shape the steps write
    (a hand-edited or damaged file counts as absent: 'not built', never a crash)."""
    data = read_json(path)
    if data is None:
        return None
    ok = all(isinstance(data.get(k, 0), int) and not isinstance(data.get(k, 0), bool) for k in _COUNTS) and \
        isinstance(data.get("status", ""), str) and isinstance(data.get("message") or "", str) and \
        isinstance(data.get("seconds", 0), (int, float)) and isinstance(data.get("failures", []), list)
    cov = data.get("coverage")
    if cov is not None:
        ok = ok and isinstance(cov, dict) and isinstance(cov.get("percent", 0), (int, float)) and \
            isinstance(cov.get("statements", 0), int) and isinstance(cov.get("missing", []), list) and \
            isinstance(cov.get("missing_source", []), list)
    return data if ok else None


def read_timings(root: Path) -> dict[str, dict[str, Any]]:
    """Task name -> {status, seconds, finished (epoch), message} from the reporter's file."""
    data = read_json(layout.at(root, layout.TIMINGS)) or {}
    tasks = data.get("tasks", {})
    if not isinstance(tasks, dict):
        return {}
    return {k: v for k, v in tasks.items() if isinstance(v, dict) and isinstance(v.get("seconds", 0), (int, float))
            and isinstance(v.get("finished", 0), (int, float)) and isinstance(v.get("message") or "", str)}


def db_states(root: Path, names: Iterable[str],
              fresh: Collection[str] = ()) -> dict[str, Literal["fresh", "stale"]]:
    """doit's view of the named tasks: 'fresh' or 'stale' for those that last succeeded."""
    from tasks.tools import doitdb

    return doitdb.states(root, layout.at(root, layout.STATE_DB), names, fresh)


def with_twin(message: str | None, place: str | None) -> str | None:
    """`place` with the paired notebook's cell the message names after it ('x.py:21 (x.ipynb:cell 3:9)')."""
    if not message or not place:
        return place
    m = re.search(re.escape(place) + r"(?::\d+)? \((?P<twin>[\w.\-]+\.ipynb:cell \d+:\d+)(?::\d+)?\)", message)
    return f"{place} ({m.group('twin')})" if m else place


def find_place(message: str | None, prefer: str = "") -> str | None:
    """The `path:line` a message points at: a line of `prefer` (the source) if any, else the first."""
    if not message:
        return None
    found = [(m.group("path"), m.group("line")) for m in PLACE.finditer(message)]
    for path, line in found:
        if prefer and path == prefer:
            return f"{path}:{line}"
    return f"{found[0][0]}:{found[0][1]}" if found else None


def hint(task: str, message: str | None, source: str | None = None) -> str:
    """One line saying what to do about a failed task."""
    step, _, name = task.partition(":")
    text = message or ""
    edit = source or "the module's source"
    if step == "export":
        return f"{edit} cannot be exported as it stands: fix it at the line shown, then run `doit validate:{name}`"
    if step == "check":
        return f"the exported module does not import on its own: fix {edit} at the line shown, then run `doit check:{name}`"
    if "below the floor" in text:
        return f"coverage is under the floor set in modules.yaml: test the missed lines, then run `doit test:{name}`"
    if "did not finish within" in text:
        return "the tests timed out: look for an endless loop, or raise 'timeout' in modules.yaml"
    if step == "test":
        return f"a unit test of {name} fails: the line shown is where it broke; rerun with `doit test:{name}`"
    if step in ("integration", "system"):
        return f"a {step} test fails across modules: fix the module at the line shown; rerun with `doit {task}`"
    return "see the message below"


def stage(task: str, result: dict[str, Any] | None, result_file: Path | None, db: str | None,
          timing: dict[str, Any] | None, source: str) -> StageReport:
    """The state of one task from the DB, its result file and the reporter's record."""
    seconds = timing.get("seconds") if timing else None
    status: Status
    message: str | None = None
    if db == "fresh":
        status = "passed"
    elif db == "stale":
        status = "stale"
    else:
        rec_status = (timing or {}).get("status")
        newer = timing is not None and (result_file is None or not result_file.exists()
                                        or timing.get("finished", 0) >= result_file.stat().st_mtime - 1)
        if result and result.get("status") == "failed" and not (newer and rec_status == "blocked"):
            status, message = "failed", result.get("message") or (timing or {}).get("message")
        elif rec_status in ("failed", "blocked") and timing is not None:
            status, message = rec_status, timing.get("message")
        elif result is not None:
            status = "stale"  # a result the DB does not back: forgotten, or its last run was blocked
        else:
            status = "not built"
    return {"status": status, "message": message, "place": find_place(message, source), "seconds": seconds}


def _lines(path: Path) -> int | None:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return None


def exported_names(path: Path) -> list[str]:
    """`__all__` of a generated module ([] when it is missing or unreadable)."""
    from tasks.steps.assemble import public_names

    try:
        return public_names(path)[0]
    except (OSError, SyntaxError, ValueError):
        return []


def collect_modules(root: Path, entries: Sequence[Entry], details: bool = True,
                    fresh: Collection[str] = ()) -> list[ModuleReport]:
    """Each module's state, in course order. `details`: also read exported names and line counts.

    `fresh`: tasks known to be up to date (see `db_states`).
    """
    timings = read_timings(root)
    db = db_states(root, [layout.task(s, e.name) for e in entries for s in STAGES], fresh)
    out: list[ModuleReport] = []
    for e in entries:
        results = {s: layout.at(root, layout.result(s, e.name)) for s in ("check", "test")}
        check = read_result(results["check"])
        test = read_result(results["test"])
        record = layout.at(root, layout.export_record(e.name))
        export_result = {"status": "passed"} if record.exists() else None
        stages = {
            "export": stage(layout.task("export", e.name), export_result, None, db.get(layout.task("export", e.name)),
                            timings.get(layout.task("export", e.name)), e.source),
            "check": stage(layout.task("check", e.name), check, results["check"], db.get(layout.task("check", e.name)),
                           timings.get(layout.task("check", e.name)), e.source),
            "test": stage(layout.task("test", e.name), test, results["test"], db.get(layout.task("test", e.name)),
                          timings.get(layout.task("test", e.name)), e.source),
        }
        cov = (test or {}).get("coverage")
        coverage: CoverageReport | None = None
        if isinstance(cov, dict) and "percent" in cov:
            coverage = {"percent": float(cov["percent"]), "statements": int(cov.get("statements", 0)),
                        "file": e.generated, "missing": list(cov.get("missing", [])),
                        "source": cov.get("source", e.source), "missing_source": list(cov.get("missing_source", []))}
        secs = [st["seconds"] for st in stages.values() if st["seconds"] is not None]
        counts = test is not None and "passed" in test
        out.append({
            "name": e.name, "number": e.number, "source": e.source, "target": e.target,
            "depends": list(e.depends), "tests": list(e.tests), "status": "passed", "blocked_by": [],
            "export": stages["export"], "check": stages["check"], "test": stages["test"],
            "tests_passed": int(test["passed"]) if counts and test else None,
            "tests_failed": int(test.get("failed", 0)) + int(test.get("errors", 0)) if counts and test else None,
            "tests_skipped": int(test.get("skipped", 0)) if counts and test else None,
            "coverage": coverage,
            "exported_names": exported_names(root / e.generated) if details and e.generated else [],
            "source_lines": _lines(root / e.source) if details else None,
            "exported_lines": _lines(root / e.generated) if details and e.generated else None,
            "duration": round(sum(secs), 3) if secs else (test or {}).get("seconds"),
            "progress": None,
        })
    from tasks.model.graph import closure

    graph = {e.name: e.depends for e in entries}
    if layout.at(root, layout.STUDENT_RECORD).exists():
        student = {e.name: (read_json(layout.at(root, layout.result("test", e.name))) or {}).get("student")
                   for e in entries}
        progress(out, graph, student)
    failed = {m["name"] for m in out if any(m[s]["status"] == "failed" for s in STAGES)}  # type: ignore[literal-required]
    for m in out:
        own = [m[s]["status"] for s in STAGES]  # type: ignore[literal-required]
        reach = closure(graph, graph[m["name"]]) & failed if failed else set()
        failed_deps = [e.name for e in entries if e.name in reach] if reach else []
        m["blocked_by"] = failed_deps
        if "failed" in own:
            m["status"] = "failed"
        elif failed_deps or "blocked" in own:
            m["status"] = "blocked"
        elif "stale" in own:
            m["status"] = "stale"
        elif "not built" in own:
            m["status"] = "not built"
        if m["status"] == "blocked" or m["test"]["status"] not in ("passed", "failed"):
            # counts from a run whose inputs have changed since are not this module's state
            m["tests_passed"] = m["tests_failed"] = m["tests_skipped"] = None
            m["coverage"] = None
    return out


def collect_suites(root: Path, job: ReportJob) -> tuple[list[SuiteReport], list[SuiteReport]]:
    """Integration and system test files with their last results."""
    from tasks.steps.suites import discover

    suites = discover(root, job.package, dict(job.targets))
    timings = read_timings(root)
    names = {s.path: layout.suite_task(s.kind, s.name) for s in suites}
    db = db_states(root, names.values())
    found: dict[str, list[SuiteReport]] = {"integration": [], "system": []}
    for s in suites:
        task = names[s.path]
        file = layout.at(root, layout.result(s.kind, s.name))
        result = read_result(file)
        st = stage(task, result, file, db.get(task), timings.get(task), s.path)
        counts = result is not None and "passed" in result
        found[s.kind].append({
            "kind": s.kind, "task": task, "path": s.path, "status": st["status"],
            "passed": result.get("passed") if counts and result else None,
            "failed": int(result.get("failed", 0)) + int(result.get("errors", 0)) if counts and result else None,
            "skipped": result.get("skipped") if counts and result else None,
            "seconds": (result or {}).get("seconds"), "message": st["message"], "place": st["place"],
        })
    return found["integration"], found["system"]


def first_failure(modules: Sequence[ModuleReport], suites: Sequence[SuiteReport]) -> FailureReport | None:
    """The first failed task in course order (modules, then integration, then system tests)."""
    for m in modules:
        for s in STAGES:
            st: StageReport = m[s]  # type: ignore[literal-required]
            if st["status"] == "failed":
                task = layout.task(s, m["name"])
                return {"task": task, "module": m["name"], "place": st["place"],
                        "hint": hint(task, st["message"], m["source"]), "message": st["message"] or ""}
    for su in suites:
        if su["status"] == "failed":
            return {"task": su["task"], "module": None, "place": su["place"],
                    "hint": hint(su["task"], su["message"]), "message": su["message"] or ""}
    return None



class Reason(NamedTuple):
    """Why a module is not passing: the first failed stage and its place, what blocks it, what is stale."""

    failed: str | None  # the first failed stage
    place: str | None
    blocked_by: list[str]
    stale: list[str]  # stages whose inputs changed since they last ran


def reason(m: ModuleReport) -> Reason:
    """The one decision of why `m` is not passing (all fields empty when it passes)."""
    for step in STAGES:
        st: StageReport = m[step]  # type: ignore[literal-required]
        if st["status"] == "failed":
            return Reason(step, st["place"], list(m["blocked_by"]), [])
    stale = [s for s in STAGES if m[s]["status"] == "stale"]  # type: ignore[literal-required]
    return Reason(None, None, list(m["blocked_by"]), stale)


def _own(m: ModuleReport, result: dict[str, Any] | None) -> ProgressReport:
    """A module's progress from its own stages and the note its test run left (tasks.steps.testing)."""
    failed = next((m[s] for s in STAGES if m[s]["status"] == "failed"), None)  # type: ignore[literal-required]
    if failed is not None:
        return {"state": "failing", "label": "failing", "written": None, "regions": None, "waiting_for": None,
                "place": failed["place"]}
    if isinstance(result, dict) and m["test"]["status"] == "passed":
        state: ProgressState = "in progress" if result.get("state") == "in progress" else \
            "waiting" if result.get("state") == "waiting" else "todo"
        written, regions = result.get("written"), result.get("regions")
        label = f"in progress ({written} of {regions})" if state == "in progress" else state
        return {"state": state, "label": label, "written": written, "regions": regions,
                "waiting_for": result.get("waiting_for"), "place": result.get("place")}
    done = all(m[s]["status"] == "passed" for s in STAGES)  # type: ignore[literal-required]
    return {"state": "done" if done else "todo", "label": "done" if done else "todo", "written": None,
            "regions": None, "waiting_for": None, "place": None}


def progress(modules: list[ModuleReport], graph: dict[str, tuple[str, ...]],
             notes: dict[str, dict[str, Any] | None]) -> None:
    """The one decision of each module's progress in a student tree: todo, in progress (k of n), done,
    failing, or waiting for the first module it needs (in course order) that is not done."""
    from tasks.model.graph import closure

    order = [m["name"] for m in modules]
    states: dict[str, ProgressReport] = {}
    for m in modules:  # course order: a module's dependencies are decided before it
        own = _own(m, notes.get(m["name"]))
        needs = closure(graph, graph[m["name"]])
        waiting = next((n for n in order if n in needs and states.get(n, own)["state"] != "done"), None)
        if waiting is not None and own["state"] != "failing":
            own = {**own, "state": "waiting", "label": f"waiting for {waiting}", "waiting_for": waiting}
        elif own["state"] == "waiting":  # the note is older than the dependency's progress
            own = {**own, "state": "todo", "label": "todo", "waiting_for": None}
        states[m["name"]] = own
        m["progress"] = own


def progress_summary(modules: Sequence[ModuleReport]) -> ProgressSummary | None:
    """"5 of 15 done; next: dense" (None outside a student tree)."""
    states = [(m["name"], p["state"]) for m in modules if (p := m["progress"]) is not None]
    if not states:
        return None
    done = sum(s == "done" for _, s in states)
    nxt = next((n for n, s in states if s not in ("done", "waiting")), None)
    line = f"{done} of {len(states)} done" + (f"; next: {nxt}" if nxt else "; the course is complete"
                                              if done == len(states) else "")
    return {"done": done, "modules": len(states), "next": nxt, "line": line}
