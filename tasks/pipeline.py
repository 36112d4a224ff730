"""The task creators: the manifest turned into doit tasks with real file dependencies.

Task creators only build metadata (paths, dependencies, plain-data jobs); the work
happens in the actions, which import what they need. What each task re-runs on is
spelled out here, in one place:

- file_dep: the files whose bytes decide the result (md5-checked by doit);
- uptodate: the task's manifest entry and the build-system code of its step
  (doit does not notice a changed action on its own).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.errors import BuildError
from tasks.export import ExportJob, module_path
from tasks.graph import closure
from tasks.manifest import Manifest, Module, read_manifest

if TYPE_CHECKING:
    from tasks.suites import ImportScan, Suite

TaskDict = dict[str, Any]

# the build-system files each step's result depends on
STEP_CODE: dict[str, tuple[str, ...]] = {
    "export": ("export.py", "sources.py", "atomic.py"),
    "notebooks": ("notebooks.py", "export.py", "sources.py", "atomic.py"),
    "check": ("checks.py", "sandbox.py", "runner.py"),
    "test": ("testing.py", "sandbox.py", "runner.py"),
    "init": ("assemble.py", "atomic.py"),
    "suite": ("testing.py", "sandbox.py", "runner.py", "suites.py"),
    "report": ("report.py", "report_schema.py", "pages.py", "picture.py"),
}


def code_version(step: str) -> str:
    """A digest of the build-system code that performs `step`."""
    here = Path(__file__).parent
    digest = hashlib.md5()
    for name in STEP_CODE[step]:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def _fail_cleanly(fn: Callable[..., Any], *args: Any) -> Any:
    """Run an action; a BuildError becomes a doit failure showing just its message."""
    from doit.exceptions import TaskFailed

    try:
        return fn(*args)
    except BuildError as exc:
        return TaskFailed(str(exc))


def run_export(job: ExportJob) -> Any:
    from tasks.export import export

    return _fail_cleanly(export, job)


def run_notebook(root: str, source: str, dest: str) -> Any:
    from tasks.notebooks import write_notebook

    return _fail_cleanly(write_notebook, root, source, dest)


def run_check(job: Any) -> Any:
    from tasks.checks import check_import

    return _fail_cleanly(check_import, job)


def run_tests(job: Any) -> Any:
    from tasks.testing import run_tests as run

    return _fail_cleanly(run, job)


def run_init(job: Any) -> Any:
    from tasks.assemble import assemble

    return _fail_cleanly(assemble, job)


def fail_with(message: str) -> Any:
    from doit.exceptions import TaskFailed

    return TaskFailed(message)


def export_intact(job: ExportJob) -> bool:
    from tasks.export import intact

    return intact(job)


class Pipeline:
    """The course's tasks. Built once per doit run from the validated manifest."""

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest
        self.modules = manifest.by_name
        self.graph = manifest.graph
        self.targets = {m.target: m.name for m in manifest.modules}
        self._versions: dict[str, str] = {}
        # memos: each task creator asks for these per module; recomputing them made
        # loading the task list quadratic in the number of modules
        self._position = {m.name: i for i, m in enumerate(manifest.modules)}
        self._generated: dict[str, str] = {}
        self._stubs: tuple[str, ...] | None = None
        self._scan: ImportScan | None = None
        self._discovered: list[Suite] | None = None

    @classmethod
    def load(cls, root: Path) -> Pipeline:
        """Read the manifest under `root`; a problem stops doit with the list of problems."""
        from doit.exceptions import InvalidDodoFile

        try:
            return cls(root, read_manifest(root))
        except BuildError as exc:
            raise InvalidDodoFile(f"modules.yaml is invalid; nothing was run.\n{exc}") from None

    # -- paths -----------------------------------------------------------------
    def version(self, step: str) -> str:
        if step not in self._versions:
            self._versions[step] = code_version(step)
        return self._versions[step]

    def generated(self, name: str) -> str:
        """The exported file of module `name`, relative to the root."""
        if name not in self._generated:
            target = self.modules[name].target
            self._generated[name] = module_path(Path(self.manifest.lib), target).as_posix()
        return self._generated[name]

    def record(self, name: str) -> str:
        return f"build/state/exports/{name}.json"

    def closure(self, names: list[str] | tuple[str, ...]) -> list[str]:
        """Names and their transitive dependencies, in course order."""
        reach = closure(self.graph, names)
        return sorted((n for n in reach if n in self._position), key=self._position.__getitem__)

    def stubs(self) -> tuple[str, ...]:
        if self._stubs is None:
            packages = {".".join(t.split(".")[:i]) for t in self.targets for i in range(1, t.count(".") + 1)}
            self._stubs = tuple(sorted(packages))
        return self._stubs

    def records(self, names: list[str]) -> dict[str, str]:
        return {self.generated(n): self.record(n) for n in names}

    def scan(self) -> ImportScan:
        """The test files' imports, parsed once per file and remembered under build/state/."""
        if self._scan is None:
            from tasks.suites import ImportScan

            self._scan = ImportScan(self.manifest.package, self.root / "build" / "state" / "test-imports.json")
        return self._scan

    def suites(self) -> list[Suite]:
        """The integration and system test files (`tasks.suites.discover`), found once per run."""
        if self._discovered is None:
            from tasks.suites import discover

            self._discovered = discover(self.root, self.manifest.package, self.targets, self.scan())
            self.scan().save()
        return self._discovered

    def test_imports(self, files: tuple[str, ...]) -> list[str]:
        """Modules that test files import (so a test sees exactly what it loads)."""
        from tasks.suites import resolve

        found: list[str] = []
        for rel in files:
            try:
                modules, whole, _ = resolve(self.scan().found(self.root / rel), self.manifest.package, self.targets)
            except (OSError, SyntaxError, UnicodeDecodeError):
                continue  # pytest reports it when the tests run
            found += list(self.modules) if whole else modules
        return found

    def _entry(self, m: Module, step: str, **extra: Any) -> Any:
        from doit.tools import config_changed

        return config_changed({"entry": m.entry(), "code": self.version(step), **extra})

    # -- task creators -------------------------------------------------------
    def task_export(self) -> Iterator[TaskDict]:
        """source -> package module under build/ (written only when its bytes change)"""
        for m in self.manifest.modules:
            job = ExportJob(
                root=str(self.root), name=m.name, source=m.source, target=m.target, lib=self.manifest.lib,
                package=self.manifest.package, depends={d: self.modules[d].target for d in m.depends},
                targets=self.targets,
            )
            yield {
                "name": m.name,
                "doc": f"export {m.source} -> {self.generated(m.name)}",
                "actions": [(run_export, [job])],
                "file_dep": [m.source],
                "targets": [self.generated(m.name)],
                "uptodate": [self._entry(m, "export", deps=job.depends), (export_intact, [job])],
                "clean": True,
            }

    def task_notebooks(self) -> Iterator[TaskDict]:
        """source -> student notebook under build/notebooks/"""
        for m in self.manifest.modules:
            dest = f"build/notebooks/{Path(m.source).parent.name or m.name}.ipynb"
            yield {
                "name": m.name,
                "doc": f"{m.source} -> {dest}",
                "actions": [(run_notebook, [str(self.root), m.source, dest])],
                "file_dep": [m.source],
                "targets": [dest],
                "uptodate": [self._entry(m, "notebooks")],
                "clean": True,
            }

    def task_check(self) -> Iterator[TaskDict]:
        """the exported module imports alone, cleanly, within its timeout"""
        from tasks.checks import CheckJob

        for m in self.manifest.modules:
            reach = self.closure([m.name])
            job = CheckJob(root=str(self.root), name=m.name, source=m.source, target=m.target,
                           lib=self.manifest.lib, stubs=self.stubs(), records=self.records(reach),
                           timeout=m.timeout)
            yield {
                "name": m.name,
                "doc": f"import {m.target} in a fresh process",
                "actions": [(run_check, [job])],
                "file_dep": [self.generated(n) for n in reach],
                # a dependency that does not import on its own fails here too: check it first
                "task_dep": [f"check:{d}" for d in m.depends],
                "targets": [f"build/results/check/{m.name}.json"],
                "uptodate": [self._entry(m, "check", reach=reach)],
                "clean": True,
            }

    def task_test(self) -> Iterator[TaskDict]:
        """the module's unit tests (pytest in a fresh process) with coverage of its exported file"""
        from tasks.testing import TestJob

        for m in self.manifest.modules:
            reach = self.closure([m.name, *self.test_imports(m.tests)])
            job = TestJob(root=str(self.root), kind="test", name=m.name, files=m.tests, lib=self.manifest.lib,
                          stubs=self.stubs(), records=self.records(reach), timeout=m.timeout,
                          cover=self.generated(m.name), floor=m.coverage)
            yield {
                "name": m.name,
                "doc": f"pytest {' '.join(m.tests) or '(no tests)'}",
                "actions": [(run_tests, [job])],
                "file_dep": [*m.tests, *(self.generated(n) for n in reach)],
                "task_dep": [f"check:{m.name}"],
                "targets": [f"build/results/test/{m.name}.json"],
                "uptodate": [self._entry(m, "test", reach=reach)],
                "clean": True,
            }
        self.scan().save()

    def task_validate(self) -> Iterator[TaskDict]:
        """export + check + test of a module, after validating what it depends on"""
        for m in self.manifest.modules:
            yield {
                "name": m.name,
                "doc": f"validate {m.name} and its dependencies",
                "actions": None,
                "task_dep": [f"export:{m.name}", f"check:{m.name}", f"test:{m.name}",
                             *(f"validate:{d}" for d in m.depends)],
            }

    def init_job(self) -> Any:
        from tasks.assemble import InitJob

        return InitJob(root=str(self.root), lib=self.manifest.lib, package=self.manifest.package,
                       modules=tuple((m.name, m.target, self.record(m.name)) for m in self.manifest.modules))

    def task_init(self) -> TaskDict:
        """assemble the package __init__ files; remove modules the manifest no longer has"""
        from doit.tools import config_changed

        job = self.init_job()
        return {
            "doc": "assemble build/lib package __init__.py files (API in course order, __all__, __version__)",
            "actions": [(run_init, [job])],
            "file_dep": ["pyproject.toml", *(self.generated(m.name) for m in self.manifest.modules)],
            # only modules that import cleanly are assembled into the package
            "task_dep": [f"check:{m.name}" for m in self.manifest.modules],
            "targets": job.init_files(),
            "uptodate": [config_changed({"modules": [list(t) for t in job.modules], "code": self.version("init")})],
            "clean": True,
        }

    def _suites(self, kind: str) -> Iterator[TaskDict]:
        from doit.tools import config_changed

        from tasks.testing import TestJob

        init = self.init_job()
        for suite in self.suites():
            if suite.kind != kind:
                continue
            reach = list(self.modules) if suite.whole else self.closure(suite.modules)
            files = [suite.path, *(self.generated(n) for n in reach)]
            task_dep = [f"validate:{n}" for n in reach]
            if suite.whole:
                files += init.init_files()
                task_dep.append("init")
            if suite.unknown:
                line, mod = suite.unknown[0]
                action: Any = (fail_with, [f"{suite.path}:{line}: imports {mod}, which no module in modules.yaml "
                                           "produces; fix the import or add the module to the manifest"])
            else:
                job = TestJob(root=str(self.root), kind=suite.kind, name=suite.name, files=(suite.path,),
                              lib=self.manifest.lib, stubs=() if suite.whole else self.stubs(),
                              records=self.records(reach), timeout=max(self.modules[n].timeout for n in reach)
                              if reach else 120.0)
                action = (run_tests, [job])
            yield {
                "name": suite.name.removeprefix("test_"),
                "doc": f"pytest {suite.path} (modules: {'all' if suite.whole else ', '.join(reach)})",
                "actions": [action],
                "file_dep": files,
                "task_dep": task_dep,
                "targets": [f"build/results/{suite.kind}/{suite.name}.json"],
                "uptodate": [config_changed({"reach": reach, "code": self.version("suite")})],
                "clean": True,
            }

    def task_integration(self) -> Iterator[TaskDict]:
        """cross-module tests under tests/integration/, re-run when a module they reach changes"""
        yield {"name": None, "doc": "all integration tests"}
        yield from self._suites("integration")

    def task_system(self) -> Iterator[TaskDict]:
        """end-to-end tests under tests/system/ against the assembled package"""
        yield {"name": None, "doc": "all system tests"}
        yield from self._suites("system")


def run_api(job: Any) -> Any:
    from tasks.api import write_snapshot

    return _fail_cleanly(write_snapshot, job)


def run_wheel(job: Any) -> Any:
    from tasks.wheel import build_wheel

    return _fail_cleanly(build_wheel, job)


def run_stash(root: str) -> Any:
    from tasks.wheel import stash_previous

    stash_previous(root)


def run_verify(job: Any) -> Any:
    from tasks.verify import verify

    return _fail_cleanly(verify, job)


class Release:
    """The release tasks (SPEC 8): api snapshot, wheel, verify. Not part of the default run."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.p = pipeline

    def _package_files(self) -> list[str]:
        return [*(self.p.generated(m.name) for m in self.p.manifest.modules), *self.p.init_job().init_files()]

    def task_api(self) -> TaskDict:
        """snapshot the public API (module, name, kind, signature) to build/api/"""
        from tasks.api import ApiJob

        job = ApiJob(root=str(self.p.root), lib=self.p.manifest.lib, package=self.p.manifest.package)
        return {
            "actions": [(run_api, [job])],
            "file_dep": ["pyproject.toml", *self._package_files()],
            "task_dep": ["init"],
            "targets": ["build/api/api.json", "build/api/api.txt"],
            "clean": True,
        }

    def task_wheel(self) -> TaskDict:
        """build/dist/<package>-<version>-py3-none-any.whl, only from a fully validated tree"""
        from tasks.assemble import read_project
        from tasks.wheel import WheelJob, wheel_name

        root, m = self.p.root, self.p.manifest
        try:
            project = read_project(root / "pyproject.toml")
        except BuildError as exc:  # reported when a wheel is asked for, not when any task list loads
            return {"actions": [(fail_with, [str(exc)])], "uptodate": [False]}
        lib_prefix = m.lib.rstrip("/") + "/"
        job = WheelJob(root=str(root), lib=m.lib, package=m.package,
                       files=tuple(f.removeprefix(lib_prefix) for f in self._package_files()),
                       runtime=tuple(project.get("dependencies", [])))
        suites = self.p.suites()
        gates = [f"validate:{x.name}" for x in m.modules] + ["init"] + \
            [f"{s.kind}:{s.name.removeprefix('test_')}" for s in suites]
        api = [] if not (root / "api" / "release.json").exists() else ["api/release.json"]
        return {
            # rebuilt on every request (about a second): the earlier wheel is moved aside before
            # the gates run, so a failed gate never leaves a wheel that looks fresh
            "actions": [(run_wheel, [job])],
            "file_dep": ["pyproject.toml", *self._package_files(), *api],
            "task_dep": ["_stash_wheel", *gates],
            "targets": ["build/results/wheel.json",
                        f"build/dist/{wheel_name(m.package, str(project['version']))}"],
            "uptodate": [False],
            "clean": True,
        }

    def task__stash_wheel(self) -> TaskDict:
        """move earlier wheels to build/dist/previous/ before a release is attempted"""
        return {"actions": [(run_stash, [str(self.p.root)])], "uptodate": [False], "verbosity": 0}

    def task_verify(self) -> TaskDict:
        """install the wheel in a fresh venv (no dev tooling) and run tests/validation/ from outside the repo"""
        from tasks.verify import VerifyJob

        job = VerifyJob(root=str(self.p.root), package=self.p.manifest.package)
        smoke = sorted(p.relative_to(self.p.root).as_posix()
                       for p in (self.p.root / "tests" / "validation").glob("test_*.py"))
        return {
            "actions": [(run_verify, [job])],
            "file_dep": ["build/results/wheel.json", *smoke],
            "task_dep": ["wheel"],
            "targets": ["build/results/verify.json"],
            "clean": True,
        }
