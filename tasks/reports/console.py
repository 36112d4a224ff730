"""The console reporter: doit's per-task lines, failures led by where and what to do, a status table at the end.

Configured in DOIT_CONFIG (`"reporter": StatusReporter`). It also records how long
each task took, and which ones failed or were blocked, in build/results/timings.json
(merged with earlier runs, written atomically, only when a task ran), for `doit report`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from doit.reporter import ConsoleReporter

from tasks.core import layout
from tasks.core.layout import PIPELINE_STEPS, split
from tasks.core.output import use_colour

NOT_TIMED = ("report", "graph")  # their own outputs depend on timings.json: recording them would never settle
CELL = {"passed": "ok", "failed": "FAIL", "blocked": "block", "stale": "stale", "not built": "-"}
COLOUR = {"passed": "32", "failed": "1;31", "blocked": "33", "stale": "33", "not built": "2"}


FULL_TABLE = 40  # modules; above this the table lists only those that are not passing


class StatusReporter(ConsoleReporter):  # type: ignore[misc]
    """doit's console reporter, plus first-failure help and a per-module status table."""

    desc = "console output, failures led by file:line and a hint, a module status table at the end"

    def __init__(self, outstream: Any, options: dict[str, Any]) -> None:
        super().__init__(outstream, options)
        self.root = Path.cwd()
        self.colour = use_colour(outstream)
        self.started: dict[str, float] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.modules: list[tuple[str, str, tuple[str, ...]]] = []  # (name, source, depends) in course order
        self.touched_pipeline = False
        self.fresh: set[str] = set()  # tasks this run found up to date or ran successfully
        self.first: tuple[str, str | None, str, str] | None = None  # (task, place, what, hint)
        self.failed_at: dict[str, str] = {}  # module (or task) that failed this run -> its place
        self.blocked_by: dict[str, str] = {}  # module (or task) blocked this run -> the failure upstream

    # -- helpers ---------------------------------------------------------------------------------
    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def _source(self, name: str) -> str | None:
        return next((src for n, src, _ in self.modules if n == name), None)

    def _record(self, task: Any, status: str, message: str | None = None) -> None:
        if not task.actions or task.name.startswith("_") or split(task.name)[0] in NOT_TIMED:
            return
        now = time.time()
        start = self.started.get(task.name)
        self.records[task.name] = {"status": status, "seconds": round(now - start, 3) if start else 0.0,
                                   "finished": round(now, 3), "message": message[:4000] if message else None}

    # -- doit's hooks ----------------------------------------------------------------------------
    def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
        """Learn the modules (course order, sources, dependencies) from the task list itself."""
        for name, task in tasks.items():
            step, module = split(name)
            if step == "export" and module:
                group = tasks.get(layout.task("validate", module))
                deps = tuple(split(d)[1] for d in (group.task_dep if group else ()) if d.startswith("validate:"))
                self.modules.append((module, next(iter(task.file_dep), ""), deps))

    def get_status(self, task: Any) -> None:
        if split(task.name)[0] in PIPELINE_STEPS:
            self.touched_pipeline = True

    def execute_task(self, task: Any) -> None:
        self.started[task.name] = time.time()
        super().execute_task(task)

    def add_success(self, task: Any) -> None:
        self._record(task, "passed")
        self.fresh.add(task.name)
        super().add_success(task)
        step, module = split(task.name)
        if step == "test" and self._source(module) is not None:
            self.write(self.verdict(module, task))
        elif step in ("wheel", "verify") and isinstance(task.result, dict):
            self.write(_produced(step, task.result))

    def skip_uptodate(self, task: Any) -> None:
        self.fresh.add(task.name)
        if task.verbosity >= 2:  # `doit -v 2`; by default an up-to-date task says nothing
            super().skip_uptodate(task)

    def verdict(self, module: str, task: Any) -> str:
        """The module's own one-line verdict, printed as soon as its unit tests pass."""
        values = task.result if isinstance(task.result, dict) else {}
        if values.get("student"):  # a student tree: todo, in progress, waiting (not a failure, not a pass)
            return f"{self.paint('==', COLOUR['not built'])} {module}: {values['student']}\n"
        passed, cover = values.get("passed"), values.get("coverage")
        said = f"{passed} tests passed" if passed is not None else "tests passed"
        said += f", coverage {cover:.1f}%" if isinstance(cover, (int, float)) else ""
        return f"{self.paint('==', COLOUR['passed'])} {module} passed: exported, imports alone, {said}\n"

    def _blocked(self, task: Any, deps: str) -> None:
        """One line per blocked module: what it needs, and where that failed."""
        step, module = split(task.name)
        who = module if self._source(module) is not None else task.name
        roots = []
        for dep in deps.split():
            dep_step, dep_module = split(dep)
            key = dep_module if self._source(dep_module) is not None else dep
            root = self.blocked_by.get(key, key)
            if root not in roots:
                roots.append(root)
        if who in self.failed_at or who in self.blocked_by or (who == task.name and not task.actions):
            return  # a group task (validate, integration) says nothing its members do not  # the module's own failure is already on screen, or it is already said to be blocked
        self.blocked_by[who] = roots[0] if roots else deps
        needs = ", ".join(f"{r} ({self.failed_at[r]})" if self.failed_at.get(r) else r for r in roots)
        self.write(f"{self.paint('blocked:', COLOUR['blocked'])} {who} needs {needs}\n")

    def add_failure(self, task: Any, fail: Any) -> None:
        from doit.exceptions import UnmetDependency

        if isinstance(fail, UnmetDependency):
            # doit's three lines per blocked task become one per blocked module
            self._record(task, "blocked", f"not run: {fail.message} failed")
            self._blocked(task, fail.message)
            return
        from tasks.reports.status import find_place, hint, with_twin

        message = fail.message if isinstance(fail.message, str) else str(fail.message)
        full = fail.get_msg()
        step, module = split(task.name)
        source = self._source(module)
        place = find_place(full, source or "")
        advice = hint(task.name, full, source)
        self._record(task, "failed", full)
        what = _what(full, place)
        shown = with_twin(full, place)  # and the paired notebook's cell, for a student in Jupyter
        if self.first is None:
            self.first = (task.name, shown, what, advice)
        self.failed_at.setdefault(module if source else task.name, place or "")
        who = f"module {module}" if source else (f"{step} {module}" if module else step)
        self.write(self.paint(f"FAILED {task.name}", COLOUR["failed"]) + f"  ({who})"
                   + (f"  at {self.paint(shown, '1')}" if shown else "") + "\n")
        if what:
            self.write(f"  {what}\n")
        self.write(f"  hint: {advice}\n")
        if message.strip():
            super().add_failure(task, fail)
        else:
            self.failures.append({"task": task, "exception": fail})

    def complete_run(self) -> None:
        # doit prints each failed task's captured output here; skip the empty ones (pure noise)
        self.failures: list[dict[str, Any]] = [f for f in self.failures if _captured(f["task"])]
        super().complete_run()
        if self.records:
            self._save_timings()
        if self.touched_pipeline and self.modules:
            self.write(self.table())
        if self.first:
            # the last screen says what failed, where, and what to do
            task, place, what, advice = self.first
            self.write(self.paint("first failure:", COLOUR["failed"]) + f" {task}"
                       + (f" at {place}" if place else "") + (f"\n  {what}" if what else "") + f"\n  {advice}\n")

    # -- outputs ---------------------------------------------------------------------------------
    def _save_timings(self) -> None:
        from tasks.core import atomic
        from tasks.reports.status import read_json

        path = layout.at(self.root, layout.TIMINGS)
        data = read_json(path) or {}
        tasks: dict[str, Any] = data["tasks"] if isinstance(data.get("tasks"), dict) else {}
        tasks.update(self.records)
        run = {"finished": round(time.time(), 3), "executed": len(self.records),
               "failed": sum(r["status"] == "failed" for r in self.records.values()),
               "blocked": sum(r["status"] == "blocked" for r in self.records.values())}
        try:
            atomic.write_text(path, json.dumps({"schema_version": 1, "last_run": run, "tasks": tasks}, indent=1))
        except OSError as exc:  # reporting must not turn a good build into an error
            self.write(f"note: could not record task timings in {layout.TIMINGS}: {exc}\n")

    def table(self) -> str:
        """One row per module: each stage's state, tests, coverage, and why it is not passing."""
        from tasks.reports.status import Entry, collect_modules

        entries = [Entry(n, i, src, depends=deps) for i, (n, src, deps) in enumerate(self.modules, start=1)]
        # what this run just checked need not be checked again (a no-op checks every task)
        rows = collect_modules(self.root, entries, details=False, fresh=self.fresh)
        width = max(len(m["name"]) for m in rows) + 4
        head = f"{'module':<{width}} {'export':<6} {'check':<6} {'test':<6} {'tests':>9} {'cover':>6}  state"
        lines = ["", head, "-" * len(head)]
        shown = rows if len(rows) <= FULL_TABLE else [m for m in rows if m["status"] != "passed"]
        for m in shown:
            cells = []
            for step in layout.STAGES:
                st = m[step]["status"]  # type: ignore[literal-required,unused-ignore]
                cells.append(self.paint(f"{CELL[st]:<6}", COLOUR[st]))
            tests = "" if m["tests_passed"] is None else f"{m['tests_passed']}/{m['tests_passed'] + (m['tests_failed'] or 0)}"
            cover = "" if m["coverage"] is None else f"{m['coverage']['percent']:.1f}%"
            state = self.paint(m["status"], COLOUR[m["status"]]) + _why(m)
            if m["progress"] is not None:  # a student tree: its progress says more than 'passed'
                state = _progress(m, self.paint)
            lines.append(f"{m['number']:>2} {m['name']:<{width - 3}} {' '.join(cells)} {tests:>9} {cover:>6}  {state}")
        if len(shown) < len(rows):
            lines.append(f"({len(rows) - len(shown)} passing modules not listed: a course this large is summed up; "
                         "`doit report` lists every module)")
        count = {s: sum(m["status"] == s for m in rows) for s in CELL}
        lines.append(f"{count['passed']} of {len(rows)} modules passed, {count['failed']} failed, "
                     f"{count['blocked']} blocked, {count['stale']} stale, {count['not built']} not built"
                     f"   (details: doit report -> {layout.report_file('index.html')})")
        from tasks.reports.status import progress_summary

        summary = progress_summary(rows)
        if summary:
            lines.append(summary["line"])
        return "\n".join(lines) + "\n"


def _produced(step: str, values: dict[str, Any]) -> str:
    """What `doit wheel` / `doit verify` made, said on success."""
    if step == "wheel" and values.get("file"):
        return f"wheel: {values['file']} ({values.get('size', 0):,} bytes, sha256 {values.get('sha256', '?')})\n"
    if step == "verify" and "passed" in values:
        return (f"verify: {values['passed']} smoke tests passed against {values.get('wheel', 'the wheel')} installed "
                f"in a fresh virtual environment ({layout.VERIFY_VENV})\n")
    return ""


def _what(message: str, place: str | None, limit: int = 300) -> str:
    """The line of a failure message that says what happened at `place` (else its first line)."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("TaskFailed", "TaskError", "Traceback", "CheckError",
                                                     "SourceError", "tasks."))] or lines
    chosen = next((ln for ln in lines if place and ln.startswith((f"{place}:", f"{place} ("))), lines[0] if lines else "")
    if place and chosen.startswith(f"{place}: "):
        chosen = chosen[len(place) + 2:]
    elif place and chosen.startswith(f"{place} (") and "): " in chosen:  # the paired notebook's cell follows
        chosen = chosen.split("): ", 1)[1]
    return chosen if len(chosen) <= limit else chosen[:limit - 3] + "..."


def _captured(task: Any) -> bool:
    return any(a.out or a.err for a in task.actions)


def _why(m: Any) -> str:
    from tasks.reports.status import reason

    why = reason(m)
    after = f" (after failed {', '.join(why.blocked_by)})" if why.blocked_by else ""
    if why.failed:
        return f": {why.failed}" + (f" at {why.place}" if why.place else "") + after
    if why.blocked_by:
        return " by " + ", ".join(why.blocked_by)
    if why.stale:
        return f": {'/'.join(why.stale)} inputs changed"
    return ""


PROGRESS_COLOUR = {"todo": "2", "in progress": "33", "done": "32", "failing": "1;31", "waiting": "2"}


def _progress(m: Any, paint: Any) -> str:
    p = m["progress"]
    at = f" at {p['place']}" if p["state"] == "failing" and p["place"] else ""
    return str(paint(p["label"], PROGRESS_COLOUR[p["state"]])) + at
