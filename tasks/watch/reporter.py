"""The console of `doit watch`: the edited module's verdict as soon as it is known, then the rest, then one line.

A subclass of the build's own reporter (`tasks.reports.console.StatusReporter`): the
failures of the other tasks read as in `doit`, the up-to-date tasks are not listed, and
the module table is cut down to its summary line, which the command prints last.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from tasks.core import layout
from tasks.core.layout import split
from tasks.reports.console import COLOUR, StatusReporter

FOCUS_STEPS = ("notebooks", "export", "check", "test")  # what a module's verdict is made of
MESSAGE_LINES = 14


def _verdict_line(name: str, text: str, seconds: float) -> str:
    return f"verdict {name}: {text}  ({seconds:.2f} s after the save)"


class WatchReporter(StatusReporter):
    """StatusReporter for one watch cycle; `focus` (the edited modules) and `saved` are set per cycle."""

    desc = "doit watch: the edited module's verdict first, then the rest, then a one-line status"
    focus: ClassVar[tuple[str, ...]] = ()
    saved: ClassVar[float] = 0.0
    summary: ClassVar[str] = ""  # the table's summary line of the last run
    verdicts: ClassVar[dict[str, str]] = {}

    def __init__(self, outstream: Any, options: dict[str, Any]) -> None:
        super().__init__(outstream, options)
        self.said: set[str] = set()
        type(self).verdicts = {}
        type(self).summary = ""

    def _focus(self, task_name: str) -> str | None:
        step, module = split(task_name)
        return module if module in self.focus and step in FOCUS_STEPS else None

    def _say(self, module: str, head: str, body: str = "") -> None:
        if module in self.said:
            return
        self.said.add(module)
        seconds = time.time() - self.saved if self.saved else 0.0
        line = f"verdict {module}: {head}  ({seconds:.2f} s after the save)"
        type(self).verdicts[module] = line
        self.write(line + "\n" + (body + "\n" if body else ""))
        self.outstream.flush()

    def _passed(self, module: str) -> str:
        try:
            result = json.loads(layout.at(self.root, layout.result("test", module)).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            result = {}
        tests = f"{result.get('passed', 0)} tests passed"
        cover = (result.get("coverage") or {}).get("percent")
        paint = self.paint("ok", COLOUR["passed"])
        return f"{paint}, {tests}" + (f", coverage {cover:.1f}%" if isinstance(cover, (int, float)) else "")

    # -- doit's hooks ----------------------------------------------------------------------------
    def skip_uptodate(self, task: Any) -> None:
        self.fresh.add(task.name)  # not listed: a watch cycle shows what ran
        module = self._focus(task.name)
        if module and split(task.name)[0] == "test":
            self._say(module, self._passed(module) + " (up to date)")

    def add_success(self, task: Any) -> None:
        super().add_success(task)
        module = self._focus(task.name)
        if module and split(task.name)[0] == "test":
            self._say(module, self._passed(module))

    def add_failure(self, task: Any, fail: Any) -> None:
        from doit.exceptions import UnmetDependency

        from tasks.reports.status import find_place, hint, with_twin

        module = self._focus(task.name)
        if not module:
            super().add_failure(task, fail)
            return
        shown: list[str] = []
        self.write = shown.append  # recorded as doit's, printed as the verdict
        try:
            super().add_failure(task, fail)
        finally:
            del self.write
        if isinstance(fail, UnmetDependency):
            self._say(module, self.paint("blocked", COLOUR["blocked"]) + f": {task.name} needs {fail.message}, "
                      "which failed (see below)")
            return
        full = fail.get_msg() or ""
        place = with_twin(full, find_place(full, self._source(module) or ""))
        lines = full.strip().splitlines()
        body = [f"  hint: {hint(task.name, full, self._source(module))}",
                *(f"    {line}" for line in lines[:MESSAGE_LINES])]
        if len(lines) > MESSAGE_LINES:
            body.append(f"    [... {len(lines) - MESSAGE_LINES} more lines: doit {task.name}]")
        self._say(module, self.paint(f"FAILED {task.name}", COLOUR["failed"]) + (f" at {place}" if place else ""),
                  "\n".join(body))

    def complete_run(self) -> None:
        for module in self.focus:  # a module whose tasks never ran (the manifest dropped it?)
            if module not in self.said and any(n == module for n, _, _ in self.modules):
                self._say(module, "not run")
        # the edited module's failure was shown in its verdict: do not dump it again
        self.failures = [f for f in self.failures if not self._focus(f["task"].name)]
        super().complete_run()

    def table(self) -> str:
        lines = super().table().rstrip("\n").splitlines()
        failing = [line for line in lines[3:-1] if not line.rstrip().endswith(("passed", "passed\033[0m"))]
        type(self).summary = lines[-1].split("   (details")[0] if lines else ""
        return "\n".join(failing) + "\n" if failing else ""
