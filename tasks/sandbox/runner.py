"""The child side of the sandbox: runs student code in a fresh process and writes a JSON result.

Run as `python -m tasks.sandbox.runner import|pytest ...` by `tasks.sandbox.spawn`. Only the
standard library is imported up front; the result file is the only channel back.

Package isolation: with `--stub`, the package and its subpackages are put in
`sys.modules` as bare namespaces, so importing `<pkg>.core.layers` loads
layers and what it imports, and NOT `<pkg>/__init__.py` (which would import
every module). A module is thereby checked and tested against its declared
dependencies only.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tasks.sandbox import proc
from tasks.sandbox.notify import Folders

PARENT_ENV = "TASKS_SANDBOX_PARENT"  # the pid of the doit process that started this child
STANDBY_ENV = "TASKS_SANDBOX_STANDBY"  # a standby child's go pipe (tasks.sandbox.standby): wait on it to collect
LISTING_ENV = "TASKS_SANDBOX_LISTING"  # a file: where that standby lists what it imported, if it collects before its go
# the words on a standby's go pipe: collect now (started after the export; started before it), and go
AHEAD, COLLECT, GO = b"a", b"c", b"g"
NICE_ENV = "TASKS_SANDBOX_NICE"  # the nice value a standby sets up at (STANDBY_NICE when not given)
STALE = "stale"  # a standby's result when the course package was imported before its go: run it afresh
USED = "used"  # a standby's result otherwise
STANDBY_NICE = 10  # a standby sets up at this nice value (unless told another), and gets its own back at its go
SHOWN = 2000  # characters of import-time output kept in the result


def install_stubs(lib: Path, packages: list[str]) -> None:
    """Make `packages` (dotted) importable namespaces without running their `__init__.py`."""
    for dotted in sorted(packages, key=lambda p: p.count(".")):
        mod = types.ModuleType(dotted)
        mod.__path__ = [str(lib.joinpath(*dotted.split(".")))]
        mod.__package__ = dotted
        sys.modules[dotted] = mod
        if "." in dotted:
            parent, child = dotted.rsplit(".", 1)
            setattr(sys.modules[parent], child, mod)


def _frames(tb: Any, lib: Path) -> list[list[Any]]:
    """Traceback frames as [file, line, function, text], innermost last."""
    return [[f.filename, f.lineno, f.name, (f.line or "").strip()] for f in traceback.extract_tb(tb)]


def _stack_frames() -> list[list[Any]]:
    return [[f.filename, f.lineno, f.name, (f.line or "").strip()] for f in traceback.extract_stack()[:-2]]


class _Recorder(io.TextIOBase):
    """Captures output written at import time, and where the first write came from."""

    def __init__(self) -> None:
        self.text = ""  # the first SHOWN characters only: a print of gigabytes must not fill memory
        self.where: list[list[Any]] = []

    def write(self, s: str) -> int:
        if s and not self.where:
            self.where = _stack_frames()
        if len(self.text) < SHOWN:
            self.text += s[: SHOWN - len(self.text)]
        return len(s)


def run_import(target: str, lib: Path) -> dict[str, Any]:
    """Import `target` as a library user would; report exceptions, exits and output."""
    out, err = _Recorder(), _Recorder()
    real = sys.stdout, sys.stderr
    sys.stdout.flush()
    sys.stderr.flush()
    # writes to the file descriptors themselves (os.write(1, ...), C code) are caught too
    captured = tempfile.TemporaryFile()
    saved = os.dup(1), os.dup(2)
    os.dup2(captured.fileno(), 1)
    os.dup2(captured.fileno(), 2)
    sys.stdout, sys.stderr = out, err
    start = time.perf_counter()
    result: dict[str, Any] = {"status": "ok"}
    try:
        __import__(target)
    except SystemExit as exc:
        result = {"status": "exit", "code": str(exc.code), "frames": _frames(exc.__traceback__, lib)}
    except BaseException as exc:  # noqa: BLE001 - student code may raise anything
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                  "frames": _frames(exc.__traceback__, lib)}
    finally:
        sys.stdout, sys.stderr = real
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
    raw = _replay(captured)
    result["seconds"] = round(time.perf_counter() - start, 4)
    if result["status"] == "ok" and (out.text or err.text or raw):
        rec = out if out.text else err
        text = rec.text or raw.decode("utf-8", "replace")
        result = {"status": "printed", "output": text[:SHOWN], "frames": rec.where, **result}
        result["status"] = "printed"
    return result


def _replay(captured: Any) -> bytes:
    """Pass what was written to the descriptors on to the parent (which caps it); return its start."""
    captured.seek(0)
    head = captured.read(SHOWN * 4)
    captured.seek(0)
    while chunk := captured.read(1 << 20):
        os.write(1, chunk)
    captured.close()
    return bytes(head)


class _Outcomes:
    """A pytest plugin that records each test's outcome."""

    def __init__(self, watch: dict[str, list[int]] | None = None, root: Path | None = None) -> None:
        self.passed = self.failed = self.errors = self.skipped = 0
        self.failures: list[dict[str, Any]] = []
        self.durations: dict[str, float] = {}
        self.where: dict[str, tuple[str, int]] = {}  # test -> (file, 1-based line of its def)
        self.watch = watch or {}  # course file -> [size, mtime_ns, inode] before the tests
        self.root = root or Path.cwd()
        self.touched: dict[str, str] = {}  # course file -> the first test after which it had changed
        self._paths: dict[str, tuple[str, tuple[int, ...]]] | None = None  # path -> (course file, stamp) still unchanged
        self._folders: Folders | None = None  # inotify over their folders, where it runs

    def pytest_warning_recorded(self, warning_message: Any, when: str, nodeid: str, location: Any) -> None:
        # pytest counts a test that returns a value as passed (with a warning): it asserted nothing
        if type(warning_message.message).__name__ != "PytestReturnNotNoneWarning" or nodeid not in self.where:
            return
        self.passed -= 1
        self.failed += 1
        self.failures.append(self._returned(nodeid, str(warning_message.message)))

    def _returned(self, nodeid: str, text: str) -> dict[str, Any]:
        path, line = self.where[nodeid]
        return {"test": nodeid, "crash": [path, line, "returns a value instead of asserting; pytest counts it as "
                                                      "passed: write 'assert ...' instead of 'return'"],
                "entries": [[path, line, nodeid.split("::")[-1]]], "text": text}

    def follow(self, watch: dict[str, list[int]]) -> None:
        """Look for changes of these course files from now on (the stamps are the parent's, taken before)."""
        self.watch = watch
        try:
            self._folders = Folders({os.path.dirname(os.path.join(self.root, rel)) for rel in watch}) if watch else None
        except OSError:  # no inotify: every file is looked at after every test
            self._folders = None

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        """Which course files had changed by the end of this test: the files inotify saw written, or all of them.

        The first time, and whenever events may have been lost, all of them: a file changed before
        the watch began (at collection, say) is put on the first test, as a stat of all would."""
        if self._paths is None:
            self._paths = {os.path.join(self.root, rel): (rel, tuple(stamp)) for rel, stamp in self.watch.items()}
            seen = None
            if self._folders is not None and self._folders.changed() is None:  # what it saw is in this look
                self._lost()
        elif self._folders is None:
            seen = None
        else:
            seen = self._folders.changed()
            if seen is None:  # a folder went away, or the queue overflowed: no more trust in the events
                self._lost()
        if not self._paths:
            return
        for path in list(self._paths) if seen is None else seen & self._paths.keys():
            rel, stamp = self._paths[path]
            try:
                st = os.stat(path)
                now: tuple[int, ...] = (st.st_size, st.st_mtime_ns, st.st_ino)
            except OSError:
                now = ()
            if now != stamp:
                self.touched[rel] = nodeid
                self.watch.pop(rel, None)
                del self._paths[path]

    def _lost(self) -> None:
        if self._folders is not None:
            self._folders.close()
            self._folders = None

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call" and report.location[1] is not None:
            self.where[report.nodeid] = (report.location[0], report.location[1] + 1)
        if report.when == "call" or report.outcome != "passed":
            self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + report.duration
        if report.when == "call":
            if report.passed:
                self.passed += 1
            elif report.skipped:
                self.skipped += 1
            else:
                self.failed += 1
                failure = _failure(report)
                if "PytestReturnNotNoneWarning" in str(failure["crash"][2:3]):  # the warning made an error
                    failure = self._returned(report.nodeid, failure["text"])
                self.failures.append(failure)
        elif report.failed:
            self.errors += 1
            self.failures.append(_failure(report))
        elif report.skipped and report.when == "setup":
            self.skipped += 1

    def pytest_sessionstart(self, session: Any) -> None:
        _drop_root()  # pytest's `pythonpath = ["."]` setting puts it back; the installed package has no root

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.errors += 1
            self.failures.append(_failure(report))


def _failure(report: Any) -> dict[str, Any]:
    longrepr = getattr(report, "longrepr", None)
    where: list[Any] = []
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        where = [crash.path, crash.lineno, crash.message]
    entries: list[list[Any]] = []
    chain = getattr(longrepr, "chain", None)
    if chain:
        for tb, _, _ in chain:
            for entry in getattr(tb, "reprentries", []):
                loc = getattr(entry, "reprfileloc", None)
                if loc is not None:
                    entries.append([loc.path, loc.lineno, loc.message])
    text = str(longrepr) if longrepr is not None else ""
    if not where and not entries and text:
        # a collection error (e.g. an ImportError in the test file) comes as plain text:
        # take its frames ('path:line: in name') and its error line ('E   ...')
        for m in _FRAME.finditer(text):
            entries.append([m.group("path"), int(m.group("line")), m.group("name")])
        error = next((ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ")), "")
        errors = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ")]
        syntax = _SYNTAX.search(text)
        if syntax:  # a SyntaxError's place is the file it names, not the parser's frame (ast.py)
            message = next((e for e in reversed(errors) if e.startswith(("SyntaxError", "IndentationError",
                                                                          "TabError"))), "SyntaxError")
            entries.append([syntax.group("path"), int(syntax.group("line")), "<module>"])
            where = [syntax.group("path"), int(syntax.group("line")), message]
        elif entries:
            where = [entries[-1][0], entries[-1][1], error or "error while collecting the tests"]
    location = getattr(report, "location", None)
    own = [location[0], (location[1] or 0) + 1] if location and location[1] is not None else []
    return {"test": report.nodeid, "crash": where, "entries": entries, "text": text[-4000:], "location": own}


_SYNTAX = re.compile(r'^E +File "(?P<path>[^"]+)", line (?P<line>\d+)$', re.MULTILINE)
_FRAME = re.compile(r"^(?P<path>[^\s:][^:]*\.py):(?P<line>\d+): in (?P<name>.+)$", re.MULTILINE)


class _Standby:
    """A pytest plugin for a standby child: configured, it waits for a word on its go pipe before it collects.

    Everything up to here (pytest's configuration, plugins, conftest files, fixtures) is the same
    for the run it stands by for. GO: the tests and the package are imported only now, and the
    run goes on. AHEAD or COLLECT: it collects first (imports the package and the test files),
    lists in `listing` the course files it read, and waits for GO before it runs the tests. The
    parent took the stamps of those files just before that word and compares them at the go
    (`tasks.sandbox.standby`): a changed one means it is not used. COLLECT comes to a standby set
    up before the export its run tests, so a package a conftest.py imported before it is older
    code: the standby ends as STALE (so does one told GO, for the same reason). A closed pipe:
    the standby is not needed, and the child ends quietly.
    """

    def __init__(self, fd: int, lib: Path, result: str, *on_go: Callable[[], None], listing: str = "") -> None:
        self.fd, self.lib, self.result, self.listing = fd, lib, result, listing
        self.on_go = list(on_go)  # what a run does first: arm the stack dump, read the course files' stamps
        self.niced: int | None = None  # the priority it had before its set-up, given back at the go
        self.collecting = False  # it collects before its go

    def _word(self) -> bytes:
        word = os.read(self.fd, 1)
        if not word:
            os._exit(0)
        return word

    def pytest_collection(self, session: Any) -> None:
        word = self._word()
        if word != AHEAD:
            early = sorted(name for name, mod in list(sys.modules.items())
                           if _under(getattr(mod, "__file__", None), self.lib))
            if early:  # a conftest.py imported the package before the export: that code may be older
                with open(self.result, "w", encoding="utf-8") as f:
                    json.dump({"standby": STALE, "imported": early[:5]}, f)
                os._exit(0)
        if word == GO:
            self._go(session)
        else:
            self.collecting = True

    def pytest_collection_finish(self, session: Any) -> None:
        if not self.collecting:
            return
        if self.listing:  # which course files it read: only their stamps decide whether it may be used
            tmp = f"{self.listing}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as out:
                json.dump(sorted(_course_files(str(self.lib))), out)
            os.replace(tmp, self.listing)
        if self._word() != GO:
            os._exit(0)
        self._go(session)

    def _go(self, session: Any) -> None:
        os.close(self.fd)
        if self.niced is not None:
            _nice(self.niced, back=True)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and hasattr(reporter, "_session_start"):  # "passed in ..." counts from the go
            from _pytest import timing

            reporter._session_start = timing.Instant()
        for then in self.on_go:
            then()


class _Measure:
    """A pytest plugin: coverage from the first conftest.py on (pytest's own set-up before it is not traced: ~50 ms).

    Course code is imported by conftest files or test files only, so every line of the covered
    file that runs is measured; what pytest does before (its plugins, its options) is not slowed
    by the tracer."""

    def __init__(self, cov: Any) -> None:
        self.cov = cov

    def pytest_load_initial_conftests(self) -> None:
        self.cov.start()


def _course_files(lib: str) -> set[str]:
    """The real paths of the course's files this process imported: the package's (`lib`, resolved), and the others
    under the working directory, but not the interpreter's (a `.venv` inside the course) nor the build system's."""
    package, here = lib + os.sep, os.getcwd() + os.sep
    prefixes = (sys.prefix, sys.base_prefix, sys.exec_prefix)
    skip = tuple({f(p) + os.sep for p in prefixes for f in (os.path.abspath, os.path.realpath)}
                 | {f"{Path(__file__).resolve().parents[1]}{os.sep}"})
    found = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        path = os.path.abspath(path)
        if path.startswith(package) or (path.startswith(here) and not path.startswith(skip)):
            found.add(os.path.realpath(path))
    return found


def _nice(value: int, back: bool = False) -> int | None:
    """Set this process's nice value (`back`: the earlier one); the value it had, or None where it cannot."""
    try:
        before = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, 0, value if back else max(before, value))
        return before
    except (OSError, AttributeError):  # not POSIX; or no right to raise the priority again: the run stays niced
        return None


def _under(path: str | None, folder: Path) -> bool:
    return bool(path) and str(path).startswith(f"{folder}{os.sep}")


def run_pytest(args: list[str], cover: str | None, data_file: str | None, watch_file: str | None = None,
               parsed: str | None = None, standby: _Standby | None = None) -> dict[str, Any]:
    """Run pytest in this process (optionally under coverage of one file).

    `standby`: wait for its go before collecting; what the run measures counts from the go."""
    import pytest

    cov = None
    plugins: list[Any] = []
    if cover:
        import coverage

        cov = coverage.Coverage(data_file=data_file, include=[cover], config_file=False)
        plugins.append(_Measure(cov))
    plugin = _Outcomes()
    start = time.perf_counter()

    def begin() -> None:  # the course files' stamps are the parent's, taken just before it started (or let go)
        nonlocal start
        start = time.perf_counter()
        plugin.follow(json.loads(Path(watch_file).read_text(encoding="utf-8")) if watch_file else {})

    if standby is None:
        begin()
    else:
        standby.on_go.append(begin)
    code = int(pytest.main(args, plugins=[*plugins, plugin] if standby is None else [*plugins, standby, plugin]))
    if code == 0 and plugin.failed:
        code = 1  # a test that returned a value
    seconds = time.perf_counter() - start
    result: dict[str, Any] = {
        "exit_code": code, "passed": plugin.passed, "failed": plugin.failed, "errors": plugin.errors,
        "skipped": plugin.skipped, "failures": plugin.failures, "seconds": round(seconds, 3),
        "durations": {k: round(v, 4) for k, v in plugin.durations.items()},
        "touched": plugin.touched,
    }
    if standby is not None:
        result["standby"] = USED  # set up before the go (tasks.sandbox.standby)
    if cov is not None:
        cov.stop()
        cov.save()
        result["coverage"] = _coverage(cov, cover or "", parsed)
    return result


def _coverage(cov: Any, path: str, parsed: str | None = None) -> dict[str, Any]:
    """The coverage of `path`: percent, statements, missing and executed lines, as `cov.analysis2` gives them.

    `parsed`: a folder that keeps what coverage's parser finds in a source (its statements and
    multi-line statements), keyed by the source's bytes; parsing is most of the analysis
    (~30 ms for a course module), and a dependant's unit tests re-run with its own source unchanged.
    """
    import coverage

    found = None
    if parsed:
        try:
            found = _analysed(cov, path, Path(parsed))
        except (ImportError, AttributeError, TypeError, ValueError, OSError):  # another coverage; an unreadable source
            found = None  # coverage's own analysis decides (and reports a missing source as no coverage)
    try:
        statements, missing = found or cov.analysis2(path)[1:4:2]
    except (coverage.CoverageException, OSError):
        return {"percent": 0.0, "statements": 0, "missing": []}
    statements, missing = set(statements), set(missing)
    total = len(statements)
    percent = 100.0 * (total - len(missing)) / total if total else 100.0
    executed = sorted(statements - missing)  # what `doit student` proves its regions reached by
    return {"percent": round(percent, 2), "statements": total, "missing": sorted(missing), "executed": executed}


def _analysed(cov: Any, path: str, folder: Path) -> tuple[set[int], set[int]]:
    """(statements, missing) of `path` as coverage's own analysis computes them, the parse kept by content."""
    from coverage.misc import join_regex

    statements, multiline = parse(path, join_regex(cov.get_exclude_list()), folder)
    measurements = cov.get_data()
    lines: set[int] = set()
    for measured in measurements.measured_files():
        if os.path.exists(measured) and os.path.samefile(measured, path):
            lines |= set(measurements.lines(measured) or ())
    executed = {multiline.get(n, n) for n in lines} & statements
    return statements, statements - executed


def parse(path: str, exclude: str, folder: Path) -> tuple[set[int], dict[int, int]]:
    """Coverage's parse of `path` (its statements and multi-line statements), kept in `folder` by content."""
    import hashlib

    import coverage
    from coverage.parser import PythonParser

    source = Path(path).read_bytes()
    key = hashlib.sha256(b"\0".join([source, exclude.encode(), coverage.__version__.encode(),
                                      sys.version.encode()])).hexdigest()
    kept = folder / f"{key}.json"
    try:
        data = json.loads(kept.read_text(encoding="utf-8"))
        return set(data["statements"]), {int(k): v for k, v in data["multiline"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    parser = PythonParser(text=source.decode("utf-8"), filename=path, exclude=exclude)
    parser.parse_source()
    statements, multiline = set(parser.statements), dict(parser.multiline_map)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = kept.with_name(f"{kept.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"statements": sorted(statements), "multiline": multiline}), encoding="utf-8")
        os.replace(tmp, kept)
    except OSError:
        pass  # a cache: the next run parses again
    return statements, multiline


def option(args: list[str] | tuple[str, ...], name: str) -> str | None:
    """The value of the runner's option `name` (`--lib`, `--cover`...) in `args`, before pytest's `--`; None: not given."""
    head = list(args[:args.index("--")] if "--" in args else args)
    return head[head.index(name) + 1] if name in head[:-1] else None


def parse_ahead(root: Path, args: list[str]) -> None:
    """In the parent, while the child runs: coverage's parse of the file a test run covers, for the child to find.

    The parse of a just-exported module is ~20 ms that the child would spend after its tests; here it
    runs on another core meanwhile. Any failure is left to the child, which parses (and reports) itself."""
    cover, parsed = option(args, "--cover"), option(args, "--parsed")
    if cover is None or parsed is None:
        return
    try:
        import coverage
        from coverage.misc import join_regex

        exclude = join_regex(coverage.Coverage(config_file=False).get_exclude_list())
        parse(str(root / cover), exclude, root / parsed)
    except Exception:  # noqa: BLE001 - a cache filled ahead; the child does it otherwise
        pass


_KEPT: list[Any] = []  # files that must outlive every test (a collected file would warn, and close)


def _drop_root() -> None:
    """Take the repository root (the working directory) off sys.path: the installed package will not have it."""
    here = os.path.realpath(os.getcwd())
    sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) != here]


def set_limits(memory_mb: int, processes: int, file_size_mb: int, cpu_s: int) -> None:
    """Resource limits for this process and what it starts (each only lowered, never raised)."""
    import resource

    for name, value in (("RLIMIT_AS", memory_mb << 20), ("RLIMIT_NPROC", processes),
                        ("RLIMIT_FSIZE", file_size_mb << 20), ("RLIMIT_CPU", cpu_s)):
        which = getattr(resource, name, None)
        if which is None or value <= 0:
            continue
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        try:
            resource.setrlimit(which, (value, hard))
        except (ValueError, OSError):
            pass  # e.g. a lower limit already in place


def _parent_gone(*_: Any) -> None:
    """The doit process died (kill -9, SIGHUP): take this child and everything below it down too."""
    proc.kill_tree(os.getpid(), include_self=False)
    os.killpg(os.getpgrp(), signal.SIGKILL)
    os._exit(1)  # pragma: no cover - killed above


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    _parent_gone()


def guard(parent: int | None) -> None:
    """Nothing of this child outlives the doit process: a subreaper that dies with its parent, tree and all."""
    proc.become_subreaper()
    if parent is None:
        return
    signal.signal(signal.SIGTERM, _parent_gone)
    proc.die_with_parent(signal.SIGTERM, parent)
    # and a watchdog, for when the signal's handler cannot run (it runs between bytecodes of the main thread)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watchdog").start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.sandbox.runner")
    parser.add_argument("mode", choices=["import", "pytest"])
    parser.add_argument("--lib", required=True)
    parser.add_argument("--stub", action="append", default=[])
    parser.add_argument("--result", required=True)
    parser.add_argument("--target")
    parser.add_argument("--cover")
    parser.add_argument("--data-file")
    parser.add_argument("--stack", help="file for the stack dump of a run that hangs")
    parser.add_argument("--stack-after", type=float, help="seconds after which the stack is dumped")
    parser.add_argument("--watch")  # JSON: course file -> stamp, to name the test that changed one
    parser.add_argument("--rewrites", help="folder that keeps test files with their asserts rewritten")
    parser.add_argument("--pycache", help="folder of the package's bytecode, compiled by the parent")
    parser.add_argument("--parsed", help="folder that keeps coverage's parse of a source, by content")
    for name in ("memory", "processes", "file-size", "cpu"):
        parser.add_argument(f"--limit-{name}", type=int, default=0)
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    ns = parser.parse_args(argv[:split])
    rest = argv[split + 1:]
    parent = os.environ.get(PARENT_ENV, "")
    guard(int(parent) if parent.isdigit() else None)
    set_limits(ns.limit_memory, ns.limit_processes, ns.limit_file_size, ns.limit_cpu)
    lib = Path(ns.lib).resolve()
    _drop_root()
    def arm() -> None:
        if ns.stack and ns.stack_after:
            import faulthandler

            # the parent kills a run that hangs; the stack, dumped just before, says where it loops
            _KEPT.append(open(ns.stack, "w"))  # noqa: SIM115 - open until the process ends (faulthandler writes it)
            faulthandler.dump_traceback_later(ns.stack_after, file=_KEPT[-1])

    go = os.environ.pop(STANDBY_ENV, "")
    listing = os.environ.pop(LISTING_ENV, "")
    nice = os.environ.pop(NICE_ENV, "")
    standby = _Standby(int(go), lib, ns.result, arm, listing=listing) if go.isdigit() and ns.mode == "pytest" else None
    if standby is None:
        arm()  # a standby's timeout counts from its go
    else:  # its set-up takes only what the run before it (and the standbys nearer their runs) leave of the CPU
        standby.niced = _nice(int(nice) if nice.isdigit() else STANDBY_NICE)
    if ns.pycache:
        from tasks.sandbox import bytecode

        bytecode.install(lib, Path(ns.pycache))
    sys.path.insert(0, str(lib))
    if ns.stub:
        install_stubs(lib, ns.stub)
    if ns.mode == "import":
        result = run_import(ns.target, lib)
    else:
        if ns.rewrites:
            from tasks.tools.pytestrewrite import keep_rewrites

            keep_rewrites(ns.rewrites)
        result = run_pytest(rest, ns.cover, ns.data_file, ns.watch, ns.parsed, standby)
    proc.kill_tree(os.getpid(), include_self=False)  # what student code left running, daemons included
    tmp = f"{ns.result}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        os.replace(tmp, ns.result)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        # named, so that the parent can say which file a full disk refused
        raise OSError(exc.errno, exc.strerror, ns.result) from None
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
