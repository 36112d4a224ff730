"""One grade per module and per integration/system file, decided from the build's own statuses.

Statuses: done, failing, todo, error, timeout, tampered. Never a pass without tests: a module
with zero tests collected, none run, or nothing exported is failing. A stub that only raises
NotImplementedError is todo; so is what cannot be tested yet because a module it needs does not
pass (blocked: the reason names that module), whether the build ran it or not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

Grade = Literal["done", "failing", "todo", "error", "timeout", "tampered"]
GRADES: tuple[Grade, ...] = ("done", "failing", "todo", "error", "timeout", "tampered")


class Row(TypedDict):
    """One cell of the gradebook: a student's module or test file."""

    item: str  # module name, or 'integration:<t>' / 'system:<t>'
    kind: Literal["module", "integration", "system"]
    status: Grade
    passed: int
    total: int
    reason: str
    failures: list[dict[str, Any]]
    blocked_by: list[str]  # not tested because these modules it needs do not pass ([] when it was tested)


def _first_line(text: str | None) -> str:
    for line in (text or "").splitlines():
        if line.strip() and not line.startswith("[..."):
            return line.strip()[:300]
    return ""


def _todo(failures: Sequence[Mapping[str, Any]], passed: int) -> bool:
    return passed == 0 and bool(failures) and all(
        "NotImplementedError" in (f.get("message", "") + f.get("text", "")[-300:]) for f in failures)


def _timed_out(message: str | None) -> bool:
    return "did not finish within" in (message or "")


def _blocked(item: str, kind: Literal["module", "integration", "system"], blockers: Sequence[str],
             grades: Mapping[str, Grade]) -> Row:
    """Not tested because what it needs does not pass: todo (it cannot be graded yet), with the reason."""
    waiting = [b for b in blockers if grades.get(b) == "todo"]
    if len(waiting) == len(blockers):
        reason = f"waiting for {', '.join(waiting)}"
    elif kind == "module":
        reason = f"not tested: depends on {', '.join(blockers)}, which does not pass"
    else:
        reason = f"not run: it needs {', '.join(blockers)}, which does not pass"
    return {"item": item, "kind": kind, "status": "todo", "passed": 0, "total": 0, "reason": reason, "failures": [],
            "blocked_by": list(blockers)}


def module_row(m: Mapping[str, Any], run_timed_out: bool) -> Row:
    """The grade of one module record from `tasks.grade.agent.collect` whose dependencies pass."""
    passed, failed = int(m.get("passed") or 0), int(m.get("failed") or 0)
    failures = list(m.get("failures", []))

    def row(status: Grade, reason: str) -> Row:
        return {"item": m["name"], "kind": "module", "status": status, "passed": passed,
                "total": passed + failed, "reason": reason, "failures": failures, "blocked_by": []}

    for stage in ("export", "check"):
        st = m[stage]
        if st["status"] == "failed":
            if _timed_out(st["message"]):  # an import that hangs (tasks.steps.checks)
                return row("timeout", f"{stage}: {_first_line(st['message'])}")
            if stage == "check" and "NotImplementedError" in (st["message"] or ""):  # a stub run at import
                return row("todo", f"not written yet: importing it reaches NotImplementedError "
                                   f"({_first_line(st['message'])})")
            return row("error", f"does not {'export' if stage == 'export' else 'import'}: "
                                f"{_first_line(st['message'])}")
    test = m["test"]
    if test["status"] == "failed":
        if _timed_out(test["message"]):
            return row("timeout", _first_line(test["message"]))
        if m.get("exit_code") == 5 or "no tests collected" in (test["message"] or ""):
            return row("failing", "no tests collected")
        if m.get("passed") is None:  # pytest itself died (a limit hit) before it could count
            return row("error", _first_line(test["message"]))
        if _todo(failures, passed):
            return row("todo", f"not written yet: {failed} of {passed + failed} tests reach NotImplementedError")
        return row("failing", f"{failed} of {passed + failed} tests failed" +
                   (f"; first: {failures[0]['test']}" if failures else ""))
    if test["status"] == "passed":
        if passed == 0:
            return row("failing", "no tests were run for this module (zero collected or all skipped)")
        if not m.get("exported_names") and not m.get("exported_lines"):
            return row("failing", "the module is empty: it exports nothing")
        return row("done", f"{passed} of {passed} tests passed")
    if run_timed_out:
        return row("timeout", "the submission's run was stopped at its time limit before this module was tested")
    return row("error", f"not tested ({test['status']}): the build stopped before this module; see the log")


def suite_row(s: Mapping[str, Any], run_timed_out: bool) -> Row:
    passed, failed = int(s.get("passed") or 0), int(s.get("failed") or 0)
    kind = s["kind"]
    base: Row = {"item": s["name"], "kind": kind, "status": "error", "passed": passed, "total": passed + failed,
                 "reason": "", "failures": list(s.get("failures", [])), "blocked_by": []}
    if s["status"] == "passed":
        return {**base, "status": "done" if passed else "failing",
                "reason": f"{passed} of {passed} tests passed" if passed else "no tests collected"}
    if s["status"] == "failed":
        if _timed_out(s["message"]):
            return {**base, "status": "timeout", "reason": _first_line(s["message"])}
        return {**base, "status": "failing", "reason": f"{failed} of {passed + failed} tests failed"}
    if run_timed_out:
        return {**base, "status": "timeout", "reason": "the submission's run was stopped at its time limit"}
    return {**base, "reason": f"not run ({s['status']}): the build stopped before this file; see the log"}


def _blockers(needs: Sequence[str], rows: Mapping[str, Row]) -> list[str]:
    """The modules it needs that do not pass on their own (a module blocked in turn is not named)."""
    return [n for n in needs if n in rows and rows[n]["status"] != "done" and not rows[n]["blocked_by"]]


def grade_all(body: Mapping[str, Any], problems: Mapping[str, str], sources: Mapping[str, str],
              run_timed_out: bool, needs: Mapping[str, Sequence[str]] | None = None,
              reuse: Mapping[str, Row] | None = None) -> list[Row]:
    """Every row of one submission; `problems`: intake problems by source path; `sources`: module -> path;
    `needs`: what each item needs to pass before it is tested; `reuse`: rows kept from the last run.

    What blocks an item is decided here, from the final rows, the same for a whole build and for a
    partial regrade (whose inner build ran without the dependencies' tests: `doit -s`).
    """
    needs, reuse = needs or {}, reuse or {}
    done: dict[str, Row] = {}
    by_name = {m["name"]: m for m in body.get("modules", [])}
    grades: dict[str, Grade] = {}
    for name, path in sources.items():
        m = by_name.get(name)
        stuck = _blockers(needs.get(name, m.get("blocked_by", []) if m else []), done)
        r: Row
        if path in problems:
            r = {"item": name, "kind": "module", "status": "error", "passed": 0, "total": 0,
                 "reason": problems[path], "failures": [], "blocked_by": []}
        elif stuck:
            r = _blocked(name, "module", stuck, grades)
        elif name in reuse:
            r = reuse[name]
        elif m is None:
            r = blank(name, "timeout" if run_timed_out else "error",
                      "the run ended before this module was graded" + (f": {body['error']}" if body.get("error") else ""))
        else:
            r = module_row(m, run_timed_out)
        done[name] = r
        grades[name] = r["status"]
    found = {s["name"]: s for s in body.get("suites", [])}
    for item in [*found, *(i for i, r in reuse.items() if r["kind"] != "module" and i not in found)]:
        kind = reuse[item]["kind"] if item in reuse else found[item]["kind"]
        stuck = _blockers(needs.get(item, ()), done)
        done[item] = _blocked(item, kind, stuck, grades) if stuck else reuse[item] if item in reuse else \
            suite_row(found[item], run_timed_out)
    return list(done.values())


def blank(item: str, status: Grade, reason: str, kind: Literal["module", "integration", "system"] = "module") -> Row:
    return {"item": item, "kind": kind, "status": status, "passed": 0, "total": 0, "reason": reason, "failures": [],
            "blocked_by": []}
