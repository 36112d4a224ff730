"""One doit run at a time per tree: an advisory lock on the tree's root directory.

A second run WAITS for the first (it says so once, naming the first run's pid,
which is kept in build/.lock), up to a timeout, then stops with a message saying
what to do. The lock is `fcntl.flock` on the root directory, opened once:
- the kernel drops it when the holder exits, even on kill -9;
- `rm -rf build` (the README's rebuild recipe) cannot remove it under a live run;
- a forked process (doit -n's multiprocessing workers) closes its copy at once, so a
  worker orphaned by a kill -9 of its parent cannot keep the tree locked.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import time
import weakref
from pathlib import Path
from typing import TextIO

from tasks.core import layout, output
from tasks.core.errors import FULL, BuildError, EnvironmentFault, unwritable_message

LOCK = layout.LOCK
TIMEOUT_ENV = "COURSE_LOCK_TIMEOUT"
TIMEOUT_ENVS = (TIMEOUT_ENV, "TINYTORCH_LOCK_TIMEOUT", "DOIT_LOCK_TIMEOUT")  # the first set wins; the others are aliases
DEFAULT_TIMEOUT = 1800.0  # a full build of the course with its tests takes minutes, not half an hour
MAX_TIMEOUT = 7 * 86400.0
POLL = 0.1


class LockTimeout(BuildError):
    """Another run held the lock for longer than we were willing to wait."""


def timeout_from_env(default: float = DEFAULT_TIMEOUT) -> float:
    """The wait limit in seconds (`COURSE_LOCK_TIMEOUT`, or its aliases `TINYTORCH_LOCK_TIMEOUT` and
    `DOIT_LOCK_TIMEOUT`, else `default`).

    A value that is not a finite number of seconds is refused (BuildError), not taken for the default.
    """
    for name in TIMEOUT_ENVS:
        raw = os.environ.get(name, "").strip()
        if not raw:
            continue
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and 0 <= value <= MAX_TIMEOUT):
            msg = (f"{name}={raw!r} is not a number of seconds between 0 and {MAX_TIMEOUT:g}; "
                   f"write e.g. {name}=60, or unset it to wait up to {default:g} s")
            raise BuildError(msg)
        return value
    return default


_held: weakref.WeakSet[TreeLock] = weakref.WeakSet()
_forking: list[int] = []  # the pid of the process that is forking


def _forget_in_child() -> None:
    """After fork: the child must not hold the parent's lock (the parent keeps it; flock is per open file),
    and must not outlive the run: it gets SIGTERM (stopped like Ctrl-C, its sandbox child with it) when the
    parent dies."""
    held = [lock for lock in list(_held) if lock._fd is not None]
    for lock in held:
        try:
            os.close(lock._fd)  # type: ignore[arg-type]
        except OSError:
            pass
        lock._fd = None
        _held.discard(lock)
    if held:
        from tasks.sandbox.proc import die_with_parent

        die_with_parent(signal.SIGTERM, parent=_forking[-1] if _forking else None)


os.register_at_fork(before=lambda: _forking.append(os.getpid()), after_in_parent=lambda: _forking.pop(),
                    after_in_child=_forget_in_child)


class TreeLock:
    """The exclusive lock of one build tree. Held from `acquire` until `release` or process exit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / LOCK
        self._fd: int | None = None
        self.found_build = True  # did build/ exist when the lock was taken (after any wait)?

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> str:
        """The pid written by the run holding the lock ('?' while it is being written)."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            return "?"
        return text if text.isdigit() else "?"

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never blocks."""
        import fcntl

        if self._fd is not None:
            return True
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        _held.add(self)
        self.found_build = self.path.parent.is_dir()
        # the pid is for the message of a run that has to wait; the lock itself is the flock
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(f"{os.getpid()}\n", encoding="ascii")
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)  # a full disk must not keep even an empty temporary file
            self.release()
            where = self.path.parent.relative_to(self.root).as_posix() + "/"
            if exc.errno in FULL:
                where = self.path.relative_to(self.root).as_posix()
            msg = unwritable_message(where, exc)
            raise EnvironmentFault(msg) from None
        return True

    def acquire(self, timeout: float, stream: TextIO | None = None) -> None:
        """Wait (polling, so Ctrl-C works) until the lock is ours; raise LockTimeout after `timeout` s."""
        if self.try_acquire():
            return
        stream = stream or sys.stderr
        pid = self.holder()
        output.emit("note", f"waiting for another doit run in this tree (pid {pid}) ...", stream)
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                pid = self.holder()
                msg = (f"{LOCK}: another doit run in this tree (pid {pid}) was still running after this one "
                       f"waited {timeout:g} s, so this one stopped without touching anything. Wait for it to finish, "
                       f"or stop it (kill {pid}), then run doit again; set {TIMEOUT_ENV} to wait longer.")
                raise LockTimeout(msg)
            time.sleep(POLL)

    def release(self) -> None:
        """Give the lock up (closing the file releases the flock)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            _held.discard(self)
            os.close(fd)
