"""Ctrl-C, SIGTERM and SIGHUP stop a doit run the same way, keeping the record of what finished.

doit saves the state of the tasks that finished only when it gets to close its
state DB: on Ctrl-C (KeyboardInterrupt) it does, on SIGTERM (default action:
die) it does not. So SIGTERM is turned into KeyboardInterrupt, and a signal that
arrives while doit is already saving is held back until the save is done (it is
the end of the run anyway). A half-written file cannot result either way: every
generated file is written to a temporary file and renamed (`tasks.core.atomic`), and
the sandbox kills its child's process group on the way out.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any

from tasks.core import output
from tasks.core.errors import DiskFull
from tasks.tools.doitcmd import saving

_NAMES: dict[int, str] = {signal.SIGINT.value: "Ctrl-C", signal.SIGTERM.value: "SIGTERM",
                          signal.SIGHUP.value: "SIGHUP"}
_received: list[int] = []  # signals that interrupted this run, in order


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    if saving(frame):
        return  # let doit finish writing what it has done; the run ends right after
    raise KeyboardInterrupt(_NAMES.get(signum, f"signal {signum}"))


def _report(previous: Any) -> Any:
    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, DiskFull):
            output.emit("error", str(exc))  # the run stopped at the first write a full disk refused
            return
        if issubclass(kind, KeyboardInterrupt):
            how = _NAMES.get(_received[0], "a signal") if _received else "Ctrl-C"
            output.emit("note", f"doit was stopped ({how}). The tasks that finished are recorded and every "
                                "file is either complete or untouched; run doit again to continue.")
            return
        previous(kind, exc, tb)

    return excepthook


def install() -> bool:
    """Make SIGTERM and SIGHUP behave like Ctrl-C for this process; False when that is not possible here."""
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)  # the terminal closed: stop the same way, children included
    sys.excepthook = _report(sys.excepthook)
    return True
