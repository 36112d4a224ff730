"""Issue 15, item 9 and two loose ends: environment faults (full disk, read-only build/, a state DB deleted
mid-run) and damaged result files. Each fault is made for real: a small tmpfs in a private mount namespace
(`unshare -m`, so a crashed test leaves no mount behind), a read-only bind mount, a real deletion."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Course, cli_mounted, table_rows
from runs import Live

from tasks.core import atomic
from tasks.core.errors import disk_full, unwritable_message
from tasks.safety.recovery import STRAY, db_problem


def test_item5_a_result_of_the_wrong_shape_makes_its_task_run_again(built: Course) -> None:
    result = built.path("build/results/test/core.json")
    data = json.loads(result.read_text())
    data["passed"] = "many"
    result.write_text(json.dumps(data))
    run = built.cli()
    assert run.returncode == 0, run.stderr
    assert ".  test:core" in run.stdout  # was: nothing ran, and the table showed core passed with no count
    assert ("note: build/results/test/core.json is not a result file of the shape doit writes (damaged or "
            "edited by hand): its task runs again to rewrite it.") in run.stderr
    assert json.loads(result.read_text())["passed"] == 1
    assert table_rows(run.stdout)["core"].split()[5] == "1/1"
    again = built.cli()
    assert ".  test:core" not in again.stdout and "not a result file" not in again.stderr


# sh, in the course root, inside the namespace: build/ becomes a small tmpfs holding the built tree, then the disk
# is filled up to FREE bytes
FULL_DISK = """\
saved="$(mktemp -d)"
cp -a build/. "$saved"/
mount -t tmpfs -o size=8m tmpfs build
cp -a "$saved"/. build/
rm -rf "$saved"
cat /dev/zero > build/.filler 2>/dev/null || true
truncate -s -{free} build/.filler
"""
# ... and after doit: what is in build/ (size and digest of every file) and whether the state DB is usable
LOOK = f"""\
"{sys.executable}" - "$OUT" <<'PY'
import hashlib, json, os, sys
from pathlib import Path
from tasks.safety.recovery import db_problem
files = {{p.as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in Path("build").rglob("*")
         if p.is_file() and p.name != ".filler"}}
def whole(p):
    try:
        if p.suffix == ".py":
            compile(p.read_bytes(), str(p), "exec")
        elif p.suffix in (".json", ".ipynb"):
            json.loads(p.read_bytes())
    except (SyntaxError, ValueError):
        return False
    return True
broken = sorted(f for f in files if not whole(Path(f)))
Path(sys.argv[1]).write_text(json.dumps({{"files": files, "broken": broken, "db": db_problem(Path("build/.doit.db"))}}))
PY
"""
STOPPED = re.compile(r"^error: (\S+) could not be written: the disk is full \(No space left on device\)\. doit stopped "
                     r"here; nothing was half-written and every earlier output is intact\. Free some space on that "
                     r"disk \(`doit clean` deletes what doit generated\), then run doit again\.$", re.M)
EDIT = ("        self.x = float(x)\n", "        self.x = float(x) + 0.0\n")  # exported code of core: everything re-runs


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (root / "build").rglob("*") if p.is_file()}


def _full_disk_run(course: Course, free: int, tmp: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    look = tmp / "after.json"
    run = cli_mounted(course, FULL_DISK.format(free=free), after=LOOK, env={"OUT": str(look)})
    assert look.exists(), run.stderr
    return run, json.loads(look.read_text())


@pytest.mark.parametrize("free", [4096, 12288])
def test_item1_a_full_disk_mid_run_stops_with_one_message_and_loses_nothing(
        built: Course, tmp_path: Path, free: int) -> None:
    assert built.cli().returncode == 0  # a tree built by the command line keeps its reserve
    built.edit("modules/01_core/core.py", *EDIT)
    before = _digests(built.root)
    run, after = _full_disk_run(built, free, tmp_path)
    out = run.stdout + run.stderr
    if run.returncode == 0:  # everything fitted but the state DB: the reserve paid for it, and the user is told
        assert "warning: the disk that holds build/ is full: doit spent its reserve (build/.reserve)" in run.stderr
    else:
        assert run.returncode == 1, out
        assert len(STOPPED.findall(out)) == 1, out  # was: 27 task tracebacks with wrong hints, then sqlite's
        assert "hint:" not in out and "FAILED" not in out
    assert "Traceback" not in out, out
    assert after["db"] is None  # doit's record of the run is intact (it saved what finished, in the reserve)
    files = after["files"]
    assert not [f for f in files if STRAY.match(Path(f).name) or f.startswith("build/.probe")]  # no partial file
    lost = [f for f in before if f not in files and f != "build/.reserve"]
    assert lost == []  # no earlier output destroyed
    assert after["broken"] == []  # every generated module compiles, every JSON file parses: old bytes or new


def test_item1_a_disk_already_full_stops_before_anything_runs(built: Course, tmp_path: Path) -> None:
    run, after = _full_disk_run(built, 0, tmp_path)
    assert run.returncode == 3
    assert run.stderr == (
        "ERROR: build/.lock could not be written: the disk is full (No space left on device). doit stopped here; "
        "nothing was half-written and every earlier output is intact. Free some space on that disk (`doit clean` "
        "deletes what doit generated), then run doit again.\n")
    assert not [f for f in after["files"] if STRAY.match(Path(f).name)]  # was: build/.lock.<pid>.tmp left behind


VERIFY_FULL = ("build/verify/venv/ could not be written: the disk is full (No space left on device) while "
               "minitorch-0.3.0-py3-none-any.whl was being verified in a fresh environment. The half-built environment "
               "was deleted. Free some space on that disk, then run `doit verify` again.")


def test_item2_a_full_disk_during_verify_leaves_no_half_built_venv(built: Course, tmp_path: Path) -> None:
    assert built.doit("wheel").code == 0
    look = tmp_path / "left.txt"
    # build/verify on its own 6 MB disk: a venv with pip needs more
    run = cli_mounted(built, "mkdir -p build/verify\nmount -t tmpfs -o size=6m tmpfs build/verify", "verify",
                      after='(find build/verify; df -k build/verify | tail -1) > "$OUT"', env={"OUT": str(look)})
    assert run.returncode == 1, run.stderr
    assert f"  {VERIFY_FULL}\n  hint: nothing is wrong with the course: free some space on the disk, then run doit " \
           "again\n" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    left = look.read_text().splitlines()
    assert left[:-1] == ["build/verify"]  # was: build/verify/venv, half-built, keeping the disk full
    assert left[-1].split()[2] == "0"  # nothing of it left on that disk (kB used)


DB_GONE = ("warning: build/.doit.db (doit's record of finished tasks) was deleted while this run was going on: a new "
           "one holds what this run checked and ran; any other task runs once on the next doit.")


@pytest.mark.parametrize("verdict", ["pass", "fail"])  # a failure makes doit delete the task's row at once
def test_item3_the_state_db_deleted_mid_run_is_made_again(built: Course, verdict: str) -> None:
    end = "" if verdict == "pass" else "    assert False\n"
    built.write("tests/unit/test_leaf.py", f"import time\n\n\ndef test_slow():\n    time.sleep(2)\n{end}")
    run = Live(built)
    run.wait_for(".  test:leaf", timeout=120)
    time.sleep(0.5)
    built.path("build/.doit.db").unlink()  # as `rm build/.doit.db` in another terminal
    code = run.finish(timeout=120)
    out = "\n".join(run.out) + run.stderr
    assert "Traceback" not in out  # was: sqlite3.OperationalError: attempt to write a readonly database
    assert (code == 0) == (verdict == "pass"), out
    assert run.stderr.count(DB_GONE) == 1, run.stderr
    assert db_problem(built.path("build/.doit.db")) is None
    again = built.cli()
    ran = [line for line in again.stdout.splitlines() if line.startswith(".  ")]
    assert ran == ([] if verdict == "pass" else [".  test:leaf"]), again.stdout  # the new DB knows this run's work
    assert "note: build/.doit.db" not in again.stderr


@pytest.mark.parametrize(("err", "message"), [
    (errno.EACCES, "build/ cannot be written (Permission denied): doit keeps everything it generates there. Make it "
                   "writable (chmod -R u+w build) or delete it, then run doit again."),
    (errno.EROFS, "build/ cannot be written (Read-only file system): doit keeps everything it generates there. It is "
                  "on a read-only file system: remount it read-write, or point build/ at a writable disk (a symlink), "
                  "then run doit again."),
    (errno.ENOSPC, "build/ could not be written: the disk is full (No space left on device). doit stopped here; nothing "
                   "was half-written and every earlier output is intact. Free some space on that disk (`doit clean` "
                   "deletes what doit generated), then run doit again."),
])
def test_an_unwritable_build_gets_the_fix_that_fits_its_cause(err: int, message: str) -> None:
    assert unwritable_message("build/", OSError(err, os.strerror(err))) == message


@pytest.mark.parametrize(("raised", "full"), [
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (sqlite3.OperationalError("database or disk is full"), True),
    (RuntimeError("wrapped"), False),
    (OSError(errno.EACCES, "Permission denied"), False),
])
def test_a_full_disk_is_known_however_it_is_raised(raised: BaseException, full: bool) -> None:
    assert disk_full(raised) is full
    try:
        try:
            raise raised
        except BaseException as inner:
            raise ValueError("a tool's own error") from inner
    except ValueError as outer:
        assert disk_full(outer) is full  # nbdev and coverage re-raise it as something else


def test_a_refused_atomic_write_names_the_target_not_its_temporary(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "m.py"
    target.write_bytes(b"old")

    def full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError) as exc:
        atomic.write_bytes(target, b"new")
    assert exc.value.errno == errno.ENOSPC and exc.value.filename == str(target)
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["m.py"]


def test_item1_a_full_disk_under_doit_n_2_fails_its_task_with_the_message(built: Course, tmp_path: Path) -> None:
    assert built.cli().returncode == 0
    built.edit("modules/01_core/core.py", *EDIT)
    look = tmp_path / "after.json"
    run = cli_mounted(built, FULL_DISK.format(free=4096), "-n", "2", after=LOOK, env={"OUT": str(look)})
    out = run.stdout + run.stderr
    assert "Traceback" not in out, out
    after = json.loads(look.read_text())
    assert after["broken"] == [] and after["db"] is None
    if run.returncode != 0:  # a worker cannot stop the run: its task fails with the message and the right hint
        assert ("could not be written: the disk is full (No space left on device). nothing was half-written and "
                "every earlier output is intact.") in out, out
        assert "  hint: nothing is wrong with the course: free some space on the disk, then run doit again" in out
