"""tasks.sandbox.warm: a warm worker forks each sandboxed run; each run is still a fresh process of its own."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from conftest import SANDBOX_IMPORT as IMPORT
from conftest import module

from tasks.sandbox import runner, warm
from tasks.sandbox.spawn import run_child

needs_fork = pytest.mark.skipif(not warm.enabled(), reason="no fork here: the plain spawn is used")


@needs_fork
def test_a_run_is_a_fork_of_the_warm_worker_in_its_own_session(repo: Path) -> None:
    module(repo, "import os, sys\n"
                 "assert os.getsid(0) == os.getpid(), 'not in a session of its own'\n"
                 "assert 'numpy' in sys.modules and 'pytest' in sys.modules, 'not warm'\n"
                 f"assert os.getcwd() == {str(repo)!r}\n")
    outcome = run_child(repo, IMPORT, 30)
    assert outcome.result is not None and outcome.result["status"] == "ok", outcome
    assert warm.mode() == "fork"
    assert warm.worker_pid() is not None


@needs_fork
def test_each_run_loads_the_students_code_afresh(repo: Path) -> None:
    module(repo, "raise ValueError('one')\n")
    first = run_child(repo, IMPORT, 30)
    module(repo, "raise ValueError('two')\n")
    second = run_child(repo, IMPORT, 30)
    assert first.result is not None and second.result is not None
    assert (first.result["error"], second.result["error"]) == ("ValueError: one", "ValueError: two")
    assert warm.mode() == "fork"


@needs_fork
def test_the_environment_and_exit_code_are_the_childs(repo: Path) -> None:
    module(repo, "import os\nassert os.environ['TT_PROBE'] == 'yes'\n")
    outcome = run_child(repo, IMPORT, 30, env={"TT_PROBE": "yes"})
    assert outcome.result is not None and outcome.result["status"] == "ok", outcome
    outcome = run_child(repo, ["no-such-mode"], 30)  # the runner's argument parser exits with 2
    assert (outcome.returncode, outcome.result) == (2, None)
    assert "invalid choice: 'no-such-mode'" in outcome.output


@needs_fork
def test_on_timeout_the_forked_childs_group_is_killed(repo: Path) -> None:
    pidfile = repo / "grandchild.pid"
    module(repo, "import subprocess, sys, time\n"
                 f"p = subprocess.Popen([{sys.executable!r}, '-c', 'import time; time.sleep(60)'])\n"
                 f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
                 "time.sleep(60)\n")
    start = time.monotonic()
    outcome = run_child(repo, IMPORT, 2)
    assert outcome.timed_out and time.monotonic() - start < 10
    assert warm.mode() == "fork"
    grandchild = int(pidfile.read_text())
    for _ in range(50):
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        stat = Path(f"/proc/{grandchild}/stat")
        if stat.exists() and " Z " in stat.read_text():
            break  # a zombie: dead, waiting for init to reap it
        time.sleep(0.1)
    else:
        pytest.fail("the grandchild outlived the timeout")
    module(repo, "X = 1\n")  # the worker serves the next run
    assert run_child(repo, IMPORT, 30).result == {"status": "ok", "seconds": pytest.approx(0, abs=5)}


@pytest.mark.parametrize("setting", ["COURSE_WARM", "TINYTORCH_WARM"])
def test_without_fork_the_run_is_spawned(repo: Path, monkeypatch: pytest.MonkeyPatch, setting: str) -> None:
    monkeypatch.setenv(setting, "0")
    module(repo, "import sys\nassert 'pytest' not in sys.modules\n")
    outcome = run_child(repo, IMPORT, 30)
    assert outcome.result is not None and outcome.result["status"] == "ok", outcome
    assert warm.mode() == "spawn"


def test_only_the_runner_is_forked(repo: Path) -> None:
    assert warm.start([sys.executable, "-c", "pass"], repo, dict(os.environ)) is None
    child = warm.start([sys.executable, "-m", runner.__name__, *IMPORT, "--result", str(repo / "r.json")], repo,
                       dict(os.environ))
    assert child is not None or not warm.enabled()
    if child is not None:
        child.stdout.read()
        child.stdout.close()
        assert child.wait(30) == 0


def test_runs_from_several_threads_at_once_all_complete(repo: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    module(repo, "import time\ntime.sleep(0.3)\n")
    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(lambda _: run_child(repo, IMPORT, 30), range(3)))
    assert [o.result and o.result["status"] for o in outcomes] == ["ok", "ok", "ok"]  # one forked, the others spawned


@needs_fork
def test_numpy_is_preloaded_but_its_global_generator_is_seeded_afresh_in_each_child(repo: Path) -> None:
    draws = repo / "draws.out"
    module(repo, "import sys\n"
                 "assert 'numpy.random' in sys.modules and 'numpy.testing' in sys.modules, 'not warm'\n"
                 "import numpy\n"
                 f"open({str(draws)!r}, 'a').write(repr(numpy.random.random()) + '\\n')\n")
    for _ in range(2):
        outcome = run_child(repo, IMPORT, 30)
        assert outcome.result is not None and outcome.result["status"] == "ok", outcome
    assert warm.mode() == "fork"
    first, second = draws.read_text().split()
    assert first != second, "two children drew the same numbers: the generator came from the worker"


SOCKETS = ("import os\n"
           "fds = os.listdir('/proc/self/fd')\n"
           "links = [os.readlink(f'/proc/self/fd/{fd}') for fd in fds if os.path.exists(f'/proc/self/fd/{fd}')]\n"
           "print('sockets:', sum(link.startswith('socket:') for link in links))\n")


@needs_fork
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_trusted_child_says_its_status_itself_and_the_workers_later_reply_is_not_kept(repo: Path) -> None:
    module(repo, SOCKETS)
    first = warm._worker.runs if warm._worker is not None else 0  # the runs of earlier tests are not this test's
    outcome = run_child(repo, IMPORT, 30)
    assert outcome.result is not None and outcome.result["output"].strip() == "sockets: 1", outcome
    assert outcome.returncode == 0
    assert run_child(repo, ["no-such-mode"], 30).returncode == 2  # an exit code said early is the real one
    time.sleep(0.2)  # the worker's own replies for the runs above, once it has reaped them
    module(repo, "X = 1\n")
    assert run_child(repo, IMPORT, 30).result == {"status": "ok", "seconds": pytest.approx(0, abs=5)}
    worker = warm._worker
    assert worker is not None
    assert [r for r in worker.kept if r.get("id", 0) > first] == []  # read while waiting for this run, and dropped


@needs_fork
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_an_untrusted_child_has_no_socket_to_the_parent(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_UNTRUSTED", "1")
    module(repo, SOCKETS)
    outcome = run_child(repo, IMPORT, 30)
    assert outcome.result is not None and outcome.result["output"].strip() == "sockets: 0", outcome
    assert outcome.returncode == 0


def test_a_status_said_twice_and_read_while_waiting_for_another_run_is_kept_once_and_then_not_at_all() -> None:
    worker = warm._Worker.__new__(warm._Worker)  # no process: the replies are already read, as if for another run
    worker.kept = [{"id": 7, "status": 0}, {"id": 8, "pid": 99}, {"id": 7, "status": 0}]  # the child's, the worker's
    worker.dropped = set()
    read, write = os.pipe()
    os.close(write)
    child = warm.WarmChild(worker, ["runner"], 7, 12345, read, owns=False)
    try:
        assert child.wait(1) == 0
    finally:
        child.stdout.close()
    assert worker.kept == [{"id": 8, "pid": 99}] and 7 in worker.dropped
