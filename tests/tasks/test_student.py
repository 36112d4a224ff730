"""`doit student` on the fixture course: proofs, progress in the student tree, archive, update."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, Course
from student_course import with_regions

ARCHIVE = "build/dist/minitorch-student-0.3.0.tar.gz"
CORE_STUB = ('        raise NotImplementedError("core.Value.__init__: not written yet '
             '(write it in modules/01_core/core.py)")')


def doit(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command line, with the build system found in `root` when it has one (a student tree)."""
    system = root if (root / "tasks").exists() else REPO
    env = {**os.environ, "PYTHONPATH": str(system), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "doit", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Course:
    """The fixture course with regions, after one successful `doit student`."""
    course = with_regions(tmp_path_factory.mktemp("released"))
    run = doit(course.root, "student")
    assert run.returncode == 0, run.stdout + run.stderr
    return course


def student_copy(released: Course, tmp_path: Path) -> Path:
    dest = tmp_path / "workspace"
    shutil.copytree(released.root / "build" / "student", dest)
    return dest


def table_state(out: str, module: str) -> str:
    row = next(line for line in out.splitlines() if line.split()[1:2] == [module] and line.split()[0].isdigit())
    return re.split(r"\s{2,}", row.strip())[-1]


def test_the_tree_is_complete_and_stubbed(released: Course) -> None:
    tree = released.root / "build" / "student"
    for rel in ("modules.yaml", "pyproject.toml", "dodo.py", "tasks/steps/regions.py", "README.md",
                ".student/release.json", "tests/unit/test_core.py", "tests/integration/test_leaf_core.py"):
        assert (tree / rel).is_file(), rel
    assert not (tree / "tests" / "tasks").exists() and not (tree / "build").exists()
    core = (tree / "modules/01_core/core.py").read_text()
    assert CORE_STUB in core.split("\n")
    assert "def __init__(self, x: float) -> None:" in core and "self.x = float(x)" not in core
    assert "test_value_from_int_is_float" not in (tree / "tests/unit/test_core.py").read_text()
    # the paired notebooks are ignored by the tree's own .gitignore; the build's folder .gitignore stays home
    assert (tree / ".gitignore").read_text().splitlines()[-4:] == [
        "/modules/01_core/core.ipynb", "/modules/02_ops/ops.ipynb", "/modules/03_model/model.ipynb",
        "/modules/04_leaf/leaf.ipynb"]
    assert (released.root / "modules/01_core/.gitignore").is_file() and not (tree / "modules/01_core/.gitignore").exists()
    readme = (tree / "README.md").read_text()
    assert "0 of 4 done; next: core" in readme and "| 2 | ops | `modules/02_ops/ops.py` | core | 2 |" in readme


def test_instructor_export_has_no_marker_and_keeps_lines(released: Course) -> None:
    exported = (released.root / "build/lib/minitorch/core/ops.py").read_text()
    assert "### BEGIN SOLUTION" not in exported and "return Value(a.x * b.x)" in exported
    import json

    from tasks.steps.export import source_line

    record = json.loads((released.root / "build/state/exports/ops.json").read_text())
    gen = exported.split("\n").index("    return Value(a.x * b.x)") + 1
    src = released.read("modules/02_ops/ops.py").split("\n")
    line = source_line(record, gen)
    assert line is not None and src[line - 1] == "    return Value(a.x * b.x)"


def test_archive_is_byte_identical_across_runs(released: Course) -> None:
    first = hashlib.sha256((released.root / ARCHIVE).read_bytes()).hexdigest()
    run = doit(released.root, "student")
    assert run.returncode == 0, run.stdout
    assert hashlib.sha256((released.root / ARCHIVE).read_bytes()).hexdigest() == first
    assert f"sha256 {first}" in run.stdout


def _git(root: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "s", "GIT_AUTHOR_EMAIL": "s@x", "GIT_COMMITTER_NAME": "s", "GIT_COMMITTER_EMAIL": "s@x",
           "HOME": str(root.parent), "PATH": os.environ["PATH"]}
    return subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True, check=True).stdout


def test_fresh_student_tree_is_todo_and_exits_zero(released: Course, tmp_path: Path) -> None:
    ws = student_copy(released, tmp_path)
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-qm", "release")):
        _git(ws, *args)
    run = doit(ws)
    assert run.returncode == 0, run.stdout + run.stderr
    assert _git(ws, "status", "--porcelain", "--untracked-files=all") == ""  # paired notebooks, build/: ignored
    assert "0 of 4 done; next: core" in run.stdout
    assert table_state(run.stdout, "core") == "todo"
    assert table_state(run.stdout, "ops") == "waiting for core"
    assert "Traceback" not in run.stdout + run.stderr


def test_reference_solution_of_first_module_is_done(released: Course, tmp_path: Path) -> None:
    ws = student_copy(released, tmp_path)
    shutil.copy(released.root / "modules/01_core/core.py", ws / "modules/01_core/core.py")
    run = doit(ws)
    assert run.returncode == 0, run.stdout
    assert "1 of 4 done; next: ops" in run.stdout
    assert table_state(run.stdout, "core") == "done"
    assert table_state(run.stdout, "ops") == "todo"
    assert table_state(run.stdout, "model") == "waiting for ops"
    assert table_state(run.stdout, "leaf") == "todo"
    # half of ops written: in progress; the wheel is refused while anything is not done
    ops = ws / "modules/02_ops/ops.py"
    ops.write_text(ops.read_text().replace(
        '    raise NotImplementedError("ops.add: not written yet (write it in modules/02_ops/ops.py)")',
        "    return Value(a.x + b.x)"))
    run = doit(ws)
    assert run.returncode == 0 and table_state(run.stdout, "ops") == "in progress (1 of 2)", run.stdout
    wheel = doit(ws, "wheel")
    assert wheel.returncode != 0
    assert ("modules/02_ops/ops.py:20: ops is not done: 1 of 2 stubs not written yet\n"
            "modules/03_model/model.py:21: model is not done: 1 of 1 stubs not written yet\n"
            "modules/04_leaf/leaf.py:15: leaf is not done: 1 of 1 stubs not written yet\n"
            "the wheel is built from a finished course only: write these, then `doit wheel`") in wheel.stdout + wheel.stderr


def test_wrong_implementation_fails_at_its_line_and_dependants_wait(released: Course, tmp_path: Path) -> None:
    ws = student_copy(released, tmp_path)
    shutil.copy(released.root / "modules/01_core/core.py", ws / "modules/01_core/core.py")
    ops = ws / "modules/02_ops/ops.py"
    text = ops.read_text().replace(
        '    raise NotImplementedError("ops.add: not written yet (write it in modules/02_ops/ops.py)")',
        "    return Value(a.x - b.x)").replace(
        '    raise NotImplementedError("ops.mul: not written yet (write it in modules/02_ops/ops.py)")',
        "    return Value(a.x * b.x)")
    ops.write_text(text)
    run = doit(ws)
    assert run.returncode == 2  # doit's code for a failed task
    assert table_state(run.stdout, "ops") == "failing at tests/unit/test_ops.py:6"
    assert table_state(run.stdout, "model") == "waiting for ops"
    assert "1 of 4 done; next: ops" in run.stdout


def test_solution_line_leaked_into_markdown_is_caught(tmp_path: Path) -> None:
    course = with_regions(tmp_path)
    course.edit("modules/02_ops/ops.py", "# > Arithmetic on values.\n",
                "# > Arithmetic on values.\n#     return Value(a.x * b.x)\n")
    run = doit(course.root, "student")
    assert run.returncode != 0
    assert ("modules/02_ops/ops.py:4: (d) a solution line leaks into the student tree "
            "(build/student/modules/02_ops/ops.py:4): 'return Value(a.x * b.x)' is in the solution region at "
            "modules/02_ops/ops.py:23; remove it here or reword it") in run.stdout


def test_region_no_visible_test_reaches_is_reported_and_tree_kept(released: Course, tmp_path: Path) -> None:
    course = with_regions(tmp_path)
    course.edit("tests/unit/test_ops.py", "def test_mul():", "### BEGIN HIDDEN TESTS\ndef test_mul():")
    course.write("tests/unit/test_ops.py", course.read("tests/unit/test_ops.py") + "### END HIDDEN TESTS\n")
    (course.root / "build").mkdir()
    shutil.copytree(released.root / "build" / "student", course.root / "build" / "student")
    before = (course.root / "build/student/tests/unit/test_ops.py").read_text()
    run = doit(course.root, "student")
    assert run.returncode != 0
    assert ("modules/02_ops/ops.py:22: (c) the solution region of ops.mul is not reached by any visible test of "
            "ops (tests/unit/test_ops.py): its stub would pass unnoticed; add a visible test that calls it "
            "(a hidden one does not count), or remove the region") in run.stdout
    # a failed run leaves the previous tree as it was
    assert (course.root / "build/student/tests/unit/test_ops.py").read_text() == before
    assert not [p for p in (course.root / "build").iterdir() if p.name.startswith(".student")]


def test_update_keeps_edited_module_and_brings_new_test(released: Course, tmp_path: Path) -> None:
    ws = student_copy(released, tmp_path)
    mine = ws / "modules/01_core/core.py"
    mine.write_text(mine.read_text().replace(CORE_STUB, "        self.x = float(x)  # mine"))
    course = with_regions(tmp_path / "newer")
    course.write("tests/unit/test_leaf.py", course.read("tests/unit/test_leaf.py")
                 + "\n\ndef test_double_zero():\n    assert double(Value(0)).x == 0.0\n")
    course.edit("modules/01_core/core.py", '    """A number."""', '    """A number (a float)."""')
    dry = doit(course.root, "student", "--update", str(ws), "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "  would update   tests/unit/test_leaf.py" in dry.stdout
    assert "  keep     modules/01_core/core.py  (you edited it" in dry.stdout
    assert "test_double_zero" not in (ws / "tests/unit/test_leaf.py").read_text()
    run = doit(course.root, "student", "--update", str(ws))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "test_double_zero" in (ws / "tests/unit/test_leaf.py").read_text()
    assert "# mine" in mine.read_text()
    saved = list((ws / ".student" / "replaced").rglob("test_leaf.py"))
    assert len(saved) == 1 and "test_double_zero" not in saved[0].read_text()
    assert list((ws / ".student" / "replaced").rglob("core.py.new"))


def test_a_notebook_source_is_refused_with_the_file_and_the_fix(tmp_path: Path) -> None:
    from conftest import make_course

    course = make_course(tmp_path, "flatcourse")
    run = doit(course.root, "student")
    assert run.returncode != 0
    assert ("lessons/mlp.ipynb:cell 1:1: the student edition stubs percent (.py) sources only; make the notebook a "
            "'.py' source ('jupytext --to py:percent lessons/mlp.ipynb') and list that in modules.yaml: the build "
            "pairs it with a notebook again") in run.stdout + run.stderr, run.stdout
