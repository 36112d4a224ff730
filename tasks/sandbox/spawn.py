"""The parent side of the sandbox: student code runs in a child process with a timeout.

On timeout the whole process group is killed (the child and anything it
started), so no orphan keeps running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.core import layout
from tasks.sandbox import runner  # the child side: its module name is what the child runs


@dataclass(frozen=True)
class Outcome:
    """How a child run ended."""

    result: dict[str, Any] | None  # the child's JSON result, None if it wrote none
    returncode: int | None  # None when killed on timeout
    output: str  # what the child printed (trimmed)
    timed_out: bool


def trim(text: str, limit: int = 3000) -> str:
    """Keep the end of long output, where the error usually is."""
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters cut ...]\n" + text[-limit:]


def run_child(root: Path, args: list[str], timeout: float, env: dict[str, str] | None = None) -> Outcome:
    """Run `python -m tasks.sandbox.runner ARGS --result FILE` in `root`; wait at most `timeout` seconds."""
    fd, result_path = tempfile.mkstemp(prefix=layout.RUNNER_PREFIX, suffix=".json", dir=layout.at(root, layout.BUILD))
    os.close(fd)
    os.unlink(result_path)
    child_env = dict(os.environ)
    # the child imports only the build system's runner from here; course code comes from --lib
    child_env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    child_env.update({"PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"})
    child_env.update(env or {})
    split = args.index("--") if "--" in args else len(args)
    cmd = [sys.executable, "-m", runner.__name__, *args[:split], "--result", result_path, *args[split:]]
    proc = subprocess.Popen(cmd, cwd=root, env=child_env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    timed_out = False
    result: dict[str, Any] | None = None
    try:  # one handler discards the result file, whatever ends the wait
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc.pid)
            out, _ = proc.communicate()
        except BaseException:  # Ctrl-C, SIGTERM (tasks.safety.interrupts): stop the child, then re-raise
            kill_group(proc.pid)
            proc.communicate()  # reaps it and closes the pipe
            raise
        kill_group(proc.pid)  # anything the child left running in its group
        try:
            result = json.loads(Path(result_path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            result = None  # the child died before it could report
    finally:
        _discard(result_path)
    text = out.decode("utf-8", "replace") if out else ""
    return Outcome(result, None if timed_out else proc.returncode, trim(text), timed_out)


def _discard(result_path: str) -> None:
    Path(result_path).unlink(missing_ok=True)
    # a child killed while writing its result leaves its temporary file behind
    for tmp in Path(result_path).parent.glob(f"{Path(result_path).name}.*.tmp"):
        tmp.unlink(missing_ok=True)


def kill_group(pid: int) -> None:
    """Kill the process group led by `pid` (the child and its descendants)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
