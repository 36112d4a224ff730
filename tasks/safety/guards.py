"""What `dodo.py` sets up before doit opens its state DB: the tree lock, signals, recovery.

Commands that run tasks or change state (`doit`, `doit run`, `clean`, `forget`,
...) take the tree lock, turn SIGTERM into Ctrl-C, move a corrupt state DB aside
and sweep stray temporary files. Read-only commands (`list`, `info`, `help`,
`dumpdb`) take no lock and change nothing, except moving a corrupt DB aside
when no run holds the lock (doit would stop on it with a traceback).

All of this only applies when dodo.py is loaded by doit's command line; a
harness that loads it itself (the in-process tests) gets none of it.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from tasks.core import atomic, layout, output
from tasks.core.errors import BuildError
from tasks.safety import interrupts, recovery
from tasks.safety.lock import TreeLock, timeout_from_env
from tasks.tools import doitstate
from tasks.tools.doitcmd import current_command

READ_ONLY = frozenset({"list", "info", "help", "dumpdb", "tabcompletion"})

_locks: dict[Path, TreeLock] = {}  # held until the process exits


def _recover_db(root: Path, db: Path) -> None:
    problem = recovery.db_problem(db)
    if problem is None:
        return
    aside = recovery.quarantine(db)
    output.warn(f"{db.relative_to(root)} (doit's record of finished tasks) was unreadable: {problem}. "
                f"It was moved to {aside.relative_to(root)}; every task runs once to rebuild it.")


def install_guards(root: Path, dep_file: str) -> None:
    """Prepare `root/build` for the doit command that is loading dodo.py (see the module docstring)."""
    from doit.exceptions import InvalidDodoFile

    build = layout.at(root, layout.BUILD)
    command = current_command()
    if command is None or multiprocessing.parent_process() is not None:
        build.mkdir(exist_ok=True)
        return  # not doit's command line, or a `doit -n` worker of a run that holds the lock
    db = root / dep_file
    try:
        if command in READ_ONLY:
            build.mkdir(exist_ok=True)
            lock = TreeLock(root)
            if recovery.db_problem(db) is not None and lock.try_acquire():
                try:
                    _recover_db(root, db)
                finally:
                    lock.release()
            return
        interrupts.install()  # first: Ctrl-C while waiting for the lock ends as quietly as any other
        lock = _locks.get(root) or TreeLock(root)
        lock.acquire(timeout_from_env())
        _locks[root] = lock
        if command == "forget":  # a forgotten task must run again, not be revived from its content record
            doitstate.forget_all(root)
        # whether build/ existed is known only now: a run that waited finds the first run's build
        for note in recovery.state_notes(root, db, lock.found_build):
            output.emit("note", note)
        _recover_db(root, db)
        bad = recovery.drop_bad_rows(db)
        if bad:
            output.emit("note", f"{len(bad)} task record(s) in {db.relative_to(root).as_posix()} had the wrong shape "
                                f"({', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''}); those tasks run again.")
        recovery.sweep(build)
        _ignore_build(root)
    except BuildError as exc:
        raise InvalidDodoFile(str(exc)) from None


def _ignore_build(root: Path) -> None:
    """The build folder ignores itself: `git status` is clean after a build of any course, whatever its .gitignore says."""
    ignore = layout.at(root, layout.BUILD_IGNORE)
    if not ignore.exists():
        atomic.write_bytes(ignore, f"# everything under {layout.BUILD}/ is generated (doit): never committed\n*\n".encode())


def release_lock(root: Path) -> None:
    """Give up the tree lock this process took for `root` (`doit watch`, between two runs)."""
    lock = _locks.pop(root, None)
    if lock is not None:
        lock.release()
