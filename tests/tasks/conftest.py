"""Fixtures for the build system's tests: a sample course copied to tmp_path, doit driven in-process."""

from __future__ import annotations

import functools
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from doit.cmd_base import ModuleTaskLoader
from doit.doit_cmd import DoitMain
from doit.reporter import ConsoleReporter

REPO = Path(__file__).resolve().parents[2]
# the sample courses' own tests run inside the courses, never as tests of the build system
collect_ignore = ["fixtures"]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


class RecordingReporter(ConsoleReporter):  # type: ignore[misc]
    """doit's console reporter that also records which tasks executed, failed or were skipped."""

    executed: list[str] = []
    failed: list[str] = []

    def execute_task(self, task: Any) -> None:
        RecordingReporter.executed.append(task.name)
        super().execute_task(task)

    def add_failure(self, task: Any, fail: Any) -> None:
        RecordingReporter.failed.append(task.name)
        super().add_failure(task, fail)


@dataclass
class Run:
    code: int
    executed: list[str]
    failed: list[str]
    out: str = ""
    err: str = ""

    @property
    def ran(self) -> set[str]:
        """Tasks that executed actions (the group tasks validate:*, integration, system left out)."""
        groups = {"export", "notebooks", "check", "test", "validate", "integration", "system"}
        return {t for t in self.executed if t not in groups and not t.startswith("validate:")}


@dataclass
class Course:
    """A copy of a sample course in a temporary directory."""

    root: Path
    runs: list[Run] = field(default_factory=list)

    def path(self, rel: str) -> Path:
        return self.root / rel

    def read(self, rel: str) -> str:
        return self.path(rel).read_text(encoding="utf-8")

    def write(self, rel: str, text: str) -> None:
        p = self.path(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")

    def edit(self, rel: str, old: str, new: str) -> None:
        text = self.read(rel)
        assert old in text, f"{old!r} not in {rel}"
        self.write(rel, text.replace(old, new, 1))

    def doit(self, *args: str, capsys: Any = None) -> Run:
        """Run doit in-process in the course directory; return which tasks executed."""
        RecordingReporter.executed = []
        RecordingReporter.failed = []
        code = drive(self.root, args, reporter=RecordingReporter)
        run = Run(code, list(RecordingReporter.executed), list(RecordingReporter.failed))
        self.runs.append(run)
        return run

    def cli(self, *args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real `doit` command line in the course directory."""
        full_env = {**os.environ, "PYTHONPATH": str(self.build_system), "NO_COLOR": "1", **(env or {})}
        return subprocess.run([sys.executable, "-m", "doit", *args], cwd=self.root, env=full_env,
                              capture_output=True, text=True, timeout=timeout)

    @property
    def build_system(self) -> Path:
        """Where the `tasks` package used by this course lives (a private copy if one was made)."""
        return self.root if (self.root / "tasks").exists() else REPO


def drive(root: Path, args: Sequence[str], manifest_errors: bool = False, **config: Any) -> int:
    """The one in-process doit driver: load root/dodo.py as doit does, update its DOIT_CONFIG, run `args`.

    `manifest_errors`: a manifest that does not load is printed as doit's command line prints it
    (exit 3) instead of raised.
    """
    from doit.exceptions import InvalidDodoFile

    old = os.getcwd()
    os.chdir(root)
    try:
        try:
            ns = runpy.run_path(str(root / "dodo.py"))
        except InvalidDodoFile as exc:
            if not manifest_errors:
                raise
            print(f"ERROR: {exc}", file=sys.stderr)
            return 3
        ns["DOIT_CONFIG"] = {**ns["DOIT_CONFIG"], **config}
        return int(DoitMain(ModuleTaskLoader(ns)).run(list(args)) or 0)  # some commands return None
    finally:
        os.chdir(old)


def status_run(course: Course, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run doit in-process with the course's own DOIT_CONFIG (so with its StatusReporter); return code and output.

    The reporter writes to doit's output file (`-o`; its default is the stdout doit saw when
    imported); what actions print goes to sys.stdout.
    """
    capsys.readouterr()
    log = course.root.parent / "doit-output.txt"
    code = drive(course.root, ["run", "-o", str(log), *args])
    return code, log.read_text(encoding="utf-8") + capsys.readouterr().out


def table_rows(out: str) -> dict[str, str]:
    """The status table's rows by module name."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("module "))
    rows = {}
    for line in lines[start + 2:]:
        parts = line.split()
        if len(parts) < 3 or not parts[0].isdigit() or parts[1] == "of":
            break
        rows[parts[1]] = line
    return rows


# edits of the sample course that break it, and where
BREAK_ADD = ('    return Value(a.x + b.x)', '    raise ValueError("add is broken")')  # modules/02_ops/ops.py:15
BREAK_EXPORT = ('def mul(a: Value, b: Value) -> Value:', 'def mul(a: Value, b: Value) -> Value')  # line 18


# a bare package for the sandbox tests: build/lib/pkg, a module pkg.m written by `module`
SANDBOX_IMPORT = ["import", "--lib", "build/lib", "--target", "pkg.m", "--stub", "pkg"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "build" / "lib" / "pkg").mkdir(parents=True)
    return tmp_path


def module(repo: Path, text: str) -> None:
    (repo / "build/lib/pkg/m.py").write_text(text)


def leftovers(repo: Path) -> list[str]:
    """What sandboxed runs left in build/ beyond the package and its bytecode (tasks.sandbox.bytecode)."""
    build = repo / "build"
    left = [p.name for p in build.iterdir() if p.name not in ("lib", "state")]
    if (build / "state").exists():
        left += [f"state/{p.name}" for p in (build / "state").iterdir() if p.name != "pycache"]
    return sorted(left)


def make_course(tmp_path: Path, name: str = "course", own_tasks: bool = False) -> Course:
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    shutil.copy(REPO / "dodo.py", root / "dodo.py")
    if own_tasks:
        shutil.copytree(REPO / "tasks", root / "tasks", ignore=shutil.ignore_patterns("__pycache__"))
    return Course(root)


@pytest.fixture
def course(tmp_path: Path) -> Iterator[Course]:
    """The sample course (modules core <- ops <- model, core <- leaf), not yet built."""
    yield make_course(tmp_path)


@pytest.fixture(scope="session")
def _built_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course = make_course(tmp_path_factory.mktemp("template"))
    run = course.doit()
    assert run.code == 0, run
    return course.root


@pytest.fixture
def built(tmp_path: Path, _built_template: Path) -> Course:
    """The sample course after one successful `doit` (a copy of a course built once per session)."""
    root = tmp_path / "course"
    shutil.copytree(_built_template, root, symlinks=True)
    return Course(root)


# -- environment faults made for real: mounts in a private mount namespace ---------------------------
_NAMESPACES = (["unshare", "--mount", "--propagation", "private"],
               ["unshare", "--mount", "--propagation", "private", "--map-root-user"])


@functools.cache
def mount_namespace() -> tuple[str, ...] | None:
    """The command prefix that runs a process in a private mount namespace where it may mount a tmpfs
    (`unshare -m`, as root or with a mapped root user), or None where this machine allows neither.
    The mounts vanish with the process, so a test that crashes leaves none behind."""
    probe = Path(tempfile.mkdtemp(prefix="mount-probe-"))
    try:
        for prefix in _NAMESPACES:
            if shutil.which(prefix[0]) is None:
                return None
            try:
                done = subprocess.run([*prefix, "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$1"', "sh", str(probe)],
                                      capture_output=True, timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if done.returncode == 0:
                return tuple(prefix)
        return None
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def needs_mounts() -> tuple[str, ...]:
    """`mount_namespace()`, or skip the test saying why."""
    prefix = mount_namespace()
    if prefix is None:
        pytest.skip("no private mount namespace here (`unshare -m` with a tmpfs mount failed as root and as a "
                    "mapped root user), so a full disk or a read-only build/ cannot be made for real")
    return prefix


def cli_mounted(course: Course, setup: str, *args: str, after: str = "", timeout: float = 300,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `doit` command line in `course` inside a private mount namespace: `setup` (sh, run in the
    course root) mounts what the test needs, `after` (sh, same namespace) looks at the result before the
    mounts vanish; the exit code is doit's."""
    prefix = needs_mounts()
    script = f'set -e\n{setup}\nset +e\n"$@"\nrc=$?\n{after}\nexit $rc\n'
    full_env = {**os.environ, "PYTHONPATH": str(course.build_system), "NO_COLOR": "1", **(env or {})}
    return subprocess.run([*prefix, "sh", "-c", script, "sh", sys.executable, "-m", "doit", *args], cwd=course.root,
                          env=full_env, capture_output=True, text=True, timeout=timeout)
