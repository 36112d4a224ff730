"""SPEC 6, concurrent runs: a second `doit` in the same tree WAITS for the first (build/.lock).

It says so once, naming the first run's pid, and then finds the first run's work
recorded; after TINYTORCH_LOCK_TIMEOUT seconds it stops instead, touching nothing.
Read-only commands take no lock. A lock is never stale: the kernel drops it when
its holder dies, even by kill -9.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Course
from runs import Live, ran_of, snapshot

from tasks.safety.lock import LockTimeout, TreeLock

WAITING = "note: waiting for another doit run in this tree (pid {pid}) ..."


def test_second_run_waits_for_the_first_and_finds_its_work_done(course: Course, _built_template: Path) -> None:
    first = Live(course)
    first.wait_for(".  export:core")
    second = Live(course)
    second.wait_for(WAITING.format(pid=first.pid), stream="err", timeout=30)
    assert second.proc.poll() is None  # still waiting while the first runs
    assert first.finish() == 0, first.stderr
    assert second.finish() == 0, second.stderr
    assert second.stderr.count("waiting for another doit run") == 1  # said once, not once per poll
    assert second.ran == []  # everything the first did was recorded before the second looked
    assert "Traceback" not in first.stderr + second.stderr
    assert snapshot(course.root) == snapshot(_built_template)
    assert ran_of(course.cli().stdout) == set()  # the state DB is whole


def test_a_second_run_that_waited_too_long_stops_and_touches_nothing(built: Course) -> None:
    holder = TreeLock(built.root)
    assert holder.try_acquire()
    try:
        built.edit("modules/02_ops/ops.py", '"""a + b"""', '"""Return a + b."""')
        before = snapshot(built.root, "build")
        start = time.monotonic()
        run = built.cli(env={"TINYTORCH_LOCK_TIMEOUT": "0.5"})
        assert time.monotonic() - start < 20
        assert run.returncode == 3
        assert run.stdout == ""
        pid = os.getpid()
        assert run.stderr == (
            f"{WAITING.format(pid=pid)}\n"
            f"ERROR: build/.lock: another doit run in this tree (pid {pid}) was still running after this one waited "
            "0.5 s, so this one stopped without touching anything. Wait for it to finish, or stop it "
            f"(kill {pid}), then run doit again; set COURSE_LOCK_TIMEOUT to wait longer.\n")
        assert snapshot(built.root, "build") == before
    finally:
        holder.release()
    assert "export:ops" in ran_of(built.cli().stdout)


# (doit's `dumpdb` reads dbm files only, not the sqlite3 state DB: it is of no use here)
@pytest.mark.parametrize("command", [["list", "--all", "-s"], ["info", "export:core"], ["help", "export"]])
def test_read_only_commands_do_not_wait(built: Course, command: list[str]) -> None:
    holder = TreeLock(built.root)
    assert holder.try_acquire()
    try:
        run = built.cli(*command, env={"TINYTORCH_LOCK_TIMEOUT": "0"}, timeout=60)
    finally:
        holder.release()
    assert run.returncode in (0, 1), run.stderr  # `info` answers 1 for a task that is not up to date
    assert "waiting" not in run.stderr
    assert "Traceback" not in run.stderr


def test_ctrl_c_while_waiting_stops_cleanly(built: Course) -> None:
    holder = TreeLock(built.root)
    assert holder.try_acquire()
    try:
        waiting = Live(built)
        waiting.wait_for("note: waiting for another doit run", stream="err", timeout=30)
        waiting.proc.send_signal(signal.SIGINT)
        code = waiting.finish(timeout=30)
    finally:
        holder.release()
    assert code != 0
    assert "Traceback" not in waiting.stderr
    assert waiting.ran == []


def test_lock_of_a_killed_run_is_free_at_once(built: Course) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from tasks.safety.lock import TreeLock; "
         "assert TreeLock(Path(sys.argv[1])).try_acquire(); print('held', flush=True); time.sleep(600)",
         str(built.root)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(built.build_system)})
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert not TreeLock(built.root).try_acquire()
        holder.kill()
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    run = built.cli(env={"TINYTORCH_LOCK_TIMEOUT": "0"})
    assert run.returncode == 0, run.stderr
    assert "waiting" not in run.stderr


def test_parallel_run_holds_one_lock(course: Course, _built_template: Path) -> None:
    # `doit -n 2`: workers must not try to take the lock their parent holds
    run = course.cli("-n", "2", env={"TINYTORCH_LOCK_TIMEOUT": "5"})
    assert run.returncode == 0, run.stderr
    assert "waiting" not in run.stderr
    assert snapshot(course.root) == snapshot(_built_template)


def test_tree_lock_records_its_holder_and_is_released(tmp_path: Path) -> None:
    first, second = TreeLock(tmp_path), TreeLock(tmp_path)
    assert first.try_acquire() and first.held
    assert first.try_acquire()  # re-entrant for its holder
    assert (tmp_path / "build/.lock").read_text() == f"{os.getpid()}\n"
    assert second.holder() == str(os.getpid())
    assert not second.try_acquire()  # flock: a second open file of the same process is refused too
    with pytest.raises(LockTimeout, match=r"was still running after this one waited 0\.2 s"):
        second.acquire(0.2, stream=io.StringIO())
    first.release()
    assert not first.held
    second.acquire(0.2)
    assert second.held
    second.release()
