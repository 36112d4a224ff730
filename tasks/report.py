"""`doit report` and `doit graph`: the course's state, read from what the build left on disk.

Nothing is re-run. The sources of truth, per task:
- doit's state DB (build/.doit.db): a task listed there last succeeded; it is *stale*
  when one of the files it depended on has changed since (the same test doit makes);
- the result files of `check`/`test`/suites (build/results/...): counts, coverage, messages;
- build/results/timings.json, written by the console reporter (`tasks.reporter`):
  how long each task took and which ones last failed or were blocked.

`report.json` follows `Report` (tasks/report_schema.py); `schema_version` changes when a field
changes meaning or disappears (adding a field keeps the version).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tasks.report_schema import (
    SCHEMA_VERSION, StageReport, CoverageReport, ModuleReport, SuiteReport, WheelReport, TimingReport, FailureReport, Summary, Report,
)

if TYPE_CHECKING:  # tasks.picture is imported by the actions only: dodo.py loads this module
    from tasks.picture import Node, Status
    from tasks.pipeline import Pipeline

REPORTS = "build/reports"
RESULTS = "build/results"
TIMINGS = "build/results/timings.json"
STATE_DB = "build/.doit.db"
STAGES = ("export", "check", "test")
Stage = Literal["export", "check", "test"]
PLACE = re.compile(r"^\s*(?P<path>[\w.\-/]+\.(?:py|ipynb|yaml|toml)):(?P<line>\d+)\b", re.MULTILINE)


# -- inputs ----------------------------------------------------------------------------------------
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

    @classmethod
    def of(cls, pipeline: Pipeline) -> ReportJob:
        mods = pipeline.manifest.modules
        entries = tuple(Entry(m.name, i, m.source, m.target, pipeline.generated(m.name), m.depends, m.tests)
                        for i, m in enumerate(mods, start=1))
        return cls(str(pipeline.root), pipeline.manifest.package, entries, tuple(pipeline.targets.items()))


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_timings(root: Path) -> dict[str, dict[str, Any]]:
    """Task name -> {status, seconds, finished (epoch), message} from the reporter's file."""
    data = read_json(root / TIMINGS) or {}
    tasks = data.get("tasks", {})
    return tasks if isinstance(tasks, dict) else {}


def _file_changed(root: Path, path: str, state: Any) -> bool:
    """doit's MD5 check: same mtime -> unchanged; else compare size, then the digest."""
    try:
        st = (root / path).stat()
    except OSError:
        return True
    if not isinstance(state, list) or len(state) != 3:
        return True
    if st.st_mtime == float(state[0]):
        return False
    if st.st_size != int(state[1]):
        return True
    return hashlib.md5((root / path).read_bytes()).hexdigest() != str(state[2])


def db_states(root: Path, names: Iterable[str],
              fresh: Collection[str] = ()) -> dict[str, Literal["fresh", "stale"]]:
    """For tasks whose last run succeeded: 'fresh', or 'stale' when an input file changed since.

    Tasks absent from the result never succeeded, failed last, or were forgotten.
    `fresh`: tasks already known to be up to date (doit just checked them), not looked up again.
    """
    import sqlite3

    names = list(names)
    states: dict[str, Literal["fresh", "stale"]] = {n: "fresh" for n in names if n in fresh}
    wanted = [n for n in names if n not in states]
    path = root / STATE_DB
    if not wanted or not path.exists():
        return states
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
        try:
            marks = ",".join("?" * len(wanted))
            rows = conn.execute(f"select task_id, task_data from doit where task_id in ({marks})", wanted).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return {}
    for task, raw in rows:
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):
            continue
        deps = data.get("deps:") or []
        states[task] = "stale" if any(_file_changed(root, d, data.get(d)) for d in deps) else "fresh"
    return states


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
    from tasks.assemble import public_names

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
    db = db_states(root, [f"{s}:{e.name}" for e in entries for s in STAGES], fresh)
    out: list[ModuleReport] = []
    for e in entries:
        results = {s: root / RESULTS / s / f"{e.name}.json" for s in ("check", "test")}
        check = read_json(results["check"])
        test = read_json(results["test"])
        record = root / "build" / "state" / "exports" / f"{e.name}.json"
        export_result = {"status": "passed"} if record.exists() else None
        stages = {
            "export": stage(f"export:{e.name}", export_result, None, db.get(f"export:{e.name}"),
                            timings.get(f"export:{e.name}"), e.source),
            "check": stage(f"check:{e.name}", check, results["check"], db.get(f"check:{e.name}"),
                           timings.get(f"check:{e.name}"), e.source),
            "test": stage(f"test:{e.name}", test, results["test"], db.get(f"test:{e.name}"),
                          timings.get(f"test:{e.name}"), e.source),
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
        })
    from tasks.graph import closure

    graph = {e.name: e.depends for e in entries}
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
    return out


def collect_suites(root: Path, job: ReportJob) -> tuple[list[SuiteReport], list[SuiteReport]]:
    """Integration and system test files with their last results."""
    from tasks.suites import discover

    suites = discover(root, job.package, dict(job.targets))
    timings = read_timings(root)
    names = {s.path: f"{s.kind}:{s.name.removeprefix('test_')}" for s in suites}
    db = db_states(root, names.values())
    found: dict[str, list[SuiteReport]] = {"integration": [], "system": []}
    for s in suites:
        task = names[s.path]
        file = root / RESULTS / s.kind / f"{s.name}.json"
        result = read_json(file)
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


def wheels(root: Path) -> list[WheelReport]:
    out: list[WheelReport] = []
    for path in sorted((root / "build" / "dist").glob("*.whl")):
        data = path.read_bytes()
        out.append({"file": path.relative_to(root).as_posix(), "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest()})
    return out


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def first_failure(modules: Sequence[ModuleReport], suites: Sequence[SuiteReport]) -> FailureReport | None:
    """The first failed task in course order (modules, then integration, then system tests)."""
    for m in modules:
        for s in STAGES:
            st: StageReport = m[s]  # type: ignore[literal-required]
            if st["status"] == "failed":
                task = f"{s}:{m['name']}"
                return {"task": task, "module": m["name"], "place": st["place"],
                        "hint": hint(task, st["message"], m["source"]), "message": st["message"] or ""}
    for su in suites:
        if su["status"] == "failed":
            return {"task": su["task"], "module": None, "place": su["place"],
                    "hint": hint(su["task"], su["message"]), "message": su["message"] or ""}
    return None


def nodes(modules: Sequence[ModuleReport]) -> list[Node]:
    from tasks.picture import Node

    return [Node(m["name"], m["number"], tuple(m["depends"]), m["status"]) for m in modules]


def collect(job: ReportJob) -> Report:
    """The whole report, from what is on disk."""
    from tasks.picture import to_mermaid

    root = Path(job.root)
    modules = collect_modules(root, job.entries)
    integration, system = collect_suites(root, job)
    timings: list[TimingReport] = [
        {"task": t, "status": str(r.get("status")), "seconds": float(r.get("seconds") or 0.0),
         "finished": _iso(float(r.get("finished") or 0.0))}
        for t, r in read_timings(root).items()]
    timings.sort(key=lambda t: -t["seconds"])
    count = {s: sum(m["status"] == s for m in modules) for s in ("passed", "failed", "blocked", "stale", "not built")}
    return {
        "schema_version": SCHEMA_VERSION,
        "generated": _iso(time.time()),
        "package": job.package,
        "summary": {"modules": len(modules), "passed": count["passed"], "failed": count["failed"],
                    "blocked": count["blocked"], "stale": count["stale"], "not_built": count["not built"]},
        "first_failure": first_failure(modules, [*integration, *system]),
        "modules": modules,
        "integration": integration,
        "system": system,
        "wheels": wheels(root),
        "timings": timings,
        "mermaid": to_mermaid(nodes(modules)),
    }


# -- actions ---------------------------------------------------------------------------------------
def picture_svg(report: Report) -> str:
    """The dependency picture for the page: Graphviz's when installed, else the built-in one."""
    from tasks.picture import graphviz, inline_svg, to_dot, to_svg

    svg = graphviz(to_dot(nodes(report["modules"]), report["package"]), "svg")
    return inline_svg(svg) if svg else to_svg(nodes(report["modules"]))


def write_reports(job: ReportJob) -> dict[str, Any]:
    """Write index.html, report.md and report.json under build/reports/."""
    from tasks import atomic
    from tasks.pages import render_html, render_markdown

    root = Path(job.root)
    report = collect(job)
    out = root / REPORTS
    atomic.write_text(out / "report.json", json.dumps(report, indent=1) + "\n")
    atomic.write_text(out / "report.md", render_markdown(report))
    atomic.write_text(out / "index.html", render_html(report, picture_svg(report)))
    s = report["summary"]
    print(f"wrote {REPORTS}/index.html, report.md, report.json: {s['passed']} of {s['modules']} modules passed, "
          f"{s['failed']} failed, {s['blocked']} blocked, {s['stale']} stale, {s['not_built']} not built")
    return {"summary": dict(s)}


def write_graph(job: ReportJob) -> dict[str, Any]:
    """Write graph.dot and graph.mmd, and graph.svg/graph.png when Graphviz is installed."""
    from tasks import atomic
    from tasks.picture import INSTALL_HINT, graphviz, to_dot, to_mermaid

    root = Path(job.root)
    graph = nodes(collect_modules(root, job.entries, details=False))
    out = root / REPORTS
    dot = to_dot(graph, job.package)
    atomic.write_text(out / "graph.dot", dot)
    atomic.write_text(out / "graph.mmd", to_mermaid(graph))
    written = ["graph.dot", "graph.mmd"]
    formats: tuple[Literal["svg", "png"], ...] = ("svg", "png")
    for fmt in formats:
        data = graphviz(dot, fmt)
        if data:
            atomic.write_bytes(out / f"graph.{fmt}", data)
            written.append(f"graph.{fmt}")
    print(f"wrote {', '.join(f'{REPORTS}/{w}' for w in written)}")
    if len(written) == 2:
        print(f"note: {INSTALL_HINT}")
    return {"written": written}


# -- task creators ---------------------------------------------------------------------------------
def _code_version() -> str:
    from tasks.pipeline import code_version

    return code_version("report")


def inputs(root: Path, files: Sequence[str]) -> list[str]:
    """The files a report is made from: results, export records, timings, wheels, and the given
    sources and tests (so that a report shows an edited module as stale)."""
    found = [f for f in files if (root / f).is_file()]
    for sub in ("results/check", "results/test", "results/integration", "results/system", "state/exports", "dist"):
        try:
            with os.scandir(root / "build" / sub) as it:
                found += sorted(f"build/{sub}/{d.name}" for d in it if d.name.endswith((".json", ".whl")))
        except OSError:
            continue
    if (root / TIMINGS).is_file():
        found.append(TIMINGS)
    return found


class InputsUnchanged:
    """doit `uptodate`: the report's input files hold the same bytes as when it was last made.

    Not `file_dep`: the results are other tasks' targets, and doit would run those tasks
    first; a report shows the state of the build, it never changes it. Computed only
    when the task is considered, so loading the task list stays cheap.
    """

    KEY = "_inputs"

    def __init__(self, root: str, files: tuple[str, ...], extra: dict[str, Any]) -> None:
        self.root = root
        self.files = files
        self.extra = extra
        self._digest: str | None = None

    def digest(self) -> str:
        if self._digest is None:
            root = Path(self.root)
            h = hashlib.md5(json.dumps(self.extra, sort_keys=True).encode())
            for rel in inputs(root, self.files):
                try:
                    h.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
                except OSError:
                    continue
            self._digest = h.hexdigest()
        return self._digest

    def configure_task(self, task: Any) -> None:
        task.value_savers.append(lambda: {self.KEY: self.digest()})

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        return bool(values.get(self.KEY) == self.digest())


def _uptodate(pipeline: Pipeline, dot: bool) -> InputsUnchanged:
    files = ("modules.yaml", *(p for m in pipeline.manifest.modules for p in (m.source, *m.tests)))
    extra = {"code": _code_version(), "dot": dot, "modules": [m.entry() for m in pipeline.manifest.modules]}
    return InputsUnchanged(str(pipeline.root), files, extra)


def report_task(pipeline: Pipeline) -> dict[str, Any]:
    """`doit report`: build/reports/index.html, report.md, report.json (not a default task)."""
    from tasks.picture import dot_program

    return {
        "doc": "build/reports: index.html, report.md, report.json from the last results (re-runs nothing)",
        "actions": [(write_reports, [ReportJob.of(pipeline)])],
        "targets": [f"{REPORTS}/index.html", f"{REPORTS}/report.md", f"{REPORTS}/report.json"],
        "uptodate": [_uptodate(pipeline, bool(dot_program()))],
        "clean": True,
        "verbosity": 2,
    }


def graph_task(pipeline: Pipeline) -> dict[str, Any]:
    """`doit graph`: the dependency picture as DOT, Mermaid, and SVG/PNG with Graphviz (not a default task)."""
    from tasks.picture import dot_program

    dot = bool(dot_program())
    return {
        "doc": "build/reports/graph.{dot,mmd} and, with Graphviz installed, graph.{svg,png}",
        "actions": [(write_graph, [ReportJob.of(pipeline)])],
        "targets": [f"{REPORTS}/graph.{ext}" for ext in ("dot", "mmd", *(("svg", "png") if dot else ()))],
        "uptodate": [_uptodate(pipeline, dot)],
        "clean": True,
        "verbosity": 2,
    }
