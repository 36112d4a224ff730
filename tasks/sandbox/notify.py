"""Which files of a few folders were written since the last look: Linux's inotify, through ctypes.

A test child names the test after which a course file changed (`tasks.sandbox.runner`). A stat
of every course file after every test did that, and cost about 1 ms per test on the real
course (333 files): a third of a unit test run's own time. With an inotify descriptor over
the files' folders, a test that wrote nothing costs one read that finds nothing, and only a
file that an event names is looked at.

Standard library only (the child imports this before the tests). Where inotify is missing (not
Linux, or the user's limit of inotify instances reached) `Folders()` raises OSError, and the
caller looks at every file, as before.
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Iterable

_MODIFY, _ATTRIB, _CLOSE_WRITE = 0x2, 0x4, 0x8
_MOVED_FROM, _MOVED_TO, _CREATE, _DELETE = 0x40, 0x80, 0x100, 0x200
_DELETE_SELF, _MOVE_SELF, _UNMOUNT, _Q_OVERFLOW, _IGNORED = 0x400, 0x800, 0x2000, 0x4000, 0x8000
_ONLYDIR = 0x01000000
# what can change a file's bytes, stamp or presence; and a folder that goes away
_MASK = (_MODIFY | _ATTRIB | _CLOSE_WRITE | _MOVED_FROM | _MOVED_TO | _CREATE | _DELETE | _DELETE_SELF
         | _MOVE_SELF | _ONLYDIR)
_LOST = _DELETE_SELF | _MOVE_SELF | _UNMOUNT | _Q_OVERFLOW | _IGNORED  # events after these may be missing
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then `len` bytes of NUL-padded name


class Folders:
    """An inotify descriptor over `folders` (absolute), read without blocking."""

    def __init__(self, folders: Iterable[str]) -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            init, add = libc.inotify_init1, libc.inotify_add_watch
        except (OSError, AttributeError) as exc:  # not Linux
            raise OSError("inotify is not available here") from exc
        add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self.fd = int(init(os.O_NONBLOCK | os.O_CLOEXEC))
        if self.fd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
        self.folders: dict[int, str] = {}
        try:
            for folder in sorted(set(folders)):
                wd = int(add(self.fd, os.fsencode(folder), _MASK))
                if wd < 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, os.strerror(errno), folder)
                self.folders[wd] = folder
        except BaseException:
            self.close()
            raise

    def changed(self) -> set[str] | None:
        """The paths events named since the last call; None when events may have been lost (look at all)."""
        paths: set[str] = set()
        lost = False
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            at = 0
            while at + _EVENT.size <= len(data):
                wd, mask, _cookie, size = _EVENT.unpack_from(data, at)
                name = data[at + _EVENT.size: at + _EVENT.size + size].rstrip(b"\0")
                at += _EVENT.size + size
                if mask & _LOST:
                    lost = True
                elif wd in self.folders and name:
                    paths.add(os.path.join(self.folders[wd], os.fsdecode(name)))
        return None if lost else paths

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
