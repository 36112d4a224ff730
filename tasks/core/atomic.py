"""Atomic file writes: a reader sees the old bytes or the new ones, never half of them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()


def _tmp_beside(path: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp makes the file private (0600); give it the mode a plain open() would
    os.fchmod(fd, _MODE)
    os.close(fd)
    return Path(name)


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmp_beside(path)
    except OSError as exc:
        raise _about(exc, path) from None
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _about(exc, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _about(exc: OSError, path: Path) -> OSError:
    """`exc`, naming the file the caller wanted written rather than its temporary file."""
    if exc.errno is not None and exc.filename is None or exc.errno is not None and Path(os.fsdecode(exc.filename)).name.endswith(".tmp"):
        return type(exc)(exc.errno, exc.strerror, str(path))
    return exc


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 `text` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` atomically unless `path` already holds exactly these bytes.

    Leaving an identical file untouched keeps its mtime, and so the tasks that
    depend on it up to date (early cutoff). Returns whether it wrote.
    """
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    write_bytes(path, data)
    return True
