"""One lazy action helper: a task names its action as 'module:function', imported when it runs.

Task creators run every time doit loads the task list, so they must not import the
heavy tools (nbdev, jupytext, coverage, griffe) that the actions use. An action is
therefore a module-level function and its plain-data arguments (picklable, so
`doit -n N` works under every start method), named by string and checked to exist.
The same string decides the task's code version (`tasks.core.codeversion`).
"""

from __future__ import annotations

import importlib
import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tasks.core.codeversion import code_version, module_file
from tasks.core.errors import BuildError, DiskFull, full_disk_message

Action = tuple[Callable[..., Any], list[Any]]


def _split(target: str) -> tuple[str, str]:
    module, sep, function = target.partition(":")
    if not sep or not function or module_file(module) is None:
        msg = f"action {target!r} must be 'tasks.<module>:<function>' naming a module of the build system"
        raise ValueError(msg)
    return module, function


def _full(exc: Exception) -> Any:
    """A full disk stops the run (DiskFull, one message); None when `exc` is not one."""
    from doit.exceptions import TaskFailed

    from tasks.safety import disk

    try:
        disk.stop_if_full(Path.cwd(), exc if not isinstance(exc, BuildError) else str(exc))
    except DiskFull as stop:
        if multiprocessing.parent_process() is not None:
            return TaskFailed(full_disk_message(stop.path, stopped=False))  # a `doit -n` worker: the run goes on
        raise
    return None


def _failed(exc: BuildError) -> Any:
    """A BuildError as a doit failure that shows just its message (or a full disk's stop)."""
    from doit.exceptions import TaskFailed

    return _full(exc) or TaskFailed(str(exc))


def call(target: str, *args: Any) -> Any:
    """Import `target` ('module:function') and call it; a BuildError becomes a doit failure
    that shows just its message, a full disk stops the run with one message."""
    return call_options(target, *args)


def action(target: str, *args: Any) -> Action:
    """A doit action (or `uptodate` check) that runs `target` with `args` when the task runs."""
    _split(target)
    return (call, [target, *args])


def version(target: str) -> str:
    """The digest of the code `target` runs: its module and every `tasks` module that imports."""
    return code_version(_split(target)[0])


def fail(message: str) -> Any:
    """An action that fails with `message` (a problem found while the task list was made)."""
    from doit.exceptions import TaskFailed

    return TaskFailed(message)


def call_options(target: str, *args: Any, **options: Any) -> Any:
    """As `call`, with the task's command-line options (doit `params`) passed on as keywords."""
    module, function = _split(target)
    fn = getattr(importlib.import_module(module), function)
    try:
        return fn(*args, **options)
    except BuildError as exc:
        return _failed(exc)
    except Exception as exc:
        stopped = _full(exc)
        if stopped is None:
            raise  # doit shows it as the task's error, with its traceback
        return stopped


def action_options(target: str, *args: Any) -> Action:
    """An action like `action`'s that also receives the options given on the command line."""
    _split(target)
    return (call_options, [target, *args])
