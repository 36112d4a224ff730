"""Issue 15, item 6 loose end: one module's student code cannot forge ANOTHER module's verdict.

The build's records (build/results/, build/state/passed/, the state DB) are checked around every sandbox
child: a record the child wrote is removed (its task runs again) and the child's task fails naming it, in
the "changed course files; each was restored" form the grader flags as tampering (tasks.grade.worker)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

from conftest import BREAK_ADD, Course, make_course, table_rows

from tasks.grade.worker import restored_by_build

FORGE = '''\
import json
import pathlib

from minitorch.core.core import Value
from minitorch.core.leaf import double


def test_double():
    path = pathlib.Path("build/results/test/ops.json")
    forged = {"exit_code": 0, "passed": 2, "failed": 0, "errors": 0, "skipped": 0, "failures": [], "seconds": 0.1}
    path.write_text(json.dumps(forged))
    assert double(Value(2)).x == 4.0
'''


def test_a_test_of_leaf_that_forges_the_result_of_ops_is_caught(built: Course) -> None:
    built.edit("modules/02_ops/ops.py", *BREAK_ADD)  # ops fails now: its tests run before leaf's
    built.write("tests/unit/test_leaf.py", FORGE)
    run = built.cli()
    assert run.returncode != 0
    line = ("  build/results/test/ops.json: changed by tests/unit/test_leaf.py::test_double; a build record is not "
            "the tests' to write: it was removed, so its task runs again")
    assert f"the tests changed course files; each was restored:\n{line}\n" in run.stdout, run.stdout
    ops = built.path("build/results/test/ops.json")  # removed, or ops's own (failing) run wrote it afterwards
    assert not ops.exists() or json.loads(ops.read_text())["failed"] == 1  # was: "2 passed" for the grader
    rows = table_rows(run.stdout)
    assert rows["ops"].split()[-4:] == ["failed:", "test", "at", "modules/02_ops/ops.py:15"]
    assert rows["leaf"].split()[-4:] == ["failed:", "test", "at", "tests/unit/test_leaf.py:1"]
    assert restored_by_build({"message": run.stdout}) == ["build/results/test/ops.json"]  # the grader flags it
    built.write("tests/unit/test_leaf.py", "def test_fine():\n    pass\n")
    again = built.cli()
    assert ".  test:ops" in again.stdout  # ops is still failing, so tested again, and its record is its own
    assert json.loads(ops.read_text())["failed"] == 1


def test_a_test_that_only_reads_the_results_is_fine(built: Course) -> None:
    built.write("tests/unit/test_leaf.py", FORGE.replace("    path.write_text(json.dumps(forged))\n",
                                                         "    assert path.read_text()\n"))
    run = built.cli()
    assert run.returncode == 0, run.stdout
    assert "a build record" not in run.stdout


# a submission whose ops is wrong and whose leaf, once its tests import it, writes ops a passing result
FORGE_FROM_SOURCE = '''
# %%
#| export
import json as _json
import pathlib as _p
import sys as _sys

if "pytest" in _sys.modules:
    _p.Path("build/results/test/ops.json").write_text(_json.dumps(
        {"exit_code": 0, "passed": 2, "failed": 0, "errors": 0, "skipped": 0, "failures": [], "seconds": 0.1}))
'''


def test_a_submission_that_forges_another_modules_result_is_flagged_by_the_grader(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    sub = tmp_path / "submissions" / "pat"
    shutil.copytree(course.root / "modules", sub / "modules")
    ops, leaf = sub / "modules/02_ops/ops.py", sub / "modules/04_leaf/leaf.py"
    ops.write_text(ops.read_text().replace(*BREAK_ADD))
    leaf.write_text(leaf.read_text() + FORGE_FROM_SOURCE)
    run = course.cli("grade", "--submissions", str(tmp_path / "submissions"), timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {r["item"]: r for r in csv.DictReader(io.StringIO(course.read("build/grades/grades.csv")))}
    assert rows["ops"]["status"] == "tampered", rows  # was: "failing", the forgery unnoticed
    assert "build/results/test/ops.json" in rows["ops"]["reason"], rows["ops"]["reason"]



# a student's leaf that fails, once its tests import it, unless the grader's build keeps no rewritten tests
PROBE_REWRITES = '''
# %%
#| export
import os as _os
import pathlib as _p

if _os.environ.get("COURSE_UNTRUSTED") != "1" or _p.Path("build/state/pytest-rewrites").exists():
    raise RuntimeError("this build keeps rewritten tests where untrusted code can write")
'''


def test_untrusted_code_gets_no_kept_test_rewrites_to_plant_a_passing_test_in(tmp_path: Path) -> None:
    # a child that can write build/state/pytest-rewrites can leave another module's test file rewritten to
    # pass (pytest checks only the source's hash), so the build the grader runs keeps none
    course = make_course(tmp_path)
    assert course.cli(env={"COURSE_UNTRUSTED": "1"}).returncode == 0
    assert not course.path("build/state/pytest-rewrites").exists()
    shutil.rmtree(course.path("build"))
    assert course.cli().returncode == 0
    assert course.path("build/state/pytest-rewrites").exists()  # a trusted build keeps them
    sub = tmp_path / "submissions" / "pat"
    shutil.copytree(course.root / "modules", sub / "modules")
    leaf = sub / "modules/04_leaf/leaf.py"
    leaf.write_text(leaf.read_text() + PROBE_REWRITES)
    graded = course.cli("grade", "--submissions", str(tmp_path / "submissions"), timeout=600)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    rows = {r["item"]: r for r in csv.DictReader(io.StringIO(course.read("build/grades/grades.csv")))}
    assert rows["leaf"]["status"] == "done", rows["leaf"]
