"""doit's command line, seen from inside: which command is loading dodo.py, does it run tasks in parallel, and is doit saving its state.

doit offers no API for these, so they read the call stack. Checked against doit 0.36
and 0.37: commands are `doit.cmd_base.Command` instances with a `name`; `DoitCmdBase.execute`
loads dodo.py with the parsed options in `params` (`-n` is `num_process`) and the task names in
`args`, and `Run._execute`
takes `num_process` as a parameter while it runs the tasks; the state DB is
written by `close`/`dump` in doit/dependency.py, called from `finish` in doit/runner.py; the backend
class is taken from the command's `_backends` map after dodo.py is loaded; doit/plugin.py looks
plugins up through `entry_points_impl()`. tests/tasks/test_tools.py fails if those names move.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

CHECKED = ">=0.36,<0.38"
SAVING = (("doit/dependency.py", ("close", "dump")), ("doit/runner.py", ("finish",)))


def _command_frames() -> Iterator[FrameType]:
    """The frames on the call stack that run a method of a doit command, innermost first."""
    from doit.cmd_base import Command

    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if isinstance(frame.f_locals.get("self"), Command):
            yield frame
        frame = frame.f_back


def _command() -> Any:
    return next((frame.f_locals["self"] for frame in _command_frames()), None)


def current_command() -> str | None:
    """The doit command (`run`, `list`, ...) on the call stack; None when doit's command line is not the caller."""
    owner = _command()
    return None if owner is None else str(owner.name)


def parallel() -> bool:
    """Does the doit command on the call stack run its tasks in other processes or threads (`doit -n N`, N > 0)?"""
    for frame in _command_frames():
        if "num_process" in frame.f_locals:  # `Run._execute(..., num_process=0, ...)`, running the tasks
            return bool(frame.f_locals["num_process"])
        params = frame.f_locals.get("params")  # `DoitCmdBase.execute(params, args)`, loading dodo.py
        if isinstance(params, dict) and "num_process" in params:
            return bool(params["num_process"])
    return False


def selected() -> list[str] | None:
    """The command's positional arguments while it loads dodo.py (task names, and their options); None: not found."""
    for frame in _command_frames():
        if isinstance(frame.f_locals.get("args"), list):
            return [str(a) for a in frame.f_locals["args"]]  # `DoitCmdBase.execute(params, args)`
    return None


def use_backend(name: str, cls: type) -> bool:
    """Make the command that is loading dodo.py open its state DB `name` with `cls` (a subclass of doit's own
    backend of that name). doit picks the backend class after dodo.py is loaded (`DoitCmdBase.execute`, from
    its `_backends` map), so this works while dodo.py loads; False when there is no such command."""
    owner = _command()
    backends = getattr(owner, "_backends", None)
    if not isinstance(backends, dict) or name not in backends or not issubclass(cls, backends[name]):
        return False
    backends[name] = cls
    return True


def saving(frame: FrameType | None) -> bool:
    """Is doit closing its run (writing the state DB, tearing down) in `frame` or a caller?"""
    while frame is not None:
        code = frame.f_code
        path = code.co_filename.replace("\\", "/")
        if any(path.endswith(file) and code.co_name in names for file, names in SAVING):
            return True
        frame = frame.f_back
    return False


def remember_plugins() -> None:
    """In a process that runs doit many times (`doit watch`): look its plugins up once, not three times a run.

    Each `DoitMain.run` asks importlib.metadata for the entry points of three plugin groups,
    which scans every installed distribution (~50 ms a cycle). What is installed does not
    change while the watch runs; a new plugin is seen when it is started again.
    """
    import functools
    from importlib.metadata import entry_points

    from doit import plugin

    @functools.cache
    def lookup(group: str) -> tuple[Any, ...]:
        return tuple(entry_points(group=group))

    def cached(*, group: str) -> tuple[Any, ...]:
        return lookup(group)

    plugin.entry_points_impl = lambda: cached
