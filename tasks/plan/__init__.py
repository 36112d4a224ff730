"""The task creators: the manifest turned into doit tasks (the top layer; dodo.py binds them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tasks.core import codeversion, layout
from tasks.plan.grade import Grade
from tasks.plan.pipeline import Pipeline
from tasks.plan.release import Release
from tasks.plan.reports import Reports
from tasks.plan.student import Student
from tasks.sandbox import bytecode, spawn
from tasks.tools import doitcmd, doitorder


@dataclass(frozen=True)
class Plan:
    """Every task creator of one course: the development loop, the release, the student edition, the reports,
    grading."""

    pipeline: Pipeline
    release: Release
    reports: Reports
    student: Student
    grade: Grade

    @classmethod
    def load(cls, root: Path) -> Plan:
        if not bytecode.untrusted():  # in a submission's scratch tree, student code could rewrite the store
            codeversion.keep_in(layout.at(root, layout.CODE_IMPORTS))
        pipeline = Pipeline.load(root)
        doitorder.install()  # the same edit runs its tasks in the same order every time (what a standby learns)
        named = doitcmd.selected() or []
        if doitcmd.current_command() in ("run", "watch") and not doitcmd.parallel() and (
                not named or any(layout.split(name)[0] in layout.PIPELINE_STEPS for name in named)):
            # a file the student edits changed since the last run: the warm worker's imports and the first test
            # run's set-up overlap the loading of the task list and the first export, instead of following them
            edits = [([str(root / f) for f in files], tests) for files, tests in pipeline.edited()]
            spawn.prestart_if_changed(root, edits, layout.at(root, layout.TIMINGS))
        return cls(pipeline, Release(pipeline), Reports(pipeline), Student(pipeline), Grade(pipeline))
