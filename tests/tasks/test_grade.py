"""`doit grade`: fixture submissions of the sample course, graded for real, with exact gradebook rows."""

from __future__ import annotations

import collections
import csv
import io
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Course, make_course

from tasks.core import layout
from tasks.grade.isolate import probe

OPS = "modules/02_ops/ops.py"
LEAF = "modules/04_leaf/leaf.py"
CORE = "modules/01_core/core.py"
HIDDEN = """
### BEGIN HIDDEN TESTS
def test_mul_negative():
    assert mul(Value(-2), Value(3)).x == -6.0
### END HIDDEN TESTS
"""
# a student's code that writes a result of its own into the grader's channel (its ancestor's stdout)
FORGE = '''
# %%
#| export
import os as _os


def _forge() -> None:
    pid = _os.getpid()
    while pid > 0:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"tasks.grade.agent" in f.read():
                with open(f"/proc/{pid}/fd/1", "w") as out:
                    out.write('{"body": {"modules": [], "suites": []}, "mac": "0"}\\n')
                return
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])


_forge()
'''
TAMPER_TESTS = '''
# %%
#| export
import pathlib as _p

_p.Path("tests/unit/test_core.py").write_text("def test_value():\\n    pass\\n")
'''
FORK = '''
import os as _os
import time as _time


def double(v: Value) -> Value:
    """2 * v, after forking without end"""
    while True:
        if _os.fork() == 0:
            _time.sleep(60)
            _os._exit(0)
'''
PRINT = '''
def double(v: Value) -> Value:
    """2 * v, after printing without end"""
    while True:
        print("x" * 10000)
'''


def _zip(folder: Path, dest: Path, extra: dict[str, bytes] | None = None) -> None:
    with zipfile.ZipFile(dest, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, f"{folder.name}/{p.relative_to(folder).as_posix()}")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)


def _tar(folder: Path, dest: Path) -> None:
    with tarfile.open(dest, "w:gz") as tf:
        tf.add(folder, arcname=".")


class Class:
    """An instructor's course and a folder of student submissions made from it."""

    def __init__(self, tmp: Path) -> None:
        self.course = make_course(tmp)
        c = self.course
        c.edit("modules.yaml", "timeout: 60", "timeout: 8")
        c.write("modules.yaml", c.read("modules.yaml") + "\ngrading:\n  hidden_tests: names\n"
                "  points: {core: 10, ops: 20, model: 30, leaf: 10}\n")
        c.write("tests/unit/test_ops.py", c.read("tests/unit/test_ops.py") + HIDDEN)
        self.subs = tmp / "submissions"
        self.subs.mkdir()
        self.reference = tmp / "reference"
        shutil.copytree(c.root / "modules", self.reference / "modules")

    def student(self, name: str, *edits: tuple[str, str, str]) -> Path:
        """A folder submission: the reference sources with `edits` ((path, old, new); old '' appends)."""
        dest = self.subs / name
        shutil.copytree(self.reference, dest)
        for rel, old, new in edits:
            text = (dest / rel).read_text(encoding="utf-8")
            assert old in text, (old, rel)
            (dest / rel).write_text(text + new if not old else text.replace(old, new, 1), encoding="utf-8")
        return dest

    def grade(self, *args: str, env: dict[str, str] | None = None) -> Run:
        out = self.course.cli("grade", "--submissions", str(self.subs), *args, timeout=600, env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        return Run(self.course, out.stdout, out.stderr)


@dataclass
class Run:
    course: Course
    out: str
    err: str

    @property
    def rows(self) -> dict[tuple[str, str], tuple[str, ...]]:
        text = self.course.read("build/grades/grades.csv")
        return {(r["student"], r["item"]): (r["status"], r["passed"], r["total"], r["points"], r["reason"])
                for r in csv.DictReader(io.StringIO(text))}

    def student(self, name: str) -> dict[str, str]:
        return {item: row[0] for (s, item), row in self.rows.items() if s == name}

    @property
    def ran(self) -> list[str]:
        return [ln.split()[-1] for ln in self.out.splitlines() if ln.startswith(".  grade:")]


SUITES = ("integration:leaf_core", "integration:ops_model", "system:package")
MUL = "return Value(a.x * b.x)"
STUB = 'raise NotImplementedError("write add")'


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Class, Run]]:
    k = Class(tmp_path_factory.mktemp("grade"))
    k.student("alice")
    _zip(k.student("bob", (OPS, MUL, "return Value(a.x + b.x)")), k.subs / "bob.zip")
    shutil.rmtree(k.subs / "bob")
    _tar(k.student("carol", (OPS, "return Value(a.x + b.x)", 'raise NotImplementedError("write add")'),
                   (OPS, MUL, 'raise NotImplementedError("write mul")')), k.subs / "carol.tar.gz")
    shutil.rmtree(k.subs / "carol")
    (k.student("dave") / LEAF).unlink()
    k.student("erin", (OPS, MUL, "while True:\n        pass"))
    k.student("frank", (LEAF, "", FORGE))
    k.student("gina", (CORE, "", TAMPER_TESTS))
    k.student("hank", (LEAF, 'def double(v: Value) -> Value:\n    """2 * v"""\n    return Value(2 * v.x)', ""))
    (k.subs / "ivan").mkdir()
    (k.subs / "ivan" / "notes.txt").write_text("my homework\n")
    _zip(k.reference, k.subs / "judy.zip", {"../escape.py": b"print('out')\n"})
    ken = k.student("ken")
    (ken / CORE).unlink()
    (ken / CORE).symlink_to("/etc/passwd")
    leo = k.student("leo")
    (leo / LEAF).write_bytes((leo / LEAF).read_bytes() + b"#" * (2 << 20))
    mia = k.student("mia")
    (mia / OPS).write_bytes((mia / OPS).read_bytes().replace(b"a + b", b"a \xe9 b"))
    k.student("nick", (LEAF, 'def double(v: Value) -> Value:\n    """2 * v"""\n    return Value(2 * v.x)', FORK))
    k.student("olga", (LEAF, 'def double(v: Value) -> Value:\n    """2 * v"""\n    return Value(2 * v.x)', PRINT))
    k.student("pia", (LEAF, "return Value(2 * v.x)", 'raise NotImplementedError("write double")'),
              (LEAF, "", "\n# %%\n#| export\nTWO = double(Value(1))\n"))
    (k.subs / "not an id!").mkdir()
    yield k, k.grade()


def test_every_status_has_its_exact_gradebook_rows(graded: tuple[Class, Run]) -> None:
    _, run = graded
    rows = run.rows
    for item, total, points in (("core", "1", "10"), ("ops", "3", "20"), ("model", "1", "30"), ("leaf", "1", "10")):
        assert rows["alice", item] == ("done", total, total, points, f"{total} of {total} tests passed")
    for suite in SUITES:
        assert rows["alice", suite] == ("done", "1", "1", "", "1 of 1 tests passed")
    assert rows["bob", "ops"] == ("failing", "1", "3", "6.67",
                                  "2 of 3 tests failed; first: tests/unit/test_ops.py::test_mul")
    # model needs ops, which fails: its tests are not run against a broken dependency (the edit-loop rule)
    # blocked is todo (it cannot be graded yet), never error; the reason names what blocks it
    assert rows["bob", "model"] == ("todo", "0", "0", "0", "not tested: depends on ops, which does not pass")
    assert rows["bob", "integration:ops_model"] == ("todo", "0", "0", "", "not run: it needs ops, which does not pass")
    assert rows["bob", "integration:leaf_core"] == ("done", "1", "1", "", "1 of 1 tests passed")
    assert rows["bob", "system:package"] == ("todo", "0", "0", "", "not run: it needs ops, which does not pass")
    assert rows["erin", "ops"][0] == "timeout"
    # placed at the line the hanging test loops on, with the test's name (the edit-loop blame)
    assert rows["erin", "ops"][4].startswith("modules/02_ops/ops.py:")
    assert "test:ops: tests/unit/test_ops.py::test_mul did not finish within 8 s" in rows["erin", "ops"][4]
    assert run.student("frank") == {item: "tampered" for item in ("core", "ops", "model", "leaf", *SUITES)}
    # it forged once per process that imported it: check:leaf, test:leaf, integration:leaf_core, system:package
    assert rows["frank", "core"][4] == ("the result channel was written to by the submission's code "
                                        "(4 unsigned or forged messages); its results are not trusted")


def test_todo_is_a_stub_that_raises_not_implemented(graded: tuple[Class, Run]) -> None:
    _, run = graded
    status, passed, total, points, reason = run.rows["carol", "ops"]
    assert (status, passed, points) == ("todo", "0", "0")
    assert reason == f"not written yet: {total} of {total} tests reach NotImplementedError"
    assert run.rows["carol", "core"][0] == "done"
    # what waits for a stub is todo too, and says what it waits for
    assert run.rows["carol", "model"] == ("todo", "0", "0", "0", "waiting for ops")
    assert run.rows["carol", "integration:ops_model"] == ("todo", "0", "0", "", "waiting for ops")
    assert run.rows["carol", "system:package"] == ("todo", "0", "0", "", "waiting for ops")
    assert run.rows["carol", "integration:leaf_core"] == ("done", "1", "1", "", "1 of 1 tests passed")


def test_a_stub_called_at_import_is_todo_not_an_import_error(graded: tuple[Class, Run]) -> None:
    _, run = graded
    status, passed, total, points, reason = run.rows["pia", "leaf"]
    assert (status, passed, total, points) == ("todo", "0", "0", "0")
    assert reason.startswith("not written yet: importing it reaches NotImplementedError ("), reason
    assert run.rows["pia", "integration:leaf_core"] == ("todo", "0", "0", "", "waiting for leaf")
    assert run.rows["pia", "ops"][0] == "done"


def test_changing_the_instructors_tests_is_tampering(graded: tuple[Class, Run]) -> None:
    _, run = graded
    if probe().uid:  # the instructor's files belong to the grader: the write fails, the module errors
        assert run.rows["gina", "core"][0] == "error"
    else:
        assert run.student("gina") == {item: "tampered" for item in ("core", "ops", "model", "leaf", *SUITES)}
        assert run.rows["gina", "core"][4] == ("the submission's code changed the instructor's "
                                               "tests/unit/test_core.py; its results are not trusted")


def test_bad_input_is_reported_and_the_rest_is_graded(graded: tuple[Class, Run]) -> None:
    _, run = graded
    rows = run.rows
    assert rows["dave", "leaf"] == ("error", "0", "0", "0", f"{LEAF}: missing from the submission")
    assert rows["dave", "core"][0] == "done"
    assert rows["ivan", "core"] == ("error", "0", "0", "0", f"ivan: not a course repository (no modules.yaml and "
                                    f"none of the module sources, e.g. {CORE}); submit the whole repository folder")
    assert rows["judy", "ops"] == ("error", "0", "0", "0", "judy.zip: entry '../escape.py' points outside the "
                                   "submission's folder; archive the repository from inside it")
    assert rows["ken", "core"] == ("error", "0", "0", "0", f"{CORE}: a symbolic link out of the submission "
                                   "(to /etc/passwd); submit the file itself")
    # it imports core, which is not graded: blocked, so todo, and the reason says why
    assert rows["ken", "ops"] == ("todo", "0", "0", "0", "not tested: depends on core, which does not pass")
    size = (2 << 20) + len((graded[0].reference / LEAF).read_bytes())
    assert rows["leo", "leaf"] == ("error", "0", "0", "0",
                                   f"{LEAF}: {size} bytes, over the 1048576 byte limit for a module source")
    assert rows["leo", "ops"][0] == "done"
    line = (graded[0].reference / OPS).read_text().splitlines().index('    """a + b"""') + 1
    assert rows["mia", "ops"] == ("error", "0", "0", "0",
                                  f"{OPS}:{line}: not valid UTF-8 (byte 0xe9); save the file as UTF-8")
    assert rows["not an id!", ""] == ("error", "0", "0", "", "not an id!: 'not an id!' is not a usable student id "
                                      "(letters, digits, '_', '-', '.'; starting with a letter or digit)")


def test_hostile_code_is_contained_and_marked(graded: tuple[Class, Run]) -> None:
    _, run = graded
    assert run.rows["nick", "leaf"][0] in ("failing", "error", "timeout"), run.rows["nick", "leaf"]
    # printing without end: a write past the file-size limit fails the test, or the time limit stops it
    assert run.rows["olga", "leaf"][0] in ("failing", "timeout"), run.rows["olga", "leaf"]
    assert run.rows["hank", "leaf"] == ("failing", "0", "1", "0", "1 of 1 tests failed; first: tests/unit/test_leaf.py")
    for student in ("nick", "olga"):
        assert run.rows[student, "core"][0] == "done", "a hostile module must not spoil the others"
    assert not list(Path(graded[0].course.root, "build/grades/scratch").glob("*")), "scratch trees are removed"


def test_feedback_shows_visible_tests_in_full_and_hidden_tests_by_name(graded: tuple[Class, Run]) -> None:
    k, _ = graded
    text = k.course.read("build/grades/feedback/bob.md")
    assert "### tests/unit/test_ops.py::test_mul\n\nat `tests/unit/test_ops.py:10`: assert 6.0 == 8.0" in text
    assert "- hidden test failed: `test_mul_negative`" in text
    assert "| model | todo | 0/0 | not tested: depends on ops, which does not pass |" in text  # why it is blocked
    assert "assert mul(Value(-2), Value(3))" not in text, "a hidden test's code leaked into the feedback"


def test_grades_json_has_a_schema_version_and_a_summary(graded: tuple[Class, Run]) -> None:
    k, run = graded
    book = json.loads(k.course.read("build/grades/grades.json"))
    assert book["schema_version"] == 1
    assert book["items"] == ["core", "ops", "model", "leaf", *SUITES]
    assert book["summary"]["core"]["done"] == sum(1 for s in book["students"]
                                                  if s["rows"] and s["rows"][0]["status"] == "done")
    assert "pids cgroup" in " ".join(book["isolation"]["active"]) or book["isolation"]["missing"]
    assert "isolation: scratch tree; private HOME/TMPDIR" in run.out
    assert "grading on" in run.err  # the progress bar


def test_a_resubmission_regrades_only_that_student(tmp_path: Path) -> None:
    k = Class(tmp_path)
    k.student("alice")
    k.student("bob", (OPS, MUL, "return Value(a.x + b.x)"))
    first = k.grade()
    assert sorted(first.ran) == ["grade:alice", "grade:bob", "grade:~gradebook"]
    assert first.rows["bob", "ops"][0] == "failing"
    again = k.grade()
    assert again.ran == ["grade:~gradebook"]
    k.student("bob2")  # bob resubmits the right code
    shutil.rmtree(k.subs / "bob")
    os.rename(k.subs / "bob2", k.subs / "bob")
    fixed = k.grade()
    assert fixed.ran == ["grade:bob", "grade:~gradebook"]
    assert fixed.rows["bob", "ops"][0] == "done"
    k.course.edit("tests/unit/test_ops.py", "== -6.0", "== -6.0  # fixed")  # a hidden test changes
    assert sorted(k.grade().ran) == ["grade:alice", "grade:bob", "grade:~gradebook"]


def _regraded(k: Class, student: str) -> list[str]:
    """The units the last run graded again for `student` (the others' rows were reused)."""
    return list(json.loads(k.course.read(f"build/grades/results/{student}.json"))["ran"])


EVERY = ["core", "ops", "model", "leaf", *SUITES]


def test_a_changed_test_file_regrades_only_its_module_and_what_it_blocked(tmp_path: Path) -> None:
    k = Class(tmp_path)
    k.student("alice")
    k.student("bob", (OPS, MUL, "return Value(a.x + b.x)"))
    first = k.grade()
    assert _regraded(k, "alice") == EVERY and _regraded(k, "bob") == EVERY
    k.course.edit("tests/unit/test_leaf.py", "== 4.0", "== 4.0, 'double of 2'")  # one module's test file
    again = k.grade()
    assert sorted(again.ran) == ["grade:alice", "grade:bob", "grade:~gradebook"]
    assert _regraded(k, "alice") == ["leaf"] and _regraded(k, "bob") == ["leaf"]
    assert again.rows == first.rows
    # a hidden test of ops is fixed: ops is graded again; what ops blocked (bob's) is too, what was tested is kept
    k.course.edit("tests/unit/test_ops.py", "== -6.0", "== -6.0  # fixed")
    fixed = k.grade()
    assert _regraded(k, "alice") == ["ops"]
    assert _regraded(k, "bob") == ["ops", "model", "integration:ops_model", "system:package"]
    assert fixed.rows == first.rows
    k.course.edit("tests/unit/test_ops.py", "== -6.0  # fixed", "== 6.0")  # a wrong hidden test blocks model
    wrong = k.grade()
    assert _regraded(k, "alice") == ["ops"]
    assert wrong.rows["alice", "ops"] == ("failing", "2", "3", "13.33",
                                          "1 of 3 tests failed; first: tests/unit/test_ops.py::test_mul_negative")
    for item in ("model", "integration:ops_model", "system:package"):
        assert wrong.rows["alice", item][0] == "todo", item
        assert wrong.rows["alice", item][4].endswith("ops, which does not pass"), item
    assert wrong.rows["alice", "leaf"] == first.rows["alice", "leaf"]
    k.course.edit("tests/unit/test_ops.py", "== 6.0", "== -6.0")  # fixed again: what ops blocked is graded again
    k.grade()
    assert _regraded(k, "alice") == ["ops", "model", "integration:ops_model", "system:package"]
    assert k.grade().rows == first.rows


def test_a_test_file_added_or_removed_is_graded_or_dropped_alone(tmp_path: Path) -> None:
    k = Class(tmp_path)
    k.student("alice")
    k.grade()
    k.course.path("tests/integration/test_leaf_core.py").unlink()
    gone = k.grade()
    assert _regraded(k, "alice") == []
    assert ("alice", "integration:leaf_core") not in gone.rows
    k.course.write("tests/integration/test_leaf_twice.py", "from minitorch.core.core import Value\n"
                   "from minitorch.core.leaf import double\n\n\ndef test_four():\n"
                   "    assert double(double(Value(1))).x == 4.0\n")
    added = k.grade()
    assert _regraded(k, "alice") == ["integration:leaf_twice"]
    assert added.rows["alice", "integration:leaf_twice"] == ("done", "1", "1", "", "1 of 1 tests passed")


def test_a_resubmission_regrades_only_what_it_changed(tmp_path: Path) -> None:
    k = Class(tmp_path)
    k.student("alice")
    k.student("bob", (OPS, MUL, "return Value(a.x + b.x)"))
    first = k.grade()
    shutil.copyfile(k.reference / OPS, k.subs / "bob" / OPS)  # bob fixes ops
    fixed = k.grade()
    assert fixed.ran == ["grade:bob", "grade:~gradebook"]
    assert _regraded(k, "bob") == ["ops", "model", "integration:ops_model", "system:package"]
    assert {i: r for (s, i), r in fixed.rows.items() if s == "bob"} == \
        {i: r for (s, i), r in first.rows.items() if s == "alice"}


def _tree(*folders: Path, leave: tuple[Path, ...] = ()) -> dict[str, tuple[int, int]]:
    """Every file under `folders` but those under `leave`: path -> (size, mtime)."""
    found = {}
    for folder in folders:
        for p in folder.rglob("*"):
            if p.is_file() and not any(p.is_relative_to(x) for x in leave):
                st = p.stat()
                found[str(p)] = (st.st_size, st.st_mtime_ns)
    return found


def test_the_grader_writes_only_under_build_grades(tmp_path: Path) -> None:
    k = Class(tmp_path)
    k.student("alice")
    k.student("bob", (OPS, MUL, "return Value(a.x + b.x)"))
    assert k.course.cli("validate").returncode == 0  # the instructor's own build exists beside the gradebook
    grades = k.course.path("build/grades")
    # doit's own record of the grade tasks, the one-run-at-a-time lock and the build system's parsed imports
    # (tasks.core.codeversion) are what any doit run writes
    db = (*k.course.root.glob("build/.doit.db*"), k.course.path("build/.lock"), k.course.path(layout.CODE_IMPORTS))
    before = _tree(k.course.root, k.subs, leave=(grades, *db))
    run = k.grade()
    after = _tree(k.course.root, k.subs, leave=(grades, *db))
    assert after == before
    # the instructor's paired notebooks (the reference's) are not copied beside the student's sources
    assert k.course.path("modules/02_ops/ops.ipynb").exists()
    assert run.rows["bob", "ops"] == ("failing", "1", "3", "6.67",
                                      "2 of 3 tests failed; first: tests/unit/test_ops.py::test_mul")
    assert sorted(p.name for p in grades.iterdir()) == ["feedback", "grades.csv", "grades.json", "index.html",
                                                         "results", "scratch"]
    assert list((grades / "scratch").iterdir()) == []


def _processes_under(folder: Path) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/cwd").startswith(str(folder)):
                found.append(int(pid))
        except OSError:
            pass
    return found


def test_an_interrupted_grade_leaves_nothing_running_and_resumes(tmp_path: Path) -> None:
    k = Class(tmp_path)
    k.student("alice")
    k.student("erin", (OPS, MUL, "while True:\n        pass"))  # hangs: still running when interrupted
    k.student("zoe")
    env = {**os.environ, "PYTHONPATH": str(k.course.build_system), "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "doit", "grade", "--submissions", str(k.subs)], cwd=k.course.root,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = k.course.path("build/grades/results/alice.json")
    deadline = time.monotonic() + 120
    while not first.exists():
        assert time.monotonic() < deadline and proc.poll() is None, "alice was never graded"
        time.sleep(0.2)
    assert not k.course.path("build/grades/results/erin.json").exists()
    proc.send_signal(signal.SIGINT)  # to doit alone: its pool, and each run, must die with it
    assert proc.wait(timeout=30) != 0
    deadline = time.monotonic() + 10
    while _processes_under(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_under(tmp_path) == []
    graded_at = first.stat().st_mtime_ns
    run = k.grade()
    assert first.stat().st_mtime_ns == graded_at, "alice was graded again"
    assert run.rows["alice", "ops"][0] == "done"
    assert run.rows["erin", "ops"][0] == "timeout"
    assert run.rows["zoe", "ops"][0] == "done"


def test_grading_on_a_dask_local_cluster_gives_the_same_rows(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed", reason="the [grade] extra (dask[distributed]) is not installed")
    k = Class(tmp_path)
    k.student("alice")
    k.student("bob", (OPS, MUL, "return Value(a.x + b.x)"))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  scheduler_port=0) as cluster:
        run = k.grade("--scheduler", cluster.scheduler_address)
    assert f"grading on {cluster.scheduler_address}" in run.err
    assert run.rows["alice", "ops"] == ("done", "3", "3", "20", "3 of 3 tests passed")
    assert run.rows["bob", "ops"] == ("failing", "1", "3", "6.67",
                                      "2 of 3 tests failed; first: tests/unit/test_ops.py::test_mul")


def test_doit_grade_without_submissions_says_how(course: Course) -> None:
    out = course.cli("grade")
    assert out.returncode != 0
    assert ("doit grade needs the folder of submissions: doit grade --submissions DIR "
            "(one repository or archive per student, named by student id)") in out.stdout + out.stderr


# -- what a person sees: the gradebook and `doit report`'s page in a real headless Chromium -------------------
def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("no chromium here (Debian: apt-get install chromium; .ci/run installs it)")
    return found


def _browse(page: Path, tmp: Path, *how: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"profile-{len(list(tmp.iterdir()))}"
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={profile}", *how, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


def _pixels(png: bytes) -> list[tuple[int, int, int]]:
    """The RGB pixels of an 8-bit RGB/RGBA PNG (as Chromium writes them), without an image library."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(png):
        size = struct.unpack(">I", png[pos:pos + 4])[0]
        kind, body = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + size]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            data += body
        pos += 12 + size
    raw, stride, out = zlib.decompress(data), width * channels, []
    prev = bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            pred = (0, a, b, (a + b) // 2, a + b - c)[f] if f < 4 else \
                min((a, b, c), key=lambda v: abs(a + b - c - v))  # Paeth, ties in a, b, c order
            line[i] = (line[i] + pred) & 0xFF
        out += [tuple(line[x:x + 3]) for x in range(0, stride, channels)]
        prev = line
    return out  # type: ignore[return-value]


def _hex(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_the_gradebook_page_shows_every_student_in_colour(graded: tuple[Class, Run], tmp_path: Path) -> None:
    from tasks.grade.gradebook import COLOURS

    k, run = graded
    page = k.course.path("build/grades/index.html")
    dom = _browse(page, tmp_path, "--dump-dom").stdout
    students = sorted({s for s, _ in run.rows if s != "not an id!"})
    assert re.findall(r'<tr data-student="([^"]+)"', dom) == students
    assert '<th>done</th><td>' in dom and "not an id!" in dom  # the summary row, and what was not graded
    shot = tmp_path / "grades.png"
    _browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1400,1000")
    seen = collections.Counter(_pixels(shot.read_bytes()))
    for status in ("done", "failing", "todo", "error", "timeout", "tampered"):
        assert seen[_hex(COLOURS[status][0])] > 300, f"no {status} cell to be seen on the page"


def test_doit_reports_page_shows_its_modules_and_picture(built: Course, tmp_path: Path) -> None:
    from tasks.reports.picture import COLOURS

    assert built.cli("report").returncode == 0
    page = built.path("build/reports/index.html")
    dom = _browse(page, tmp_path, "--dump-dom").stdout
    assert re.findall(r'data-module="(\w+)"', dom) == ["core", "ops", "model", "leaf"]
    assert "<svg" in dom
    shot = tmp_path / "report.png"
    _browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1400,2000")
    seen = collections.Counter(_pixels(shot.read_bytes()))
    assert seen[_hex(COLOURS["passed"][0])] > 300, "the picture's passed modules are not to be seen"
