"""`doit watch`: rebuild and re-test on every save, the edited module's verdict first.

A doit command plugin (registered in pyproject.toml, `[tool.doit.plugins.command]`). One
warm process: nbdev and jupytext are imported once and the exports run in it. It
watches the course's sources, their paired notebooks, the test files, pyproject.toml and
modules.yaml with `watchfiles`; after a save (debounced, and once the saved files stop
changing, so that a file is never read or synced half-written) it reloads the task list
and runs the default tasks through doit's own engine, in this process. The edited
module's `validate` task is selected first, so its verdict comes first; doit skips
everything that is up to date. A broken manifest is shown and the watch waits for the
fix; a module that hangs is stopped by its timeout (the sandbox kills its process group)
and the watch goes on. Ctrl-C (or SIGTERM) ends it; no child outlives it.
"""

from __future__ import annotations

import hashlib
import os
import runpy
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from doit.cmd_base import Command

from tasks.core import layout

SETTLE_POLL = 0.03  # s between two looks at a saved file's size and mtime
TICK_MS = 100  # the watcher wakes this often without an event
POLL_TICKS = 10  # every this many ticks, and at a new watcher's first, look at the files anyway (an event missed:
# a save made while the watcher was being set up, just after the status line, would otherwise wait a whole poll)
SETTLE_MAX = 2.0  # s: a file still changing after this is read anyway (the sync refuses a broken notebook)


@dataclass
class Watched:
    """What one task list says is worth watching, and which module owns which file."""

    files: set[Path] = field(default_factory=set)
    test_dirs: set[Path] = field(default_factory=set)
    owner: dict[Path, str] = field(default_factory=dict)
    pairs: dict[str, tuple[str, str]] = field(default_factory=dict)  # module -> (source, paired notebook)
    tests: dict[str, tuple[str, ...]] = field(default_factory=dict)  # module -> its unit test files

    @property
    def dirs(self) -> set[Path]:
        return {p.parent for p in self.files} | self.test_dirs

    def wants(self, path: Path) -> bool:
        if path in self.files:
            return True
        # a new test file, or a conftest.py that decides results
        return path.parent in self.test_dirs and path.suffix == ".py" and not path.name.startswith(".")


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def settle(paths: Iterable[Path], quiet: float = SETTLE_POLL) -> None:
    """Wait until none of `paths` changes between two looks (an editor still writing), at most SETTLE_MAX.

    A file last modified at least `quiet` seconds ago needs no second look: the watch passes its
    `--debounce`, the time watchfiles has just waited without an event (the usual case)."""
    def look() -> list[tuple[int, int] | None]:
        out: list[tuple[int, int] | None] = []
        for p in paths:
            try:
                st = p.stat()
                out.append((st.st_size, st.st_mtime_ns))
            except OSError:
                out.append(None)
        return out

    deadline = time.monotonic() + SETTLE_MAX
    before = look()
    written = time.time_ns()
    if all(p is None or written - p[1] >= quiet * 1e9 for p in before):
        return  # none was written since watchfiles' last event: as good as two equal looks that far apart
    while time.monotonic() < deadline:
        time.sleep(SETTLE_POLL)
        now = look()
        if now == before:
            return
        before = now


class Watcher:
    """The watch loop over one course root."""

    def __init__(self, root: Path, debounce_ms: int, out: TextIO) -> None:
        self.root = root
        self.debounce_ms = debounce_ms
        self.out = out
        self.watched = Watched()
        self.seen: dict[Path, str | None] = {}  # digests after the last cycle: our own writes are not saves

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # -- the task list -----------------------------------------------------------------------------
    def load(self) -> dict[str, Any] | None:
        """dodo.py as doit loads it (guards included); None, with the problem shown, when it cannot load."""
        from doit.exceptions import InvalidDodoFile

        try:
            return runpy.run_path(str(self.root / "dodo.py"), run_name="dodo")
        except InvalidDodoFile as exc:
            self.say(f"ERROR: {exc}\nwatch: waiting for a fix (save modules.yaml again when it is corrected)")
        except Exception as exc:  # dodo.py itself broken: the watch must survive it too
            self.say(f"ERROR: dodo.py did not load: {type(exc).__name__}: {exc}\nwatch: waiting for a fix")
        return None

    def learn(self, ns: dict[str, Any] | None) -> None:
        """What to watch, from the loaded task list (or, when the manifest is broken, just the manifest)."""
        w = Watched(files={self.root / "modules.yaml", self.root / "pyproject.toml", self.root / "dodo.py"})
        plan = ns.get("_plan") if ns else None
        if plan is not None:
            pipeline = plan.pipeline
            for m in pipeline.manifest.modules:
                w.pairs[m.name] = (m.source, layout.paired_notebook(m.source))
                w.tests[m.name] = tuple(m.tests)
                for rel in {m.source, layout.paired_notebook(m.source)}:
                    w.files.add(self.root / rel)
                    w.owner[self.root / rel] = m.name
                for rel in m.tests:
                    w.files.add(self.root / rel)
                    w.owner.setdefault(self.root / rel, m.name)
                    w.test_dirs.add((self.root / rel).parent)
            for suite in pipeline.suites():
                w.test_dirs.add((self.root / suite.path).parent)
        elif self.watched.files:  # keep watching what was watched before the manifest broke
            w.files |= self.watched.files
            w.test_dirs |= self.watched.test_dirs
            w.owner.update(self.watched.owner)
            w.pairs.update(self.watched.pairs)
            w.tests.update(self.watched.tests)
        self.watched = w

    def files(self) -> set[Path]:
        found = set(self.watched.files)
        for d in self.watched.test_dirs:
            found |= {p for p in d.glob("*.py") if self.watched.wants(p)} if d.is_dir() else set()
        return found

    def remember(self, start: dict[Path, str | None]) -> None:
        """What counts as seen after a cycle that began with the files at `start`.

        A file that changed during the cycle was either written by the build (a pair's sync:
        the pair then agrees with its sync record) or saved by the student while the run went
        on; that save must start the next cycle, so its digest at the start is kept.
        """
        from tasks.steps.notebooks import NotebookJob, synced

        seen: dict[Path, str | None] = {}
        for p in self.files():
            now = _digest(p)
            pair = self.watched.pairs.get(self.watched.owner.get(p, ""))
            ours = pair is not None and p in (self.root / pair[0], self.root / pair[1]) and \
                synced(NotebookJob(str(self.root), self.watched.owner[p], pair[0], pair[1]))
            seen[p] = now if now == start.get(p, now) or ours else start.get(p)
        self.seen = seen

    def missed(self) -> set[tuple[Any, str]]:
        """Saves no event reported (made while the watcher was being set up, or during a run)."""
        return {(None, str(p)) for p in self.files() if _digest(p) != self.seen.get(p)}

    # -- one cycle -------------------------------------------------------------------------------
    def cycle(self, changed: set[Path], saved: float) -> None:
        from doit.cmd_base import ModuleTaskLoader
        from doit.doit_cmd import DoitMain

        from tasks.safety.guards import release_lock
        from tasks.sandbox.spawn import expect_tests
        from tasks.watch.reporter import WatchReporter

        focus = tuple(sorted({self.watched.owner[p] for p in changed if p in self.watched.owner}))
        if changed:
            names = ", ".join(sorted(p.relative_to(self.root).as_posix() for p in changed))
            self.say(f"\nwatch: saved {names}" + (f" ({', '.join(focus)})" if focus else ""))
        start: dict[Path, str | None] = {}
        remembered = False
        try:
            ns = self.load()
            self.learn(ns)
            start = {p: _digest(p) for p in self.files()}  # what this run builds from
            if ns is None:
                return
            for module in focus:  # its test child sets pytest up while the export runs (tasks.sandbox.standby)
                expect_tests(self.root, self.watched.tests.get(module, ()))
            reporter: type[WatchReporter] = type("CycleReporter", (WatchReporter,), {"focus": focus, "saved": saved})
            ns["DOIT_CONFIG"] = {**ns["DOIT_CONFIG"], "reporter": reporter, "outfile": self.out}
            selected = [*(layout.task("validate", m) for m in focus), *ns["DOIT_CONFIG"]["default_tasks"]]
            DoitMain(ModuleTaskLoader(ns)).run(selected)
            summary = reporter.summary or "everything is up to date"
            # before the status line: a save made as soon as it shows must not make the build's own writes look saved
            self.remember(start)
            remembered = True
            self.say(f"status: {summary} · {time.time() - saved:.2f} s · watching for saves (Ctrl-C ends)")
        finally:
            release_lock(self.root)  # between saves, `doit report` or `doit` in another terminal may run
            if not remembered:
                self.remember(start)

    def saves(self, batch: set[tuple[Any, str]]) -> set[Path]:
        """The paths of a watchfiles batch whose bytes really changed (not our own sync writes)."""
        paths = {Path(p) for _, p in batch}
        settle(paths, self.debounce_ms / 1000)
        return {p for p in paths if self.watched.wants(p) and _digest(p) != self.seen.get(p)}

    def run(self) -> int:
        import watchfiles

        from tasks.tools.doitcmd import remember_plugins

        self.say(f"watch: warming up (nbdev, jupytext) in {self.root}")
        warm()
        remember_plugins()
        self.cycle(set(), time.time())
        try:
            while True:
                dirs = sorted(d for d in self.watched.dirs if d.is_dir())
                ticks = 0
                for batch in watchfiles.watch(*dirs, watch_filter=lambda _c, p: self.watched.wants(Path(p)),
                                              debounce=max(self.debounce_ms * 4, 400), step=self.debounce_ms,
                                              recursive=False, raise_interrupt=True,
                                              rust_timeout=TICK_MS, yield_on_timeout=True):
                    if not batch:
                        ticks += 1
                        if ticks % POLL_TICKS != 1:
                            continue
                    changed = self.saves(batch or self.missed())
                    if not changed:
                        continue
                    self.cycle(changed, time.time())
                    if sorted(d for d in self.watched.dirs if d.is_dir()) != dirs:
                        break  # the manifest now names other folders: watch those
        except KeyboardInterrupt:
            self.say("\nwatch: stopped; every file is complete or untouched, and no task is left running")
            return 0


def warm() -> None:
    """Import the heavy tools once, so that no save pays for them."""
    try:
        import jupytext  # noqa: F401
        from jupytext import combine  # noqa: F401
        from nbdev import export, maker, process  # noqa: F401
    except ImportError:  # the first export reports a missing tool with its own message
        pass


class Watch(Command):  # type: ignore[misc]
    """`doit watch`: the development loop on every save."""

    name = "watch"
    doc_purpose = "rebuild and re-test on every save; the edited module's verdict first"
    doc_usage = ""
    doc_description = ("Watches the sources, their paired notebooks, the tests and modules.yaml; on each save runs "
                       "the default tasks (doit skips what is up to date), the edited module first. Ctrl-C ends it.")
    cmd_options = ({"name": "debounce", "long": "debounce", "type": int, "default": 10,
                    "help": "milliseconds without a new change before a run starts [default: %(default)s]"},)

    def execute(self, params: Any, args: list[str]) -> int:
        root = Path.cwd()
        if not (root / "dodo.py").exists():
            sys.stderr.write("ERROR: doit watch runs in a course folder (one with dodo.py)\n")
            return 3
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        return Watcher(root, int(params["debounce"]), sys.stdout).run()
