"""The release tasks (SPEC 8): api snapshot, wheel, verify. Not part of the default run."""

from __future__ import annotations

from typing import Any

from tasks.core import layout
from tasks.core.errors import BuildError
from tasks.plan.actions import action, fail
from tasks.plan.pipeline import API, STASH, VERIFY, WHEEL, Pipeline

TaskDict = dict[str, Any]
REQUIRE_DONE = "tasks.student.progress:require_done"
RELEASED_API = "api/release.json"  # the last release's public API, kept in the repository


class Release:
    """`doit api`, `doit wheel`, `doit verify`, made from the course's pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.p = pipeline

    def task_api(self) -> TaskDict:
        """snapshot the public API (module, name, kind, signature) to build/api/"""
        from tasks.release.api import ApiJob

        job = ApiJob(root=str(self.p.root), lib=self.p.manifest.lib, package=self.p.manifest.package)
        return {
            "actions": [action(API, job)],
            "file_dep": ["pyproject.toml", *self.p.package_files()],
            "task_dep": ["init"],
            "targets": [layout.api_file("api.json"), layout.api_file("api.txt")],
            "clean": True,
        }

    def task_wheel(self) -> TaskDict:
        """the wheel, <package>-<version>-py3-none-any.whl in build/dist, only from a fully validated tree"""
        from tasks.release.wheel import WheelJob, wheel_name
        from tasks.steps.assemble import read_project

        root, m = self.p.root, self.p.manifest
        try:
            project = read_project(root / "pyproject.toml")
        except BuildError as exc:  # reported when a wheel is asked for, not when any task list loads
            return {"actions": [(fail, [str(exc)])], "uptodate": [False]}
        lib_prefix = m.lib.rstrip("/") + "/"
        job = WheelJob(root=str(root), lib=m.lib, package=m.package,
                       files=tuple(f.removeprefix(lib_prefix) for f in self.p.package_files()),
                       runtime=tuple(project.get("dependencies", [])))
        gates = [layout.task("validate", x.name) for x in m.modules] + ["init"] + \
            [layout.suite_task(s.kind, s.name) for s in self.p.suites()]
        api = [RELEASED_API] if (root / RELEASED_API).exists() else []
        # a student tree: todo and waiting modules pass their gates, but are not done
        done = [action(REQUIRE_DONE, str(root))] if self.p.student else []
        return {
            # rebuilt on every request (about a second): the earlier wheel is moved aside before
            # the gates run, so a failed gate never leaves a wheel that looks fresh
            "actions": [*done, action(WHEEL, job)],
            "file_dep": ["pyproject.toml", *self.p.package_files(), *api],
            "task_dep": ["_stash_wheel", *gates],
            "targets": [layout.WHEEL_RESULT, layout.wheel_file(wheel_name(m.package, str(project["version"])))],
            "uptodate": [False],
            "clean": True,
        }

    def task__stash_wheel(self) -> TaskDict:
        """move earlier wheels to build/dist/previous/ before a release is attempted"""
        return {"actions": [action(STASH, str(self.p.root))], "uptodate": [False], "verbosity": 0}

    def task_verify(self) -> TaskDict:
        """install the wheel in a fresh venv (no dev tooling) and run tests/validation/ from outside the repo"""
        from tasks.release.verify import VerifyJob

        job = VerifyJob(root=str(self.p.root), package=self.p.manifest.package)
        smoke = sorted(p.relative_to(self.p.root).as_posix()
                       for p in (self.p.root / "tests" / "validation").glob("test_*.py"))
        return {
            "actions": [action(VERIFY, job)],
            "file_dep": [layout.WHEEL_RESULT, *smoke],
            "task_dep": ["wheel"],
            "targets": [layout.VERIFY_RESULT],
            "clean": True,
        }
