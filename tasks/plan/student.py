"""`doit student` (SPEC 11): the student edition, proven; `--update PATH [--dry-run]` brings it to a student.

Not part of the default run. Proof (a), the reference passing every test with the hidden
ones, is this task's dependencies: the same gates as the wheel's.
"""

from __future__ import annotations

from typing import Any

from tasks.core import layout
from tasks.plan.actions import action_options
from tasks.plan.pipeline import Pipeline

TaskDict = dict[str, Any]
STUDENT = "tasks.student.edition:make_student"
OPTIONS = [
    {"name": "update", "long": "update", "type": str, "default": "",
     "help": "a student repository (an unpacked earlier release) to bring this release into"},
    {"name": "dry_run", "long": "dry-run", "type": bool, "default": False,
     "help": "with --update: print what would be updated and kept, change nothing"},
]


class Student:
    """`doit student`, made from the course's pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.p = pipeline

    def task_student(self) -> TaskDict:
        """the student edition under build/student/ and its archive, proven; --update PATH [--dry-run]"""
        m = self.p.manifest
        # (a): the reference passes every test, hidden ones included
        gates = [layout.task("validate", x.name) for x in m.modules] + ["init"] + \
            [layout.suite_task(s.kind, s.name) for s in self.p.suites()] if not self.p.student else []
        return {
            "actions": [action_options(STUDENT, str(self.p.root))],
            "params": OPTIONS,
            "task_dep": gates,
            "uptodate": [False],  # rebuilt and re-proven on every request
            "verbosity": 2,
        }
