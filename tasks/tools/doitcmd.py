"""doit's command line, seen from inside: which command is loading dodo.py, and is doit saving its state.

doit offers no API for either, so both read the call stack. Checked against doit 0.36
and 0.37: commands are `doit.cmd_base.Command` instances with a `name`; the state DB is
written by `close`/`dump` in doit/dependency.py, called from `finish` in doit/runner.py.
tests/tasks/test_tools.py fails if those names move.
"""

from __future__ import annotations

import sys
from types import FrameType

CHECKED = ">=0.36,<0.38"
SAVING = (("doit/dependency.py", ("close", "dump")), ("doit/runner.py", ("finish",)))


def current_command() -> str | None:
    """The doit command (`run`, `list`, ...) on the call stack; None when doit's command line is not the caller."""
    from doit.cmd_base import Command

    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, Command):
            return str(owner.name)
        frame = frame.f_back
    return None


def saving(frame: FrameType | None) -> bool:
    """Is doit closing its run (writing the state DB, tearing down) in `frame` or a caller?"""
    while frame is not None:
        code = frame.f_code
        path = code.co_filename.replace("\\", "/")
        if any(path.endswith(file) and code.co_name in names for file, names in SAVING):
            return True
        frame = frame.f_back
    return False
