"""`doit grade --submissions DIR [--scheduler ADDRESS]`: one task per submission, then the gradebook.

A submission's task is up to date while its key holds: the digest of what is taken from it
(its module sources, or its archive), of every instructor file copied into its scratch tree
(the tests, hidden ones included, the manifest, the build system's code) and of the grading
code itself. Only the tasks whose key changed re-run; their work goes to one batch
(`tasks.grade.executors`) on the local pool or on a Dask cluster. Inside a submission the grain
is finer: each module and test file is a `Unit` with its own key (`tasks.grade.worker`), so a
changed test file of one module re-grades that module and what is built on it, nothing else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doit import task_params

from tasks.core import codeversion, layout
from tasks.grade.intake import discover, fingerprint
from tasks.grade.isolate import instructor_files
from tasks.grade.jobs import BookSpec, GradeJob, Limits, Unit
from tasks.plan.actions import action, fail, version
from tasks.plan.pipeline import Pipeline

TaskDict = dict[str, Any]
COLLECT = "tasks.grade.executors:collect"
GRADEBOOK = "tasks.grade.executors:write_gradebook"
PARAMS = [
    {"name": "submissions", "long": "submissions", "type": str, "default": "",
     "help": "a folder with one repository or archive (.zip, .tar, .tar.gz) per student, named by student id"},
    {"name": "scheduler", "long": "scheduler", "type": str, "default": "",
     "help": "a Dask scheduler address (default: $DASK_SCHEDULER_ADDRESS, else a local process pool)"},
]


def _digest(root: Path, files: list[str]) -> str:
    h = hashlib.sha256()
    for rel in files:
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return h.hexdigest()


class Grade:
    """The grading tasks, made from the instructor's pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.p = pipeline

    @task_params(PARAMS)  # type: ignore[untyped-decorator]
    def task_grade(self, submissions: str, scheduler: str) -> Iterator[TaskDict]:
        """grade every submission in --submissions DIR in isolation; gradebook under build/grades"""
        if not submissions:
            yield {"name": layout.GRADEBOOK_TASK, "actions": [(fail, [
                "doit grade needs the folder of submissions: doit grade --submissions DIR "
                "(one repository or archive per student, named by student id)"])], "uptodate": [False]}
            return
        root = self.p.root
        folder = (root / submissions).resolve()
        if not folder.is_dir():
            yield {"name": layout.GRADEBOOK_TASK, "actions": [(fail, [
                f"--submissions {submissions}: {folder} is not a folder; give the folder holding one "
                "repository or archive per student"])], "uptodate": [False]}
            return
        mods = self.p.manifest.modules
        sources = [m.source for m in mods]
        # the instructor's paired notebooks are the reference's: beside a student's source they would
        # read as a second edit (tasks.steps.notebooks); the scratch build pairs the student's own
        mine = {*sources, *(layout.paired_notebook(src) for src in sources if not src.endswith(".ipynb"))}
        files = [f for f in instructor_files(root, skip=[folder, root / "tasks"]) if f not in mine]
        system = Path(codeversion.HERE).parent  # the build system doing the grading is the one copied in
        system_files = [f"tasks/{f}" for f in instructor_files(system / "tasks")]
        limits = Limits()
        units = self.units(set(files))
        own = {f for u in units for f in u.files}
        common = hashlib.sha256(f"{_digest(root, [f for f in files if f not in own])}\0{_digest(system, system_files)}"
                                f"\0{version(COLLECT)}\0{limits}".encode()).hexdigest()
        base = hashlib.sha256("\0".join([common, *(u.digest for u in units)]).encode()).hexdigest()
        package = self.p.manifest.package
        modules = tuple((m.name, m.source, m.target.removeprefix(package + ".")) for m in mods)
        subs, rejected = discover(folder)
        jobs = [GradeJob(str(root), s, modules, hashlib.sha256(f"{base}\0{fingerprint(s, sources)}".encode())
                         .hexdigest(), tuple(files), str(system), tuple(system_files), limits, units, common)
                for s in subs]
        for job in jobs:
            yield {
                "name": job.student,
                "doc": f"grade {Path(job.submission.path).name} with the instructor's build and tests",
                "actions": [action(COLLECT, job, jobs, scheduler)],
                "targets": [layout.grade_result(job.student)],
                "uptodate": [_key(job.key)],
                "clean": True,
            }
        tests = tuple(f for f in files if f.startswith("tests/") and f.endswith(".py"))
        spec = BookSpec(str(root), tuple(j.student for j in jobs), tuple(m.name for m in mods),
                        tuple((r.name, r.reason) for r in rejected), tests, self.p.manifest.grading)
        yield {
            "name": layout.GRADEBOOK_TASK,
            "doc": f"{layout.GRADES}: grades.csv, grades.json, index.html, feedback/ from every graded submission",
            "actions": [action(GRADEBOOK, spec)],
            "task_dep": [layout.grade_task(j.student) for j in jobs],
            "targets": [layout.gradebook_file(f) for f in layout.GRADEBOOK_FILES],
            "uptodate": [False],  # cheap, and it reports the run
            "clean": True,
            "verbosity": 2,
        }


    def units(self, files: set[str]) -> tuple[Unit, ...]:
        """What each module and each integration/system file is graded from (see `tasks.grade.jobs.Unit`)."""
        p = self.p
        units = []
        for m in p.manifest.modules:
            own = tuple(t for t in m.tests if t in files)
            units.append(Unit(m.name, "module", tuple(p.closure([m.name, *p.test_imports(m.tests)])),
                              tuple(p.closure(list(m.depends))), own, _digest(p.root, list(own))))
        for s in sorted(p.suites(), key=lambda s: (s.kind != "integration", s.path)):
            reach = tuple(p.modules) if s.whole else tuple(p.closure(list(s.modules)))
            own = (s.path,) if s.path in files else ()
            units.append(Unit(layout.suite_task(s.kind, s.name), s.kind, reach, reach, own,
                              _digest(p.root, list(own))))
        return tuple(units)


def _key(key: str) -> Any:
    from doit.tools import config_changed

    return config_changed({"key": key})
