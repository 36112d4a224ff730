"""Issue 15, items 1, 6 and 13: the tree lock cannot be left stale, bypassed, or misread."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from conftest import Course, cli_mounted
from runs import Live

from tasks.core.errors import BuildError
from tasks.safety.lock import TreeLock, timeout_from_env

SLOW_TEST = "import time\n\n\ndef test_slow():\n    time.sleep(60)\n"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[-1].startswith("Z")
    except OSError:
        return False


def _tree(pid: int) -> list[int]:
    from tasks.sandbox.proc import descendants

    return descendants(pid)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGHUP], ids=["kill -9", "SIGHUP"])
def test_item1_killing_a_parallel_run_leaves_the_tree_unlocked(built: Course, how: signal.Signals) -> None:
    built.write("tests/unit/test_leaf.py", SLOW_TEST)
    built.write("tests/unit/test_model.py", SLOW_TEST)
    first = Live(built, "-n", "2")
    first.wait_for(".  test:", timeout=60)
    time.sleep(1.5)  # the workers' sandbox children are running the slow tests
    below = _tree(first.pid)
    assert len(below) >= 2, below
    first.proc.send_signal(how)
    first.finish(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in below):
        time.sleep(0.1)
    assert [p for p in below if _alive(p)] == []  # no worker, no student process survives its run
    start = time.monotonic()
    built.write("tests/unit/test_leaf.py", "def test_fast():\n    pass\n")
    built.write("tests/unit/test_model.py", "def test_fast():\n    pass\n")
    second = built.cli(env={"TINYTORCH_LOCK_TIMEOUT": "5"})
    assert "waiting for another doit run" not in second.stderr  # was: 30 min, then "pid N" of a dead run
    assert second.returncode == 0, second.stderr
    assert time.monotonic() - start < 60


def test_item6_rm_rf_build_does_not_let_a_second_run_in(built: Course) -> None:
    holder = TreeLock(built.root)
    assert holder.try_acquire()
    try:
        shutil.rmtree(built.root / "build")  # the README's rebuild recipe, while a run holds the lock
        assert not TreeLock(built.root).try_acquire()
        run = built.cli(env={"TINYTORCH_LOCK_TIMEOUT": "0.5"})
        assert run.returncode == 3 and "was still running after this one waited 0.5 s" in run.stderr
    finally:
        holder.release()


def test_item13_a_run_that_waited_does_not_claim_build_is_missing(course: Course) -> None:
    holder = TreeLock(course.root)
    assert holder.try_acquire()
    shutil.rmtree(course.root / "build")  # the first run starts from nothing
    waiting = Live(course)
    try:
        waiting.wait_for("note: waiting for another doit run", stream="err", timeout=30)
        (course.root / "build" / "state").mkdir(parents=True, exist_ok=True)  # the first run built the tree
    finally:
        holder.release()
    assert waiting.finish(timeout=300) == 0, waiting.stderr
    assert "does not exist: building everything" not in waiting.stderr


@pytest.mark.parametrize(("value", "message"), [
    ("nan", "TINYTORCH_LOCK_TIMEOUT='nan' is not a number of seconds between 0 and 604800; write e.g. "
            "TINYTORCH_LOCK_TIMEOUT=60, or unset it to wait up to 1800 s"),
    ("abc", "TINYTORCH_LOCK_TIMEOUT='abc' is not a number of seconds between 0 and 604800; write e.g. "
            "TINYTORCH_LOCK_TIMEOUT=60, or unset it to wait up to 1800 s"),
    ("-1", "TINYTORCH_LOCK_TIMEOUT='-1' is not a number of seconds between 0 and 604800; write e.g. "
           "TINYTORCH_LOCK_TIMEOUT=60, or unset it to wait up to 1800 s"),
])
def test_item13_a_bad_lock_timeout_is_refused(monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    monkeypatch.setenv("TINYTORCH_LOCK_TIMEOUT", value)
    with pytest.raises(BuildError) as exc:
        timeout_from_env()
    assert str(exc.value) == message


def test_the_course_neutral_name_works_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TINYTORCH_LOCK_TIMEOUT", raising=False)
    monkeypatch.setenv("DOIT_LOCK_TIMEOUT", "7")
    assert timeout_from_env() == 7.0
    monkeypatch.setenv("TINYTORCH_LOCK_TIMEOUT", "3")
    assert timeout_from_env() == 3.0


def test_a_bad_lock_timeout_stops_doit_with_the_message(built: Course) -> None:
    run = built.cli(env={"TINYTORCH_LOCK_TIMEOUT": "nan"})
    assert run.returncode != 0
    assert "TINYTORCH_LOCK_TIMEOUT='nan' is not a number of seconds" in run.stderr
    assert "Traceback" not in run.stderr


def test_item9_a_read_only_build_gives_one_clear_message(built: Course) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes to directories without write permission; the read-only mount test below covers root")
    build = built.root / "build"
    os.chmod(build, 0o555)
    try:
        run = built.cli()
    finally:
        os.chmod(build, 0o755)
    assert run.returncode != 0
    assert "build/ cannot be written (Permission denied)" in run.stderr
    assert "Traceback" not in run.stderr


def test_item9_a_read_only_mounted_build_gives_one_clear_message_even_to_root(built: Course) -> None:
    ro = "mount --bind build build\nmount -o remount,ro,bind build"
    run = cli_mounted(built, ro)
    assert run.returncode == 3, run.stderr  # was: skipped as root, and a traceback for everyone else
    assert run.stderr == (
        "ERROR: build/ cannot be written (Read-only file system): doit keeps everything it generates there. "
        "It is on a read-only file system: remount it read-write, or point build/ at a writable disk "
        "(a symlink), then run doit again.\n")
    assert run.stdout == ""
    # reading commands still work, even when the build system's import cache must be made anew and cannot be kept
    built.path("build/state/code-imports.marshal").unlink(missing_ok=True)
    listed = cli_mounted(built, ro, "list")
    assert listed.returncode == 0 and "export" in listed.stdout, listed.stderr
