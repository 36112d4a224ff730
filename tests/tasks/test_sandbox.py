"""tasks.sandbox.spawn and tasks.sandbox.runner: student code runs in a child process with a timeout; no orphan survives."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import leftovers, module

from tasks.sandbox.spawn import run_child, trim


def test_trim_keeps_the_end() -> None:
    assert trim("abc", 5) == "abc"
    assert trim("0123456789", 4) == "[... 6 characters cut ...]\n6789"


def test_a_clean_import(repo: Path) -> None:
    module(repo, "X = 1\n")
    outcome = run_child(repo, ["import", "--lib", "build/lib", "--target", "pkg.m", "--stub", "pkg"], 30)
    assert outcome.result is not None and outcome.result["status"] == "ok"
    assert (outcome.returncode, outcome.timed_out) == (0, False)
    assert leftovers(repo) == []  # the result file is gone


@pytest.mark.parametrize(("text", "status", "key", "value"), [
    ("raise KeyError('k')\n", "error", "error", "KeyError: 'k'"),
    ("import sys\nsys.exit(2)\n", "exit", "code", "2"),
    ("print('hi')\n", "printed", "output", "hi\n"),
    ("import pkg.nope\n", "error", "error", "ModuleNotFoundError: No module named 'pkg.nope'"),
])
def test_what_an_import_does_is_reported(repo: Path, text: str, status: str, key: str, value: str) -> None:
    module(repo, text)
    outcome = run_child(repo, ["import", "--lib", "build/lib", "--target", "pkg.m", "--stub", "pkg"], 30)
    assert outcome.result is not None
    assert (outcome.result["status"], outcome.result[key]) == (status, value)
    frames = outcome.result["frames"]
    assert frames and frames[-1][0].endswith(("m.py", "__init__.py", "<frozen importlib._bootstrap>"))


def test_a_stub_keeps_the_package_init_from_running(repo: Path) -> None:
    (repo / "build/lib/pkg/__init__.py").write_text("raise RuntimeError('the whole package was imported')\n")
    module(repo, "X = 1\n")
    outcome = run_child(repo, ["import", "--lib", "build/lib", "--target", "pkg.m", "--stub", "pkg"], 30)
    assert outcome.result is not None and outcome.result["status"] == "ok"


def test_on_timeout_the_whole_process_group_is_killed(repo: Path) -> None:
    pidfile = repo / "grandchild.pid"
    module(repo, "import subprocess, time\n"
                 f"p = subprocess.Popen(['sleep', '60'])\nopen({str(pidfile)!r}, 'w').write(str(p.pid))\n"
                 "while True:\n    time.sleep(0.05)\n")
    start = time.monotonic()
    outcome = run_child(repo, ["import", "--lib", "build/lib", "--target", "pkg.m", "--stub", "pkg"], 1.5)
    assert time.monotonic() - start < 10
    assert outcome.timed_out and outcome.result is None and outcome.returncode is None
    grandchild = int(pidfile.read_text())
    for _ in range(50):  # the kernel reaps it soon after SIGKILL
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        if Path(f"/proc/{grandchild}/stat").exists() and " Z " in Path(f"/proc/{grandchild}/stat").read_text():
            break  # a zombie: dead, waiting for init to reap it
        time.sleep(0.1)
    else:
        pytest.fail(f"the grandchild {grandchild} survived the timeout")
    assert leftovers(repo) == []  # no result or temporary file left
