"""The task creators: the manifest turned into doit tasks with real file dependencies.

Task creators only build metadata (paths, dependencies, plain-data jobs); the work
happens in the actions, which import what they need. What each task re-runs on is
spelled out here, in one place:

- file_dep: the files whose bytes decide the result (md5-checked by doit);
- uptodate: the task's manifest entry and the build-system code of its step
  (doit does not notice a changed action on its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.core import layout
from tasks.core.errors import BuildError
from tasks.core.text import parents
from tasks.model.graph import closure
from tasks.model.manifest import Manifest, Module, read_manifest
from tasks.plan.actions import action, fail, version
from tasks.steps.export import ExportJob, module_path

if TYPE_CHECKING:
    from tasks.steps.suites import ImportScan, Suite

TaskDict = dict[str, Any]

# the action of each step; the step's code version is derived from the same name
EXPORT = "tasks.steps.export:export"
EXPORT_INTACT = "tasks.steps.export:intact"
NOTEBOOK = "tasks.steps.notebooks:sync"
NOTEBOOK_SYNCED = "tasks.steps.notebooks:synced"
RESULT_INTACT = "tasks.safety.recovery:result_intact"  # a damaged result file makes its task run again
CHECK = "tasks.steps.checks:check_import"
TEST = "tasks.steps.testing:run_tests"
INIT = "tasks.steps.assemble:assemble"
API = "tasks.release.api:write_snapshot"
WHEEL = "tasks.release.wheel:build_wheel"
STASH = "tasks.release.wheel:stash_previous"
VERIFY = "tasks.release.verify:verify"


class Pipeline:
    """The course's tasks. Built once per doit run from the validated manifest."""

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest
        self.modules = manifest.by_name
        self.graph = manifest.graph
        self.targets = {m.target: m.name for m in manifest.modules}
        # memos: each task creator asks for these per module; recomputing them made
        # loading the task list quadratic in the number of modules
        self._position = {m.name: i for i, m in enumerate(manifest.modules)}
        self._generated: dict[str, str] = {}
        self._stubs: tuple[str, ...] | None = None
        self._scan: ImportScan | None = None
        self._discovered: list[Suite] | None = None
        self._built_on: dict[str, list[str]] | None = None
        self._requires: tuple[str, ...] | None | bool = False  # False: not read yet
        # a student tree (made by `doit student`): each module's shipped stub lines
        self.student: dict[str, tuple[str, ...]] = _student_stubs(root)

    def requires(self) -> tuple[str, ...] | None:
        """[project].dependencies of pyproject.toml (None when it cannot be read: `doit wheel` says why)."""
        if self._requires is False:
            from tasks.steps.assemble import read_project

            try:
                self._requires = tuple(str(r) for r in read_project(self.root / "pyproject.toml").get("dependencies", []))
            except BuildError:
                self._requires = None
        return self._requires  # type: ignore[return-value]

    @classmethod
    def load(cls, root: Path) -> Pipeline:
        """Read the manifest under `root`; a problem stops doit with the list of problems."""
        from doit.exceptions import InvalidDodoFile

        try:
            return cls(root, read_manifest(root))
        except BuildError as exc:
            raise InvalidDodoFile(f"modules.yaml is invalid; nothing was run.\n{exc}") from None

    # -- paths -----------------------------------------------------------------
    def generated(self, name: str) -> str:
        """The exported file of module `name`, relative to the root."""
        if name not in self._generated:
            target = self.modules[name].target
            self._generated[name] = module_path(Path(self.manifest.lib), target).as_posix()
        return self._generated[name]

    def edited(self) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        """Per module in course order, the files a student edits (its source, the paired notebook, its test
        files) and the test files its unit test run names, all relative to the root."""
        edits = []
        for m in self.manifest.modules:
            paired = () if m.source.endswith(".ipynb") else (layout.paired_notebook(m.source),)
            edits.append(((m.source, *paired, *m.tests), tuple(m.tests)))
        return edits

    def closure(self, names: list[str] | tuple[str, ...]) -> list[str]:
        """Names and their transitive dependencies, in course order."""
        reach = closure(self.graph, names)
        return sorted((n for n in reach if n in self._position), key=self._position.__getitem__)

    def dependants(self) -> dict[str, list[str]]:
        """Each module -> the modules built on it, transitively, in course order."""
        if self._built_on is None:
            built_on: dict[str, list[str]] = {m.name: [] for m in self.manifest.modules}
            for m in self.manifest.modules:  # course order: a module's dependencies come before it
                for d in self.closure(list(m.depends)):
                    built_on[d].append(m.name)
            self._built_on = built_on
        return self._built_on

    def stubs(self) -> tuple[str, ...]:
        if self._stubs is None:
            self._stubs = tuple(sorted({p for t in self.targets for p in parents(t)}))
        return self._stubs

    def records(self, names: list[str]) -> dict[str, str]:
        return {self.generated(n): layout.export_record(n) for n in names}

    def scan(self) -> ImportScan:
        """The test files' imports, parsed once per file and remembered under build/state/."""
        if self._scan is None:
            from tasks.steps.suites import ImportScan

            self._scan = ImportScan(self.manifest.package, layout.at(self.root, layout.TEST_IMPORTS))
        return self._scan

    def suites(self) -> list[Suite]:
        """The integration and system test files (`tasks.steps.suites.discover`), found once per run."""
        if self._discovered is None:
            from tasks.steps.suites import discover

            extras = frozenset(f"{self.manifest.package}.{d.removesuffix('.py').replace('/', '.')}"
                               for d, _ in self.manifest.files if d.endswith(".py"))
            self._discovered = discover(self.root, self.manifest.package, self.targets, self.scan(), extras)
            self.scan().save()
        return self._discovered

    def test_imports(self, files: tuple[str, ...]) -> list[str]:
        """Modules that test files import (so a test sees exactly what it loads)."""
        from tasks.steps.suites import resolve

        found: list[str] = []
        for rel in files:
            try:
                modules, whole, _ = resolve(self.scan().found(self.root / rel), self.manifest.package, self.targets)
            except (OSError, SyntaxError, UnicodeDecodeError):
                continue  # pytest reports it when the tests run
            found += list(self.modules) if whole else modules
        return found

    def _passed(self, *result: str) -> Any:
        """A fixed failure whose inputs equal those of the last success re-runs nothing (tasks.tools.doitstate)."""
        from tasks.tools.doitstate import PassedRecord

        return PassedRecord(str(self.root), keep=result)

    def _intact(self, result: str) -> Any:
        """`uptodate` entry: a result file of the wrong shape counts as absent, so its task runs again."""
        return action(RESULT_INTACT, str(self.root), result)

    def pending(self, reach: list[str]) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        """In a student tree, the modules in `reach` with stubs shipped (their tests wait for them)."""
        return tuple((n, self.modules[n].source, self.student[n]) for n in reach if self.student.get(n))

    def _entry(self, m: Module, step: str, **extra: Any) -> Any:
        from doit.tools import config_changed

        return config_changed({"entry": m.entry(), "code": version(step), **extra})

    # -- task creators -------------------------------------------------------
    def task_export(self) -> Iterator[TaskDict]:
        """source -> package module under build/ (written only when its bytes change)"""
        for m in self.manifest.modules:
            job = ExportJob(
                root=str(self.root), name=m.name, source=m.source, target=m.target, lib=self.manifest.lib,
                package=self.manifest.package, depends={d: self.modules[d].target for d in m.depends},
                targets=self.targets, requires=self.requires(), sources={d: self.modules[d].source for d in m.depends},
                dependants={d: self.modules[d].source for d in self.dependants()[m.name]},
            )
            yield {
                "name": m.name,
                "doc": f"export {m.source} -> {self.generated(m.name)}",
                "actions": [action(EXPORT, job)],
                "file_dep": [m.source],
                "task_dep": [layout.task("notebooks", m.name)],  # a notebook edit reaches the source first
                "targets": [self.generated(m.name)],
                "uptodate": [self._entry(m, EXPORT, deps=job.depends, requires=job.requires), action(EXPORT_INTACT, job)],
                "clean": True,
            }

    def task_notebooks(self) -> Iterator[TaskDict]:
        """source <-> its paired notebook beside it (jupytext pairing; an edit in either reaches the other)"""
        from tasks.steps.notebooks import NotebookJob

        paired = [layout.paired_notebook(m.source) for m in self.manifest.modules if not m.source.endswith(".ipynb")]
        folders: dict[str, list[str]] = {}
        for nb in paired:  # each folder's .gitignore names all its paired notebooks (tasks.steps.notebooks)
            folder, _, name = nb.rpartition("/")
            folders.setdefault(folder, []).append(name)
        for m in self.manifest.modules:
            if m.source.endswith(".ipynb"):  # the source is the notebook: nothing to pair
                yield {"name": m.name, "doc": f"{m.source} is itself the notebook", "actions": None}
                continue
            notebook = layout.paired_notebook(m.source)
            job = NotebookJob(root=str(self.root), name=m.name, source=m.source, notebook=notebook,
                              beside=tuple(folders[notebook.rpartition("/")[0]]))
            yield {
                "name": m.name,
                "doc": f"{m.source} <-> {job.notebook}",
                "actions": [action(NOTEBOOK, job)],
                "file_dep": [m.source],
                # the notebook may not exist yet (doit refuses a missing file_dep): its digest is checked here
                "uptodate": [self._entry(m, NOTEBOOK), action(NOTEBOOK_SYNCED, job)],
                # only the sync record: `doit clean` must never delete a student's notebook
                "targets": [layout.sync_record(m.name)],
                "clean": True,
            }

    def task_check(self) -> Iterator[TaskDict]:
        """the exported module imports alone, cleanly, within its timeout"""
        from tasks.steps.checks import CheckJob

        for m in self.manifest.modules:
            reach = self.closure([m.name])
            job = CheckJob(root=str(self.root), name=m.name, source=m.source, target=m.target,
                           lib=self.manifest.lib, stubs=self.stubs(), records=self.records(reach),
                           timeout=m.timeout, limits=m.limits)
            yield {
                "name": m.name,
                "doc": f"import {m.target} in a fresh process",
                "actions": [action(CHECK, job)],
                "file_dep": [self.generated(n) for n in reach],
                # a dependency that fails (even one test) blocks this module: one line, not a second failure
                # that points into the dependency, and no second timeout of the same endless loop
                "task_dep": [layout.task("validate", d) for d in m.depends],
                "targets": [layout.result("check", m.name)],
                "uptodate": [self._passed(layout.result("check", m.name)), self._intact(layout.result("check", m.name)),
                             self._entry(m, CHECK, reach=reach)],
                "clean": True,
            }

    def task_test(self) -> Iterator[TaskDict]:
        """the module's unit tests (pytest in a fresh process) with coverage of its exported file"""
        from tasks.steps.testconfig import pytest_settings, test_inputs
        from tasks.steps.testing import TestJob

        settings = pytest_settings(self.root)
        for m in self.manifest.modules:
            reach = self.closure([m.name, *self.test_imports(m.tests)])
            job = TestJob(root=str(self.root), kind="test", name=m.name, files=m.tests, lib=self.manifest.lib,
                          stubs=self.stubs(), records=self.records(reach), timeout=m.timeout,
                          cover=self.generated(m.name), floor=m.coverage, limits=m.limits,
                          pending=self.pending(reach))
            yield {
                "name": m.name,
                "doc": f"pytest {' '.join(m.tests) or '(no tests)'}",
                "actions": [action(TEST, job)],
                # conftest.py files, helpers and pytest settings decide the outcome too (tasks.steps.testconfig)
                "file_dep": [*m.tests, *test_inputs(self.root, m.tests), *(self.generated(n) for n in reach)],
                "task_dep": [layout.task("check", m.name)],
                "targets": [layout.result("test", m.name)],
                "uptodate": [self._passed(layout.result("test", m.name)), self._intact(layout.result("test", m.name)),
                             self._entry(m, TEST, reach=reach, pytest=settings)],
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
                "task_dep": [*(layout.task(s, m.name) for s in layout.STAGES),
                             *(layout.task("validate", d) for d in m.depends)],
            }

    def init_job(self) -> Any:
        from tasks.steps.assemble import InitJob

        return InitJob(root=str(self.root), lib=self.manifest.lib, package=self.manifest.package,
                       modules=tuple((m.name, m.target, layout.export_record(m.name)) for m in self.manifest.modules),
                       public={m.name: m.public for m in self.manifest.modules if m.public != "all"},
                       files=self.manifest.files,
                       public_at={m.name: m.public_at for m in self.manifest.modules if m.public_at})

    def package_files(self) -> list[str]:
        """Every file of the generated package: the exported modules, the assembled `__init__` files, the extra files."""
        job = self.init_job()
        return [*(self.generated(m.name) for m in self.manifest.modules), *job.init_files(), *job.extra_files()]

    def task_init(self) -> TaskDict:
        """assemble the package __init__ files; remove modules the manifest no longer has"""
        from doit.tools import config_changed

        job = self.init_job()
        return {
            "doc": f"assemble {self.manifest.lib} package __init__.py files (API in course order, __all__, __version__)",
            "actions": [action(INIT, job)],
            "file_dep": ["pyproject.toml", *(self.generated(m.name) for m in self.manifest.modules),
                         *(src for _, src in job.files)],
            # only modules that import cleanly are assembled into the package
            "task_dep": [layout.task("check", m.name) for m in self.manifest.modules],
            "targets": [*job.init_files(), *job.extra_files()],
            "uptodate": [self._passed(), config_changed({"modules": [list(t) for t in job.modules], "code": version(INIT),
                                         "public": {k: list(v) if isinstance(v, tuple) else v for k, v in
                                                    (job.public or {}).items()}, "files": [list(f) for f in job.files]})],
            "clean": True,
        }

    def _suites(self, kind: str) -> Iterator[TaskDict]:
        from doit.tools import config_changed

        from tasks.steps.testconfig import pytest_settings, test_inputs
        from tasks.steps.testing import TestJob

        init = self.init_job()
        settings = pytest_settings(self.root)
        for suite in self.suites():
            if suite.kind != kind:
                continue
            reach = list(self.modules) if suite.whole else self.closure(suite.modules)
            files = list(dict.fromkeys([suite.path, *suite.helpers, *test_inputs(self.root, [suite.path]),
                                        *(self.generated(n) for n in reach)]))
            task_dep = [layout.task("validate", n) for n in reach]
            if suite.whole:
                files += [*init.init_files(), *init.extra_files()]
                task_dep.append("init")
            if suite.unknown:
                line, mod = suite.unknown[0]
                run: Any = (fail, [f"{suite.path}:{line}: imports {mod}, which no module in modules.yaml "
                                   "produces; fix the import or add the module to the manifest"])
            else:
                job = TestJob(root=str(self.root), kind=suite.kind, name=suite.name, files=(suite.path,),
                              lib=self.manifest.lib, stubs=() if suite.whole else self.stubs(),
                              records=self.records(reach), timeout=max(self.modules[n].timeout for n in reach)
                              if reach else 120.0, pending=self.pending(reach))
                run = action(TEST, job)
            yield {
                "name": layout.suite_name(suite.name),
                "doc": f"pytest {suite.path} (modules: {'all' if suite.whole else ', '.join(reach)})",
                "actions": [run],
                "file_dep": files,
                "task_dep": task_dep,
                "targets": [layout.result(suite.kind, suite.name)],
                "uptodate": [self._passed(layout.result(suite.kind, suite.name)),
                             self._intact(layout.result(suite.kind, suite.name)),
                             config_changed({"reach": reach, "code": version(TEST), "pytest": settings})],
                "clean": True,
            }

    def smoke_files(self) -> list[str]:
        """The smoke suite: tests/validation/test_*.py (none is fine: the package is then imported only)."""
        return sorted(p.relative_to(self.root).as_posix() for p in (self.root / "tests" / "validation").glob("test_*.py"))

    def task_smoke(self) -> TaskDict:
        """the quick check: export and import every module, then the smoke suite against the assembled package"""
        from doit.tools import config_changed

        from tasks.steps.testing import TestJob

        files = self.smoke_files()
        names = list(self.modules)
        job = TestJob(root=str(self.root), kind="smoke", name="smoke", files=tuple(files), lib=self.manifest.lib,
                      stubs=(), records=self.records(names), timeout=max(m.timeout for m in self.manifest.modules),
                      import_package=self.manifest.package)
        return {
            "actions": [action(TEST, job)],
            "file_dep": [*files, *self.package_files()],
            "task_dep": ["init"],  # init runs after every check:<m>, which runs after export:<m>
            "targets": [layout.SMOKE_RESULT],
            "uptodate": [config_changed({"files": files, "code": version(TEST)})],
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


def _student_stubs(root: Path) -> dict[str, tuple[str, ...]]:
    from tasks.student.progress import read_record

    return {name: tuple(entry.get("stubs", ())) for name, entry in read_record(root).get("modules", {}).items()}
