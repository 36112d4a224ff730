"""`doit watch` end to end, in a real subprocess: save, read the verdict, fix, read the green line, stop."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from conftest import Course
from runs import Live

from tasks.watch.command import Watched, settle

LEAF, NB, TEST = "modules/04_leaf/leaf.py", "modules/04_leaf/leaf.ipynb", "tests/unit/test_leaf.py"
GREEN = "status: 4 of 4 modules passed, 0 failed, 0 blocked, 0 stale, 0 not built"


def next_line(live: Live, prefix: str, after: int, timeout: float = 240) -> tuple[int, str]:
    """The first line of stdout after line `after` that starts with `prefix` (its index and text)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for i, line in enumerate(live.out[after:], start=after):
            if line.startswith(prefix):
                return i, line
        assert live.proc.poll() is None, "doit watch ended:\n" + "\n".join(live.out + live.err)
        time.sleep(0.05)
    shown = "\n".join(live.out[max(after - 5, 0):] + ["--- stderr:", *live.err])
    raise AssertionError(f"{prefix!r} never came after line {after} of {len(live.out)}:\n{shown}")


def save(course: Course, rel: str, old: str, new: str) -> None:
    """An editor's save: a temporary file renamed over the old one."""
    text = course.read(rel)
    assert old in text
    tmp = course.path(rel).with_name(f".{Path(rel).name}.swp")
    tmp.write_text(text.replace(old, new, 1), encoding="utf-8")
    tmp.replace(course.path(rel))


def processes_in(root: Path) -> list[str]:
    """Processes (other than this one) whose working directory is inside `root`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cwd == str(root) or cwd.startswith(f"{root}/"):
            found.append(f"{pid}: {args}")
    return found


def test_watch_shows_the_verdict_of_each_save_and_stops_cleanly(built: Course) -> None:
    live = Live(built, "watch")
    try:
        i, _ = next_line(live, "status: ", 0)
        # a broken function, saved in the source: its own verdict first, then a status line
        n = len(live.out)
        save(built, LEAF, "return Value(2 * v.x)", "return Value(3 * v.x)")
        i, verdict = next_line(live, "verdict leaf: ", n)
        assert verdict.startswith("verdict leaf: FAILED test:leaf at tests/unit/test_leaf.py:6"), verdict
        next_line(live, "status: 3 of 4 modules passed, 1 failed", i)
        # the fix, saved in the paired notebook, as a student in Jupyter does
        n = len(live.out)
        nb = json.loads(built.read(NB))
        for cell in nb["cells"]:
            cell["source"] = "".join(cell["source"]).replace("return Value(3 * v.x)", "return Value(2 * v.x)")
        built.write(NB, json.dumps(nb, indent=1))
        i, verdict = next_line(live, "verdict leaf: ", n)
        assert verdict.startswith("verdict leaf: ok, 1 tests passed, coverage 100.0%"), verdict
        next_line(live, GREEN, i)
        assert "return Value(2 * v.x)" in built.read(LEAF)
        # a broken manifest: shown, and the watch waits for the fix
        n = len(live.out)
        good = built.read("modules.yaml")
        built.write("modules.yaml", good.replace("depends: [core, ops]", "depends: [core, opz]"))
        i, error = next_line(live, "ERROR: modules.yaml is invalid; nothing was run.", n)
        next_line(live, "watch: waiting for a fix", i)
        n = len(live.out)
        built.write("modules.yaml", good)
        next_line(live, GREEN, n)
        # a test that hangs: stopped by its timeout (leaf's only: 3 s), and the watch goes on
        n = len(live.out)
        built.write("modules.yaml", good.replace("target: minitorch.core.leaf\n",
                                                 "target: minitorch.core.leaf\n    timeout: 3\n"))
        next_line(live, "status: ", n)
        n = len(live.out)
        # one line of loop, so the stack dumped before the kill is at a known line (tasks.steps.testing)
        save(built, TEST, "def test_double():", "def test_hang():\n    while True: pass\n\n\ndef test_double():")
        i, verdict = next_line(live, "verdict leaf: FAILED test:leaf at tests/unit/test_leaf.py:6", n)
        assert "did not finish within 3 s" in "\n".join(live.out[i:i + 4])
        next_line(live, "status: ", i)
        n = len(live.out)
        save(built, TEST, "def test_hang():\n    while True: pass\n\n\n", "")
        built.write("modules.yaml", good)
        next_line(live, GREEN, n)
    finally:
        live.proc.send_signal(signal.SIGINT)
        code = live.finish(timeout=60)
    assert code == 0, live.stderr
    assert live.out[-1] == "watch: stopped; every file is complete or untouched, and no task is left running"
    assert processes_in(built.root) == []
    assert list((built.root / "build").glob("runner-*.json")) == []


def test_our_own_sync_writes_do_not_start_another_run(built: Course) -> None:
    live = Live(built, "watch")
    try:
        next_line(live, "status: ", 0)
        n = len(live.out)
        save(built, LEAF, '"""2 * v"""', '"""Twice v."""')  # the sync then rewrites the notebook
        i, _ = next_line(live, "status: ", n)
        time.sleep(1.5)
        assert [line for line in live.out[i + 1:] if line.startswith("watch: saved")] == []
        assert '"""Twice v."""' in "".join("".join(c["source"]) for c in json.loads(built.read(NB))["cells"])
    finally:
        live.proc.send_signal(signal.SIGINT)
        assert live.finish(timeout=60) == 0


def warm_workers_of(pid: int) -> list[int]:
    """The warm workers (tasks.sandbox.warm) that process `pid` started."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"tasks.sandbox.warm" in args:
            found.append(int(entry))
    return found


def test_the_watch_keeps_one_warm_worker_across_saves(built: Course) -> None:
    live = Live(built, "watch")
    try:
        next_line(live, "status: ", 0)
        workers = []
        for old, new in (("return Value(2 * v.x)", "return Value(v.x * 2)"), ("return Value(v.x * 2)", "return Value(2 * v.x)")):
            n = len(live.out)
            save(built, LEAF, old, new)
            i, verdict = next_line(live, "verdict leaf: ", n)
            assert verdict.startswith("verdict leaf: ok"), verdict
            next_line(live, "status: ", i)
            workers.append(warm_workers_of(live.pid))
        assert len(workers[0]) == 1 and workers[1] == workers[0], workers
    finally:
        live.proc.send_signal(signal.SIGINT)
        assert live.finish(timeout=60) == 0
    assert warm_workers_of(live.pid) == []


def test_what_is_watched(tmp_path: Path) -> None:
    w = Watched(files={tmp_path / "m/a.py"}, test_dirs={tmp_path / "tests/unit"}, owner={tmp_path / "m/a.py": "a"})
    assert w.wants(tmp_path / "m/a.py") and w.wants(tmp_path / "tests/unit/test_new.py")
    assert not w.wants(tmp_path / "m/.a.py.swp") and not w.wants(tmp_path / "tests/unit/.test_x.py.swp")
    assert not w.wants(tmp_path / "m/b.txt") and w.dirs == {tmp_path / "m", tmp_path / "tests/unit"}


def test_settle_waits_for_a_file_that_is_still_being_written(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "nb.ipynb"
    path.write_text("{", encoding="utf-8")

    def writer() -> None:
        for k in range(5):
            time.sleep(0.02)
            path.write_text("{" + " " * k, encoding="utf-8")
        path.write_text("{}", encoding="utf-8")

    t = threading.Thread(target=writer)
    t.start()
    settle([path])
    t.join()
    assert path.read_text(encoding="utf-8") == "{}"


@pytest.mark.parametrize("args", [["help", "watch"]])
def test_doit_lists_the_watch_command(built: Course, args: list[str]) -> None:
    out = built.cli(*args)
    assert out.returncode == 0, out.stderr
    assert "rebuild and re-test on every save" in out.stdout


def test_settle_takes_no_second_look_at_a_file_written_a_while_ago(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    path = tmp_path / "layers.py"
    path.write_text("X = 1\n", encoding="utf-8")
    old = time.time_ns() - 2 * 10**9
    os.utime(path, ns=(old, old))

    def no_sleep(_: float) -> None:
        raise AssertionError("settle waited for a file nobody is writing")

    monkeypatch.setattr(time, "sleep", no_sleep)
    settle([path, tmp_path / "gone.py"])  # a deleted file is not being written either
