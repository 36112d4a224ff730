"""The parent side of the sandbox: student code runs in a child process with a timeout and limits.

- Every wait is bounded: output is drained by a reader thread into a size-capped
  file, so a `setsid` daemon that keeps the pipe open cannot stall the wait.
- Nothing outlives the child: on timeout, at the end, and on Ctrl-C, the child's
  group and every descendant (the child is a subreaper, so daemons stay below it)
  are killed; if doit itself dies, the child kills itself and its tree
  (`tasks.sandbox.runner`).
- Captured output is bounded: OUTPUT_CAP bytes are kept in build/output/, the
  message shows the end.
- The child has a private HOME and TMPDIR under build/, removed afterwards, and
  resource limits (address space, processes, file size, CPU).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tasks.core import layout
from tasks.model.fields import Limits
from tasks.sandbox import bytecode, proc, runner, standby, warm  # runner: the child side; its module name is what the child runs
from tasks.sandbox.keep import Keeper, Records

OUTPUT_CAP = 8 << 20  # bytes of a child's output kept on disk
TAIL = 64 << 10  # bytes kept in memory for the message
REAP = 5.0  # seconds to wait for a killed child to be reaped
HEAD_START = 0.15  # seconds a child runs alone before the next test run's standby starts setting up


def limit_args(limits: Limits, timeout: float) -> list[str]:
    """The runner's arguments for `limits` (CPU: twice the timeout unless set)."""
    cpu = limits.cpu if limits.cpu is not None else 2 * timeout + 5
    return ["--limit-memory", f"{int(limits.memory)}", "--limit-processes", f"{int(limits.processes)}",
            "--limit-file-size", f"{int(limits.file_size)}", "--limit-cpu", f"{math.ceil(cpu)}"]


@dataclass(frozen=True)
class Outcome:
    """How a child run ended."""

    result: dict[str, Any] | None  # the child's JSON result, None if it wrote none
    returncode: int | None  # None when killed on timeout
    output: str  # what the child printed (trimmed)
    timed_out: bool
    tampered: tuple[str, ...] = ()  # course files the child changed or deleted, restored: one line each


def trim(text: str, limit: int = 3000) -> str:
    """Keep the end of long output, where the error usually is."""
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters cut ...]\n" + text[-limit:]


class _Drain(threading.Thread):
    """Reads a child's output: the first OUTPUT_CAP bytes to a file, the last TAIL bytes in memory."""

    def __init__(self, pipe: IO[bytes], spill: Path) -> None:
        super().__init__(daemon=True)
        self.pipe, self.spill = pipe, spill
        self.total = 0
        self.tail: collections.deque[bytes] = collections.deque()
        self._tail_size = 0
        self._file: IO[bytes] | None = None

    def run(self) -> None:
        try:
            while chunk := self.pipe.read1(65536) if hasattr(self.pipe, "read1") else self.pipe.read(65536):
                self._keep(chunk)
        except (OSError, ValueError):
            pass
        finally:
            if self._file is not None:
                self._file.close()
            self.pipe.close()  # (its owner closes it too, or, for a standby never forked, leaves it to this thread)

    def _keep(self, chunk: bytes) -> None:
        if self.total < OUTPUT_CAP and self.total + len(chunk) > TAIL:
            if self._file is None:
                self.spill.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.spill, "wb")  # noqa: SIM115 - closed in run()
                self._file.write(b"".join(self.tail))
            self._file.write(chunk[: OUTPUT_CAP - self.total])
        self.total += len(chunk)
        self.tail.append(chunk)
        self._tail_size += len(chunk)
        while self._tail_size - len(self.tail[0]) >= TAIL:
            self._tail_size -= len(self.tail.popleft())

    def text(self) -> str:
        kept = b"".join(self.tail)
        text = kept.decode("utf-8", "replace")
        if self.total <= len(kept):
            self.spill.unlink(missing_ok=True)
            return trim(text)
        head = f"[... {self.total - len(kept)} bytes not shown ...]\n"
        if self.total > OUTPUT_CAP:
            head = (f"[the child wrote {self.total} bytes; the first {OUTPUT_CAP >> 20} MB (the cap) are in "
                    f"{layout.OUTPUT_SPILL}/{self.spill.name}]\n")
        return head + trim(text)


@dataclass
class _Own:
    """A child's own files and command: its result file, private HOME and TMPDIR, stamps file, output spill."""

    result_path: str
    private: Path
    watch: Path
    spill: Path
    cmd: list[str]
    env: dict[str, str]
    lib: str | None  # the package's folder (`--lib`), whose bytecode is compiled before the child starts

    @classmethod
    def make(cls, root: Path, planned: standby.Planned) -> _Own:
        args, env, limits = list(planned.args), dict(planned.env), Limits(**dict(planned.limits))
        build = layout.at(root, layout.BUILD)
        fd, result_path = tempfile.mkstemp(prefix=layout.RUNNER_PREFIX, suffix=".json", dir=build)
        os.close(fd)
        os.unlink(result_path)
        private = Path(tempfile.mkdtemp(prefix=layout.SANDBOX_PREFIX, dir=build))
        (private / "home").mkdir()
        (private / "tmp").mkdir()
        child_env = dict(os.environ)
        # the child imports only the build system's runner from here; course code comes from --lib
        child_env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
        child_env.update({"PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "HOME": str(private / "home"),
                          "TMPDIR": str(private / "tmp"), "TMP": str(private / "tmp"), "TEMP": str(private / "tmp"),
                          runner.PARENT_ENV: str(os.getpid())})
        child_env.update(env)
        watch = private / "watch.json"
        split = args.index("--") if "--" in args else len(args)
        extra = ["--watch", str(watch)] if args and args[0] == "pytest" else []
        lib = runner.option(args, "--lib")
        pycache = bytecode.folder(root) if lib is not None else None
        if pycache is not None:
            extra += ["--pycache", str(pycache)]
        cmd = [sys.executable, "-m", runner.__name__, *args[:split], "--result", result_path,
               *limit_args(limits, planned.timeout), *extra, *args[split:]]
        spill = layout.at(root, layout.OUTPUT_SPILL) / f"{Path(result_path).stem}.out"
        return cls(result_path, private, watch, spill, cmd, child_env, lib)

    def remove(self) -> None:
        _discard(self.result_path)
        shutil.rmtree(self.private, ignore_errors=True)


def _stand_by(root: Path, planned: standby.Planned, key: str, stamps: tuple[Any, ...],
              ahead: bool, nice: int) -> standby.Ready | None:
    """Start the child of `planned` as a standby: set up (`ahead`: and collected) at `nice`, waiting for its go."""
    try:
        own = _Own.make(root, planned)
    except OSError:
        return None
    own.env[runner.NICE_ENV] = str(nice)
    listing = own.private / "imported.json"  # what it read, if it collects before its go
    own.env[runner.LISTING_ENV] = str(listing)
    if ahead and own.lib is not None:
        bytecode.prepare(root, own.lib)  # it imports the package before its go
    go_read, go_write = os.pipe()
    if ahead:
        os.write(go_write, runner.AHEAD)  # (read once it is set up)
    try:
        child = warm.start(own.cmd, root, own.env, go=go_read)
    finally:
        os.close(go_read)
    if child is None:
        os.close(go_write)
        own.remove()
        return None
    assert child.stdout is not None
    drain = _Drain(child.stdout, own.spill)
    drain.start()
    return standby.Ready(key, planned, stamps, listing, ahead, child, go_write, (own, drain), _discard_standby)


def _discard_standby(ready: standby.Ready) -> None:
    own, drain = ready.held
    if ready.child.forked(timeout=0):
        proc.kill_tree(ready.child.pid)
        drain.join(REAP)
        ready.child.stdout.close()
    # else the worker has not forked it yet (it is still importing): once forked, the child ends at its
    # closed go pipe before it reads or writes a file (or the worker ends first), and its reader with it
    own.remove()


def prestart(root: Path) -> None:
    """An export or notebook sync begins: start the warm worker, and stand by for the build's first test run."""
    warm.prestart()
    standby.anticipate(root, _stand_by)


def prestart_if_changed(root: Path, edits: Iterable[tuple[Iterable[str], tuple[str, ...]]], since: Path) -> bool:
    """A run begins: `prestart` now if a file a student edits changed after `since` (the last run's end) or it is missing.

    `edits`: per module in course order, those files (paths) and the test files of its unit test run.
    Then the worker's imports and the first test run's set-up (~0.5-0.8 s) overlap doit's own start-up
    and up-to-date checks, and the first export, instead of coming after them; with nothing
    changed, nothing is started (a run with nothing to do stays as it was). The first test run of
    the build is the first changed module's: that one is stood by for (as it was last planned), not
    the first run of the last build, which was another module's when the student moved on to the
    next one. Not on one core (it would only take the run's own CPU)."""
    if not warm.enabled() or proc.cores() < 2:
        return False
    try:
        last = since.stat().st_mtime_ns
    except OSError:
        last = 0  # no run yet: everything is to be done
    for files, tests in edits:
        if any(_changed(path, last) for path in files):
            warm.prestart()
            standby.expect(root, tests, _stand_by)
            standby.anticipate(root, _stand_by)  # (unless one stands by now) the last build's first run
            return True
    return False


def _changed(path: str, since_ns: int) -> bool:
    try:
        return os.stat(path).st_mtime_ns > since_ns
    except OSError:
        return False


def expect_tests(root: Path, files: tuple[str, ...]) -> None:
    """Stand by now for the run of these test files as last planned (`doit watch`, for the saved module)."""
    standby.expect(root, files, _stand_by)


def run_child(root: Path, args: list[str], timeout: float, env: dict[str, str] | None = None,
              limits: Limits | None = None) -> Outcome:
    """Run `python -m tasks.sandbox.runner ARGS --result FILE` in `root`; wait at most `timeout` seconds."""
    planned = standby.Planned(tuple(args), float(timeout), tuple(sorted((env or {}).items())),
                              tuple(sorted(dataclasses.asdict(limits or Limits()).items())))
    outcome, stale = _run(root, planned)
    if stale:  # its standby imported the package before the go: done afresh, and not stood by for again
        standby.stale(root, planned)
        outcome, _ = _run(root, planned, fresh=True)
    return outcome


def _run(root: Path, planned: standby.Planned, fresh: bool = False) -> tuple[Outcome, bool]:
    args = list(planned.args)
    ready = standby.take(root, planned) if planned.tests and not fresh else None
    keeper = Keeper(root)
    keeper.snapshot()
    records = Records(root) if multiprocessing.parent_process() is None else None  # not under `doit -n`
    if records is not None:
        records.snapshot()
    try:
        own = ready.held[0] if ready is not None else _Own.make(root, planned)
    except BaseException:
        if ready is not None:
            ready.drop()
        raise
    stamps = {**(records.stamps() if records else {}), **{rel: list(stamp) for rel, stamp in keeper.before.items()}}
    child: Any = None
    try:
        own.watch.write_text(json.dumps(stamps), encoding="utf-8")
        if own.lib is not None:
            bytecode.prepare(root, own.lib)
        if ready is not None:
            child, drain = ready.child, ready.held[1]
            if not ready.go():  # it ended before its go (a test file that exits at import): done afresh
                ready.drop()
                return Outcome(None, None, "", False), True
        else:
            # a fork of the warm worker (tasks.sandbox.warm) where it can run, else a fresh interpreter
            child = warm.start(own.cmd, root, own.env) or subprocess.Popen(
                own.cmd, cwd=root, env=own.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True)
            assert child.stdout is not None
            drain = _Drain(child.stdout, own.spill)
            drain.start()
    except BaseException:
        if ready is not None:
            ready.drop()
        elif child is not None:
            stop(child)
        own.remove()
        raise
    timed_out = False
    deadline = time.monotonic() + planned.timeout
    try:
        if proc.cores() > 1:
            runner.parse_ahead(root, args)  # coverage's parse of the covered file, on this core, while the child runs
        if not fresh:
            if planned.tests:
                try:  # this child sets itself up alone first (it is what the student waits for); then the next ones
                    child.wait(timeout=min(HEAD_START, planned.timeout))
                except subprocess.TimeoutExpired:
                    pass
            # the next test runs' children set up while this one runs (a check: the first test run's, at once)
            standby.follow(root, planned, _stand_by)
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
        stop(child)  # anything the child left running, in its group or below it
        drain.join(REAP)  # the pipe closes when the last writer is dead; never wait longer than that
        result = _read(own.result_path)
        restored = keeper.restore()
        forged = records.check() if records is not None else []
    except BaseException:  # Ctrl-C, SIGTERM (tasks.safety.interrupts): stop the child, leave nothing behind
        stop(child)
        standby.drop()
        raise
    finally:
        child.stdout.close()
        own.remove()
    if ready is not None and (result or {}).get("standby") == runner.STALE:
        return Outcome(None, child.returncode, drain.text(), False), True
    raw = (result or {}).get("touched")
    touched: dict[str, Any] = raw if isinstance(raw, dict) else {}
    tampered = (*(_tampered(rel, what, touched, args) for rel, what in restored),
                *(_forged(rel, what, touched, args) for rel, what in forged))
    return Outcome(result, None if timed_out else child.returncode, drain.text(), timed_out, tampered), False


def _who(rel: str, touched: dict[str, Any], args: list[str]) -> str:
    who = touched.get(rel)
    if who is None:
        who = f"importing {args[args.index('--target') + 1]}" if "--target" in args else "the tests"
    return str(who)


def _forged(rel: str, what: str, touched: dict[str, Any], args: list[str]) -> str:
    if rel == layout.STATE_DB:
        return f"{rel}: {what} by {_who(rel, touched, args)}; doit's record of finished tasks is not the tests' to write"
    return (f"{rel}: {what} by {_who(rel, touched, args)}; a build record is not the tests' to write: it was removed, "
            "so its task runs again")


def _tampered(rel: str, what: str, touched: dict[str, Any], args: list[str]) -> str:
    who = _who(rel, touched, args)
    kept = f"; what it wrote is kept in {layout.SOURCE_COPIES}/replaced/" if what == "changed" else ""
    return f"{rel}: {what} by {who}; it was restored from its copy in {layout.SOURCE_COPIES}/{kept}"


def _read(result_path: str) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(result_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the child died before it could report
    return data if isinstance(data, dict) else None


def stop(child: subprocess.Popen[bytes]) -> None:
    """Kill the child, its group and every descendant; reap it (bounded)."""
    proc.kill_tree(child.pid)
    try:
        child.wait(timeout=REAP)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not take this long
        pass


def _discard(result_path: str) -> None:
    Path(result_path).unlink(missing_ok=True)
    # a child killed while writing its result leaves its temporary file behind
    for tmp in Path(result_path).parent.glob(f"{Path(result_path).name}.*.tmp"):
        tmp.unlink(missing_ok=True)


def kill_group(pid: int) -> None:
    """Kill the process group led by `pid` (the child and its descendants)."""
    proc.kill_tree(pid)
