"""One doit run at a time per tree: an advisory lock on build/.lock.

A second run WAITS for the first (it says so once, naming the first run's pid),
up to a timeout, then stops with a message saying what to do. The lock is
`fcntl.flock` on an open file, so the kernel drops it when the holder exits,
even on kill -9: a lock is never stale.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TextIO

from tasks.core import layout, output
from tasks.core.errors import BuildError

LOCK = layout.LOCK
TIMEOUT_ENV = "COURSE_LOCK_TIMEOUT"
TIMEOUT_ENV_OLD = "TINYTORCH_LOCK_TIMEOUT"  # the old name, kept as an alias
DEFAULT_TIMEOUT = 1800.0  # a full build of the course with its tests takes minutes, not half an hour
POLL = 0.1


class LockTimeout(BuildError):
    """Another run held the lock for longer than we were willing to wait."""


def timeout_from_env(default: float = DEFAULT_TIMEOUT) -> float:
    """The wait limit in seconds (`COURSE_LOCK_TIMEOUT`, its old name `TINYTORCH_LOCK_TIMEOUT`, or `default`)."""
    raw = os.environ.get(TIMEOUT_ENV) or os.environ.get(TIMEOUT_ENV_OLD, "")
    try:
        return float(raw) if raw.strip() else default
    except ValueError:
        return default


class TreeLock:
    """The exclusive lock of one build tree. Held from `acquire` until `release` or process exit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / LOCK
        self._fd: int | None = None

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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        # the pid is for the message of a run that has to wait; the lock itself is the flock
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd
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
            os.close(fd)
