"""A warm worker: one pre-started process that has imported numpy, pytest and coverage, and forks a child per run.

Starting an interpreter and importing those three costs most of a small check or test
run (~0.35 s of ~0.45 s on the real course). The worker pays it once per doit process;
each check or test is still a fresh process of its own: a fork of the worker, in its own
session (so `spawn.kill_group` kills it and what it started), with its own working
directory, environment, stdin from /dev/null and stdout+stderr into a pipe the parent
reads. The worker never imports the course package, so a child loads the student's
code as fresh as a spawned interpreter would.

The first notebook sync or export of a run calls `prestart()`, so that the worker's imports
(~0.4 s) overlap the export instead of delaying the first check; `doit watch` keeps the same
worker across saves (it is this module's global, and the watch is one process).

`start()` returns a Popen-like handle, or None where fork is unavailable (not POSIX),
when `COURSE_WARM=0` (or its old name `TINYTORCH_WARM=0`), or when the worker could not start; the caller then spawns
a plain interpreter. `mode()` says which one ran, for the result files.

Protocol (a private AF_UNIX datagram socketpair): the parent sends a JSON request and
the write end of the output pipe (SCM_RIGHTS); the worker forks, replies {"pid"}, waits
for the child and replies {"status"}. One run at a time per worker (doit runs one action
at a time per process; `doit -n N` workers each get their own). The worker dies with its
parent: PR_SET_PDEATHSIG on Linux, and everywhere when the socket closes.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

# what a unit-test child of the real course imports from outside the course (numpy's lazy submodules,
# pdb for pytest's debugging plugin, what pytest and the runner import lazily); never the course package
PRELOAD = ("numpy", "numpy.random", "numpy.ma", "numpy.testing", "pytest", "pdb", "faulthandler", "coverage",
           "coverage.control", "coverage.collector", "_pytest._argcomplete", "tracemalloc", "readline", "resource",
           "statistics", "encodings.unicode_escape")
READY_TIMEOUT = 30.0  # seconds to wait for the worker's imports

_worker: _Worker | None = None
_busy = threading.Lock()  # one run at a time per worker; a second thread's run is spawned instead
_used = "spawn"  # how the last sandboxed run was started


WARM_ENVS = ("COURSE_WARM", "TINYTORCH_WARM")  # the first set wins; the second is its old name, kept as an alias


def enabled() -> bool:
    setting = next((os.environ[name] for name in WARM_ENVS if name in os.environ), "1")
    return os.name == "posix" and hasattr(os, "fork") and hasattr(socket, "send_fds") and setting != "0"


def mode() -> str:
    """'fork' (a child of the warm worker) or 'spawn' (a fresh interpreter): how the last run started."""
    return _used


def worker_pid() -> int | None:
    return _worker.proc.pid if _worker is not None and _worker.proc.poll() is None else None


class _Worker:
    """The parent's handle on the worker process."""

    def __init__(self) -> None:
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        root = str(Path(__file__).resolve().parents[2])  # the build system; never the course's lib
        env.update({"PYTHONPATH": root, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"})
        self.proc = subprocess.Popen([sys.executable, "-m", __name__, str(theirs.fileno())], cwd=root, env=env,
                                     pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL)
        theirs.close()
        self.ready = False

    def wait_ready(self) -> bool:
        if not self.ready:
            self.ready = self.receive(READY_TIMEOUT).get("ready") is True
        return self.ready

    def receive(self, timeout: float | None) -> dict[str, Any]:
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            raise TimeoutError
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the warm worker closed its socket")
        reply: dict[str, Any] = json.loads(data)
        return reply

    def stop(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def prestart() -> None:
    """Start the worker now, without waiting for it (its imports overlap the caller's work)."""
    global _worker
    if _worker is None and enabled():
        try:
            _worker = _Worker()
        except OSError:
            _worker = None


def _ready_worker() -> _Worker | None:
    global _worker
    prestart()
    if _worker is None:
        return None
    try:
        if _worker.proc.poll() is None and _worker.wait_ready():
            return _worker
    except (OSError, ValueError, TimeoutError, ConnectionError):
        pass
    _worker.stop()
    _worker = None
    return None


class WarmChild:
    """A forked child of the worker, with the parts of `subprocess.Popen` that `tasks.sandbox.spawn` uses."""

    def __init__(self, worker: _Worker, args: list[str], pid: int, out: int) -> None:
        self.worker, self.args, self.pid = worker, args, pid
        self.stdout = os.fdopen(out, "rb")  # the child's stdout and stderr; EOF once it and its group are gone
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            try:
                reply = self.worker.receive(timeout)
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
            self.returncode = int(reply["status"])
            _busy.release()
        return self.returncode

    def poll(self) -> int | None:
        return self.returncode


def start(cmd: list[str], cwd: Path | str, env: dict[str, str]) -> WarmChild | None:
    """Run `cmd` (`python -m tasks.sandbox.runner ...`) as a fork of the warm worker; None: spawn it instead."""
    global _used
    from tasks.sandbox import runner

    if cmd[1:3] != ["-m", runner.__name__] or not enabled():
        _used = "spawn"
        return None
    if not _busy.acquire(blocking=False):  # another thread's run holds the worker (thread pools)
        _used = "spawn"
        return None
    worker = _ready_worker()
    if worker is None:
        _busy.release()
        _used = "spawn"
        return None
    read_end, write_end = os.pipe()
    try:
        while select.select([worker.sock], [], [], 0)[0]:  # a reply an interrupted run never read
            worker.sock.recv(65536)
        request = json.dumps({"argv": cmd[3:], "cwd": str(cwd), "env": env}).encode()
        try:
            socket.send_fds(worker.sock, [request], [write_end])
        finally:
            os.close(write_end)
        pid = int(worker.receive(READY_TIMEOUT)["pid"])
    except (OSError, ValueError, KeyError, TimeoutError, ConnectionError):
        os.close(read_end)
        _busy.release()
        _used = "spawn"
        return None
    _used = "fork"
    return WarmChild(worker, cmd, pid, read_end)


# -- the worker's side -------------------------------------------------------------------------------
def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _reseed() -> None:
    """numpy's global generator, seeded afresh as a new interpreter's is (Python's `random` reseeds at fork itself)."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()


def _child(request: dict[str, Any], out: int) -> None:
    """In the forked child: become a fresh sandboxed run, then exit without returning to the worker's loop."""
    code = 1
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        from tasks.sandbox import runner

        # the runner dies with its parent: here that is this worker, which dies with doit
        os.environ[runner.PARENT_ENV] = str(os.getppid())
        sys.dont_write_bytecode = True
        _reseed()
        sys.path[0] = request["cwd"]  # as `python -m` run there would have it
        sys.argv = ["-m", *request["argv"]]
        code = runner.main(list(request["argv"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - report whatever happened, then leave
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _warm_coverage() -> None:
    """Start and stop a Coverage once: its lazy imports and path lookups are then done for every child."""
    try:
        import coverage

        cov = coverage.Coverage(data_file=None, config_file=False)
        cov.start()
        cov.stop()
    except Exception:  # noqa: BLE001 - a child measures coverage as before, only slower
        pass


def serve(fd: int) -> None:
    """The worker's loop: import the heavy modules once, then fork a child per request."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us
    sock = socket.socket(fileno=fd)
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # e.g. an interpreter built without readline: the child imports what it needs
            continue
    from _pytest.config import default_plugins

    for plugin in default_plugins:  # what pytest.main imports on every run
        try:
            importlib.import_module(f"_pytest.{plugin}")
        except ImportError:
            continue
    _warm_coverage()
    import tasks.sandbox.bytecode  # noqa: F401 - the child's code, compiled once
    import tasks.sandbox.runner  # noqa: F401
    import tasks.tools.pytestrewrite  # noqa: F401

    # what was imported stays out of every collection of the children (pytest collects at the end of each run,
    # and a full collection would walk numpy's and pytest's objects each time); also fewer pages copied on write
    gc.collect()
    gc.freeze()

    sock.send(json.dumps({"ready": True}).encode())
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 1)
        except OSError:
            return
        if not data:
            return
        request = json.loads(data)
        pid = os.fork()
        if pid == 0:
            sock.close()
            _child(request, fds[0])
        for extra in fds:
            os.close(extra)
        sock.send(json.dumps({"pid": pid}).encode())
        _, status = os.waitpid(pid, 0)
        sock.send(json.dumps({"status": os.waitstatus_to_exitcode(status)}).encode())


if __name__ == "__main__":
    try:
        serve(int(sys.argv[1]))
    except (OSError, KeyboardInterrupt):  # doit went away (Ctrl-C, kill) while the worker talked to it: end quietly
        sys.exit(0)
