"""A warm worker: one pre-started process that has imported numpy, pytest and coverage, and forks a child per run.

Starting an interpreter and importing those three costs most of a small check or test
run (~0.35 s of ~0.45 s on the real course). The worker pays it once per doit process;
each check or test is still a fresh process of its own: a fork of the worker, in its own
session (so `spawn.kill_group` kills it and what it started), with its own working
directory, environment, stdin from /dev/null and stdout+stderr into a pipe the parent
reads. The worker never imports the course package, so a child loads the student's
code as fresh as a spawned interpreter would.

`prestart()` is called as dodo.py loads when a file the student edits changed since the last run
(`spawn.prestart_if_changed`), else by the first notebook sync or export, so that the worker's
imports (~0.4-0.7 s) overlap the loading of the task list and the export instead of delaying the
first check; `doit watch` keeps the same worker across saves (it is this module's global, and the
watch is one process). A process forked from the one that started it (`doit -n`) starts its own.

`start()` returns a Popen-like handle, or None where fork is unavailable (not POSIX),
when `COURSE_WARM=0` (or its old name `TINYTORCH_WARM=0`), or when the worker could not start; the caller then spawns
a plain interpreter. `mode()` says which one ran, for the result files.

Protocol (a private AF_UNIX datagram socketpair): the parent sends a JSON request with an
id and the write end of the output pipe (SCM_RIGHTS), and for a standby child
(`tasks.sandbox.standby`) the read end of its go pipe too; the worker forks, replies
{"id", "pid"}, and replies {"id", "status"} when that child ends. A standby may be asked
for while the worker still imports: its request waits in the socket, the worker forks it once
ready, and the parent reads its pid when it needs it (`WarmChild.forked`). Several children may be
alive at once (a run, and the standby for the next one); one thread at a time runs through
the worker (doit runs one action at a time per process; `doit -n N` workers each get their
own). The worker dies with its parent: PR_SET_PDEATHSIG on Linux, and everywhere when the
socket closes.
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
import time
from pathlib import Path
from typing import Any

from tasks.sandbox.bytecode import UNTRUSTED_ENV

# what a unit-test child of the real course imports from outside the course (numpy's lazy submodules,
# pdb for pytest's debugging plugin, what pytest and the runner import lazily, pytest's default plugins
# that `import pytest` leaves to its configuration: ~25 ms a child); never the course package
PRELOAD = ("numpy", "numpy.random", "numpy.ma", "numpy.testing", "pytest", "pdb", "faulthandler", "coverage",
           "coverage.control", "coverage.collector", "_pytest._argcomplete", "tracemalloc", "readline", "resource",
           "statistics", "encodings.unicode_escape", "_pytest.faulthandler", "_pytest.helpconfig", "_pytest.junitxml",
           "_pytest.pastebin", "_pytest.setuponly", "_pytest.setupplan", "_pytest.skipping", "_pytest.threadexception",
           "_pytest.tracemalloc", "_pytest.unittest", "_pytest.unraisableexception", "_pytest.warnings",
           "xml.etree.ElementTree")
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
        self.owner = os.getpid()  # a process forked from this one (`doit -n`) starts its own worker
        self.ready = False
        self.runs = 0  # ids of requests
        self.kept: list[dict[str, Any]] = []  # replies read while waiting for another run's
        self.dropped: set[int] = set()  # runs whose replies nobody will read (dropped standbys)

    def wait_ready(self) -> bool:
        if not self.ready:
            self.receive(READY_TIMEOUT)
        return self.ready

    def receive(self, timeout: float | None, run: int | None = None, key: str = "") -> dict[str, Any]:
        """The next reply of run `run` that has `key` (others are kept for their readers); no run: the ready reply."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            for i, kept in enumerate(self.kept):
                if run is not None and kept.get("id") == run and key in kept:
                    return self.kept.pop(i)
            if run is None and self.ready:
                return {"ready": True}
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                raise TimeoutError
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the warm worker closed its socket")
            reply: dict[str, Any] = json.loads(data)
            if reply.get("ready") is True:  # its first reply (requests sent before it wait in the socket)
                self.ready = True
            elif reply.get("id") == run and key in reply:
                return reply
            elif reply.get("id") not in self.dropped:
                self.kept = [*self.kept[-63:], reply]  # bounded: an interrupted run's status is never read

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
    if _worker is not None and _worker.owner != os.getpid():
        _worker = None  # the parent's (this process is a fork of it): its socket and replies are not ours
    if _worker is None and enabled():
        try:
            _worker = _Worker()
        except OSError:
            _worker = None


def stop() -> None:
    """Stop the worker, if this process has one (the next run starts another)."""
    global _worker
    if _worker is not None and _worker.owner == os.getpid():
        _worker.stop()
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

    def __init__(self, worker: _Worker, args: list[str], run: int, pid: int | None, out: int, owns: bool) -> None:
        self.worker, self.args, self.run, self._pid = worker, args, run, pid
        self.stdout = os.fdopen(out, "rb")  # the child's stdout and stderr; EOF once it and its group are gone
        self.returncode: int | None = None
        self.owns = owns  # this child's run holds the worker (`_busy`) until it is waited for

    @property
    def pid(self) -> int:
        if self._pid is None:
            raise ProcessLookupError(f"the warm worker has not forked run {self.run} yet")
        return self._pid

    def forked(self, timeout: float = READY_TIMEOUT) -> bool:
        """Whether the worker has forked this child (a standby asked for before it was ready): wait `timeout` at most."""
        if self._pid is None:
            try:
                self._pid = int(self.worker.receive(timeout, self.run, "pid")["pid"])
            except (OSError, ValueError, KeyError, TimeoutError, ConnectionError):
                return False
        return True

    def claim(self) -> bool:
        """Make a standby child this thread's run: False when another thread's run holds the worker, or it is lost."""
        if not self.owns and self.forked() and _busy.acquire(blocking=False):
            self.owns = True
        return self.owns

    def drop(self) -> None:
        """Nobody will wait for this child (a standby that is not used): its status reply is discarded."""
        self.worker.dropped.add(self.run)
        self.worker.kept = [r for r in self.worker.kept if r.get("id") != self.run]
        if self.owns:
            _busy.release()
            self.owns = False

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            try:
                reply = self.worker.receive(timeout, self.run, "status")
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
            self.returncode = int(reply["status"])
            # the child said it first: the worker's reply, after the reap, is not read (nor kept, if read already)
            self.worker.dropped.add(self.run)
            self.worker.kept = [r for r in self.worker.kept if r.get("id") != self.run]
            if self.owns:
                _busy.release()
                self.owns = False
        return self.returncode

    def poll(self) -> int | None:
        return self.returncode


def start(cmd: list[str], cwd: Path | str, env: dict[str, str], go: int | None = None) -> WarmChild | None:
    """Run `cmd` (`python -m tasks.sandbox.runner ...`) as a fork of the warm worker; None: spawn it instead.

    `go`: the read end of a standby child's go pipe (`tasks.sandbox.standby`); such a child does
    not hold the worker for this thread until it is claimed, and nothing is spawned instead of it.
    """
    global _used
    from tasks.sandbox import runner

    if cmd[1:3] != ["-m", runner.__name__] or not enabled():
        _used = "spawn"
        return None
    owns = go is None
    if owns and not _busy.acquire(blocking=False):  # another thread's run holds the worker (thread pools)
        _used = "spawn"
        return None
    if owns:
        worker = _ready_worker()
    else:  # a standby: asked for without waiting, if the worker is still importing (it forks it once ready)
        worker = _worker if _worker is not None and _worker.owner == os.getpid() and _worker.proc.poll() is None else None
    if worker is None:
        if owns:
            _busy.release()
            _used = "spawn"
        return None
    read_end, write_end = os.pipe()
    worker.runs += 1
    run = worker.runs
    try:
        request = json.dumps({"id": run, "argv": cmd[3:], "cwd": str(cwd), "env": env}).encode()
        try:
            socket.send_fds(worker.sock, [request], [write_end] if go is None else [write_end, go])
        finally:
            os.close(write_end)
        # a standby's pid is read when it is needed (`forked`): the fork is not waited for here
        pid = int(worker.receive(READY_TIMEOUT, run, "pid")["pid"]) if owns else None
    except (OSError, ValueError, KeyError, TimeoutError, ConnectionError):
        os.close(read_end)
        worker.dropped.add(run)
        if owns:
            _busy.release()
            _used = "spawn"
        return None
    if owns:
        _used = "fork"
    return WarmChild(worker, cmd, run, pid, read_end, owns)


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


def _child(request: dict[str, Any], out: int, go: int | None = None, report: socket.socket | None = None) -> None:
    """In the forked child: become a fresh sandboxed run, then exit without returning to the worker's loop.

    `go`: a standby child's go pipe; the runner waits on it before it collects the tests.
    `report`: the worker's socket to the parent. The run's status goes out on it, and its output is
    closed, before the exit: the kernel's teardown of a forked interpreter (10-20 ms) comes before
    it closes the files, and the worker's own status reply only after it reaps the process."""
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
        if go is not None:
            os.environ[runner.STANDBY_ENV] = str(go)
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
            if report is not None:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 1)
                os.dup2(null, 2)
                report.send(json.dumps({"id": request.get("id"), "status": code & 0xFF}).encode())
        except (OSError, ValueError):
            pass  # the worker's reply, once it has reaped this process, says the same
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
    # a child's end wakes the loop (SIGCHLD through the wakeup pipe), so that its status goes out at once
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    runs: dict[int, Any] = {}  # pid -> the request's id
    while True:
        try:
            ready, _, _ = select.select([sock.fileno(), wake_r], [], [])
        except OSError:
            return
        if wake_r in ready:
            while True:
                try:
                    if not os.read(wake_r, 512):
                        break
                except BlockingIOError:
                    break
        while runs:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            if pid in runs:
                sock.send(json.dumps({"id": runs.pop(pid), "status": os.waitstatus_to_exitcode(status)}).encode())
        if sock.fileno() not in ready:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 2)
        except OSError:
            return
        if not data:
            return
        request = json.loads(data)
        pid = os.fork()
        if pid == 0:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(wake_r)
            os.close(wake_w)
            # trusted code tells the parent itself when its run is over (untrusted code could forge another's)
            report = None if dict(request.get("env") or {}).get(UNTRUSTED_ENV) else sock
            if report is None:
                sock.close()
            _child(request, fds[0], fds[1] if len(fds) > 1 else None, report)
        for extra in fds:
            os.close(extra)
        runs[pid] = request.get("id")
        sock.send(json.dumps({"id": request.get("id"), "pid": pid}).encode())


if __name__ == "__main__":
    try:
        serve(int(sys.argv[1]))
    except (OSError, KeyboardInterrupt):  # doit went away (Ctrl-C, kill) while the worker talked to it: end quietly
        sys.exit(0)
