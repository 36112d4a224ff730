"""Standby children: the next test runs' children, set up on the spare core while the current run goes on.

About half of a test child's time on the real course is pytest setting itself up before it
collects anything: its configuration, plugins, conftest files and fixtures (~0.1 s), the same
for every run of the same test files. So while a test run goes on, the parent starts the children
of the test runs that followed this one last time (below), each a fork of the warm worker
(`tasks.sandbox.warm`) with its own files, and such a child collects the tests (it imports the
package and the test files) and stops, on a pipe, before it runs them (`runner._Standby`). In a
build the exports come before the test runs, so what it imported is what its run tests; the
parent stamps those files when it starts the standby and compares the stamps when its run comes
(a changed one: the standby is dropped, the run done afresh). When the parent's next test run is
that one, it takes the standby: it takes the course files' stamps for the tamper watch, then
lets it go, and from the go on it is the run it would have been; its timeout and the seconds it
reports count from then.

A build's first test run (in a build, that of the edited module: the answer the student waits
for) is stood by for before its module is exported: when a file the student edits changed since
the last run, as dodo.py loads, the run of the first module with such a file
(`spawn.prestart_if_changed`, through `expect`), else at the first notebook sync or export the
first run of the last build (`anticipate`). Such a standby stops before it collects anything;
the next check (the check follows the export) tells it to collect (`Ready.collect`: its stamps are taken then), so
that it has collected by the time its run comes. `doit watch` stands by the same way for the
saved module's tests as soon as it sees the save. One told to go without having collected imports
the package only after its go. A standby sets up niced (NICE) and takes its priority
back at the go (where the system lets it: otherwise that run stays niced), and each
test run has its first `spawn.HEAD_START` seconds alone before the next standbys start, so that
setting up the next runs never slows the one the student is waiting for. A check stands by for
the runs that follow the last test run that no standby waits for yet (the first check: for the
first test run only, unless one waits for it already).

Which run follows which is learned: `build/state/next-runs.json` keeps, per run, the run that
came next in the last build (and `doit watch`, one process, learns that the edited module's
tests follow the last run of the previous save). A unit test run is often shorter than the
next one's set-up, so each run stands by for the next AHEAD runs along that chain, not only
the next one (runs this build did already are skipped), the nearest at the higher priority
(nice 10, the others 19). The order of a build's runs is not quite the same every time (doit wakes
the tasks that waited for one in the order of a set), so up to WAITING standbys wait at
once, each until its run comes or the process ends; one more is made room for by dropping
the oldest that is no longer among the next AHEAD (else the oldest). A standby is
used only if nothing it read before its go has changed since it started: the pytest
configuration files at the root and the conftest.py files on the way to the test files, and
for one that collected, the package's and those folders' Python files (else it is dropped:
killed, its files removed). For a standby set up before the export, a conftest.py that imports
the package makes it stale (that code may be older than the export): the run is then done
afresh, and that run is not stood by for again; so is a run whose standby ended before its go (a
test file that exits at import).

Off where it cannot pay or cannot be trusted: without the warm worker, on a single core (the
standby would take the current run's CPU), under `doit -n` (the cores are busy; and each
process sees only part of the order), outside the main thread (a thread pool's runs have no order),
when the code under test is untrusted (`doit grade`:
a conftest would run before the tamper check's snapshot), and with COURSE_STANDBY=0.
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import json
import multiprocessing
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.core import atomic, layout
from tasks.sandbox import bytecode, proc, runner, warm
from tasks.sandbox.keep import stamp

STANDBY_ENV = "COURSE_STANDBY"  # "0": never stand by
START = "start"  # the key of "no test run yet in this process": its next run is the first one
AHEAD = 3  # the runs a run stands by for: the next ones along the learned chain
WAITING = 4  # standbys at most at once: doit's order of a build's runs varies a little, so some wait longer
NICE = (runner.STANDBY_NICE, 19, 19)  # a standby's nice value while it sets up, by how near its run is (the nearest first)
KEPT = 1000  # runs whose next run is kept, the latest learned
INI_FILES = ("pyproject.toml", "pytest.ini", "tox.ini", "setup.cfg", "conftest.py")  # read before collection


def enabled() -> bool:
    return (os.environ.get(STANDBY_ENV, "1") != "0" and warm.enabled() and not bytecode.untrusted()
            and proc.cores() > 1 and multiprocessing.parent_process() is None
            and threading.current_thread() is threading.main_thread())  # doit's serial runs; not thread pools


@dataclass(frozen=True)
class Planned:
    """A sandboxed run as `spawn.run_child` is asked for it: what a standby is made from and matched by."""

    args: tuple[str, ...]
    timeout: float
    env: tuple[tuple[str, str], ...] = ()
    limits: tuple[tuple[str, Any], ...] = ()

    @property
    def tests(self) -> bool:
        return bool(self.args) and self.args[0] == "pytest"

    @property
    def files(self) -> tuple[str, ...]:
        """The test files (what follows `--`, up to pytest's first option)."""
        rest = self.args[self.args.index("--") + 1:] if "--" in self.args else ()
        return tuple(itertools.takewhile(lambda a: not a.startswith("-"), rest))

    def key(self, root: Path) -> str:
        environ = sorted(os.environ.items())  # PYTEST_ADDOPTS and the like decide the run too
        blob = json.dumps([str(Path(root).resolve()), self.args, self.timeout, self.env, self.limits, environ])
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def to_json(self) -> dict[str, Any]:
        return {"args": list(self.args), "timeout": self.timeout, "env": dict(self.env), "limits": dict(self.limits)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Planned:
        return cls(tuple(str(a) for a in data["args"]), float(data["timeout"]),
                   tuple(sorted((str(k), str(v)) for k, v in dict(data["env"]).items())),
                   tuple(sorted(dict(data["limits"]).items())))


def stamps(root: Path, planned: Planned, ahead: bool = False) -> tuple[Any, ...]:
    """The stamps of what a pytest child reads before its go: ini files, and conftest.py files.

    `ahead`: it collects before its go, so also every Python file of the package (`--lib`) and of
    the folders on the way to the test files (the tests themselves, their helpers)."""
    root = Path(root).resolve()  # as the child names what it read
    paths = {root / name for name in INI_FILES}
    for arg in planned.files:
        here = (root / arg).parent
        while here != root and root in here.parents:
            paths.add(here / "conftest.py")
            if ahead:
                paths.update(here.glob("*.py"))
            here = here.parent
    lib = runner.option(planned.args, "--lib")
    if ahead and lib is not None:
        paths.update((root / lib).resolve().rglob("*.py"))  # as the child names them (build/ may be a symlink)
    return tuple((str(path), stamp(str(path))) for path in sorted(paths))


@dataclass
class Ready:
    """A standby child: its run, its process (`warm.WarmChild`), the write end of its go pipe, and the
    parent's side of it (`spawn`: its files and output reader)."""

    key: str
    planned: Planned
    stamps: tuple[Any, ...]
    listing: Path  # where it lists the course files it read, when it collects before its go (`runner._Standby`)
    ahead: bool  # it collects before its go (told so when it started, or since `collect`)
    child: Any
    go_pipe: int
    held: Any
    discard: Callable[[Ready], None]  # kill it and remove its files (spawn's side)

    def collect(self, root: Path) -> None:
        """Have it collect now, before its go: the export its run tests is done (its stamps are taken first)."""
        if self.ahead or self.go_pipe < 0:
            return
        now = stamps(root, self.planned, ahead=True)
        lib = runner.option(self.planned.args, "--lib")
        if lib is not None:
            bytecode.prepare(root, lib)  # it imports the package now
        try:
            os.write(self.go_pipe, runner.COLLECT)
        except BrokenPipeError:
            return  # it is gone already: its run finds that out at its go
        self.stamps, self.ahead = now, True

    def current(self, now: tuple[Any, ...]) -> bool:
        """Whether what it read is as it was when it started (`now`: the stamps of the same files today).

        One that collected ahead is judged by the files it says it read, once it has said so: an
        `__init__.py` that `init` rewrote meanwhile is no matter to a unit test that never ran it."""
        if self.stamps == now:
            return True
        if not self.ahead:
            return False
        try:
            read = set(json.loads(self.listing.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return False  # still collecting: any file it may read could be one that changed
        before, after = dict(self.stamps), dict(now)
        if before.keys() != after.keys():  # a module came or went: one it failed to import may be there now
            return False
        fixed = {path for path in before if Path(path).name in INI_FILES}  # read by every run, imported or not
        return read <= before.keys() and all(before[p] == after[p] for p in read | fixed)

    def go(self) -> bool:
        """Let it go; False when it is gone already (its set-up or its collection ended the process)."""
        try:
            os.write(self.go_pipe, runner.GO)
        except BrokenPipeError:
            return False
        finally:
            os.close(self.go_pipe)
            self.go_pipe = -1
        return True

    def drop(self) -> None:
        if self.go_pipe >= 0:
            os.close(self.go_pipe)  # the child reads the end of its pipe, and ends
            self.go_pipe = -1
        self.discard(self)  # (while its pid, if the worker has sent it, can still be read)
        self.child.drop()


@dataclass
class _State:
    root: Path | None = None
    last: str = START  # the key of this process's last test run
    done: set[str] = field(default_factory=set)  # the test runs of this build (of this save, in `doit watch`)
    next: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> the run that followed it
    stale: set[str] = field(default_factory=set)  # runs whose conftest imports the package
    waiting: list[Ready] = field(default_factory=list)  # oldest first, at most WAITING


_state = _State()


def _load(root: Path) -> None:
    if _state.root == Path(root):
        return
    drop()
    _state.root, _state.last, _state.next, _state.stale, _state.done = Path(root), START, {}, set(), set()
    try:
        data = json.loads(layout.at(root, layout.NEXT_RUNS).read_text(encoding="utf-8"))
        _state.next = {str(k): dict(v) for k, v in dict(data["next"]).items()}
        _state.stale = {str(k) for k in data["stale"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # a hint only: nothing is stood by for until it is learned again


def _save(root: Path) -> None:
    for old in list(_state.next)[:-KEPT]:  # runs of manifests long gone
        del _state.next[old]
    try:
        atomic.write_text(layout.at(root, layout.NEXT_RUNS),
                          json.dumps({"next": _state.next, "stale": sorted(_state.stale)}, indent=0))
    except OSError:
        pass  # a full disk: the hint is not kept


def take(root: Path, planned: Planned) -> Ready | None:
    """The standby for this run, if one waits for it and is still current (else it is dropped)."""
    if not _state.waiting or not enabled():
        return None
    key = planned.key(root)
    ready = next((r for r in _state.waiting if r.key == key), None)
    if ready is None:
        return None  # the others wait on: doit's order varies a little from build to build
    _state.waiting.remove(ready)
    if ready.current(stamps(root, planned, ready.ahead)) and ready.child.claim():
        return ready
    ready.drop()
    return None


Make = Callable[[Path, "Planned", str, tuple[Any, ...], bool, int], "Ready | None"]  # spawn's: start a standby child


def follow(root: Path, planned: Planned, make: Make) -> None:
    """A run has just started: learn it as the next of the last test run, and stand by for the ones that follow it.

    Those standbys collect ahead: in a build, the exports come before the test runs, so the package
    they import is the one their runs will test (if it is not, their stamps say so, and they are dropped)."""
    if not enabled():
        return
    _load(root)
    key = planned.key(root)
    if planned.tests:
        learned = planned.to_json()
        if _state.next.get(_state.last) != learned:
            _state.next.pop(_state.last, None)  # the latest learned last
            _state.next[_state.last] = learned
            _save(root)
        _state.last = key
        if key in _state.done:  # a run comes again: a new build in this process (`doit watch`'s next save)
            _state.done.clear()
        _state.done.add(key)
    else:  # a check follows an export: the standbys set up before it (`anticipate`, `expect`) collect now
        for ready in list(_state.waiting):
            ready.collect(root)
    upcoming = _upcoming(root, _state.last)
    if _state.last == START:  # before the first test run: the ones after it are stood by for once it runs
        upcoming = [] if _state.waiting else upcoming[:1]  # (one waits already: for this build's first run)
    near = {p.key(root) for p in upcoming}
    for rank, following in enumerate(upcoming):
        _stand_by_for(root, following, make, ahead=True, nice=NICE[min(rank, len(NICE) - 1)], near=near)


def _upcoming(root: Path, last: str) -> list[Planned]:
    """The next AHEAD test runs after `last` along the learned chain, without the ones this build did already."""
    found: list[Planned] = []
    seen = {last}
    here = last
    while len(found) < AHEAD and len(seen) <= AHEAD + len(_state.done) + 1:
        data = _state.next.get(here)
        if data is None:
            break
        try:
            upcoming = Planned.from_json(data)
        except (KeyError, TypeError, ValueError):
            break
        here = upcoming.key(root)
        if here in seen:
            break  # the chain came round
        seen.add(here)
        if here not in _state.done:
            found.append(upcoming)
    return found


def anticipate(root: Path, make: Make) -> None:
    """The first export of a build is about to begin: stand by now for the build's first test run, as last learned.

    It sets up while the exports run (on the other core, as the warm worker gets ready), and
    collects at the next check (`follow`), once the export its run tests is done."""
    if not enabled():
        return
    _load(root)
    if _state.last != START or _state.waiting:
        return
    for planned in _upcoming(root, START)[:1]:
        _stand_by_for(root, planned, make, ahead=False, nice=NICE[0], near={planned.key(root)})


def expect(root: Path, files: tuple[str, ...], make: Make) -> None:
    """Stand by now for the test run of `files` as it was last planned (`doit watch`: the saved module's tests).

    That standby collects only after its go: the saved module is exported in between."""
    if not enabled() or not files:
        return
    _load(root)
    _state.done.clear()  # a save: the runs of a new build follow
    for data in list(_state.next.values()):
        try:
            planned = Planned.from_json(data)
        except (KeyError, TypeError, ValueError):
            continue
        if planned.files == files:
            _stand_by_for(root, planned, make, ahead=False, nice=NICE[0], near={planned.key(root)})
            return


def _stand_by_for(root: Path, planned: Planned, make: Make, ahead: bool, nice: int, near: set[str]) -> None:
    """Stand by for `planned` unless a standby waits for it already; `near`: the runs expected next, kept first."""
    key = planned.key(root)
    if key in _state.stale:
        return
    for waiting in [r for r in _state.waiting if r.key == key]:
        if ahead:
            waiting.collect(root)  # (one that has collected already is left as it is)
            return
        if not waiting.ahead:
            return
        _state.waiting.remove(waiting)  # it would test the package as it was before the coming export
        waiting.drop()
    ready = make(root, planned, key, stamps(root, planned, ahead), ahead, nice)
    if ready is not None:
        _state.waiting.append(ready)
        while len(_state.waiting) > WAITING:
            gone = next((r for r in _state.waiting if r.key not in near), _state.waiting[0])
            _state.waiting.remove(gone)
            gone.drop()


def stale(root: Path, planned: Planned) -> None:
    """This run's standby imported the package before its go: never stand by for it again."""
    _load(root)
    _state.stale.add(planned.key(root))
    _save(root)


def drop() -> None:
    """Drop every waiting standby (at exit, on Ctrl-C, for another course root)."""
    waiting, _state.waiting = _state.waiting, []
    for ready in waiting:
        ready.drop()


atexit.register(drop)
