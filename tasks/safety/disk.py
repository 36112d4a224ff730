"""A full disk stops the run at once, with one message, and leaves doit able to record what finished.

doit would carry on into the same wall with every task (each its own traceback and a
wrong hint), then crash writing its state DB. Instead:
- a run starts by keeping `build/.reserve` (at least 1 MiB, twice the state DB) allocated;
- doit's state DB is saved through a guard (`tasks.safety.recovery.guard_state_db`) that spends
  the reserve when the disk filled up by the end of the run;
- the first write that meets a full disk (`tasks.plan.actions`) raises `DiskFull`; the
  reserve is deleted so doit can save its state DB and the reporter its table; the
  message names the file that could not be written and what to do;
- every generated file is written through `tasks.core.atomic`, so the file that could
  not be written keeps its earlier bytes and no temporary file is left.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tasks.core import layout
from tasks.core.errors import FULL, DiskFull, EnvironmentFault, disk_full, full_disk_message

RESERVE_MIN = 1 << 20
PROBE = 64 << 10  # a write this small failing means the disk is full indeed


def reserve_size(root: Path) -> int:
    try:
        db = layout.at(root, layout.STATE_DB).stat().st_size
    except OSError:
        db = 0
    return max(RESERVE_MIN, 2 * db)


def keep_reserve(root: Path) -> None:
    """Make sure the reserve is allocated; a disk too full for it stops the run before anything is written."""
    path = layout.at(root, layout.RESERVE)
    need = reserve_size(root)
    try:
        have = path.stat().st_size
    except FileNotFoundError:
        have = -1
    if have >= need:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.posix_fallocate(fd, 0, need)  # real blocks, not a sparse file: the space is ours
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno not in FULL:
            return  # a file system without fallocate: run without a reserve rather than not at all
        if have < 0:
            path.unlink(missing_ok=True)
            raise EnvironmentFault(full_disk_message(layout.RESERVE)) from None
        os.truncate(path, max(have, 0))  # keep the smaller reserve an earlier run made


def release_reserve(root: Path) -> bool:
    """Delete the reserve; whether there was one."""
    try:
        layout.at(root, layout.RESERVE).unlink()
    except FileNotFoundError:
        return False
    return True


def really_full(root: Path) -> bool:
    """Can a small file still be written under build/? (A child's output that merely mentions a full disk
    must not stop the run.)"""
    probe = layout.at(root, f"{layout.BUILD}/.probe-{os.getpid()}.tmp")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        return exc.errno in FULL
    try:
        os.posix_fallocate(fd, 0, PROBE)
    except OSError as exc:
        return exc.errno in FULL
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)
    return False


def _refused(exc: BaseException) -> OSError | None:
    """The OSError of a full disk in `exc`'s chain, if there is one."""
    seen: set[int] = set()
    here: BaseException | None = exc
    while here is not None and id(here) not in seen:
        seen.add(id(here))
        if isinstance(here, OSError) and here.errno in FULL:
            return here
        here = here.__cause__ or here.__context__
    return None


NAMED = re.compile(r"\[Errno (?:28|122)\] [^:\n]+: '([^'\n]+)'")  # how Python prints an OSError with its file


def _named(root: Path, refused: OSError | str | None) -> str:
    """The file a full disk refused, relative to the root where it lies under it; else build/."""
    if isinstance(refused, str):
        found = NAMED.search(refused)
        name: str | bytes | None = found.group(1) if found else None
    else:
        name = refused.filename if refused is not None else None
    if not name:
        return f"{layout.BUILD}/"
    path = Path(os.fsdecode(name))
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def stop_if_full(root: Path, exc: BaseException | str) -> None:
    """Raise DiskFull (after freeing the reserve) when `exc` is a full disk; return otherwise.

    An OSError of a full disk is taken at its word; a message that only says so (a child's output, sqlite's
    text) counts when a small write under build/ fails too.
    """
    if not disk_full(exc):
        return
    refused = _refused(exc) if isinstance(exc, BaseException) else None
    if refused is None and not really_full(root):
        return
    release_reserve(root)
    path = _named(root, refused or str(exc))
    raise DiskFull(full_disk_message(path), path) from None
