"""SPEC 6, interruptions: Ctrl-C, SIGTERM and kill -9 at various points; a lost, deleted or corrupt state.

Each case drives the real `doit` command line (signals need a real process) and
then checks that the next run converges: build/lib byte-identical to a clean
build's, no temporary file left, no traceback, and (Ctrl-C, SIGTERM) the tasks
that finished before the signal are not run again.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import sys
from pathlib import Path
from types import FrameType

import pytest
from conftest import Course
from runs import Live, ran_of, snapshot, strays

from tasks.safety import interrupts, recovery

STOPPED = (-signal.SIGINT, 128 + signal.SIGINT)  # KeyboardInterrupt ends Python by re-raising SIGINT


@pytest.fixture
def clean_lib(_built_template: Path) -> dict[str, bytes]:
    """build/lib of a clean build of the unchanged sample course."""
    return snapshot(_built_template)


def converges(course: Course, clean_lib: dict[str, bytes], not_again: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    """Run doit to completion; check it converged to the clean build. Returns its stderr."""
    again = course.cli()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Traceback" not in again.stderr
    assert not ran_of(again.stdout) & not_again, "tasks that had finished ran again"
    assert snapshot(course.root) == clean_lib
    assert strays(course.root) == []
    assert ran_of(course.cli().stdout) == set(), "a second run still had work to do"
    return again.stderr


@pytest.mark.parametrize(("signum", "during"), [
    (signal.SIGINT, "test:ops"),  # in a sandboxed child
    (signal.SIGTERM, "export:model"),  # in the doit process itself
])
def test_ctrl_c_and_sigterm_keep_finished_tasks(course: Course, clean_lib: dict[str, bytes],
                                                signum: int, during: str) -> None:
    live = Live(course)
    live.wait_for(f".  {during}")
    live.proc.send_signal(signum)
    code = live.finish()
    assert code in STOPPED, (code, live.stderr)
    name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
    assert f"note: doit was stopped ({name}). The tasks that finished are recorded" in live.stderr
    assert "Traceback" not in live.stderr
    assert strays(course.root) == []
    finished = set(live.ran[:-1])  # the last one was running when the signal came
    assert "export:core" in finished
    converges(course, clean_lib, not_again=finished)


@pytest.mark.parametrize("during", ["export:ops", "init"])
def test_kill_9_anywhere_converges_to_a_clean_build(course: Course, clean_lib: dict[str, bytes], during: str) -> None:
    live = Live(course)
    live.wait_for(f".  {during}")
    live.proc.kill()
    assert live.finish() == -signal.SIGKILL
    err = converges(course, clean_lib)
    assert "edited by hand" not in err


def test_kill_9_leftovers_are_swept(built: Course, clean_lib: dict[str, bytes]) -> None:
    # what a writer killed between creating its temporary file and renaming it leaves behind
    left = ["build/lib/minitorch/core/.ops.py.k2j4x9_a.tmp", "build/lib/minitorch/core/.ops.4242.export.py",
            "build/runner-abc123.json", "build/runner-abc123.json.4242.tmp", "build/state/exports/.ops.json.x1.tmp"]
    for rel in left:
        built.write(rel, "half")
    assert strays(built.root) == sorted(left)
    built.edit("modules/02_ops/ops.py", '"""a + b"""', '"""Return a + b."""')
    built.cli()
    built.edit("modules/02_ops/ops.py", '"""Return a + b."""', '"""a + b"""')
    converges(built, clean_lib)


def test_deleted_state_db_rebuilds_with_a_note(built: Course, clean_lib: dict[str, bytes]) -> None:
    before = {p: p.stat().st_mtime_ns for p in (built.root / "build/lib").rglob("*.py")}
    built.path("build/.doit.db").unlink()
    err = converges(built, clean_lib)
    assert "note: build/.doit.db (doit's record of finished tasks) is missing: every task runs once" in err
    assert "edited by hand" not in err
    # generated files that came out the same were not rewritten (their dependants' md5s still hold)
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_deleted_build_dir_rebuilds_with_a_note(built: Course, clean_lib: dict[str, bytes]) -> None:
    shutil.rmtree(built.path("build"))
    err = converges(built, clean_lib)
    assert "note: build/ does not exist: building everything from the sources." in err


def _garbage(db: Path) -> None:
    db.write_bytes(b"\x00\xffnot a database at all" * 50)


def _truncated(db: Path) -> None:
    db.write_bytes(db.read_bytes()[:1500])


def _bad_record(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("update doit set task_data = '{\"oops' where task_id = 'export:core'")
    conn.commit()
    conn.close()


def _wrong_schema(db: Path) -> None:
    db.unlink()
    conn = sqlite3.connect(db)
    conn.execute("create table doit (something text)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(("damage", "reason"), [
    (_garbage, "it is not an SQLite database"),
    (_truncated, "sqlite: "),
    (_bad_record, "a task record in it is not valid JSON"),
    (_wrong_schema, "sqlite: no such column: task_data"),
])
def test_corrupt_state_db_is_moved_aside_and_rebuilt(built: Course, clean_lib: dict[str, bytes], damage: object,
                                                     reason: str) -> None:
    db = built.path("build/.doit.db")
    damage(db)  # type: ignore[operator]
    damaged = db.read_bytes()
    err = converges(built, clean_lib)
    assert "warning: build/.doit.db (doit's record of finished tasks) was unreadable: " + reason in err
    assert "every task runs once to rebuild it" in err
    aside = list(built.path("build").glob(".doit.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == damaged  # kept for a post-mortem
    assert f"It was moved to build/{aside[0].name};" in err


@pytest.mark.parametrize("command", [["list", "--all", "-s"], ["info", "export:core"], ["help", "export"]])
def test_read_only_commands_survive_a_corrupt_db(built: Course, command: list[str]) -> None:
    _garbage(built.path("build/.doit.db"))
    run = built.cli(*command)
    assert run.returncode in (0, 1), run.stderr  # `info` answers 1 for a task that is not up to date
    assert "Traceback" not in run.stderr


def test_healthy_and_missing_dbs_pass_the_check(built: Course, tmp_path: Path) -> None:
    assert recovery.db_problem(built.path("build/.doit.db")) is None
    assert recovery.db_problem(tmp_path / "absent.db") is None
    (tmp_path / "empty.db").write_bytes(b"")
    assert recovery.db_problem(tmp_path / "empty.db") is None


def test_a_db_being_written_is_not_called_corrupt(built: Course) -> None:
    db = built.path("build/.doit.db")
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("begin exclusive")
    try:
        assert recovery.db_problem(db, timeout=0.1) is None
    finally:
        writer.execute("rollback")
        writer.close()


def _frame_in(filename: str, function: str) -> FrameType:
    code = compile(f"def {function}():\n    import sys\n    return sys._getframe()\n", filename, "exec")
    ns: dict[str, object] = {}
    exec(code, ns)
    frame: FrameType = ns[function]()  # type: ignore[operator]
    return frame


def test_a_signal_becomes_keyboard_interrupt() -> None:
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        interrupts._interrupt(signal.SIGTERM, sys._getframe())


@pytest.mark.parametrize(("filename", "function"), [
    ("/venv/site-packages/doit/dependency.py", "dump"),
    ("/venv/site-packages/doit/dependency.py", "close"),
    ("/venv/site-packages/doit/runner.py", "finish"),
])
def test_a_signal_while_doit_saves_its_state_waits_for_the_save(filename: str, function: str) -> None:
    interrupts._interrupt(signal.SIGTERM, _frame_in(filename, function))  # returns: no KeyboardInterrupt


def test_a_signal_in_a_function_of_the_same_name_elsewhere_still_stops() -> None:
    with pytest.raises(KeyboardInterrupt):
        interrupts._interrupt(signal.SIGINT, _frame_in("/course/modules/dump.py", "dump"))
