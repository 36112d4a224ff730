"""The task list: what `dodo.py` declares, what loading it costs, and doit's own commands on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO, Course

HEAVY = ("nbdev", "jupytext", "numpy", "coverage", "pytest", "griffe", "build", "fastcore", "distributed", "dask", "tqdm")


def test_loading_the_task_list_imports_nothing_heavy(course: Course) -> None:
    code = (
        "import runpy, sys\n"
        "from doit.cmd_base import ModuleTaskLoader\n"
        "from doit.loader import load_tasks\n"
        "ns = runpy.run_path('dodo.py')\n"
        "tasks = load_tasks(ns)\n"
        f"print(len(tasks), sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=course.root, capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO), "PATH": ""}, check=True)
    count, heavy = out.stdout.split(" ", 1)
    assert int(count) > 20
    assert heavy.strip() == "[]"


def test_validate_one_module_from_a_clean_build_runs_only_its_closure(course: Course) -> None:
    run = course.doit("validate:model")
    assert run.code == 0
    # notebooks:<m> too: an edit saved in a module's paired notebook reaches its source before the export
    assert run.ran == {f"{s}:{m}" for s in ("notebooks", "export", "check", "test") for m in ("core", "ops", "model")}
    assert not course.path("build/lib/minitorch/core/leaf.py").exists()


def test_parallel_run_builds_the_same_package(course: Course, tmp_path: Path) -> None:
    out = course.cli("-n", "2")
    assert out.returncode == 0, out.stdout + out.stderr
    serial = Course(tmp_path / "serial")
    import shutil

    shutil.copytree(course.root, serial.root, ignore=shutil.ignore_patterns("build"))
    assert serial.doit().code == 0
    for rel in ("minitorch/__init__.py", "minitorch/core/model.py", "minitorch/core/leaf.py"):
        assert course.path(f"build/lib/{rel}").read_bytes() == serial.path(f"build/lib/{rel}").read_bytes()


def test_doit_list_shows_every_task_with_its_status(built: Course) -> None:
    out = built.cli("list", "--all", "-s")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for task in ("export:core", "notebooks:leaf", "check:ops", "test:model", "validate:model", "init",
                 "integration:ops_model", "system:package", "wheel", "verify", "api"):
        assert any(line.split()[1:2] == [task] for line in lines), task
    assert "U export:core" in lines[0:40] or any(line.startswith("U export:core") for line in lines)


def test_info_explains_why_a_task_would_run(built: Course) -> None:
    built.edit("tests/unit/test_leaf.py", "== 4.0", "== 4")
    out = built.cli("info", "test:leaf")
    assert out.returncode == 1  # doit info exits 1 when the task is not up to date
    assert "tests/unit/test_leaf.py" in out.stdout and "status     : run" in out.stdout


def test_generated_files_live_under_build_only(built: Course) -> None:
    before = {p.relative_to(built.root).as_posix() for p in built.root.rglob("*") if "build" not in p.parts}
    assert built.doit("wheel", "api").code == 0
    after = {p.relative_to(built.root).as_posix() for p in built.root.rglob("*") if "build" not in p.parts}
    assert after == before


def test_nbdev_config_files_are_not_read(course: Course) -> None:
    # nbdev 3 refuses to run when it finds an old settings.ini: the build must not look for one
    (course.root / "settings.ini").write_text("[DEFAULT]\nlib_name = other\n")
    run = course.doit("export")
    assert run.code == 0
    assert course.path("build/lib/minitorch/core/core.py").exists()
