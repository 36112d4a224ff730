"""Processes of a run: die with the parent, find every descendant, kill them all.

Standard library only: the child side (`tasks.sandbox.runner`) imports it before student code.
Linux facts (prctl, /proc); elsewhere each function does what it can and no more.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _prctl(option: int, value: int) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> bool:
    """Ask the kernel to send `sig` to this process when its parent dies (PR_SET_PDEATHSIG).

    `parent`: the pid the caller expects as parent; if it already died (before the
    request), `sig` is sent at once, as the kernel would have.
    """
    ok = _prctl(PR_SET_PDEATHSIG, int(sig))
    if ok and parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return ok


def become_subreaper() -> bool:
    """Orphaned descendants (a `setsid` daemon, a double fork) are re-parented to this process, not to init,
    so that they can still be found and killed."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def children(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc; empty where there is none)."""
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return out


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, breadth first."""
    seen: list[int] = []
    todo = children(pid)
    while todo and len(seen) < 100_000:
        p = todo.pop(0)
        if p in seen:
            continue
        seen.append(p)
        todo += children(p)
    return seen


def kill_tree(pid: int, include_self: bool = True) -> None:
    """SIGKILL `pid`'s process group, every descendant (in whatever group or session), and `pid`."""
    # stop them first, so that none forks a new one while the others are being killed
    if include_self:
        _signal(pid, signal.SIGSTOP)
    below = descendants(pid)
    for p in below:
        _signal(p, signal.SIGSTOP)
    below += [p for p in descendants(pid) if p not in below]
    try:
        if include_self:
            os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for p in below:
        _signal(p, signal.SIGKILL)
    if include_self:
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
